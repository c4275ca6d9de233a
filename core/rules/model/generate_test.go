package model_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules"
	"github.com/tandemsync/tandem/core/rules/model"
)

var update = flag.Bool("update", false, "rewrite the golden files from the generator")

func sample() item.Item {
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	return item.Item{
		Key:         "HD-7",
		Title:       "Printer on fire in room 12",
		Description: "Call jane.doe@acme.com about card 4111111111111111",
		Status:      "new",
		Priority:    "high",
		Labels:      []string{"hardware", "Urgent", "internal"},
		Assignee:    item.User{ID: "ann", Name: "Ann Blue", Email: "ann@blue.example"},
		Reporter:    item.User{ID: "joe", Name: "Joe", Email: "joe@blue.example"},
		Comments: []item.Comment{
			{ID: "c1", Author: item.User{Name: "Jane", Email: "jane@acme.com"}, Body: "It smokes, mail jane@acme.com", Created: t0},
			{ID: "c2", Author: item.User{Name: "Ann Blue"}, Body: "note to self", Created: t0.Add(time.Hour), Internal: true},
		},
		Custom:  map[string]string{"customer": "ACME-42", "Queue": "General"},
		Created: t0,
	}
}

// sampleReplica is what a partner might send.
func sampleReplica() item.Replica {
	it := sample()
	return item.Replica{Title: it.Title, Description: it.Description, Status: "in progress", Priority: "P1",
		Labels: it.Labels, Assignee: item.User{Name: "Rob Red", Email: "rob@red.example"}, Reporter: it.Reporter,
		Comments: it.Comments, Custom: map[string]string{"customer": "ACME-42", "ref": "RED-9"}}
}

// vault is an in-memory token vault for these tests; core/vault is the real one.
type vault map[string]string

func (v vault) Token(value string) (string, error) {
	tok := "tok_" + strings.Repeat("a", 25) + fmt.Sprint(len(v))
	for t, val := range v {
		if val == value {
			return t, nil
		}
	}
	v[tok] = value
	return tok, nil
}

var tokRE = regexp.MustCompile(`tok_a{25}[0-9]`)

func (v vault) Detokenize(s string) (string, error) {
	return tokRE.ReplaceAllStringFunc(s, func(t string) string {
		if val, ok := v[t]; ok {
			return val
		}
		return t
	}), nil
}

func out(ms ...model.Mapping) *model.Rule {
	r := model.New(model.Outgoing)
	r.Comments.Include = model.CommentsNone
	r.Mappings = ms
	return r
}

func in(ms ...model.Mapping) *model.Rule {
	r := model.New(model.Incoming)
	r.Comments.Include = model.CommentsNone
	r.Mappings = ms
	return r
}

func m(src, dst string, t model.Transform) model.Mapping {
	return model.Mapping{Source: src, Target: dst, Transform: t}
}

func compile(t *testing.T, r *model.Rule) *rules.Program {
	t.Helper()
	src, err := model.Generate(r)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	p, err := rules.Compile(string(r.Direction)+".go", src)
	if err != nil {
		t.Fatalf("generated source does not compile: %v\n%s", err, src)
	}
	return p
}

// TestOutgoingTransforms: every transform kind, on an outgoing rule, gives exactly the replica
// the model describes.
func TestOutgoingTransforms(t *testing.T) {
	people := model.Users{Entries: []model.UserEntry{{Match: "ann@blue.example", User: model.User{Name: "Blue support"}}}, Default: model.User{Name: "Blue"}}
	tests := []struct {
		name string
		rule *model.Rule
		want item.Replica
	}{
		{"copy", out(m("title", "title", model.Transform{Kind: model.Copy}), m("key", "custom.ref", model.Transform{Kind: model.Copy})),
			item.Replica{Title: "Printer on fire in room 12", Custom: map[string]string{"ref": "HD-7"}}},
		{"value map with default", out(m("status", "status", model.Transform{Kind: model.Map, Values: []model.Pair{{From: "open", To: "todo"}, {From: "New", To: "todo"}}, Default: "other"}),
			m("priority", "priority", model.Transform{Kind: model.Map, Values: []model.Pair{{From: "low", To: "P3"}}, Default: "P2"})),
			item.Replica{Status: "todo", Priority: "P2"}},
		{"value map keeping unknown", out(m("priority", "priority", model.Transform{Kind: model.Map, Values: []model.Pair{{From: "low", To: "P3"}}, KeepUnmapped: true})),
			item.Replica{Priority: "high"}},
		{"value map on a custom field", out(m("custom.Queue", "custom.team", model.Transform{Kind: model.Map, Values: []model.Pair{{From: "general", To: "support"}}})),
			item.Replica{Custom: map[string]string{"team": "support"}}},
		{"labels mapped, unknown kept", out(m("labels", "labels", model.Transform{Kind: model.Map, Values: []model.Pair{{From: "urgent", To: "P1"}, {From: "internal", To: ""}}, KeepUnmapped: true})),
			item.Replica{Labels: []string{"hardware", "P1"}}},
		{"labels mapped, unknown dropped", out(m("labels", "labels", model.Transform{Kind: model.Map, Values: []model.Pair{{From: "urgent", To: "P1"}}})),
			item.Replica{Labels: []string{"P1"}}},
		{"mask last 4", out(m("description", "custom.card", model.Transform{Kind: model.Mask, KeepLast: 4})),
			item.Replica{Custom: map[string]string{"card": "**** ***************** ***** **** ************1111"}}},
		{"mask with a character", out(m("custom.customer", "custom.customer", model.Transform{Kind: model.Mask, KeepLast: 2, MaskChar: "#"})),
			item.Replica{Custom: map[string]string{"customer": "#####42"}}},
		{"mask e-mails", out(m("description", "description", model.Transform{Kind: model.Mask, Emails: true})),
			item.Replica{Description: "Call j***@acme.com about card 4111111111111111"}},
		{"regex replace", out(m("description", "description", model.Transform{Kind: model.Regex, Pattern: `\b(\d{4})\d{8}(\d{4})\b`, Replace: "$1…$2"})),
			item.Replica{Description: "Call jane.doe@acme.com about card 4111…1111"}},
		{"fixed text, labels and person", out(m("", "priority", model.Transform{Kind: model.Fixed, Value: "normal"}),
			m("", "labels", model.Transform{Kind: model.Fixed, Value: "from-blue, support"}),
			m("", "assignee", model.Transform{Kind: model.Fixed, User: &model.User{ID: "desk", Name: "Service desk"}})),
			item.Replica{Priority: "normal", Labels: []string{"from-blue", "support"}, Assignee: item.User{ID: "desk", Name: "Service desk"}}},
		{"prefix and suffix", out(m("title", "title", model.Transform{Kind: model.Affix, Prefix: "[Blue] ", Suffix: " (HD)"})),
			item.Replica{Title: "[Blue] Printer on fire in room 12 (HD)"}},
		{"truncate", out(m("title", "title", model.Transform{Kind: model.Truncate, Max: 8})),
			item.Replica{Title: "Printer…"}},
		{"tokenize", out(m("custom.customer", "custom.customer", model.Transform{Kind: model.Tokenize})),
			item.Replica{Custom: map[string]string{"customer": "tok_" + strings.Repeat("a", 25) + "0"}}},
		{"drop", out(m("title", "title", model.Transform{Kind: model.Copy}), m("", "priority", model.Transform{Kind: model.Drop})),
			item.Replica{Title: "Printer on fire in room 12"}},
		{"user map", out(m("assignee", "assignee", model.Transform{Kind: model.MapUsers}), m("reporter", "reporter", model.Transform{Kind: model.MapUsers})),
			item.Replica{Assignee: item.User{Name: "Blue support"}, Reporter: item.User{Name: "Blue"}}},
		{"first sync only, on first sync", out(model.Mapping{Target: "custom.origin", Transform: model.Transform{Kind: model.Fixed, Value: "blue"}, FirstSyncOnly: true}),
			item.Replica{Custom: map[string]string{"origin": "blue"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.name, "user map") {
				tc.rule.Users = people
			}
			p := compile(t, tc.rule)
			r, o, err := p.Outgoing(context.Background(), sample(), rules.Env{Vault: vault{}, FirstSync: true})
			if err != nil || o.Skip {
				t.Fatalf("Outgoing: skip %v, err %v", o.Skip, err)
			}
			if !reflect.DeepEqual(r, tc.want) {
				t.Errorf("replica\n got %+v\nwant %+v", r, tc.want)
			}
		})
	}
}

func TestFirstSyncOnlySkippedOnUpdates(t *testing.T) {
	r := out(model.Mapping{Target: "custom.origin", Transform: model.Transform{Kind: model.Fixed, Value: "blue"}, FirstSyncOnly: true},
		m("title", "title", model.Transform{Kind: model.Copy}))
	p := compile(t, r)
	got, _, err := p.Outgoing(context.Background(), sample(), rules.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (item.Replica{Title: sample().Title}); !reflect.DeepEqual(got, want) {
		t.Errorf("update replica %+v, want %+v (no origin)", got, want)
	}
}

// TestIncomingTransforms: incoming rules change exactly the fields the model names, keep a
// local value the partner did not send, and report conflict policies and comment choices.
func TestIncomingTransforms(t *testing.T) {
	local := item.Item{Key: "L-1", Title: "old title", Status: "open", Priority: "low", Custom: map[string]string{"Queue": "General"}}
	v := vault{}
	tok, _ := v.Token("ACME-42")
	tests := []struct {
		name   string
		rule   *model.Rule
		rep    func(*item.Replica)
		change func(*item.Item)
	}{
		{"copy", in(m("title", "title", model.Transform{Kind: model.Copy})), nil,
			func(it *item.Item) { it.Title = "Printer on fire in room 12" }},
		{"copy keeps a field not sent", in(m("title", "title", model.Transform{Kind: model.Copy})),
			func(r *item.Replica) { r.Title = "" }, func(*item.Item) {}},
		{"status map", in(m("status", "status", model.Transform{Kind: model.Map, Values: []model.Pair{{From: "in progress", To: "open"}, {From: "done", To: "resolved"}}, Default: "new"})), nil,
			func(it *item.Item) { it.Status = "open" }},
		{"priority map default", in(m("priority", "priority", model.Transform{Kind: model.Map, Values: []model.Pair{{From: "P3", To: "low"}}, Default: "medium"})), nil,
			func(it *item.Item) { it.Priority = "medium" }},
		{"detokenize", in(m("custom.customer", "custom.customer", model.Transform{Kind: model.Detokenize})),
			func(r *item.Replica) { r.Custom["customer"] = "see " + tok }, func(it *item.Item) { it.Custom["customer"] = "see ACME-42" }},
		{"custom to custom with affix", in(m("custom.ref", "custom.partnerRef", model.Transform{Kind: model.Affix, Prefix: "Red "})), nil,
			func(it *item.Item) { it.Custom["partnerRef"] = "Red RED-9" }},
		{"users mapped with default", func() *model.Rule {
			r := in(m("assignee", "assignee", model.Transform{Kind: model.MapUsers}), m("reporter", "reporter", model.Transform{Kind: model.MapUsers}))
			r.Users = model.Users{Entries: []model.UserEntry{{Match: "Rob Red", User: model.User{ID: "rob", Name: "Rob (Red)"}}}, Default: model.User{ID: "desk"}}
			return r
		}(), nil, func(it *item.Item) {
			it.Assignee = item.User{ID: "rob", Name: "Rob (Red)"}
			it.Reporter = item.User{ID: "desk"}
		}},
		{"users kept when unknown", func() *model.Rule {
			r := in(m("reporter", "reporter", model.Transform{Kind: model.MapUsers}))
			r.Users.KeepUnknown = true
			return r
		}(), nil, func(it *item.Item) { it.Reporter = sample().Reporter }},
		{"first sync only not on update", in(model.Mapping{Target: "custom.Queue", Transform: model.Transform{Kind: model.Fixed, Value: "Support"}, FirstSyncOnly: true}), nil,
			func(*item.Item) {}},
		{"fixed overrides", in(m("", "custom.Queue", model.Transform{Kind: model.Fixed, Value: "Support"})), nil,
			func(it *item.Item) { it.Custom["Queue"] = "Support" }},
		{"drop", in(m("", "title", model.Transform{Kind: model.Drop})), nil, func(*item.Item) {}},
		{"labels dropping unknown", in(m("labels", "labels", model.Transform{Kind: model.Map, Values: []model.Pair{{From: "hardware", To: "hw"}}})), nil,
			func(it *item.Item) { it.Labels = []string{"hw"} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compile(t, tc.rule)
			rep := sampleReplica()
			if tc.rep != nil {
				tc.rep(&rep)
			}
			got, o, err := p.Incoming(context.Background(), rep, local, rules.Env{Vault: v})
			if err != nil || o.Skip {
				t.Fatalf("Incoming: skip %v, err %v", o.Skip, err)
			}
			want := local.Clone()
			tc.change(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("item\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestIncomingFirstSyncCreates(t *testing.T) {
	r := in(model.Mapping{Target: "custom.Queue", Transform: model.Transform{Kind: model.Fixed, Value: "Support"}, FirstSyncOnly: true},
		m("title", "title", model.Transform{Kind: model.Copy}))
	p := compile(t, r)
	got, _, err := p.Incoming(context.Background(), sampleReplica(), item.Item{}, rules.Env{FirstSync: true})
	if err != nil {
		t.Fatal(err)
	}
	want := item.Item{Title: sample().Title, Custom: map[string]string{"Queue": "Support"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("created item %+v, want %+v", got, want)
	}
}

func TestConflictAndCommentChoicesReachTheEngine(t *testing.T) {
	r := in(model.Mapping{Source: "status", Target: "status", Transform: model.Transform{Kind: model.Copy}, Conflict: model.ConflictLocal},
		model.Mapping{Source: "priority", Target: "priority", Transform: model.Transform{Kind: model.Copy}, Conflict: model.ConflictOverwrite},
		m("title", "title", model.Transform{Kind: model.Copy}))
	r.Comments = model.Comments{Include: model.CommentsAll, IgnoreEdits: true, IgnoreDeletions: true}
	p := compile(t, r)
	_, o, err := p.Incoming(context.Background(), sampleReplica(), item.Item{Key: "L-1"}, rules.Env{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"status": rules.ConflictLocal, "priority": rules.ConflictOverwrite}
	if !reflect.DeepEqual(o.Conflicts, want) || !o.IgnoreCommentEdits || !o.IgnoreCommentDeletions {
		t.Errorf("outcome conflicts %v, ignore edits %v, deletions %v; want %v, true, true", o.Conflicts, o.IgnoreCommentEdits, o.IgnoreCommentDeletions, want)
	}
}

func TestComments(t *testing.T) {
	s := sample()
	tests := []struct {
		name     string
		dir      model.Direction
		comments model.Comments
		users    model.Users
		want     []item.Comment
	}{
		{"out none", model.Outgoing, model.Comments{Include: model.CommentsNone}, model.Users{}, nil},
		{"out public", model.Outgoing, model.Comments{Include: model.CommentsPublic}, model.Users{}, s.Comments[:1]},
		{"out all", model.Outgoing, model.Comments{Include: model.CommentsAll}, model.Users{}, s.Comments},
		{"out public masked", model.Outgoing, model.Comments{Include: model.CommentsPublic, MaskEmails: true}, model.Users{}, func() []item.Comment {
			c := s.Comments[0]
			c.Body = "It smokes, mail j***@acme.com"
			return []item.Comment{c}
		}()},
		{"in public, authors mapped", model.Incoming, model.Comments{Include: model.CommentsPublic, Author: model.AuthorMapped},
			model.Users{Entries: []model.UserEntry{{Match: "jane@acme.com", User: model.User{ID: "jane"}}}}, func() []item.Comment {
				c := s.Comments[0]
				c.Author = item.User{ID: "jane"}
				return []item.Comment{c}
			}()},
		{"in all", model.Incoming, model.Comments{Include: model.CommentsAll}, model.Users{}, s.Comments},
		{"in none", model.Incoming, model.Comments{Include: model.CommentsNone}, model.Users{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := model.New(tc.dir)
			r.Comments, r.Users = tc.comments, tc.users
			p := compile(t, r)
			var got []item.Comment
			if tc.dir == model.Outgoing {
				rep, _, err := p.Outgoing(context.Background(), s, rules.Env{})
				if err != nil {
					t.Fatal(err)
				}
				got = rep.Comments
			} else {
				it, _, err := p.Incoming(context.Background(), item.Replica{Comments: s.Comments}, item.Item{Key: "L-1"}, rules.Env{})
				if err != nil {
					t.Fatal(err)
				}
				got = it.Comments
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("comments\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestTriggers: every operator on every kind of field, combined with all and any, sends or
// skips exactly as the model says.
func TestTriggers(t *testing.T) {
	c := func(f, op, v string, vs ...string) model.Condition {
		return model.Condition{Field: f, Op: op, Value: v, Values: vs}
	}
	tests := []struct {
		match string
		conds []model.Condition
		sent  bool
	}{
		{"", nil, true},
		{model.MatchAll, []model.Condition{c("status", model.OpIs, "NEW")}, true},
		{model.MatchAll, []model.Condition{c("status", model.OpIsNot, "new")}, false},
		{model.MatchAll, []model.Condition{c("status", model.OpOneOf, "", "open", "new")}, true},
		{model.MatchAll, []model.Condition{c("priority", model.OpNotOneOf, "", "high")}, false},
		{model.MatchAll, []model.Condition{c("title", model.OpContains, "FIRE")}, true},
		{model.MatchAll, []model.Condition{c("title", model.OpNotContains, "fire")}, false},
		{model.MatchAll, []model.Condition{c("title", model.OpMatches, `room \d+$`)}, true},
		{model.MatchAll, []model.Condition{c("description", model.OpMatches, `^room`)}, false},
		{model.MatchAll, []model.Condition{c("custom.Queue", model.OpIs, "general")}, true},
		{model.MatchAll, []model.Condition{c("custom.Missing", model.OpEmpty, "")}, true},
		{model.MatchAll, []model.Condition{c("custom.Queue", model.OpEmpty, "")}, false},
		{model.MatchAll, []model.Condition{c("custom.Queue", model.OpNotEmpty, "")}, true},
		{model.MatchAll, []model.Condition{c("labels", model.OpContains, "urgent")}, true},
		{model.MatchAll, []model.Condition{c("labels", model.OpNotContains, "urgent")}, false},
		{model.MatchAll, []model.Condition{c("labels", model.OpOneOf, "", "x", "hardware")}, true},
		{model.MatchAll, []model.Condition{c("labels", model.OpNotOneOf, "", "x", "hardware")}, false},
		{model.MatchAll, []model.Condition{c("labels", model.OpEmpty, "")}, false},
		{model.MatchAll, []model.Condition{c("labels", model.OpNotEmpty, "")}, true},
		{model.MatchAll, []model.Condition{c("assignee", model.OpIs, "ann@blue.example")}, true},
		{model.MatchAll, []model.Condition{c("assignee", model.OpIsNot, "Ann Blue")}, false},
		{model.MatchAll, []model.Condition{c("assignee", model.OpEmpty, "")}, false},
		{model.MatchAll, []model.Condition{c("reporter", model.OpNotEmpty, "")}, true},
		{model.MatchAll, []model.Condition{c("status", model.OpIs, "new"), c("priority", model.OpIs, "low")}, false},
		{model.MatchAny, []model.Condition{c("status", model.OpIs, "new"), c("priority", model.OpIs, "low")}, true},
		{model.MatchAny, []model.Condition{c("status", model.OpIs, "done"), c("priority", model.OpIs, "low")}, false},
	}
	for i, tc := range tests {
		r := out(m("title", "title", model.Transform{Kind: model.Copy}))
		r.Trigger = model.Trigger{Match: tc.match, Conditions: tc.conds}
		p := compile(t, r)
		rep, o, err := p.Outgoing(context.Background(), sample(), rules.Env{})
		if err != nil {
			t.Fatalf("#%d: %v", i, err)
		}
		if o.Skip == tc.sent {
			t.Errorf("#%d %s %v: sent %v (skip reason %q), want sent %v", i, tc.match, tc.conds, !o.Skip, o.SkipReason, tc.sent)
		}
		if !tc.sent && (!strings.HasPrefix(o.SkipReason, "outside the trigger: ") || rep.Title != "") {
			t.Errorf("#%d: skipped with reason %q and replica %+v; want the trigger named and nothing sent", i, o.SkipReason, rep)
		}
	}

	// Incoming triggers test the partner's replica.
	r := in(m("title", "title", model.Transform{Kind: model.Copy}))
	r.Trigger.Conditions = []model.Condition{c("status", model.OpIs, "in progress"), c("custom.ref", model.OpMatches, `^RED-`)}
	p := compile(t, r)
	if _, o, err := p.Incoming(context.Background(), sampleReplica(), item.Item{}, rules.Env{}); err != nil || o.Skip {
		t.Errorf("incoming trigger on a matching replica: skip %v (%s), err %v", o.Skip, o.SkipReason, err)
	}
	rep := sampleReplica()
	rep.Status = "done"
	if _, o, err := p.Incoming(context.Background(), rep, item.Item{}, rules.Env{}); err != nil || !o.Skip {
		t.Errorf("incoming trigger on a done replica: skip %v, err %v; want skipped", o.Skip, err)
	}
}

// goldenModels are full rules whose generated source is kept in testdata, so a change to the
// generator shows as a diff in review.
func goldenModels() map[string]*model.Rule {
	outRule := model.New(model.Outgoing)
	outRule.Trigger = model.Trigger{Match: model.MatchAll, Conditions: []model.Condition{
		{Field: "status", Op: model.OpNotOneOf, Values: []string{"deleted", "spam"}},
		{Field: "labels", Op: model.OpContains, Value: "partner"},
		{Field: "title", Op: model.OpMatches, Value: `^\[(ext|EXT)\]`},
	}}
	outRule.Mappings = []model.Mapping{
		{Source: "title", Target: "title", Transform: model.Transform{Kind: model.Truncate, Max: 120}},
		{Source: "description", Target: "description", Transform: model.Transform{Kind: model.Mask, Emails: true}, Note: "Requesters' addresses stay here."},
		{Source: "status", Target: "status", Transform: model.Transform{Kind: model.Map, Values: []model.Pair{{From: "new", To: "open"}, {From: "open", To: "in progress"}, {From: "stalled", To: "waiting"}}, KeepUnmapped: true}},
		{Source: "priority", Target: "priority", Transform: model.Transform{Kind: model.Map, Values: []model.Pair{{From: "1", To: "high"}, {From: "2", To: "medium"}}, Default: "low"}},
		{Source: "labels", Target: "labels", Transform: model.Transform{Kind: model.Map, Values: []model.Pair{{From: "partner", To: ""}, {From: "bug", To: "defect"}}, KeepUnmapped: true}},
		{Source: "assignee", Target: "assignee", Transform: model.Transform{Kind: model.MapUsers}},
		{Source: "custom.customer", Target: "custom.customer", Transform: model.Transform{Kind: model.Tokenize}},
		{Source: "custom.card", Target: "custom.card", Transform: model.Transform{Kind: model.Mask, KeepLast: 4, MaskChar: "#"}},
		{Source: "custom.Cust-Ref", Target: "custom.ref", Transform: model.Transform{Kind: model.Regex, Pattern: "`?(\\d+)", Replace: "REF-$1"}},
		{Source: "key", Target: "custom.blueKey", Transform: model.Transform{Kind: model.Affix, Prefix: "BLUE:"}},
		{Target: "custom.origin", Transform: model.Transform{Kind: model.Fixed, Value: "Blue helpdesk"}, FirstSyncOnly: true},
		{Target: "reporter", Transform: model.Transform{Kind: model.Drop}},
	}
	outRule.Users = model.Users{Entries: []model.UserEntry{{Match: "ann@blue.example", User: model.User{Name: "Blue support", Email: "support@blue.example"}}}, KeepUnknown: true}
	outRule.Comments = model.Comments{Include: model.CommentsPublic, MaskEmails: true}

	inRule := model.New(model.Incoming)
	inRule.Trigger = model.Trigger{Match: model.MatchAny, Conditions: []model.Condition{
		{Field: "priority", Op: model.OpIs, Value: "high"},
		{Field: "assignee", Op: model.OpIs, Value: "rob@red.example"},
		{Field: "custom.ref", Op: model.OpNotEmpty},
	}}
	inRule.Mappings = []model.Mapping{
		{Source: "title", Target: "title", Transform: model.Transform{Kind: model.Copy}},
		{Source: "status", Target: "status", Transform: model.Transform{Kind: model.Map, Values: []model.Pair{{From: "in progress", To: "open"}, {From: "done", To: "resolved"}}, Default: "open"}, Conflict: model.ConflictLocal},
		{Source: "priority", Target: "priority", Transform: model.Transform{Kind: model.Copy}, Conflict: model.ConflictOverwrite},
		{Source: "assignee", Target: "assignee", Transform: model.Transform{Kind: model.MapUsers}},
		{Source: "custom.customer", Target: "custom.customer", Transform: model.Transform{Kind: model.Detokenize}},
		{Target: "custom.Queue", Transform: model.Transform{Kind: model.Fixed, Value: "Support"}, FirstSyncOnly: true},
		{Target: "labels", Transform: model.Transform{Kind: model.Drop}},
	}
	inRule.Users = model.Users{Entries: []model.UserEntry{{Match: "Rob Red", User: model.User{ID: "rob", Name: "Rob (Red)"}}, {Match: "eve@red.example", User: model.User{ID: "eve"}}}, Default: model.User{ID: "desk", Name: "Service desk"}}
	inRule.Comments = model.Comments{Include: model.CommentsPublic, Author: model.AuthorMapped, IgnoreDeletions: true}

	return map[string]*model.Rule{"outgoing_full": outRule, "incoming_full": inRule,
		"outgoing_empty": model.New(model.Outgoing), "incoming_empty": model.New(model.Incoming)}
}

func TestGolden(t *testing.T) {
	for name, r := range goldenModels() {
		t.Run(name, func(t *testing.T) {
			js, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			src, err := model.Generate(r)
			if err != nil {
				t.Fatal(err)
			}
			modelPath, srcPath := filepath.Join("testdata", name+".json"), filepath.Join("testdata", name+".go.golden")
			if *update {
				os.WriteFile(modelPath, js, 0o644)
				os.WriteFile(srcPath, []byte(src), 0o644)
			}
			wantJS, err := os.ReadFile(modelPath)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if string(wantJS) != string(js) {
				t.Errorf("%s differs from the model's JSON; run go test -update and review the diff", modelPath)
			}
			parsed, err := model.Parse(wantJS)
			if err != nil {
				t.Fatalf("Parse(%s): %v", modelPath, err)
			}
			again, err := model.Generate(parsed)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(srcPath)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if again != string(want) || src != string(want) {
				t.Errorf("generated source differs from %s; run go test -update and review the diff:\n%s", srcPath, again)
			}
			if _, err := rules.Compile(name+".go", again); err != nil {
				t.Errorf("golden source does not compile: %v", err)
			}
		})
	}
}

// TestDeterministic: the same model generates the same bytes, whatever the run.
func TestDeterministic(t *testing.T) {
	for name, r := range goldenModels() {
		first, err := model.Generate(r)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			if again, _ := model.Generate(r.Clone()); again != first {
				t.Fatalf("%s: generation %d differs from the first", name, i)
			}
		}
	}
}

// TestGoldenRulesRun runs the full golden rules on the sample, checking the interplay of the
// whole file (shared user map, patterns, first sync) rather than one mapping at a time.
func TestGoldenRulesRun(t *testing.T) {
	models := goldenModels()
	v := vault{}
	it := sample()
	it.Labels = append(it.Labels, "partner", "bug")
	it.Title = "[ext] " + it.Title
	it.Custom["card"] = "4111111111111111"
	it.Custom["Cust-Ref"] = "cr 778"
	p := compile(t, models["outgoing_full"])
	rep, o, err := p.Outgoing(context.Background(), it, rules.Env{Vault: v, FirstSync: true})
	if err != nil || o.Skip {
		t.Fatalf("outgoing: skip %v (%s), err %v", o.Skip, o.SkipReason, err)
	}
	tok, _ := v.Token("ACME-42")
	want := item.Replica{
		Title:       "[ext] Printer on fire in room 12",
		Description: "Call j***@acme.com about card 4111111111111111",
		Status:      "open",
		Priority:    "low",
		Labels:      []string{"hardware", "Urgent", "internal", "defect"},
		Assignee:    item.User{Name: "Blue support", Email: "support@blue.example"},
		Comments:    []item.Comment{{ID: "c1", Author: it.Comments[0].Author, Body: "It smokes, mail j***@acme.com", Created: it.Comments[0].Created}},
		Custom:      map[string]string{"customer": tok, "card": "############1111", "ref": "cr REF-778", "blueKey": "BLUE:HD-7", "origin": "Blue helpdesk"},
	}
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("outgoing replica\n got %+v\nwant %+v", rep, want)
	}

	p = compile(t, models["incoming_full"])
	back := item.Replica{Title: "New title", Status: "done", Priority: "high", Assignee: item.User{Name: "Zed"},
		Labels: []string{"x"}, Custom: map[string]string{"customer": tok}, Comments: rep.Comments}
	got, o, err := p.Incoming(context.Background(), back, item.Item{}, rules.Env{Vault: v, FirstSync: true})
	if err != nil || o.Skip {
		t.Fatalf("incoming: skip %v, err %v", o.Skip, err)
	}
	c := rep.Comments[0]
	c.Author = item.User{ID: "desk", Name: "Service desk"}
	wantIt := item.Item{Title: "New title", Status: "resolved", Priority: "high", Assignee: item.User{ID: "desk", Name: "Service desk"},
		Comments: []item.Comment{c}, Custom: map[string]string{"customer": "ACME-42", "Queue": "Support"}}
	if !reflect.DeepEqual(got, wantIt) {
		t.Errorf("incoming item\n got %+v\nwant %+v", got, wantIt)
	}
	if o.Conflicts["status"] != rules.ConflictLocal || o.Conflicts["priority"] != rules.ConflictOverwrite || !o.IgnoreCommentDeletions || o.IgnoreCommentEdits {
		t.Errorf("incoming outcome %+v", o)
	}
}

// TestEmbeddedStarterMatchesDefaults: the visual starter for the embedded tracker does what
// the default scripts do, on outgoing and incoming items alike.
func TestEmbeddedStarterMatchesDefaults(t *testing.T) {
	ctx := context.Background()
	gen, def := compile(t, model.Starter("embedded", model.Outgoing)), mustCompile(t, rules.DefaultOutgoing)
	it := sample()
	a, _, errA := gen.Outgoing(ctx, it, rules.Env{})
	b, _, errB := def.Outgoing(ctx, it, rules.Env{})
	if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
		t.Errorf("outgoing: starter %+v (%v)\ndefault %+v (%v)", a, errA, b, errB)
	}
	gen, def = compile(t, model.Starter("", model.Incoming)), mustCompile(t, rules.DefaultIncoming)
	for _, rep := range []item.Replica{sampleReplica(), {Title: "only a title"}, {}} {
		local := item.Item{Key: "L-1", Title: "old", Status: "open", Labels: []string{"x"}}
		a, _, errA := gen.Incoming(ctx, rep, local, rules.Env{})
		b, _, errB := def.Incoming(ctx, rep, local, rules.Env{})
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("incoming %+v: starter %+v (%v)\ndefault %+v (%v)", rep, a, errA, b, errB)
		}
	}
	for _, d := range []model.Direction{model.Outgoing, model.Incoming} {
		if _, err := model.Generate(model.Starter("rt", d)); err != nil {
			t.Errorf("rt starter %s: %v", d, err)
		}
	}
}

func mustCompile(t *testing.T, src string) *rules.Program {
	t.Helper()
	p, err := rules.Compile("rule.go", src)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
