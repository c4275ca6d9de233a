package queue

import (
	"encoding/binary"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/store"
)

// Every field of an event survives a V2 record, heads short and long (a long head moves
// past a one-byte length), with and without a payload.
func TestRecordKeepsEveryField(t *testing.T) {
	at := time.Date(2026, 12, 1, 7, 5, 0, 123456789, time.UTC)
	full := Event{Seq: 42, ID: "ev-1", ItemKey: "BLUE-7", Kind: "update", Payload: json.RawMessage(`{"title":"é\u0000"}`),
		Created: at, Attempts: 3, LastError: "the tracker answered 500", NextRetry: at.Add(time.Minute),
		Failed: true, Permanent: true, InFlight: true, Rule: "outgoing v3", Logs: []string{"one", "", "three"}}
	long := full
	long.LastError = strings.Repeat("x", 300)
	long.Logs = []string{strings.Repeat("y", 20000)}
	for name, e := range map[string]Event{
		"every field":    full,
		"a long head":    long,
		"nothing set":    {Seq: 1},
		"no payload":     {Seq: 2, ID: "a", ItemKey: "k", Kind: "create", Created: at},
		"before 1970":    {Seq: 3, Created: time.Date(1969, 7, 20, 20, 17, 40, 5, time.UTC)},
		"negative tries": {Seq: 4, Attempts: -1},
	} {
		got, err := decode(store.U64(e.Seq), appendRecord(nil, e))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("%s: read back\n%+v\nwant\n%+v", name, got, e)
		}
	}
}

// A record an earlier version wrote (a JSON head) is still read.
func TestRecordReadsTheJSONHeadsOfEarlierVersions(t *testing.T) {
	head := `{"seq":9,"id":"ev-9","item":"RED-1","kind":"create","created":"2026-11-30T10:00:00.5Z","attempts":2,"lastError":"timeout","failed":true,"rule":"incoming v2","logs":["a"]}`
	payload := `{"title":"old"}`
	v := append(binary.AppendUvarint([]byte{formatV1}, uint64(len(head))), head+payload...)
	got, err := decode(store.U64(9), v)
	if err != nil {
		t.Fatal(err)
	}
	want := Event{Seq: 9, ID: "ev-9", ItemKey: "RED-1", Kind: "create", Payload: json.RawMessage(payload),
		Created: time.Date(2026, 11, 30, 10, 0, 0, 5e8, time.UTC), Attempts: 2, LastError: "timeout", Failed: true, Rule: "incoming v2", Logs: []string{"a"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, want)
	}
}

// A damaged V2 head is an error naming the event, never a panic or a half-read event.
func TestRecordRejectsDamagedHeads(t *testing.T) {
	good := appendRecord(nil, Event{ID: "ev", ItemKey: "k", Kind: "update", Logs: []string{"l"}})
	n := int(good[1])
	for cut := 0; cut < n; cut++ { // every head cut short, its length saying so
		v := append([]byte{formatV2, byte(cut)}, good[2:2+cut]...)
		if _, err := decode(store.U64(7), v); err == nil || !strings.Contains(err.Error(), "event 7") {
			t.Errorf("head cut to %d bytes: got %v, want an error naming event 7", cut, err)
		}
	}
	for name, head := range map[string][]byte{
		"a string longer than the head": {0, 0x7f},
		"nanoseconds past a second":     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0},
		"more log lines than bytes":     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50},
		"bytes left over":               append(append([]byte{}, good[2:2+n]...), 1),
	} {
		v := append([]byte{formatV2, byte(len(head))}, head...)
		if _, err := decode(store.U64(7), v); err == nil || !strings.Contains(err.Error(), "event 7") {
			t.Errorf("%s: got %v, want an error naming event 7", name, err)
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	e := Event{Seq: 42, ID: "0123456789abcdef0123456789abcdef", ItemKey: "BLUE-1234", Kind: "update", Payload: json.RawMessage(`{"title":"t"}`),
		Created: time.Now(), Rule: "outgoing v3"}
	b.Run("json head (V1)", func(b *testing.B) {
		for b.Loop() {
			p := e
			p.Payload = nil
			head, _ := json.Marshal(p)
			v := append(binary.AppendUvarint([]byte{formatV1}, uint64(len(head))), head...)
			if _, err := decode(store.U64(42), append(v, e.Payload...)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary head (V2)", func(b *testing.B) {
		for b.Loop() {
			if _, err := decode(store.U64(42), appendRecord(nil, e)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// decode never panics on a damaged record, and an event it reads is stored again unchanged.
func FuzzRecord(f *testing.F) {
	f.Add(appendRecord(nil, Event{ID: "ev", ItemKey: "k", Kind: "update", Logs: []string{"l"}, Payload: json.RawMessage(`{}`)}))
	f.Add(appendRecord(nil, Event{LastError: strings.Repeat("x", 200)}))
	f.Add([]byte{formatV1, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, v []byte) {
		e, err := decode(store.U64(1), v)
		if err != nil || len(v) == 0 || v[0] != formatV2 {
			return
		}
		again, err := decode(store.U64(1), appendRecord(nil, e))
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("stored again: %+v, %v; want %+v", again, err, e)
		}
	})
}
