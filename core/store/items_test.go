package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
)

func fullItem() item.Item {
	paris := time.FixedZone("", 2*60*60)
	at := time.Date(2026, 6, 1, 9, 0, 0, 5, paris)
	u := item.User{ID: "jo", Name: "Jo", Email: "jo@example.com"}
	return item.Item{Key: "BLUE-1", Title: "Printer jammed", Description: "d\nmore", Status: "open", Priority: "high", Labels: []string{"a", "b"},
		Assignee: u, Reporter: item.User{Name: "Al"},
		Comments:    []item.Comment{{ID: "1", Author: u, Body: "b", Created: at, Internal: true}, {ID: "2", Created: at.UTC()}},
		Attachments: []item.Attachment{{ID: "f", Name: "log.txt", MediaType: "text/plain", Size: 1 << 40, Author: u, Created: at}},
		Custom:      map[string]string{"site": "HQ", "": "empty name"},
		Created:     at.UTC(), Updated: at}
}

// An item reads back exactly as it was stored, and hashes as it did: its times keep their
// offsets, as they do through JSON. A list's summary reads alone.
func TestItemKeepsEveryField(t *testing.T) {
	for name, it := range map[string]item.Item{"every field": fullItem(), "new": {Key: "BLUE-9", Title: "t"}, "zero": {}} {
		v := AppendItem(nil, it)
		got, err := DecodeItem(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, it) {
			t.Errorf("%s: read back\n%+v\nwant\n%+v", name, got, it)
		}
		if item.HashValue(got) != item.HashValue(it) {
			t.Errorf("%s: hashes %s, stored as %s", name, item.HashValue(got), item.HashValue(it))
		}
		s, err := DecodeSummary(v)
		if err != nil || !reflect.DeepEqual(s, it.Summary()) {
			t.Errorf("%s: summary %+v, %v; want %+v", name, s, err, it.Summary())
		}
	}
}

// Empty lists and maps read back as nil, as they do from the JSON earlier versions stored:
// an item reads the same whichever way it was stored.
func TestItemReadsAsFromJSON(t *testing.T) {
	for name, it := range map[string]item.Item{
		"every field": fullItem(),
		"empty lists": {Key: "BLUE-2", Labels: []string{}, Comments: []item.Comment{}, Custom: map[string]string{}},
	} {
		js, err := json.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := DecodeItem(js)
		if err != nil {
			t.Fatalf("%s: JSON of an earlier version: %v", name, err)
		}
		fromBinary, err := DecodeItem(AppendItem(nil, it))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromBinary, fromJSON) {
			t.Errorf("%s: binary reads\n%+v\nJSON reads\n%+v", name, fromBinary, fromJSON)
		}
		s, err := DecodeSummary(js)
		if err != nil || !reflect.DeepEqual(s, fromJSON.Summary()) {
			t.Errorf("%s: summary from JSON %+v, %v", name, s, err)
		}
	}
}

// A damaged item is an error, never a panic or a half-read item.
func TestItemRejectsDamage(t *testing.T) {
	v := AppendItem(nil, fullItem())
	for cut := 1; cut < len(v); cut++ {
		if _, err := DecodeItem(v[:cut]); err == nil {
			t.Errorf("cut to %d of %d bytes: read without an error", cut, len(v))
		}
	}
	if _, err := DecodeItem(append(v[:len(v):len(v)], 0)); err == nil {
		t.Error("a byte left over: read without an error")
	}
	if _, err := DecodeSummary(v[:3]); err == nil {
		t.Error("a summary cut short read without an error")
	}
}

func FuzzItem(f *testing.F) {
	f.Add(AppendItem(nil, fullItem()))
	f.Add(AppendItem(nil, item.Item{Key: "x"}))
	f.Fuzz(func(t *testing.T, v []byte) {
		it, err := DecodeItem(v)
		if err != nil || len(v) == 0 || v[0] != ItemV2 {
			return
		}
		again, err := DecodeItem(AppendItem(nil, it))
		if err != nil || !reflect.DeepEqual(again, it) {
			t.Fatalf("stored again: %+v, %v; want %+v", again, err, it)
		}
		if s, err := DecodeSummary(v); err != nil || !reflect.DeepEqual(s, it.Summary()) {
			t.Fatalf("summary %+v, %v; want %+v", s, err, it.Summary())
		}
	})
}

func BenchmarkItem(b *testing.B) {
	it := fullItem()
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			v, _ := json.Marshal(it)
			var got item.Item
			if err := json.Unmarshal(v, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeItem(AppendItem(nil, it)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
