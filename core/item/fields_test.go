package item

import (
	"reflect"
	"slices"
	"testing"
)

var core = []string{FieldTitle, FieldDescription, FieldStatus, FieldPriority, FieldLabels, FieldAssignee, FieldReporter}

func TestCoreFieldsMatchTheStruct(t *testing.T) {
	if got := CoreFields(); !slices.Equal(got, core) {
		t.Fatalf("CoreFields = %v, want %v", got, core)
	}
	CoreFields()[0] = "changed"
	if CoreFields()[0] != FieldTitle {
		t.Fatalf("CoreFields returns a slice its callers can change")
	}
	it := reflect.TypeOf(Item{})
	rt := reflect.TypeOf(Replica{})
	want := map[Kind]reflect.Type{KindText: reflect.TypeOf(""), KindLabels: reflect.TypeOf([]string{}), KindUser: reflect.TypeOf(User{})}
	for _, f := range core {
		name, ok := GoName(f)
		if !ok {
			t.Fatalf("GoName(%q): not a core field", f)
		}
		k, ok := KindOf(f)
		if !ok {
			t.Fatalf("KindOf(%q): not a field", f)
		}
		for _, typ := range []reflect.Type{it, rt} {
			sf, ok := typ.FieldByName(name)
			if !ok || sf.Type != want[k] {
				t.Errorf("%s.%s for %q: got %v (found %v), want a %v", typ.Name(), name, f, sf.Type, ok, want[k])
			}
		}
		if p := (&Item{}).slot(f); p == nil || reflect.TypeOf(p).Elem() != want[k] {
			t.Errorf("slot(%q) = %T, want a pointer to %v", f, p, want[k])
		}
		if !IsCore(f) {
			t.Errorf("IsCore(%q) = false", f)
		}
	}
}

func TestNamesAndKinds(t *testing.T) {
	tests := []struct {
		f        string
		kind     Kind
		field    bool
		custom   string
		isCustom bool
		goName   string
	}{
		{FieldTitle, KindText, true, FieldTitle, false, "Title"},
		{FieldLabels, KindLabels, true, FieldLabels, false, "Labels"},
		{FieldReporter, KindUser, true, FieldReporter, false, "Reporter"},
		{"custom.Queue", KindText, true, "Queue", true, ""},
		{"custom.a.b", KindText, true, "a.b", true, ""},
		{"custom.", KindText, false, "", false, ""},
		{"Title", KindText, false, "Title", false, ""},
		{"", KindText, false, "", false, ""},
	}
	for i, tc := range tests {
		k, ok := KindOf(tc.f)
		if ok != tc.field || (ok && k != tc.kind) {
			t.Errorf("#%d KindOf(%q) = %v, %v; want %v, %v", i, tc.f, k, ok, tc.kind, tc.field)
		}
		name, ok := CustomName(tc.f)
		if name != tc.custom || ok != tc.isCustom {
			t.Errorf("#%d CustomName(%q) = %q, %v; want %q, %v", i, tc.f, name, ok, tc.custom, tc.isCustom)
		}
		if tc.isCustom && CustomField(name) != tc.f {
			t.Errorf("#%d CustomField(%q) = %q, want %q", i, name, CustomField(name), tc.f)
		}
		if g, _ := GoName(tc.f); g != tc.goName {
			t.Errorf("#%d GoName(%q) = %q, want %q", i, tc.f, g, tc.goName)
		}
	}
}

func TestFields(t *testing.T) {
	tests := []struct {
		name  string
		items []Item
		want  []string
	}{
		{"no items", nil, core},
		{"no custom fields", []Item{{Title: "x"}}, core},
		{"custom fields sorted", []Item{{Custom: map[string]string{"b": "1", "a": "2"}}}, append(slices.Clone(core), "custom.a", "custom.b")},
		{"union without repeats", []Item{{Custom: map[string]string{"x": "1"}}, {Custom: map[string]string{"x": "2", "w": ""}}},
			append(slices.Clone(core), "custom.w", "custom.x")},
	}
	for _, tc := range tests {
		if got := Fields(tc.items...); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Fields = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestGetFieldEqualAndSetField(t *testing.T) {
	alice, bob := User{Name: "Alice"}, User{Name: "Bob"}
	tests := []struct {
		field string
		a, b  Item
		equal bool
		get   any // a.Get(field)
	}{
		{FieldTitle, Item{Title: "a"}, Item{Title: "a"}, true, "a"},
		{FieldTitle, Item{Title: "a"}, Item{Title: "b"}, false, "a"},
		{FieldDescription, Item{Description: "a"}, Item{Description: "b"}, false, "a"},
		{FieldStatus, Item{Status: "open"}, Item{Status: "closed"}, false, "open"},
		{FieldPriority, Item{Priority: "low"}, Item{Priority: "low"}, true, "low"},
		{FieldLabels, Item{Labels: nil}, Item{Labels: []string{}}, true, []string(nil)},
		{FieldLabels, Item{Labels: []string{"a", "b"}}, Item{Labels: []string{"b", "a"}}, false, []string{"a", "b"}},
		{FieldAssignee, Item{Assignee: alice}, Item{Assignee: bob}, false, alice},
		{FieldReporter, Item{Reporter: alice}, Item{Reporter: alice}, true, alice},
		{"custom.x", Item{Custom: map[string]string{"x": "1"}}, Item{}, false, "1"},
		{"custom.x", Item{Custom: map[string]string{"x": ""}}, Item{}, true, ""}, // empty is absent
		{"custom.x", Item{}, Item{Custom: map[string]string{"x": "1"}}, false, ""},
		{"custom.x", Item{Custom: map[string]string{"x": "1", "y": "1"}}, Item{Custom: map[string]string{"x": "1"}}, true, "1"},
	}
	for i, tc := range tests {
		if got := FieldEqual(tc.a, tc.b, tc.field); got != tc.equal {
			t.Errorf("#%d FieldEqual(%+v, %+v, %q) = %v, want %v", i, tc.a, tc.b, tc.field, got, tc.equal)
		}
		if got := FieldEqual(tc.b, tc.a, tc.field); got != tc.equal {
			t.Errorf("#%d FieldEqual is not symmetric for %q", i, tc.field)
		}
		if got := tc.a.Get(tc.field); !reflect.DeepEqual(got, tc.get) {
			t.Errorf("#%d Get(%q) = %#v, want %#v", i, tc.field, got, tc.get)
		}
		// Copying the field makes them equal in it, and touches nothing else.
		dst := tc.b.Clone()
		SetField(&dst, tc.a, tc.field)
		if !FieldEqual(dst, tc.a, tc.field) {
			t.Errorf("#%d SetField(%q): got %+v, want the value of %+v", i, tc.field, dst, tc.a)
		}
		for _, f := range Fields(tc.a, tc.b) {
			if f != tc.field && !FieldEqual(dst, tc.b, f) {
				t.Errorf("#%d SetField(%q) changed %s too: %+v", i, tc.field, f, dst)
			}
		}
	}
}

func TestSetFieldCustomRemovesEmptyAndKeepsSourceUnshared(t *testing.T) {
	dst := Item{Custom: map[string]string{"x": "old", "y": "keep"}}
	SetField(&dst, Item{Custom: map[string]string{"x": ""}}, "custom.x")
	if want := map[string]string{"y": "keep"}; !reflect.DeepEqual(dst.Custom, want) {
		t.Errorf("an empty source value: got %v, want %v", dst.Custom, want)
	}
	src := Item{Labels: []string{"a"}}
	SetField(&dst, src, FieldLabels)
	dst.Labels[0] = "changed"
	if src.Labels[0] != "a" {
		t.Errorf("SetField shares the labels slice with its source")
	}
	SetField(&dst, Item{Labels: []string{}}, FieldLabels)
	if dst.Labels != nil {
		t.Errorf("SetField of empty labels: got %#v, want nil", dst.Labels)
	}
	var none Item
	SetField(&none, Item{Custom: map[string]string{"q": "1"}}, "custom.q")
	if none.Custom["q"] != "1" {
		t.Errorf("SetField into an item without custom fields: got %v", none.Custom)
	}
}

func TestChangedFields(t *testing.T) {
	a := Item{Title: "t", Labels: []string{"x"}, Custom: map[string]string{"k": "1"}}
	tests := []struct {
		name string
		b    Item
		want []string
	}{
		{"same", a.Clone(), nil},
		{"times, keys and comments do not count", Item{Key: "K", Title: "t", Labels: []string{"x"}, Custom: map[string]string{"k": "1"},
			Comments: []Comment{{ID: "1"}}}, nil},
		{"title and a custom field", Item{Title: "u", Labels: []string{"x"}, Custom: map[string]string{"k": "2"}}, []string{FieldTitle, "custom.k"}},
		{"labels and assignee", Item{Title: "t", Custom: map[string]string{"k": "1"}, Assignee: User{ID: "a"}}, []string{FieldLabels, FieldAssignee}},
	}
	for _, tc := range tests {
		if got := ChangedFields(a, tc.b); !slices.Equal(got, tc.want) {
			t.Errorf("%s: ChangedFields = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestReplicaChanged(t *testing.T) {
	base := Replica{Title: "t", Status: "open", Labels: []string{"a"}, Custom: map[string]string{"x": "1"},
		Comments: []Comment{{ID: "1", Body: "hi"}}}
	tests := []struct {
		name string
		next func(r Replica) Replica
		want []string
	}{
		{"nothing", func(r Replica) Replica { return r }, nil},
		{"comments do not count", func(r Replica) Replica { r.Comments = nil; return r }, nil},
		{"title and status", func(r Replica) Replica { r.Title, r.Status = "u", "closed"; return r }, []string{FieldTitle, FieldStatus}},
		{"custom field removed", func(r Replica) Replica { r.Custom = nil; return r }, []string{"custom.x"}},
		{"custom field added", func(r Replica) Replica {
			r.Custom = map[string]string{"x": "1", "z": "2"}
			return r
		}, []string{"custom.z"}},
		{"labels", func(r Replica) Replica { r.Labels = nil; return r }, []string{FieldLabels}},
		{"people", func(r Replica) Replica { r.Assignee, r.Reporter = User{ID: "a"}, User{ID: "b"}; return r }, []string{FieldAssignee, FieldReporter}},
	}
	for _, tc := range tests {
		if got := ReplicaChanged(base, tc.next(base)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: ReplicaChanged = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestReplicaAsItemAndCopyFields(t *testing.T) {
	full := Replica{Title: "t", Description: "d", Status: "s", Priority: "p", Labels: []string{"l"},
		Assignee: User{ID: "a"}, Reporter: User{ID: "r"}, Custom: map[string]string{"c": "1"}}
	it := full.AsItem()
	for _, f := range Fields(it) {
		var empty Replica
		empty.CopyFields(full, []string{f})
		if FieldEqual(empty.AsItem(), Item{}, f) {
			t.Errorf("AsItem or CopyFields lost %s: %+v", f, empty)
		}
	}
	var all Replica
	all.CopyFields(full, Fields(it))
	if !reflect.DeepEqual(all, full) {
		t.Errorf("CopyFields of every field: got %+v, want %+v", all, full)
	}

	src := Replica{Title: "new", Priority: "high", Custom: map[string]string{"x": "2"}}
	tests := []struct {
		name   string
		fields []string
		want   Replica
	}{
		{"none", nil, Replica{Title: "old", Priority: "low", Custom: map[string]string{"x": "1", "y": "1"}}},
		{"title only", []string{FieldTitle}, Replica{Title: "new", Priority: "low", Custom: map[string]string{"x": "1", "y": "1"}}},
		{"custom", []string{"custom.x", "custom.y"}, Replica{Title: "old", Priority: "low", Custom: map[string]string{"x": "2"}}},
	}
	for _, tc := range tests {
		shared := map[string]string{"x": "1", "y": "1"}
		dst := Replica{Title: "old", Priority: "low", Custom: shared}
		dst.CopyFields(src, tc.fields)
		if !reflect.DeepEqual(dst, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, dst, tc.want)
		}
		if shared["x"] != "1" || shared["y"] != "1" {
			t.Errorf("%s: CopyFields wrote into a map dst shared: %v", tc.name, shared)
		}
	}
}
