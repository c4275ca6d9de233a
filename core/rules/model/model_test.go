package model

import (
	"slices"
	"strings"
	"testing"
)

func TestParseRefusesBadInput(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"not json", `{"format": 1,`, "not valid JSON"},
		{"bad json", `{"format": 1 "x"}`, "not valid JSON at byte"},
		{"unknown key", `{"format":1,"direction":"outgoing","comments":{"include":"public"},"colour":"red"}`, `unknown field "colour"`},
		{"trailing text", `{"format":1,"direction":"outgoing","comments":{"include":"public"}} {}`, "after the rule"},
		{"wrong type", `{"format":"one"}`, "format should be int"},
		{"newer format", `{"format":2,"direction":"outgoing","comments":{"include":"public"}}`, "format 2"},
		{"direction", `{"format":1,"direction":"sideways","comments":{"include":"public"}}`, `direction "sideways"`},
		{"unknown target field", `{"format":1,"direction":"outgoing","comments":{"include":"public"},"mappings":[
			{"source":"title","target":"title","transform":{"kind":"copy"}},
			{"source":"title","target":"summary","transform":{"kind":"copy"}}]}`, `mapping 2 (title → summary): target: unknown field "summary"`},
		{"unknown source field", `{"format":1,"direction":"outgoing","comments":{"include":"public"},"mappings":[
			{"source":"colour","target":"title","transform":{"kind":"copy"}}]}`, `mapping 1 (colour → title): source: unknown field "colour"`},
		{"invalid regex", `{"format":1,"direction":"outgoing","comments":{"include":"public"},"mappings":[
			{"source":"title","target":"title","transform":{"kind":"regex","pattern":"(unclosed"}}]}`, `mapping 1 (title → title): the pattern "(unclosed" is not a valid regular expression`},
		{"invalid trigger regex", `{"format":1,"direction":"outgoing","comments":{"include":"public"},"trigger":{"conditions":[
			{"field":"title","op":"matches","value":"[a-"}]}}`, `trigger condition 1 (title matches "[a-")`},
		{"unknown transform", `{"format":1,"direction":"outgoing","comments":{"include":"public"},"mappings":[
			{"source":"title","target":"title","transform":{"kind":"shout"}}]}`, `mapping 1 (title → title): unknown transform "shout"`},
		{"tokenize incoming", `{"format":1,"direction":"incoming","comments":{"include":"public"},"mappings":[
			{"source":"custom.c","target":"custom.c","transform":{"kind":"tokenize"}}]}`, "tokenize is for outgoing rules"},
		{"kind mismatch", `{"format":1,"direction":"outgoing","comments":{"include":"public"},"mappings":[
			{"source":"labels","target":"title","transform":{"kind":"copy"}}]}`, "labels holds labels and title holds text"},
		{"duplicate target", `{"format":1,"direction":"outgoing","comments":{"include":"public"},"mappings":[
			{"source":"title","target":"title","transform":{"kind":"copy"}},
			{"source":"description","target":"title","transform":{"kind":"copy"}}]}`, "mapping 2 (description → title): title is already filled by mapping 1"},
		{"empty map", `{"format":1,"direction":"outgoing","comments":{"include":"public"},"mappings":[
			{"source":"status","target":"status","transform":{"kind":"map"}}]}`, "the value map is empty"},
		{"value mapped twice", `{"format":1,"direction":"outgoing","comments":{"include":"public"},"mappings":[
			{"source":"status","target":"status","transform":{"kind":"map","values":[{"from":"Open","to":"a"},{"from":"open ","to":"b"}]}}]}`, `value "open " is mapped twice`},
		{"truncate zero", `{"format":1,"direction":"outgoing","comments":{"include":"public"},"mappings":[
			{"source":"title","target":"title","transform":{"kind":"truncate"}}]}`, "truncate to 0 characters"},
		{"conflict on outgoing", `{"format":1,"direction":"outgoing","comments":{"include":"public"},"mappings":[
			{"source":"title","target":"title","transform":{"kind":"copy"},"conflict":"local"}]}`, "conflict policies are for incoming rules"},
		{"unknown conflict", `{"format":1,"direction":"incoming","comments":{"include":"public"},"mappings":[
			{"source":"title","target":"title","transform":{"kind":"copy"},"conflict":"mine"}]}`, `conflict policy "mine"`},
		{"comments include", `{"format":1,"direction":"incoming","comments":{"include":"some"}}`, `include "some"`},
		{"user entry without user", `{"format":1,"direction":"incoming","comments":{"include":"public"},"users":{"entries":[{"match":"ann"}]}}`, "user map entry 1 (ann): say which user"},
		{"key as incoming source", `{"format":1,"direction":"incoming","comments":{"include":"public"},"mappings":[
			{"source":"key","target":"custom.k","transform":{"kind":"copy"}}]}`, `unknown field "key"`},
		{"operator on people", `{"format":1,"direction":"outgoing","comments":{"include":"public"},"trigger":{"conditions":[
			{"field":"assignee","op":"contains","value":"a"}]}}`, `people are compared with "is"`},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse error = %v, want it to contain %q", tc.name, err, tc.want)
		}
		if _, gerr := Generate(&Rule{}); gerr == nil {
			t.Errorf("Generate(zero rule) = nil error")
		}
	}
}

func TestParseRoundTrip(t *testing.T) {
	r := New(Incoming)
	r.Mappings = []Mapping{{Source: "status", Target: "status", Transform: Transform{Kind: Map, Values: []Pair{{"a", "b"}}, Default: "open"}, Conflict: ConflictLocal}}
	r.Users = Users{Entries: []UserEntry{{Match: "ann", User: User{ID: "a"}}}, Default: User{ID: "desk"}}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := got.Marshal()
	if string(b) != string(b2) {
		t.Errorf("round trip changed the model:\n%s\n%s", b, b2)
	}
}

func TestKindsFor(t *testing.T) {
	tests := []struct {
		d      Direction
		target string
		want   []string
	}{
		{Outgoing, "title", []string{Copy, Map, Mask, Regex, Fixed, Affix, Truncate, Tokenize, Drop}},
		{Incoming, "custom.x", []string{Copy, Map, Mask, Regex, Fixed, Affix, Truncate, Detokenize, Drop}},
		{Outgoing, "labels", []string{Copy, Map, Fixed, Drop}},
		{Incoming, "assignee", []string{Copy, Fixed, MapUsers, Drop}},
		{Incoming, "nope", nil},
	}
	for _, tc := range tests {
		if got := KindsFor(tc.d, tc.target); !slices.Equal(got, tc.want) {
			t.Errorf("KindsFor(%s, %s) = %v, want %v", tc.d, tc.target, got, tc.want)
		}
	}
}

func TestSummary(t *testing.T) {
	a := New(Outgoing)
	a.Mappings = []Mapping{
		{Source: "title", Target: "title", Transform: Transform{Kind: Copy}},
		{Source: "priority", Target: "priority", Transform: Transform{Kind: Copy}},
		{Source: "status", Target: "status", Transform: Transform{Kind: Copy}},
	}
	b := a.Clone()
	b.Mappings = []Mapping{
		{Source: "title", Target: "title", Transform: Transform{Kind: Copy}},
		{Source: "status", Target: "status", Transform: Transform{Kind: Map, Values: []Pair{{"open", "todo"}}, KeepUnmapped: true}},
		{Source: "description", Target: "description", Transform: Transform{Kind: Mask, Emails: true}},
	}
	b.Trigger.Conditions = []Condition{{Field: "labels", Op: OpContains, Value: "partner"}}
	b.Comments.Include = CommentsNone
	got := Summary(a, b)
	want := []string{
		`trigger: every item → labels contains "partner"`,
		`changed status: copied → mapped: "open" → "todo"; anything else is kept as it is`,
		`added description → description: e-mail addresses masked`,
		`removed priority → priority: copied`,
		`comments: public → none`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Summary:\n got %q\nwant %q", got, want)
	}
	if got := Summary(a, a.Clone()); !slices.Equal(got, []string{"no change"}) {
		t.Errorf("Summary of equal rules = %q", got)
	}
	if got := Summary(a, nil); !slices.Equal(got, []string{"a visual rule became a script"}) {
		t.Errorf("Summary(visual, script) = %q", got)
	}
}

func TestAsScript(t *testing.T) {
	src, err := Generate(New(Outgoing))
	if err != nil {
		t.Fatal(err)
	}
	s := AsScript(src)
	if strings.Contains(s, "DO NOT EDIT") || !strings.HasSuffix(s, strings.TrimPrefix(src, GeneratedHeader)) {
		t.Errorf("AsScript kept the generated header or changed the code:\n%s", s)
	}
}

func TestGeneratedNamesAreUnique(t *testing.T) {
	r := New(Outgoing)
	r.Mappings = []Mapping{
		{Source: "status", Target: "custom.a-b", Transform: Transform{Kind: Map, Values: []Pair{{"x", "y"}}}},
		{Source: "status", Target: "custom.a_b", Transform: Transform{Kind: Map, Values: []Pair{{"x", "z"}}}},
		{Source: "status", Target: "custom.9 lives", Transform: Transform{Kind: Map, Values: []Pair{{"x", "z"}}}},
	}
	src, err := Generate(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"var aBValues ", "var aBValues2 ", "var field9LivesValues "} {
		if !strings.Contains(src, n) {
			t.Errorf("generated source lacks %q:\n%s", n, src)
		}
	}
}
