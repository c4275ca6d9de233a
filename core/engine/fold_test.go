package engine

import (
	"reflect"
	"slices"
	"testing"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/queue"
)

func inFlight(e queue.Event) queue.Event { e.InFlight = true; return e }
func failedEv(e queue.Event) queue.Event { e.Failed, e.Attempts = true, 1; return e }

func TestGroupByItem(t *testing.T) {
	ev := func(seq uint64, key, kind string) queue.Event { return queue.Event{Seq: seq, ItemKey: key, Kind: kind} }
	seqs := func(groups [][]queue.Event) [][]uint64 {
		var out [][]uint64
		for _, g := range groups {
			var s []uint64
			for _, e := range g {
				s = append(s, e.Seq)
			}
			out = append(out, s)
		}
		return out
	}
	tests := []struct {
		name string
		in   []queue.Event
		want [][]uint64
	}{
		{"distinct items", []queue.Event{ev(1, "a", KindCreate), ev(2, "b", KindUpdate)}, [][]uint64{{1}, {2}}},
		{"an item's changes fold", []queue.Event{ev(1, "a", KindCreate), ev(2, "b", KindUpdate), ev(3, "a", KindUpdate), ev(4, "a", KindUpdate)}, [][]uint64{{1, 3, 4}, {2}}},
		{"a receipt ends the batch", []queue.Event{ev(1, "a", KindUpdate), ev(2, "b", KindUpdate), ev(3, "a", KindReceipt), ev(4, "c", KindUpdate)}, [][]uint64{{1}, {2}}},
		{"nothing folds into a receipt", []queue.Event{ev(1, "a", KindReceipt), ev(2, "a", KindUpdate)}, [][]uint64{{1}}},
		{"a retry folds only what its lost attempt folded", []queue.Event{inFlight(ev(1, "a", KindCreate)), inFlight(ev(2, "a", KindUpdate)), ev(3, "a", KindUpdate), ev(4, "b", KindUpdate)}, [][]uint64{{1, 2}, {4}}},
		{"a failed retry folds nothing new", []queue.Event{failedEv(ev(1, "a", KindCreate)), ev(2, "a", KindUpdate)}, [][]uint64{{1}}},
	}
	for _, tc := range tests {
		if got := seqs(groupByItem(tc.in)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: groupByItem = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFold(t *testing.T) {
	r := func(title, status string) item.Replica { return item.Replica{Title: title, Status: status} }
	p := func(title, status string) *item.Replica { x := r(title, status); return &x }
	tests := []struct {
		name string
		a, b Change
		want Change
	}{
		{
			name: "a create and an update are a create of the latest",
			a:    Change{Source: "S", Replica: r("t1", "open"), PrevHash: ""},
			b:    Change{Source: "S", Target: "T", Replica: r("t2", "open"), Changed: []string{item.FieldTitle}, Prev: p("t1", ""), PrevHash: "h1"},
			want: Change{Source: "S", Target: "T", Replica: r("t2", "open")},
		},
		{
			name: "two updates: the union of the fields, each with its oldest value",
			a:    Change{Source: "S", Target: "T", Replica: r("t2", "open"), Changed: []string{item.FieldTitle}, Prev: p("t1", ""), PrevHash: "h1"},
			b:    Change{Source: "S", Replica: r("t3", "closed"), Changed: []string{item.FieldStatus, item.FieldTitle}, Prev: p("t2", "open"), PrevHash: "h2"},
			want: Change{Source: "S", Target: "T", Replica: r("t3", "closed"), Changed: []string{item.FieldStatus, item.FieldTitle}, Prev: p("t1", "open"), PrevHash: "h1"},
		},
	}
	for _, tc := range tests {
		if got := fold(tc.a, tc.b); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got  %+v\n want %+v", tc.name, got, tc.want)
		}
	}
}

func TestAttemptUndoKeepsEditsMadeSinceTheLostAttempt(t *testing.T) {
	cur := item.Item{Key: "B-1", Title: "t1", Priority: "low", Status: "open"}
	p := &plan{current: cur}
	first := newAttempt(p, Write{Key: "B-1", Item: item.Item{Title: "t2", Priority: "high"}, Fields: []string{item.FieldTitle, item.FieldPriority}}, nil)
	// The retry after a person set the priority to "mid": it writes the priority again.
	p.current = item.Item{Key: "B-1", Title: "t2", Priority: "mid", Status: "open"}
	second := newAttempt(p, Write{Key: "B-1", Item: item.Item{Title: "t2", Priority: "high"}, Fields: []string{item.FieldPriority}}, &first)
	if !slices.Equal(second.Fields, []string{item.FieldPriority, item.FieldTitle}) {
		t.Errorf("fields of the second attempt: %v", second.Fields)
	}
	for _, tc := range []struct {
		name string
		a    attempt
		cur  item.Item
		want item.Item
	}{
		{"nothing written: as is", attempt{}, item.Item{Title: "x"}, item.Item{Title: "x"}},
		{"holds what was written: as before", first, item.Item{Key: "B-1", Title: "t2", Priority: "high", Status: "open"}, cur},
		{"a field edited since is kept", first, item.Item{Key: "B-1", Title: "t9", Priority: "high", Status: "closed"},
			item.Item{Key: "B-1", Title: "t9", Priority: "low", Status: "closed"}},
		{"the attempt did not act: as is", first, cur, cur},
		{"after two attempts: values from before the first", second, item.Item{Key: "B-1", Title: "t2", Priority: "high", Status: "open"}, cur},
	} {
		if got := tc.a.undo(tc.cur); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: undo = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
