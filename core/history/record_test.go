package history

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Every stored field of a record survives its binary form; the ID comes from the key.
func TestRecordKeepsEveryField(t *testing.T) {
	at := time.Date(2026, 12, 1, 7, 5, 0, 123456789, time.UTC)
	for name, r := range map[string]Record{
		"every field": {ID: 7, Time: at, Connection: "c1", Direction: "in", Local: "BLUE-1", Remote: "RED-2", EventID: "ev", Kind: "update",
			Outcome: Failed, Duration: 1500 * time.Microsecond, Error: "the tracker answered 500", Permanent: true, Attempt: 3,
			RuleVersion: "incoming v4", RuleLogs: []string{"one", strings.Repeat("x", 300)}, Operator: true, Captured: true},
		"little set": {ID: 8, Time: at, Connection: "c", Direction: "out", Outcome: Sent},
	} {
		k := recordKey(r.Time, r.ID)
		got, err := decodeRecord(k, encodeRecord(r))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("%s: read back\n%+v\nwant\n%+v", name, got, r)
		}
	}
}

// A record an earlier version wrote as JSON is still read.
func TestRecordReadsTheJSONOfEarlierVersions(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	old := Record{Time: at, Connection: "c", Direction: "out", Local: "BLUE-1", Outcome: Applied, Duration: time.Millisecond, RuleLogs: []string{"l"}}
	v, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRecord(recordKey(at, 5), v)
	old.ID = 5
	if err != nil || !reflect.DeepEqual(got, old) {
		t.Errorf("read back %+v, %v; want %+v", got, err, old)
	}
}

// A damaged record is an error, never a panic or a half-read record.
func TestRecordRejectsDamage(t *testing.T) {
	good := encodeRecord(Record{Time: time.Now(), Connection: "c", Outcome: Sent, RuleLogs: []string{"l"}})
	k := recordKey(time.Now(), 1)
	for cut := 1; cut < len(good); cut++ {
		if _, err := decodeRecord(k, good[:cut]); err == nil {
			t.Errorf("cut to %d bytes: read without an error", cut)
		}
	}
	if _, err := decodeRecord(k, append(good[:len(good):len(good)], 0)); err == nil {
		t.Error("a byte left over: read without an error")
	}
	if _, err := decodeRecord(k, []byte{recordV2}); err == nil || !strings.Contains(err.Error(), "history record") {
		t.Errorf("no fields: got %v, want an error naming the history record", err)
	}
}
