package github

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/trackers/connector"
	"github.com/tandemsync/tandem/core/trackers/httpx"
)

// Apply creates and updates issues and adds, edits and deletes comments, one write at a time.
//
// Comments carry their partner author in a first line "[Name <email> via Tandem]", since
// GitHub records the token's account as the author; reading takes it back into
// Comment.Author. Priority and reporter have no GitHub counterpart and are not written;
// the milestone is the custom field "Milestone", extra assignees "Assignees". After each
// write the issue's new updated_at is remembered, so the next poll skips Tandem's own echo.
func (t *Tracker) Apply(ctx context.Context, writes []engine.Write) ([]engine.WriteResult, error) {
	return connector.ApplyEach(ctx, writes, t.apply)
}

// issueEdit is the body of a create or an update; nil fields are left alone.
type issueEdit struct {
	Title       *string   `json:"title,omitempty"`
	Body        *string   `json:"body,omitempty"`
	State       string    `json:"state,omitempty"`
	StateReason string    `json:"state_reason,omitempty"`
	Labels      *[]string `json:"labels,omitempty"`
	Assignees   *[]string `json:"assignees,omitempty"`
	Milestone   *any      `json:"milestone,omitempty"` // a number, or null to clear
}

func (e issueEdit) empty() bool { return e == (issueEdit{}) }

func (t *Tracker) apply(ctx context.Context, w engine.Write) engine.WriteResult {
	var res engine.WriteResult
	var r repoName
	var n int64
	var updated time.Time
	found := false
	if w.Key == "" {
		var err error
		if r, err = t.repoFor(w.Item); err != nil {
			res.Err = err
			return res
		}
		if w.Retry {
			if n, found, err = t.findCreated(ctx, r, w.Item.Title, w.Linked); err != nil {
				res.Err = fmt.Errorf("look for the issue an earlier attempt created: %w", err)
				return res
			}
		}
		if !found {
			if n, updated, err = t.create(ctx, r, w.Item); err != nil {
				res.Err = fmt.Errorf("create issue in %s: %w", r, err)
				return res
			}
		}
		res.Key = itemKey(r, n)
	} else {
		var err error
		if r, n, err = t.parseKey(w.Key); err != nil {
			res.Err = err
			return res
		}
		res.Key = w.Key
		if updated, err = t.update(ctx, r, n, w); err != nil {
			res.Err = fmt.Errorf("update issue %s: %w", w.Key, err)
			return res
		}
	}
	t.markOwn(res.Key, updated, 0, time.Time{})
	var already map[int]string
	if w.Retry && len(w.NewComments) > 0 && (w.Key != "" || found) {
		var err error
		if already, err = t.postedBefore(ctx, r, n, w.NewComments, w.Known); err != nil {
			res.Err = fmt.Errorf("issue %s: look for the comments an earlier attempt added: %w", res.Key, err)
			return res
		}
	}
	wrote := false
	for i, c := range w.NewComments {
		if id, ok := already[i]; ok {
			res.CommentIDs = append(res.CommentIDs, id)
			continue
		}
		gc, err := t.postComment(ctx, r, n, c)
		if err != nil {
			res.Err = fmt.Errorf("add comment to issue %s: %w", res.Key, err)
			return res
		}
		res.CommentIDs = append(res.CommentIDs, strconv.FormatInt(gc.ID, 10))
		t.markOwn("", time.Time{}, gc.ID, gc.UpdatedAt)
		wrote = true
	}
	for _, c := range w.EditComments {
		if err := t.editComment(ctx, r, c); err != nil {
			res.Err = fmt.Errorf("edit comment %s of issue %s: %w", c.ID, res.Key, err)
			return res
		}
		wrote = true
	}
	for _, id := range w.DeleteComments {
		if err := t.deleteComment(ctx, r, id); err != nil {
			res.Err = fmt.Errorf("delete comment %s of issue %s: %w", id, res.Key, err)
			return res
		}
		wrote = true
	}
	if wrote {
		// Comments move the issue's updated_at: read it once, so the next poll knows the
		// issue's state as Tandem's own.
		i, err := t.issue(ctx, r, n)
		if err == nil {
			t.markOwn(res.Key, i.UpdatedAt, 0, time.Time{})
		}
	}
	return res
}

// repoFor is the synced repository the item names in RepositoryField, or the first.
func (t *Tracker) repoFor(it item.Item) (repoName, error) {
	name := strings.TrimSpace(it.Custom[RepositoryField])
	if name == "" {
		return t.repos[0], nil
	}
	for _, r := range t.repos {
		if strings.EqualFold(r.String(), name) {
			return r, nil
		}
	}
	return repoName{}, connector.Permanentf("repository %q is not one of the synced repositories (%s): Tandem would lose sight of the issue there; add it in Settings or change the rule",
		name, t.repoList())
}

// stateOf turns a Tandem status into GitHub's state and reason.
func stateOf(s string) (state, reason string, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case StatusOpen, "reopened":
		return "open", "", nil
	case StatusClosed, "completed":
		return "closed", "completed", nil
	case StatusNotPlanned, "not_planned":
		return "closed", "not_planned", nil
	case StatusDuplicate:
		return "closed", "duplicate", nil
	}
	return "", "", connector.Permanentf("github issues are open, closed, not planned or duplicate; the rule gave status %q: map it in the incoming rule", s)
}

// assigneesOf is the full list of logins the write means: the assignee first, then the
// others of AssigneesField. When only the assignee changed, the old first is replaced.
func assigneesOf(it item.Item, fields []string) []string {
	var out []string
	add := func(l string) {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	add(it.Assignee.ID)
	others := connector.Values{"a": it.Custom[AssigneesField]}.List("a")
	if !slices.Contains(fields, item.CustomField(AssigneesField)) && len(others) > 0 {
		others = others[1:] // they listed the previous assignee first
	}
	for _, l := range others {
		add(l)
	}
	return out
}

func (t *Tracker) edit(ctx context.Context, r repoName, it item.Item, fields []string, create bool) (issueEdit, error) {
	var e issueEdit
	has := func(f string) bool { return create || slices.Contains(fields, f) }
	if has(item.FieldTitle) {
		title := it.Title
		e.Title = &title
	}
	if has(item.FieldDescription) {
		body := it.Description
		e.Body = &body
	}
	if has(item.FieldStatus) && (!create || it.Status != "") {
		state, reason, err := stateOf(it.Status)
		if err != nil {
			return e, err
		}
		if !create {
			e.State, e.StateReason = state, reason
		}
	}
	if has(item.FieldLabels) {
		labels := slices.Clone(it.Labels)
		if labels == nil {
			labels = []string{}
		}
		e.Labels = &labels
	}
	if has(item.FieldAssignee) || has(item.CustomField(AssigneesField)) {
		a := assigneesOf(it, fields)
		if a == nil {
			a = []string{}
		}
		e.Assignees = &a
	}
	if has(item.CustomField(MilestoneField)) {
		title := strings.TrimSpace(it.Custom[MilestoneField])
		var m any
		if title != "" {
			num, err := t.milestone(ctx, r, title)
			if err != nil {
				return e, err
			}
			m = num
		}
		if title != "" || !create {
			e.Milestone = &m
		}
	}
	return e, nil
}

// create opens an issue with every field, then closes it if its status says so (GitHub
// opens every new issue).
func (t *Tracker) create(ctx context.Context, r repoName, it item.Item) (int64, time.Time, error) {
	e, err := t.edit(ctx, r, it, nil, true)
	if err != nil {
		return 0, time.Time{}, err
	}
	var out ghIssue
	if err := t.hc.DoJSON(ctx, http.MethodPost, t.endpoint(repoPath(r)+"/issues", nil), e, &out); err != nil {
		return 0, time.Time{}, err
	}
	if state, reason, _ := stateOf(it.Status); it.Status != "" && state == "closed" {
		var closed ghIssue
		err := t.hc.DoJSON(ctx, http.MethodPatch, t.endpoint(fmt.Sprintf("%s/issues/%d", repoPath(r), out.Number), nil),
			issueEdit{State: state, StateReason: reason}, &closed)
		if err != nil {
			return out.Number, time.Time{}, fmt.Errorf("close the new issue #%d: %w", out.Number, err)
		}
		return out.Number, closed.UpdatedAt, nil
	}
	return out.Number, out.UpdatedAt, nil
}

func (t *Tracker) update(ctx context.Context, r repoName, n int64, w engine.Write) (time.Time, error) {
	for _, f := range w.Fields {
		switch f {
		case item.FieldPriority:
			t.log.Debug("github issues have no priority; not written", "issue", w.Key)
		case item.FieldReporter:
			t.log.Debug("github cannot change who opened an issue; not written", "issue", w.Key)
		}
	}
	e, err := t.edit(ctx, r, w.Item, w.Fields, false)
	if err != nil {
		return time.Time{}, err
	}
	if e.empty() {
		return time.Time{}, nil
	}
	var out ghIssue
	err = t.hc.DoJSON(ctx, http.MethodPatch, t.endpoint(fmt.Sprintf("%s/issues/%d", repoPath(r), n), nil), e, &out)
	switch {
	case httpx.IsStatus(err, http.StatusNotFound):
		return time.Time{}, connector.Permanentf("%s has no issue %s#%d that this account can see (deleted, or moved to another repository)", t.name, r, n)
	case httpx.IsStatus(err, http.StatusGone):
		return time.Time{}, connector.Permanentf("%s: issue %s#%d was deleted", t.name, r, n)
	case err != nil:
		return time.Time{}, err
	}
	return out.UpdatedAt, nil
}

// milestone finds the number of the milestone titled title in r, reading the repository's
// milestones once and again when a title is not known.
func (t *Tracker) milestone(ctx context.Context, r repoName, title string) (int64, error) {
	t.mu.Lock()
	num, ok := t.milestones[r.String()][strings.ToLower(title)]
	t.mu.Unlock()
	if ok {
		return num, nil
	}
	q := url.Values{"state": {"all"}, "per_page": {"100"}}
	next := t.endpoint(repoPath(r)+"/milestones", q)
	byTitle := map[string]int64{}
	for page := 1; next != "" && page <= 50; page++ {
		var batch []ghMilestone
		hdr, err := t.hc.FetchJSON(ctx, next, &batch)
		if err != nil {
			return 0, fmt.Errorf("list milestones of %s: %w", r, err)
		}
		for _, m := range batch {
			byTitle[strings.ToLower(m.Title)] = m.Number
		}
		next = httpx.NextLink(hdr)
	}
	t.mu.Lock()
	t.milestones[r.String()] = byTitle
	t.mu.Unlock()
	if num, ok := byTitle[strings.ToLower(title)]; ok {
		return num, nil
	}
	return 0, connector.Permanentf("%s has no milestone %q: create it in GitHub or map the value in the incoming rule", r, title)
}

func (t *Tracker) postComment(ctx context.Context, r repoName, n int64, c item.Comment) (ghComment, error) {
	var out ghComment
	body := map[string]string{"body": connector.WithAuthor(c.Author, c.Body)}
	err := t.hc.DoJSON(ctx, http.MethodPost, t.endpoint(fmt.Sprintf("%s/issues/%d/comments", repoPath(r), n), nil), body, &out)
	return out, err
}

func commentID(id string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
	if err != nil || n <= 0 {
		return 0, connector.Permanentf("%q is not a github comment id", id)
	}
	return n, nil
}

func (t *Tracker) editComment(ctx context.Context, r repoName, c item.Comment) error {
	id, err := commentID(c.ID)
	if err != nil {
		return err
	}
	var out ghComment
	body := map[string]string{"body": connector.WithAuthor(c.Author, c.Body)}
	err = t.hc.DoJSON(ctx, http.MethodPatch, t.endpoint(fmt.Sprintf("%s/issues/comments/%d", repoPath(r), id), nil), body, &out)
	if httpx.IsStatus(err, http.StatusNotFound) {
		return connector.Permanentf("%s has no comment %d in %s to edit (deleted?)", t.name, id, r)
	}
	if err == nil {
		t.markOwn("", time.Time{}, out.ID, out.UpdatedAt)
	}
	return err
}

func (t *Tracker) deleteComment(ctx context.Context, r repoName, sid string) error {
	id, err := commentID(sid)
	if err != nil {
		return err
	}
	err = t.hc.DoJSON(ctx, http.MethodDelete, t.endpoint(fmt.Sprintf("%s/issues/comments/%d", repoPath(r), id), nil), nil, nil)
	if httpx.IsStatus(err, http.StatusNotFound) {
		return nil // already gone: what the delete wanted
	}
	return err
}

// adoptWindow is how far back findCreated looks for an issue an earlier attempt created.
const adoptWindow = 24 * time.Hour

// findCreated looks in r for the newest issue with this title that Tandem's account opened in
// the last day and that is not linked already.
func (t *Tracker) findCreated(ctx context.Context, r repoName, title string, linked func(string) bool) (int64, bool, error) {
	me := t.login(ctx)
	q := url.Values{"state": {"all"}, "sort": {"created"}, "direction": {"desc"}, "per_page": {"30"}}
	if me != "" {
		q.Set("creator", me)
	}
	var batch []ghIssue
	if err := t.hc.GetJSON(ctx, t.endpoint(repoPath(r)+"/issues", q), &batch); err != nil {
		return 0, false, err
	}
	for _, i := range batch {
		if i.isPull() || i.Title != title || time.Since(i.CreatedAt) > adoptWindow {
			continue
		}
		if linked != nil && linked(itemKey(r, i.Number)) {
			continue
		}
		return i.Number, true, nil
	}
	return 0, false, nil
}

// postedBefore finds on issue n the comments an earlier attempt at this write posted (same
// author line and text, not linked to another partner comment), by index into added.
func (t *Tracker) postedBefore(ctx context.Context, r repoName, n int64, added []item.Comment, known map[string]bool) (map[int]string, error) {
	cs, err := t.comments(ctx, r, n)
	if err != nil {
		return nil, err
	}
	return connector.PostedBefore(added, cs, known), nil
}
