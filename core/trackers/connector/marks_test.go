package connector

import (
	"bytes"
	"errors"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/store"
)

// fakeMemory is a Memory that counts writes and can fail.
type fakeMemory struct {
	m              map[string]string
	puts, deletes  int
	failLoad, fail bool
}

func (f *fakeMemory) Load() (map[string]string, error) {
	if f.failLoad {
		return nil, errors.New("disk on fire")
	}
	return maps.Clone(f.m), nil
}

func (f *fakeMemory) Put(k, v string) error {
	f.puts++
	if f.fail {
		return errors.New("disk full")
	}
	f.m[k] = v
	return nil
}

func (f *fakeMemory) Delete(keys ...string) error {
	f.deletes++
	if f.fail {
		return errors.New("disk full")
	}
	for _, k := range keys {
		delete(f.m, k)
	}
	return nil
}

func TestMarksEcho(t *testing.T) {
	mem := &fakeMemory{m: map[string]string{}}
	m, err := NewMarks(mem, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		do         func()
		key, seen  string
		echo       bool
		stillStore bool // the mark is still in the memory afterwards
	}{
		{func() {}, "A-1", "t1", false, false},                   // never written
		{func() { m.Put("A-1", "t1") }, "A-1", "t1", true, true}, // Tandem's write, read back
		{func() {}, "A-1", "t1", true, true},                     // read back again (another poll)
		{func() {}, "A-1", "t2", false, false},                   // a person wrote after: forgotten
		{func() {}, "A-1", "t1", false, false},                   // and stays forgotten
		{func() { m.Put("A-2", "x"); m.Forget("A-2") }, "A-2", "x", false, false},
	}
	for i, tc := range tests {
		tc.do()
		if got := m.Echo(tc.key, tc.seen); got != tc.echo {
			t.Errorf("#%d Echo(%q, %q) = %v, want %v", i, tc.key, tc.seen, got, tc.echo)
		}
		if _, ok := mem.m[tc.key]; ok != tc.stillStore {
			t.Errorf("#%d after Echo(%q): stored %v, want %v (%v)", i, tc.key, ok, tc.stillStore, mem.m)
		}
	}
	deletes := mem.deletes
	m.Forget("never-marked")
	if mem.deletes != deletes {
		t.Errorf("forgetting a key without a mark wrote to the memory")
	}
}

func TestMarksSurviveANewInstanceOnTheSameStore(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMarks(st.Notebook("connectors", "x https://x.example"), nil)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.FixedZone("CET", 3600))
	m.Put("SUP-1", TimeMark(when))
	m.Put("SUP-2", "7")
	m.Forget("SUP-2")
	st.Close()

	st, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	again, err := NewMarks(st.Notebook("connectors", "x https://x.example"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Echo("SUP-1", TimeMark(when.UTC())) {
		t.Errorf("after reopening, Tandem's write to SUP-1 is not recognised (marks %d)", again.Len())
	}
	if _, ok := again.Get("SUP-2"); ok {
		t.Errorf("a forgotten mark came back after reopening")
	}
	other, err := NewMarks(st.Notebook("connectors", "x https://other.example"), nil)
	if err != nil || other.Len() != 0 {
		t.Errorf("another tracker's marks: %d, %v; want none", other.Len(), err)
	}
}

func TestMarksBoundedAndStoreFailuresOnlyLogged(t *testing.T) {
	mem := &fakeMemory{m: map[string]string{}}
	m, _ := NewMarks(mem, nil)
	for i := range MaxMarks {
		m.Put(strconv.Itoa(i), "1")
	}
	m.Put("0", "2") // a known key does not count against the bound
	if m.Len() != MaxMarks {
		t.Fatalf("%d marks, want %d", m.Len(), MaxMarks)
	}
	m.Put("one more", "1")
	if m.Len() != 1 || len(mem.m) != 1 {
		t.Errorf("past the bound: %d marks in memory, %d stored; want only the newest", m.Len(), len(mem.m))
	}

	var logged bytes.Buffer
	mem.fail = true
	m.log = slog.New(slog.NewTextHandler(&logged, nil))
	m.Put("K", "1")
	if !m.Echo("K", "1") {
		t.Errorf("a mark that could not be stored is not kept in process memory")
	}
	if !strings.Contains(logged.String(), "disk full") {
		t.Errorf("a mark that could not be stored was not logged: %q", logged.String())
	}

	if _, err := NewMarks(&fakeMemory{failLoad: true}, nil); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("a memory that cannot be read: got %v, want its error", err)
	}
	if m, err := NewMarks(nil, nil); err != nil || m.Echo("x", "y") {
		t.Errorf("marks without a memory: %v", err)
	}
	if TimeMark(time.Date(2026, 1, 1, 1, 0, 0, 0, time.FixedZone("", 3600))) != TimeMark(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("TimeMark differs for one instant in two zones")
	}
}
