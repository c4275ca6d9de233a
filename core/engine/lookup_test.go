package engine

import (
	"encoding/json"
	"testing"

	"github.com/tandemsync/tandem/core/item"
)

// leadingRemote agrees with decoding the whole twin, or declines: keys that JSON escapes,
// twins not linked yet, records of another shape.
func TestLeadingRemoteAgreesWithTheFullDecode(t *testing.T) {
	cases := []twin{
		{Local: "BLUE-1", Remote: "RED-7", SentHash: "abc", Sent: &item.Replica{Title: `a "quoted" title`}},
		{Local: "BLUE-2"},
		{Local: "BLUE-3", SentHash: "only a hash"},
		{Local: `we"ird`, Remote: "RED-1"},
		{Local: "a<b", Remote: "c&d"},
		{Local: "BLUE-4", Remote: `back\slash`},
		{Local: "BLUE-5", Remote: "ünïcode"},
	}
	for _, tw := range cases {
		v, err := json.Marshal(tw)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := leadingRemote(v, tw.Local)
		if ok && got != tw.Remote {
			t.Errorf("twin %s: read %q, want %q", v, got, tw.Remote)
		}
		if !ok && tw.Remote == "RED-7" {
			t.Errorf("twin %s: declined the common case", v)
		}
	}
	for _, v := range []string{``, `{}`, `{"r":"X","l":"BLUE-1"}`, `{"l":"BLUE-1","r":"unterminated`, `{"l":"BLUE-10","r":"X"}`} {
		if got, ok := leadingRemote([]byte(v), "BLUE-1"); ok {
			t.Errorf("%s: read %q; want it declined", v, got)
		}
	}
}
