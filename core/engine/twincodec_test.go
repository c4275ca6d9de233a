package engine

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
)

func fullTwin() twin {
	paris := time.FixedZone("", 2*60*60)
	at := time.Date(2026, 6, 1, 9, 0, 0, 5, paris)
	u := item.User{ID: "jo", Name: "Jo", Email: "jo@example.com"}
	r := &item.Replica{Title: "t", Description: "d", Status: "open", Priority: "high", Labels: []string{"a", "b"}, Assignee: u, Reporter: item.User{Name: "Al"},
		Comments:    []item.Comment{{ID: "1", Author: u, Body: "b", Created: at, Internal: true}, {ID: "2", Created: at.UTC()}},
		Attachments: []item.Attachment{{ID: "f", Name: "log.txt", MediaType: "text/plain", Size: 1 << 40, Author: u, Created: at}},
		Custom:      map[string]string{"site": "HQ", "": "empty name"}}
	return twin{Local: "BLUE-1", Remote: "RED-2", SentHash: "s", Sent: r, Comments: map[string]string{"p1": "l1"}, ItemHash: "h", RecvHash: "rh",
		Base: fieldSums{"title": "x"}, Synced: fieldSums{"status": "y", "title": "z"}, SentComments: map[string]bool{"l1": true, "l2": false},
		Received: &item.Replica{Title: "r"}, CommentHashes: map[string]string{"p1": deletedComment}}
}

// A twin reads back as it was stored, replicas hashing as they did (their times keep their
// offsets); the partner's key reads alone.
func TestTwinKeepsEveryField(t *testing.T) {
	for name, tw := range map[string]twin{"every field": fullTwin(), "new": {Local: "BLUE-9"}} {
		v := encodeTwin(tw)
		got, err := decodeTwin(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, tw) {
			t.Errorf("%s: read back\n%+v\nwant\n%+v", name, got, tw)
		}
		if tw.Sent != nil && got.Sent.Hash() != tw.Sent.Hash() {
			t.Errorf("%s: the sent replica hashes %s, stored as %s", name, got.Sent.Hash(), tw.Sent.Hash())
		}
		if r, ok := twinRemote(v); !ok || r != tw.Remote {
			t.Errorf("%s: twinRemote = %q, %v; want %q", name, r, ok, tw.Remote)
		}
	}
}

// A twin an earlier version stored as JSON still reads, and its partner's key too.
func TestTwinReadsTheJSONOfEarlierVersions(t *testing.T) {
	tw := fullTwin()
	v, err := json.Marshal(tw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeTwin(v)
	if err != nil || got.Sent.Hash() != tw.Sent.Hash() || got.Remote != tw.Remote || !reflect.DeepEqual(got.Synced, tw.Synced) {
		t.Errorf("read back %+v, %v", got, err)
	}
	if _, ok := twinRemote(v); ok {
		t.Error("twinRemote read a JSON twin; remoteFor has its own reader for those")
	}
}

// A damaged twin is an error, never a panic or a half-read twin.
func TestTwinRejectsDamage(t *testing.T) {
	v := encodeTwin(fullTwin())
	for cut := 1; cut < len(v); cut++ {
		if _, err := decodeTwin(v[:cut]); err == nil {
			t.Errorf("cut to %d of %d bytes: read without an error", cut, len(v))
		}
	}
	if _, err := decodeTwin(append(v[:len(v):len(v)], 0)); err == nil {
		t.Error("a byte left over: read without an error")
	}
}

func FuzzTwin(f *testing.F) {
	f.Add(encodeTwin(fullTwin()))
	f.Add(encodeTwin(twin{Local: "x"}))
	f.Fuzz(func(t *testing.T, v []byte) {
		tw, err := decodeTwin(v)
		if err != nil || len(v) == 0 || v[0] != twinV2 {
			return
		}
		again, err := decodeTwin(encodeTwin(tw))
		if err != nil || !reflect.DeepEqual(again, tw) {
			t.Fatalf("stored again: %+v, %v; want %+v", again, err, tw)
		}
	})
}

func BenchmarkTwin(b *testing.B) {
	tw := fullTwin()
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			v, _ := json.Marshal(tw)
			var t twin
			if err := json.Unmarshal(v, &t); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeTwin(encodeTwin(tw)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
