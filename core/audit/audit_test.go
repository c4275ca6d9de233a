package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func record(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := l.Record(context.Background(), KindPause, fmt.Sprintf("connection c%d paused", i)); err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
}

func TestRecordChainsAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	record(t, l, 3)
	l.Close()
	l, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Record(WithUser(context.Background(), "auditor"), KindRevoke, "connection c1 revoked"); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyFile(l.Path())
	if err != nil || !rep.OK || rep.Entries != 4 {
		t.Fatalf("VerifyFile = %+v, %v; want 4 entries, OK", rep, err)
	}
	if rep.Last.Seq != 4 || rep.Last.User != "auditor" || rep.Last.Kind != KindRevoke {
		t.Errorf("last entry = %+v; want #4 by auditor, kind revoke", rep.Last)
	}
	got, err := l.Tail(2)
	if err != nil || len(got) != 2 || got[0].Seq != 3 || got[1].Seq != 4 {
		t.Errorf("Tail(2) = %+v, %v; want entries 3 and 4", got, err)
	}
	fi, err := os.Stat(l.Path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

// Each kind of tampering is found, at the line where it happened.
func TestVerifyFindsTampering(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	record(t, l, 5)
	l.Close()
	orig, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(orig), "\n"), "\n")
	edit := func(i int, f func(*Entry)) []string {
		out := append([]string(nil), lines...)
		var e Entry
		json.Unmarshal([]byte(out[i]), &e)
		f(&e)
		b, _ := json.Marshal(e)
		out[i] = string(b) + "\n"
		return out
	}
	for _, tc := range []struct {
		name     string
		lines    []string
		wantLine int
		want     string
	}{
		{"what changed", edit(2, func(e *Entry) { e.What = "nothing happened" }), 3, "changed after it was written"},
		{"changed and rehashed", edit(2, func(e *Entry) { e.What = "nothing"; e.Hash = e.hash() }), 4, "does not point to the hash"},
		{"removed in the middle", append(append([]string(nil), lines[:2]...), lines[3:]...), 3, "entry #4 follows #2"},
		{"removed at the start", lines[1:], 1, "first entry is #2"},
		{"reordered", []string{lines[0], lines[2], lines[1], lines[3], lines[4]}, 2, "entry #3 follows #1"},
		{"garbage line", append(append([]string(nil), lines[:1]...), append([]string{"hello\n"}, lines[1:]...)...), 2, "not an audit entry"},
		{"user changed", edit(0, func(e *Entry) { e.User = "mallory" }), 1, "changed after it was written"},
	} {
		rep, err := Verify(strings.NewReader(strings.Join(tc.lines, "")))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if rep.OK || rep.Line != tc.wantLine || !strings.Contains(rep.Reason, tc.want) {
			t.Errorf("%s: report %+v; want a break at line %d saying %q", tc.name, rep, tc.wantLine, tc.want)
		}
		if !strings.Contains(rep.String(), fmt.Sprintf("line %d", tc.wantLine)) {
			t.Errorf("%s: String() = %q; want it to name the line", tc.name, rep.String())
		}
	}
	rep, err := Verify(bytes.NewReader(orig))
	if err != nil || !rep.OK || rep.Entries != 5 {
		t.Errorf("untouched log: %+v, %v; want OK with 5 entries", rep, err)
	}
}

// A line cut short by a crash is reported, and new entries still chain and append cleanly.
func TestPartialLastLine(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	record(t, l, 2)
	l.Close()
	f, _ := os.OpenFile(filepath.Join(dir, FileName), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":3,"time":"20`)
	f.Close()
	l, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	record(t, l, 1)
	l.Close()
	rep, err := VerifyFile(filepath.Join(dir, FileName))
	if err != nil || rep.OK || rep.Line != 3 {
		t.Fatalf("report %+v, %v; want the cut line 3 reported", rep, err)
	}
	got, _ := (&Log{path: filepath.Join(dir, FileName)}).Tail(1)
	if len(got) != 1 || got[0].Seq != 3 || got[0].Prev == "" {
		t.Errorf("entry after the cut line = %+v; want #3 chained to #2", got)
	}
}

func TestTailOfLargeLog(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	record(t, l, 600)
	got, err := l.Tail(3)
	if err != nil || len(got) != 3 || got[2].Seq != 600 || got[0].Seq != 598 {
		t.Errorf("Tail(3) of 600 = %+v, %v", got, err)
	}
}

func FuzzVerify(f *testing.F) {
	var log bytes.Buffer
	prev := ""
	for i := uint64(1); i <= 3; i++ {
		e := Entry{Seq: i, User: "op", Kind: KindPairing, What: "paired", Prev: prev}
		e.Hash = e.hash()
		b, _ := json.Marshal(e)
		log.Write(append(b, '\n'))
		prev = e.Hash
	}
	f.Add(log.Bytes())
	f.Add([]byte("{}\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Verify(bytes.NewReader(data))
		if err == nil && !rep.OK && rep.Line == 0 {
			t.Errorf("a broken report without a line: %+v", rep)
		}
	})
}
