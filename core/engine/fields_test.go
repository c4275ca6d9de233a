package engine

import (
	"reflect"
	"slices"
	"testing"

	"github.com/tandemsync/tandem/core/item"
)

func TestItemFields(t *testing.T) {
	core := []string{FieldTitle, FieldDescription, FieldStatus, FieldPriority, FieldLabels, FieldAssignee, FieldReporter}
	tests := []struct {
		name  string
		items []item.Item
		want  []string
	}{
		{"no items", nil, core},
		{"no custom fields", []item.Item{{Title: "x"}}, core},
		{"custom fields sorted", []item.Item{{Custom: map[string]string{"b": "1", "a": "2"}}}, append(slices.Clone(core), "custom.a", "custom.b")},
		{"union without repeats", []item.Item{{Custom: map[string]string{"x": "1"}}, {Custom: map[string]string{"x": "2", "w": ""}}},
			append(slices.Clone(core), "custom.w", "custom.x")},
	}
	for _, tc := range tests {
		if got := itemFields(tc.items...); !slices.Equal(got, tc.want) {
			t.Errorf("%s: itemFields = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFieldEqualAndSetField(t *testing.T) {
	alice, bob := item.User{Name: "Alice"}, item.User{Name: "Bob"}
	tests := []struct {
		field string
		a, b  item.Item
		equal bool
	}{
		{FieldTitle, item.Item{Title: "a"}, item.Item{Title: "a"}, true},
		{FieldTitle, item.Item{Title: "a"}, item.Item{Title: "b"}, false},
		{FieldDescription, item.Item{Description: "a"}, item.Item{Description: "b"}, false},
		{FieldStatus, item.Item{Status: "open"}, item.Item{Status: "closed"}, false},
		{FieldPriority, item.Item{Priority: "low"}, item.Item{Priority: "low"}, true},
		{FieldLabels, item.Item{Labels: nil}, item.Item{Labels: []string{}}, true},
		{FieldLabels, item.Item{Labels: []string{"a", "b"}}, item.Item{Labels: []string{"b", "a"}}, false},
		{FieldAssignee, item.Item{Assignee: alice}, item.Item{Assignee: bob}, false},
		{FieldReporter, item.Item{Reporter: alice}, item.Item{Reporter: alice}, true},
		{"custom.x", item.Item{Custom: map[string]string{"x": "1"}}, item.Item{}, false},
		{"custom.x", item.Item{Custom: map[string]string{"x": ""}}, item.Item{}, true}, // empty is absent
		{"custom.x", item.Item{Custom: map[string]string{"x": "1", "y": "1"}}, item.Item{Custom: map[string]string{"x": "1"}}, true},
	}
	for i, tc := range tests {
		if got := fieldEqual(tc.a, tc.b, tc.field); got != tc.equal {
			t.Errorf("#%d fieldEqual(%+v, %+v, %q) = %v, want %v", i, tc.a, tc.b, tc.field, got, tc.equal)
		}
		// Copying the field makes them equal in it, and touches nothing else.
		dst := tc.b.Clone()
		setField(&dst, tc.a, tc.field)
		if !fieldEqual(dst, tc.a, tc.field) {
			t.Errorf("#%d setField(%q): got %+v, want the value of %+v", i, tc.field, dst, tc.a)
		}
		for _, f := range itemFields(tc.a, tc.b) {
			if f != tc.field && !fieldEqual(dst, tc.b, f) {
				t.Errorf("#%d setField(%q) changed %s too: %+v", i, tc.field, f, dst)
			}
		}
	}
}

func TestSetFieldCustomRemovesEmptyAndKeepsSourceUnshared(t *testing.T) {
	dst := item.Item{Custom: map[string]string{"x": "old", "y": "keep"}}
	setField(&dst, item.Item{Custom: map[string]string{"x": ""}}, "custom.x")
	if want := map[string]string{"y": "keep"}; !reflect.DeepEqual(dst.Custom, want) {
		t.Errorf("an empty source value: got %v, want %v", dst.Custom, want)
	}
	src := item.Item{Labels: []string{"a"}}
	setField(&dst, src, FieldLabels)
	dst.Labels[0] = "changed"
	if src.Labels[0] != "a" {
		t.Errorf("setField shares the labels slice with its source")
	}
	var none item.Item
	setField(&none, item.Item{Custom: map[string]string{"q": "1"}}, "custom.q")
	if none.Custom["q"] != "1" {
		t.Errorf("setField into an item without custom fields: got %v", none.Custom)
	}
}

func TestReplicaChanged(t *testing.T) {
	base := item.Replica{Title: "t", Status: "open", Labels: []string{"a"}, Custom: map[string]string{"x": "1"},
		Comments: []item.Comment{{ID: "1", Body: "hi"}}}
	tests := []struct {
		name string
		next func(r item.Replica) item.Replica
		want []string
	}{
		{"nothing", func(r item.Replica) item.Replica { return r }, nil},
		{"comments do not count", func(r item.Replica) item.Replica { r.Comments = nil; return r }, nil},
		{"title and status", func(r item.Replica) item.Replica { r.Title, r.Status = "u", "closed"; return r }, []string{FieldTitle, FieldStatus}},
		{"custom field removed", func(r item.Replica) item.Replica { r.Custom = nil; return r }, []string{"custom.x"}},
		{"custom field added", func(r item.Replica) item.Replica {
			r.Custom = map[string]string{"x": "1", "z": "2"}
			return r
		}, []string{"custom.z"}},
		{"labels", func(r item.Replica) item.Replica { r.Labels = nil; return r }, []string{FieldLabels}},
	}
	for _, tc := range tests {
		if got := replicaChanged(base, tc.next(base)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: replicaChanged = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCopyReplicaFields(t *testing.T) {
	src := item.Replica{Title: "new", Priority: "high", Custom: map[string]string{"x": "2"}}
	tests := []struct {
		name   string
		fields []string
		want   item.Replica
	}{
		{"none", nil, item.Replica{Title: "old", Priority: "low", Custom: map[string]string{"x": "1", "y": "1"}}},
		{"title only", []string{FieldTitle}, item.Replica{Title: "new", Priority: "low", Custom: map[string]string{"x": "1", "y": "1"}}},
		{"custom", []string{"custom.x", "custom.y"}, item.Replica{Title: "old", Priority: "low", Custom: map[string]string{"x": "2"}}},
	}
	for _, tc := range tests {
		shared := map[string]string{"x": "1", "y": "1"}
		dst := item.Replica{Title: "old", Priority: "low", Custom: shared}
		copyReplicaFields(&dst, src, tc.fields)
		if !reflect.DeepEqual(dst, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, dst, tc.want)
		}
		if shared["x"] != "1" || shared["y"] != "1" {
			t.Errorf("%s: copyReplicaFields wrote into a map dst shared: %v", tc.name, shared)
		}
	}
}

func TestWithoutCommentsAndPartnerComments(t *testing.T) {
	it := item.Item{Comments: []item.Comment{{ID: "1"}, {ID: "2"}, {ID: "3"}}}
	tw := twin{Comments: map[string]string{"p9": "2"}}
	got := withoutComments(it, tw.partnerComments())
	if len(got.Comments) != 2 || got.Comments[0].ID != "1" || got.Comments[1].ID != "3" {
		t.Errorf("withoutComments: got %+v, want comments 1 and 3", got.Comments)
	}
	if len(it.Comments) != 3 {
		t.Errorf("withoutComments changed its input: %+v", it.Comments)
	}
	if (twin{}).partnerComments() != nil {
		t.Errorf("a twin without partner comments: want a nil set")
	}
	if same := withoutComments(it, nil); len(same.Comments) != 3 {
		t.Errorf("withoutComments with nothing to drop: got %+v", same.Comments)
	}
}

func TestMergeIntoAppliesWrittenFieldsAndComments(t *testing.T) {
	tests := []struct {
		name string
		p    plan
		w    Write
		res  WriteResult
		want item.Item
	}{
		{
			name: "create takes the written item without comments",
			w:    Write{Item: item.Item{Title: "t", Status: "open", Comments: []item.Comment{{ID: "p1", Body: "b"}}}, NewComments: []item.Comment{{ID: "p1", Body: "b"}}},
			res:  WriteResult{Key: "K-1", CommentIDs: []string{"7"}},
			want: item.Item{Key: "K-1", Title: "t", Status: "open", Comments: []item.Comment{{ID: "7", Body: "b"}}},
		},
		{
			name: "update writes only the named fields",
			p:    plan{current: item.Item{Key: "K-2", Title: "old", Status: "open", Priority: "low"}},
			w:    Write{Key: "K-2", Item: item.Item{Title: "new", Status: "closed", Priority: "high"}, Fields: []string{FieldTitle, FieldPriority}},
			res:  WriteResult{Key: "K-2"},
			want: item.Item{Key: "K-2", Title: "new", Status: "open", Priority: "high"},
		},
		{
			name: "comments without an id are left out",
			p:    plan{current: item.Item{Key: "K-3", Comments: []item.Comment{{ID: "1"}}}},
			w:    Write{Key: "K-3", NewComments: []item.Comment{{Body: "a"}, {Body: "b"}}},
			res:  WriteResult{Key: "K-3", CommentIDs: []string{"2"}},
			want: item.Item{Key: "K-3", Comments: []item.Comment{{ID: "1"}, {ID: "2", Body: "a"}}},
		},
	}
	for _, tc := range tests {
		p := tc.p
		mergeInto(&p, tc.w, tc.res)
		if !reflect.DeepEqual(p.current, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, p.current, tc.want)
		}
	}
}
