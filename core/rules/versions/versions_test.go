package versions

import (
	"errors"
	"testing"

	"github.com/tandemsync/tandem/core/rules/model"
	"github.com/tandemsync/tandem/core/store"
)

func open(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := Open(st)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestSaveListGet(t *testing.T) {
	s, _ := open(t)
	if _, err := s.Save("c1", "sideways", Version{Mode: Script}); err == nil {
		t.Error("Save with direction sideways: nil error")
	}
	if _, err := s.Save("c1", "outgoing", Version{Mode: Visual}); err == nil {
		t.Error("Save of a visual version without a model: nil error")
	}
	for i, note := range []string{"first", "second", "third"} {
		v, err := s.Save("c1", "outgoing", Version{Mode: Script, Source: note, Author: "ann", Note: note})
		if err != nil || v.Number != i+1 || v.Created.IsZero() {
			t.Fatalf("Save %s = %+v, %v; want number %d with a time", note, v, err, i+1)
		}
	}
	v, err := s.Save("c1", "incoming", Version{Mode: Visual, Model: model.New(model.Incoming), Source: "x"})
	if err != nil || v.Number != 1 {
		t.Fatalf("first incoming version = %d, %v; numbers are per direction", v.Number, err)
	}
	list, total, err := s.List("c1", "outgoing", 0, 2)
	if err != nil || total != 3 || len(list) != 2 || list[0].Note != "third" || list[1].Note != "second" {
		t.Fatalf("List(0, 2) = %+v, total %d, %v; want third, second of 3", list, total, err)
	}
	list, _, _ = s.List("c1", "outgoing", 2, 10)
	if len(list) != 1 || list[0].Note != "first" {
		t.Errorf("List(2, 10) = %+v, want first", list)
	}
	got, err := s.Get("c1", "incoming", 1)
	if err != nil || got.Model == nil || got.Model.Direction != model.Incoming {
		t.Errorf("Get incoming 1 = %+v, %v; want the model back", got, err)
	}
	if _, err := s.Get("c1", "outgoing", 9); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get 9: %v, want ErrNotFound", err)
	}
	if _, err := s.Get("nobody", "outgoing", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an unknown connection: %v, want ErrNotFound", err)
	}
}

func TestDeployAndRollback(t *testing.T) {
	s, _ := open(t)
	for i := 0; i < 4; i++ {
		s.Save("c", "outgoing", Version{Mode: Script})
	}
	if _, err := s.SetLive("c", "outgoing", 7, "ann", ActionDeploy); !errors.Is(err, ErrNotFound) {
		t.Errorf("deploy of version 7: %v, want ErrNotFound", err)
	}
	prev := func() int {
		t.Helper()
		p, err := s.Previous("c", "outgoing")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := prev(); p != 0 {
		t.Errorf("Previous before any deploy = %d", p)
	}
	steps := []struct {
		n      int
		action string
		live   int
		prev   int
	}{
		{1, ActionDeploy, 1, 0},
		{2, ActionDeploy, 2, 1},
		{3, ActionDeploy, 3, 2},
		{2, ActionRollback, 2, 1}, // rolling back again goes to 1, not back to 3
		{1, ActionRollback, 1, 0},
		{3, ActionDeploy, 3, 1}, // 2 was rolled back from; 1 is what ran before
		{4, ActionDeploy, 4, 3},
	}
	for i, st := range steps {
		d, err := s.SetLive("c", "outgoing", st.n, "ann", st.action)
		if err != nil {
			t.Fatal(err)
		}
		if live, _ := s.Live("c", "outgoing"); live != st.live || d.Version != st.n {
			t.Errorf("step %d: live %d, want %d", i, live, st.live)
		}
		if p := prev(); p != st.prev {
			t.Errorf("step %d (%s %d): Previous = %d, want %d", i, st.action, st.n, p, st.prev)
		}
	}
	ds, err := s.Deployments("c", "outgoing", 0, 3)
	if err != nil || len(ds) != 3 || ds[0].Version != 4 || ds[0].From != 3 || ds[1].Version != 3 || ds[2].Action != ActionRollback {
		t.Errorf("Deployments = %+v, %v", ds, err)
	}
	if err := s.Drop("c"); err != nil {
		t.Fatal(err)
	}
	if _, total, _ := s.List("c", "outgoing", 0, 10); total != 0 {
		t.Errorf("after Drop: %d versions", total)
	}
}
