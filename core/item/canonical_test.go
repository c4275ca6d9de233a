package item

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"
)

// checkCanonical fails t unless appendJSON writes v exactly as json.Marshal does, or declines
// where json.Marshal fails.
func checkCanonical(t *testing.T, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	got, ok := appendJSON(nil, v)
	switch {
	case err != nil && ok:
		t.Errorf("json.Marshal refuses %#v (%v), appendJSON wrote %s", v, err, got)
	case err == nil && !ok:
		t.Errorf("appendJSON declined %#v, which json.Marshal encodes as %s", v, want)
	case err == nil && !bytes.Equal(got, want):
		t.Errorf("appendJSON wrote\n%s\njson.Marshal\n%s", got, want)
	}
}

var tricky = []string{"", "plain", `quo"te`, `back\slash`, "tab\tnew\nline", "<b>&amp;</b>", "é ü ✓", "\u2028\u2029", "\x00\x1f", "bad \xff utf-8", "emoji 🎉"}

func TestCanonicalMatchesJSON(t *testing.T) {
	at := time.Date(2026, 12, 1, 7, 5, 0, 120000000, time.UTC)
	paris := time.Date(2026, 6, 1, 9, 0, 0, 1, time.FixedZone("CEST", 2*60*60))
	for _, s := range tricky {
		checkCanonical(t, s)
		u := User{ID: s, Name: s, Email: s}
		checkCanonical(t, u)
		checkCanonical(t, Item{Key: s, Title: s, Description: s, Status: s, Priority: s, Labels: []string{s, "x"}, Assignee: u,
			Comments:    []Comment{{ID: s, Author: u, Body: s, Created: paris, Internal: true}, {Body: s}},
			Attachments: []Attachment{{ID: s, Name: s, MediaType: s, Size: -3, Author: u, Created: at}, {}},
			Custom:      map[string]string{s: s, "b": "", "a": s}, Created: at, Updated: paris})
		checkCanonical(t, Replica{Title: s, Description: s, Status: s, Priority: s, Labels: []string{s}, Assignee: u, Reporter: u,
			Comments: []Comment{{Body: s, Created: at}}, Attachments: []Attachment{{Name: s}}, Custom: map[string]string{s: s}})
	}
	for _, v := range []any{
		Item{}, Replica{}, User{}, []string(nil), []string{}, map[string]string(nil), map[string]string{},
		Item{Labels: []string{}, Custom: map[string]string{}, Comments: []Comment{}},
		Item{Created: time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC)},                               // json refuses
		Item{Updated: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("far", 25*60*60))},         // json refuses
		Replica{Comments: []Comment{{Created: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}}},        // json refuses
		Item{Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("odd", -(3*60*60+30*60)))}, // half-hour offset
	} {
		checkCanonical(t, v)
	}
}

// The hashes of the sync path are what they were when json.Marshal made them.
func TestHashesAreUnchanged(t *testing.T) {
	it := Item{Key: "BLUE-1", Title: "Printer <jammed>", Labels: []string{"hw"}, Created: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}
	b, _ := json.Marshal(it)
	if got, want := HashValue(it), hashOf(b); got != want {
		t.Errorf("HashValue(item) = %s, want %s", got, want)
	}
	other := struct{ A string }{"a type appendJSON leaves to json.Marshal"}
	b, _ = json.Marshal(other)
	if got, want := HashValue(other), hashOf(b); got != want {
		t.Errorf("HashValue(struct) = %s, want %s", got, want)
	}
	r := Replica{Title: "t", Custom: map[string]string{"z": "1", "a": "2"}}
	b, _ = json.Marshal(r)
	if got, want := r.Hash(), hashOf(b); got != want {
		t.Errorf("Replica.Hash = %s, want %s", got, want)
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range tricky {
		f.Add(s, s, int64(0), int64(0))
	}
	f.Fuzz(func(t *testing.T, a, b string, sec, nsec int64) {
		at := time.Unix(sec, nsec)
		checkCanonical(t, a)
		checkCanonical(t, []string{a, b})
		checkCanonical(t, map[string]string{a: b, b: a})
		checkCanonical(t, Item{Key: a, Title: b, Labels: []string{b}, Assignee: User{Name: a}, Custom: map[string]string{a: b},
			Comments: []Comment{{ID: b, Body: a, Created: at}}, Created: at, Updated: at.UTC()})
		checkCanonical(t, Replica{Title: a, Reporter: User{Email: b}, Attachments: []Attachment{{Name: a, Size: sec, Created: at}}})
	})
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func BenchmarkHash(b *testing.B) {
	at := time.Date(2026, 12, 1, 7, 5, 0, 0, time.UTC)
	it := Item{Key: "BLUE-1234", Title: "Printer jammed on the third floor", Description: "It makes a noise and stops.", Status: "open",
		Priority: "high", Labels: []string{"hardware", "floor-3"}, Assignee: User{ID: "jo", Name: "Jo"}, Reporter: User{ID: "al", Name: "Al"},
		Comments: []Comment{{ID: "1", Author: User{ID: "jo"}, Body: "Looking.", Created: at}}, Custom: map[string]string{"site": "HQ"}, Created: at, Updated: at}
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			m, _ := json.Marshal(it)
			hashOf(m)
		}
	})
	b.Run("HashValue", func(b *testing.B) {
		for b.Loop() {
			HashValue(it)
		}
	})
}
