package jira

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/trackers/connector"
	"github.com/tandemsync/tandem/core/trackers/httpx"
)

var issueKeyRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*-[0-9]+$`)

// Apply creates and updates issues and adds, edits and deletes comments, one write at a time.
//
// Title, description, priority, labels, assignee, reporter and custom fields are set with one
// edit; the status moves through the workflow's transition to it. People are Jira account
// ids (Item.User.ID): the incoming rule's user map turns a partner's people into them.
// Comments carry their partner author in a first paragraph "[Name <email> via Tandem]".
// After writing, the issue's new updated time is read once, so the next poll knows the
// change as Tandem's own.
func (t *Tracker) Apply(ctx context.Context, writes []engine.Write) ([]engine.WriteResult, error) {
	return connector.ApplyEach(ctx, writes, t.apply)
}

func (t *Tracker) apply(ctx context.Context, w engine.Write) engine.WriteResult {
	var res engine.WriteResult
	found := false
	if w.Key == "" {
		project, err := t.projectFor(w.Item)
		if err != nil {
			res.Err = err
			return res
		}
		if w.Retry {
			if res.Key, found, err = t.findCreated(ctx, project, w.Item.Title, w.Linked); err != nil {
				res.Err = fmt.Errorf("look for the issue an earlier attempt created: %w", err)
				return res
			}
		}
		if !found {
			if res.Key, err = t.create(ctx, project, w.Item); err != nil {
				res.Err = fmt.Errorf("create issue in %s: %w", project, err)
				return res
			}
		}
		if w.Item.Status != "" {
			if err := t.transition(ctx, res.Key, w.Item.Status); err != nil {
				res.Err = err
				t.markOwn(ctx, res.Key)
				return res
			}
		}
	} else {
		res.Key = w.Key
		if err := t.update(ctx, w); err != nil {
			res.Err = fmt.Errorf("update issue %s: %w", w.Key, err)
			t.markOwn(ctx, res.Key)
			return res
		}
	}
	var already map[int]string
	if w.Retry && len(w.NewComments) > 0 && (w.Key != "" || found) {
		cs, err := t.allComments(ctx, res.Key)
		if err != nil {
			res.Err = fmt.Errorf("issue %s: look for the comments an earlier attempt added: %w", res.Key, err)
			return res
		}
		onIssue := make([]item.Comment, len(cs))
		for i, c := range cs {
			onIssue[i] = commentItem(c)
		}
		already = connector.PostedBefore(w.NewComments, onIssue, w.Known)
	}
	defer t.markOwn(ctx, res.Key)
	for i, c := range w.NewComments {
		if id, ok := already[i]; ok {
			res.CommentIDs = append(res.CommentIDs, id)
			continue
		}
		id, err := t.postComment(ctx, res.Key, c)
		if err != nil {
			res.Err = fmt.Errorf("add comment to %s: %w", res.Key, err)
			return res
		}
		res.CommentIDs = append(res.CommentIDs, id)
	}
	for _, c := range w.EditComments {
		if err := t.editComment(ctx, res.Key, c); err != nil {
			res.Err = fmt.Errorf("edit comment %s of %s: %w", c.ID, res.Key, err)
			return res
		}
	}
	for _, id := range w.DeleteComments {
		err := t.hc.DoJSON(ctx, http.MethodDelete, t.endpoint("/issue/"+url.PathEscape(res.Key)+"/comment/"+url.PathEscape(id), nil), nil, nil)
		if err != nil && !httpx.IsStatus(err, http.StatusNotFound) { // gone already is what was wanted
			res.Err = fmt.Errorf("delete comment %s of %s: %w", id, res.Key, err)
			return res
		}
	}
	return res
}

// markOwn reads the issue's updated time after Tandem's write: until it changes again, the
// next poll skips the issue as Tandem's own echo.
func (t *Tracker) markOwn(ctx context.Context, key string) {
	i, err := t.issue(ctx, key, []string{"updated"})
	if err != nil {
		return // the next poll reads the issue in full; the engine's diff still stops an echo
	}
	t.own.Put(key, connector.TimeMark(i.Fields.Updated.Time))
}

// projectFor is the synced project the item names in ProjectField, or the first.
func (t *Tracker) projectFor(it item.Item) (string, error) {
	p := strings.ToUpper(strings.TrimSpace(it.Custom[ProjectField]))
	if p == "" {
		return t.projects[0], nil
	}
	if slices.Contains(t.projects, p) {
		return p, nil
	}
	return "", connector.Permanentf("project %q is not one of the synced projects (%s): Tandem would lose sight of the issue there; add it in Settings or change the rule",
		p, strings.Join(t.projects, ", "))
}

// userValue is how Jira takes a person: by account id. Nobody is {"accountId": null}: the
// API description allows no null field value.
func userValue(role string, u item.User) (any, error) {
	if u.IsZero() {
		return map[string]any{"accountId": nil}, nil
	}
	if u.ID == "" || strings.Contains(u.ID, "@") {
		who := u.Name
		if who == "" {
			who = u.Email
		}
		if who == "" {
			who = u.ID
		}
		return nil, connector.Permanentf("%s %q has no jira account id: add them to the user map of the incoming rule", role, who)
	}
	return map[string]string{"accountId": u.ID}, nil
}

// labelValue makes a label Jira accepts: no spaces.
func labelValue(l string) string { return strings.Join(strings.Fields(l), "_") }

// editFields builds the fields of a create or an edit for the named fields (all on create).
func (t *Tracker) editFields(ctx context.Context, key string, it item.Item, names []string, create bool) (map[string]any, error) {
	f := map[string]any{}
	has := func(n string) bool { return create || slices.Contains(names, n) }
	if has(item.FieldTitle) {
		if strings.TrimSpace(it.Title) == "" {
			return nil, connector.Permanentf("jira issues need a summary: the rule gave an empty title")
		}
		f["summary"] = it.Title
	}
	if has(item.FieldDescription) && (!create || it.Description != "") {
		t.mu.Lock()
		lossy := t.lossy[key]
		t.mu.Unlock()
		if !create && len(lossy) > 0 {
			return nil, connector.Permanentf("the description of %s holds Jira content with no text form (%s): writing the partner's text would destroy it; edit it in Jira or stop syncing the description",
				key, strings.Join(lossy, ", "))
		}
		f["description"] = FromText(it.Description)
	}
	if has(item.FieldPriority) && it.Priority != "" {
		f["priority"] = map[string]string{"name": it.Priority}
	}
	if has(item.FieldLabels) {
		labels := []string{}
		for _, l := range it.Labels {
			if v := labelValue(l); v != "" {
				labels = append(labels, v)
			}
		}
		f["labels"] = labels
	}
	if has(item.FieldAssignee) {
		v, err := userValue("assignee", it.Assignee)
		if err != nil {
			return nil, err
		}
		if !it.Assignee.IsZero() || !create {
			f["assignee"] = v
		}
	}
	if has(item.FieldReporter) && !it.Reporter.IsZero() {
		v, err := userValue("reporter", it.Reporter)
		if err != nil {
			return nil, err
		}
		f["reporter"] = v
	}
	for name, val := range it.Custom {
		if name == ProjectField || name == IssueTypeField || !has(item.CustomField(name)) {
			continue
		}
		if err := t.setCustom(ctx, f, name, val); err != nil {
			return nil, err
		}
	}
	if !create {
		for _, n := range names { // a custom field the rule emptied
			name, ok := item.CustomName(n)
			if _, set := it.Custom[name]; ok && !set && name != ProjectField && name != IssueTypeField {
				if err := t.setCustom(ctx, f, name, ""); err != nil {
					return nil, err
				}
			}
		}
	}
	return f, nil
}

// setCustom puts the value of custom field name into f, in the form its type takes.
func (t *Tracker) setCustom(ctx context.Context, f map[string]any, name, val string) error {
	fd, err := t.field(ctx, name)
	if err != nil {
		return err
	}
	v, err := fd.value(val)
	if err != nil {
		return err
	}
	f[fd.ID] = v
	return nil
}

func (t *Tracker) create(ctx context.Context, project string, it item.Item) (string, error) {
	f, err := t.editFields(ctx, "", it, nil, true)
	if err != nil {
		return "", err
	}
	f["project"] = map[string]string{"key": project}
	issueType := strings.TrimSpace(it.Custom[IssueTypeField])
	if issueType == "" {
		issueType = t.cfg.IssueType
	}
	f["issuetype"] = map[string]string{"name": issueType}
	var out struct {
		Key string `json:"key"`
	}
	if err := t.hc.DoJSON(ctx, http.MethodPost, t.endpoint("/issue", nil), map[string]any{"fields": f}, &out); err != nil {
		return "", err
	}
	return out.Key, nil
}

func (t *Tracker) update(ctx context.Context, w engine.Write) error {
	if !issueKeyRE.MatchString(w.Key) {
		return connector.Permanentf("%q is not a jira issue key like SUP-12", w.Key)
	}
	f, err := t.editFields(ctx, w.Key, w.Item, w.Fields, false)
	if err != nil {
		return err
	}
	if len(f) > 0 {
		err := t.hc.DoJSON(ctx, http.MethodPut, t.endpoint("/issue/"+url.PathEscape(w.Key), nil), map[string]any{"fields": f}, nil)
		if httpx.IsStatus(err, http.StatusNotFound) {
			return connector.Permanentf("%s has no issue %s that this account can see (deleted, moved, or no edit permission)", t.name, w.Key)
		}
		if err != nil {
			return err
		}
	}
	if slices.Contains(w.Fields, item.FieldStatus) && w.Item.Status != "" {
		return t.transition(ctx, w.Key, w.Item.Status)
	}
	return nil
}

type transitionList struct {
	Transitions []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		To   named  `json:"to"`
	} `json:"transitions"`
}

// transition moves issue key to the status named target through the workflow: the transition
// whose destination is target. None is a permanent error naming what the workflow offers.
func (t *Tracker) transition(ctx context.Context, key, target string) error {
	cur, err := t.issue(ctx, key, []string{"status", "issuetype", "project"})
	if err != nil {
		return err
	}
	if cur.Fields.Status != nil && strings.EqualFold(cur.Fields.Status.Name, target) {
		return nil
	}
	var tl transitionList
	if err := t.hc.GetJSON(ctx, t.endpoint("/issue/"+url.PathEscape(key)+"/transitions", nil), &tl); err != nil {
		return fmt.Errorf("list transitions of %s: %w", key, err)
	}
	var offered []string
	for _, tr := range tl.Transitions {
		if strings.EqualFold(tr.To.Name, target) {
			body := map[string]any{"transition": map[string]string{"id": tr.ID}}
			if err := t.hc.DoJSON(ctx, http.MethodPost, t.endpoint("/issue/"+url.PathEscape(key)+"/transitions", nil), body, nil); err != nil {
				return fmt.Errorf("move %s to %q: %w", key, target, err)
			}
			return nil
		}
		offered = append(offered, fmt.Sprintf("%q", tr.To.Name))
	}
	from, kind, project := "?", "?", "?"
	if f := cur.Fields; f.Status != nil {
		from = f.Status.Name
	}
	if f := cur.Fields; f.IssueType != nil {
		kind = f.IssueType.Name
	}
	if f := cur.Fields; f.Project != nil {
		project = f.Project.Key
	}
	return connector.Permanentf("the workflow of %s issues in project %s has no transition from %q to %q for %s (it offers %s): map the status in the incoming rule or change the workflow",
		kind, project, from, target, key, orNone(offered))
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func (t *Tracker) commentBody(c item.Comment) (map[string]any, error) {
	if c.Internal {
		return nil, connector.Permanentf("Tandem does not post internal notes to Jira (its comment visibility needs a role or group): keep them out in the rule")
	}
	return map[string]any{"body": FromText(connector.WithAuthor(c.Author, c.Body))}, nil
}

func (t *Tracker) postComment(ctx context.Context, key string, c item.Comment) (string, error) {
	body, err := t.commentBody(c)
	if err != nil {
		return "", err
	}
	var out jiraComment
	if err := t.hc.DoJSON(ctx, http.MethodPost, t.endpoint("/issue/"+url.PathEscape(key)+"/comment", nil), body, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

func (t *Tracker) editComment(ctx context.Context, key string, c item.Comment) error {
	body, err := t.commentBody(c)
	if err != nil {
		return err
	}
	err = t.hc.DoJSON(ctx, http.MethodPut, t.endpoint("/issue/"+url.PathEscape(key)+"/comment/"+url.PathEscape(c.ID), nil), body, nil)
	if httpx.IsStatus(err, http.StatusNotFound) {
		return connector.Permanentf("%s has no comment %s on %s to edit (deleted?)", t.name, c.ID, key)
	}
	return err
}

// findCreated looks in project for the newest issue with this summary that Tandem's account
// created in the last day and that is not linked already.
func (t *Tracker) findCreated(ctx context.Context, project, title string, linked func(string) bool) (string, bool, error) {
	jql := fmt.Sprintf("project = %s AND creator = currentUser() AND created >= -1d ORDER BY created DESC", jqlQuote(project))
	var found string
	err := t.search(ctx, jql, []string{"summary", "updated"}, 50, func(i jiraIssue) bool {
		if i.decode() == nil && i.Fields.Summary == title && (linked == nil || !linked(i.Key)) {
			found = i.Key
			return false
		}
		return true
	})
	return found, found != "", err
}

// jiraField is a field as /field describes it.
type jiraField struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Custom bool   `json:"custom"`
	Schema *struct {
		Type  string `json:"type"`
		Items string `json:"items"`
	} `json:"schema"`
}

// field resolves a field by name through /field, read once (and again for a name not found,
// in case it was added since).
func (t *Tracker) field(ctx context.Context, name string) (jiraField, error) {
	find := func() (jiraField, bool) {
		t.mu.Lock()
		defer t.mu.Unlock()
		for _, f := range t.fields {
			if strings.EqualFold(f.Name, name) || f.ID == name {
				return f, true
			}
		}
		return jiraField{}, false
	}
	if f, ok := find(); ok {
		return f, nil
	}
	var all []jiraField
	if err := t.hc.GetJSON(ctx, t.endpoint("/field", nil), &all); err != nil {
		return jiraField{}, fmt.Errorf("list jira fields: %w", err)
	}
	t.mu.Lock()
	t.fields = all
	t.mu.Unlock()
	if f, ok := find(); ok {
		return f, nil
	}
	return jiraField{}, connector.Permanentf("%s has no field named %q: check the name in Settings or in the rule", t.name, name)
}

// value converts text to what the field takes.
func (f jiraField) value(s string) (any, error) {
	s = strings.TrimSpace(s)
	typ, items := "string", ""
	if f.Schema != nil {
		typ, items = f.Schema.Type, f.Schema.Items
	}
	if s == "" {
		// The API description allows no null field value: a field is cleared with an empty
		// value of its own shape, where it has one.
		switch typ {
		case "array":
			return []any{}, nil
		case "string":
			return "", nil
		case "option":
			return map[string]any{"value": nil}, nil
		case "user":
			return map[string]any{"accountId": nil}, nil
		}
		return nil, connector.Permanentf("jira field %q (%s) cannot be emptied through the API: set a value in the rule instead", f.Name, typ)
	}
	switch typ {
	case "string", "date", "datetime":
		return s, nil
	case "number":
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, connector.Permanentf("jira field %q takes a number, not %q", f.Name, s)
		}
		return n, nil
	case "option":
		return map[string]string{"value": s}, nil
	case "user":
		return map[string]string{"accountId": s}, nil
	case "array":
		var out []any
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			switch items {
			case "option":
				out = append(out, map[string]string{"value": p})
			case "user":
				out = append(out, map[string]string{"accountId": p})
			case "string":
				out = append(out, p)
			default:
				return nil, connector.Permanentf("jira field %q holds a list of %s, which Tandem cannot write", f.Name, items)
			}
		}
		return out, nil
	}
	return nil, connector.Permanentf("jira field %q is of type %s, which Tandem cannot write", f.Name, typ)
}
