package github

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/trackers/connector"
	"github.com/tandemsync/tandem/core/trackers/httpx"
)

// maxPages bounds any listing, against a server that always says there is more.
const maxPages = 1000

// Custom fields under which GitHub's own fields are read and written.
const (
	RepositoryField = "Repository" // owner/name of the issue; on create, where it goes
	MilestoneField  = "Milestone"  // the milestone's title
	AssigneesField  = "Assignees"  // every assignee's login, comma-separated, when more than one
)

// Statuses as Tandem reads and writes them: GitHub's open/closed and the reason it was closed.
const (
	StatusOpen       = "open"
	StatusClosed     = "closed" // closed as completed
	StatusNotPlanned = "not planned"
	StatusDuplicate  = "duplicate"
)

type ghUser struct {
	Login string `json:"login"`
	Type  string `json:"type"`
}

func (u *ghUser) item() item.User {
	if u == nil || u.Login == "" {
		return item.User{}
	}
	return item.User{ID: u.Login, Name: u.Login}
}

type ghLabel struct {
	Name string `json:"name"`
}

type ghMilestone struct {
	Number int64  `json:"number"`
	Title  string `json:"title"`
}

type ghIssue struct {
	Number      int64           `json:"number"`
	Title       string          `json:"title"`
	Body        *string         `json:"body"`
	State       string          `json:"state"`
	StateReason *string         `json:"state_reason"`
	Labels      []ghLabel       `json:"labels"`
	Assignees   []ghUser        `json:"assignees"`
	Milestone   *ghMilestone    `json:"milestone"`
	User        *ghUser         `json:"user"`
	Comments    int             `json:"comments"`
	PullRequest json.RawMessage `json:"pull_request"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

func (i ghIssue) isPull() bool { return len(i.PullRequest) > 0 && string(i.PullRequest) != "null" }

type ghComment struct {
	ID        int64     `json:"id"`
	Body      *string   `json:"body"`
	User      *ghUser   `json:"user"`
	IssueURL  string    `json:"issue_url"`
	HTMLURL   string    `json:"html_url"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func status(i ghIssue) string {
	if i.State != "closed" {
		return StatusOpen
	}
	switch deref(i.StateReason) {
	case "not_planned":
		return StatusNotPlanned
	case "duplicate":
		return StatusDuplicate
	}
	return StatusClosed
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func issueItem(r repoName, i ghIssue) item.Item {
	it := item.Item{
		Key:         itemKey(r, i.Number),
		Title:       i.Title,
		Description: deref(i.Body),
		Status:      status(i),
		Reporter:    i.User.item(),
		Created:     i.CreatedAt.UTC(),
		Updated:     i.UpdatedAt.UTC(),
		Custom:      map[string]string{RepositoryField: r.String()},
	}
	for _, l := range i.Labels {
		it.Labels = append(it.Labels, l.Name)
	}
	if len(i.Assignees) > 0 {
		it.Assignee = i.Assignees[0].item()
	}
	if len(i.Assignees) > 1 {
		logins := make([]string, len(i.Assignees))
		for j, a := range i.Assignees {
			logins[j] = a.Login
		}
		it.Custom[AssigneesField] = strings.Join(logins, ", ")
	}
	if i.Milestone != nil {
		it.Custom[MilestoneField] = i.Milestone.Title
	}
	return it
}

func commentItem(c ghComment) item.Comment {
	ic := item.Comment{ID: strconv.FormatInt(c.ID, 10), Author: c.User.item(), Body: deref(c.Body), Created: c.CreatedAt.UTC()}
	if u, rest, ok := connector.ParseAuthor(ic.Body); ok {
		ic.Author, ic.Body = u, rest
	}
	return ic
}

// cursor is where Changes left off, per repository: issues updated before Since are done,
// and so are those in Seen updated exactly then; ETag is GitHub's tag for the first page of
// the listing from Since, so an unchanged listing costs a 304 that the rate limit does not
// count. The comment listing has the same three.
type cursor struct {
	Repos map[string]*repoCursor `json:"repos"`
}

type repoCursor struct {
	Since  time.Time `json:"since,omitzero"`
	Seen   []int64   `json:"seen,omitempty"`
	ETag   string    `json:"etag,omitempty"`
	CSince time.Time `json:"csince,omitzero"`
	CSeen  []int64   `json:"cseen,omitempty"`
	CETag  string    `json:"cetag,omitempty"`
}

const cursorPrefix = "gh1:"

func parseCursor(s string) (cursor, error) {
	c := cursor{Repos: map[string]*repoCursor{}}
	if s == "" {
		return c, nil
	}
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok || json.Unmarshal([]byte(rest), &c) != nil {
		return cursor{}, fmt.Errorf("github cursor %q is not one this connector wrote", s)
	}
	if c.Repos == nil {
		c.Repos = map[string]*repoCursor{}
	}
	return c, nil
}

func (c cursor) String() string {
	b, _ := json.Marshal(c)
	return cursorPrefix + string(b)
}

// Changes returns the issues of the configured repositories changed after cursor, oldest
// first per repository, pull requests left out.
//
// Each repository is listed with since= its cursor time, sorted by update, ascending; since is
// inclusive and has one-second resolution, so the ids already returned for that second are
// kept and skipped. The comment listing (issues/comments?since=) catches comment edits, which
// do not always move the issue. Both listings are asked with If-None-Match: while nothing
// changed GitHub answers 304, which costs no rate limit, and an idle poll reads nothing.
// Issues whose only change is Tandem's own last write are skipped without being read.
func (t *Tracker) Changes(ctx context.Context, cur string, limit int) ([]item.Item, string, error) {
	c, err := parseCursor(cur)
	if err != nil {
		return nil, cur, connector.Permanent(err)
	}
	if limit <= 0 {
		limit = 100
	}
	var items []item.Item
	for _, r := range t.repos {
		if len(items) >= limit {
			break
		}
		rc := c.Repos[r.String()]
		if rc == nil {
			rc = &repoCursor{}
			c.Repos[r.String()] = rc
		}
		got, err := t.repoChanges(ctx, r, rc, limit-len(items))
		if err != nil {
			return nil, cur, err
		}
		items = append(items, got...)
	}
	return items, c.String(), nil
}

func (t *Tracker) repoChanges(ctx context.Context, r repoName, rc *repoCursor, limit int) ([]item.Item, error) {
	issues, err := t.changedIssues(ctx, r, rc, limit)
	if err != nil {
		return nil, err
	}
	byNumber := map[int64]bool{}
	for _, i := range issues {
		byNumber[i.Number] = true
	}
	var extra []int64
	if len(issues) < limit {
		if extra, err = t.commentedIssues(ctx, r, rc, byNumber, limit-len(issues)); err != nil {
			return nil, err
		}
	}
	var items []item.Item
	for _, i := range issues {
		if t.ownEcho(itemKey(r, i.Number), i.UpdatedAt) {
			continue
		}
		it := issueItem(r, i)
		if i.Comments > 0 {
			if it.Comments, err = t.comments(ctx, r, i.Number); err != nil {
				return nil, err
			}
		}
		items = append(items, it)
	}
	for _, n := range extra {
		it, err := t.get(ctx, r, n)
		if connector.IsPermanent(err) {
			continue // deleted or moved away since the comment was made
		}
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

// changedIssues lists the issues of r updated since the cursor and moves the cursor past them.
func (t *Tracker) changedIssues(ctx context.Context, r repoName, rc *repoCursor, limit int) ([]ghIssue, error) {
	q := url.Values{"state": {"all"}, "sort": {"updated"}, "direction": {"asc"}, "per_page": {strconv.Itoa(t.cfg.PageSize)}}
	hits, err := listSince(ctx, t, fmt.Sprintf("issues of %s", r), repoPath(r)+"/issues", q, &rc.Since, &rc.Seen, &rc.ETag, limit,
		func(i ghIssue) (time.Time, int64, bool) { return i.UpdatedAt, i.Number, !i.isPull() })
	return hits, err
}

// commentedIssues lists the comments of r edited since the cursor and answers the numbers of
// their issues that are not in skip, moving the cursor past them. Editing a comment does not
// move its issue's updated_at, so the issue listing alone would miss it.
func (t *Tracker) commentedIssues(ctx context.Context, r repoName, rc *repoCursor, skip map[int64]bool, limit int) ([]int64, error) {
	q := url.Values{"sort": {"updated"}, "direction": {"asc"}, "per_page": {strconv.Itoa(t.cfg.PageSize)}}
	if rc.CSince.IsZero() && rc.Since.IsZero() {
		return nil, nil // the first listing of the issues reads every comment anyway
	}
	if rc.CSince.IsZero() {
		rc.CSince = rc.Since
	}
	cs, err := listSince(ctx, t, fmt.Sprintf("comments of %s", r), repoPath(r)+"/issues/comments", q, &rc.CSince, &rc.CSeen, &rc.CETag, limit,
		func(c ghComment) (time.Time, int64, bool) {
			// A new comment moves its issue, which the issue listing finds; only an edit
			// (updated after it was made) needs this listing.
			return c.UpdatedAt, c.ID, !strings.Contains(c.HTMLURL, "/pull/") && c.UpdatedAt.After(c.CreatedAt)
		})
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, c := range cs {
		if t.ownComment(c.ID, c.UpdatedAt) {
			continue
		}
		n, err := issueNumber(c.IssueURL)
		if err != nil {
			return nil, fmt.Errorf("%s: comment %d: %w", t.name, c.ID, err)
		}
		if !skip[n] {
			skip[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

func issueNumber(issueURL string) (int64, error) {
	i := strings.LastIndexByte(issueURL, '/')
	n, err := strconv.ParseInt(issueURL[i+1:], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("issue_url %q does not end in an issue number", issueURL)
	}
	return n, nil
}

// listSince reads a listing sorted by update, ascending, from *since on (GitHub's since is
// inclusive, to the second): records at *since whose ids are in *seen were handed out before.
// It moves *since and *seen past what it returns. The first page is asked with If-None-Match
// *etag; the answer's tag is kept while the next poll will ask the same URL, so an unchanged
// listing costs one 304, which GitHub does not count against the rate limit.
func listSince[T any](ctx context.Context, t *Tracker, what, path string, q url.Values, since *time.Time, seen *[]int64, etag *string, limit int,
	key func(T) (at time.Time, id int64, keep bool)) ([]T, error) {
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339))
	}
	done := map[int64]bool{}
	for _, id := range *seen {
		done[id] = true
	}
	type hit struct {
		v    T
		at   time.Time
		id   int64
		keep bool // not a pull request: returned; the others only move the cursor
	}
	var hits []hit
	next := t.endpoint(path, q)
	firstTag := ""
	for page := 1; next != ""; page++ {
		if page > maxPages {
			return nil, fmt.Errorf("%s: listing of %s still not finished after %d pages", t.name, what, maxPages)
		}
		tag := ""
		if page == 1 {
			tag = *etag
		}
		var batch []T
		hdr, notModified, err := t.hc.GetConditional(ctx, next, tag, &batch)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", what, err)
		}
		if notModified {
			return nil, nil
		}
		if page == 1 {
			firstTag = hdr.Get("ETag")
		}
		next = httpx.NextLink(hdr)
		for _, v := range batch {
			at, id, keep := key(v)
			if at.Before(*since) || at.Equal(*since) && done[id] {
				continue
			}
			hits = append(hits, hit{v, at, id, keep})
		}
		if len(hits) >= limit {
			break
		}
	}
	if len(hits) > limit {
		// Cut between two update times, so no second is left half-done.
		last := hits[limit-1].at
		n := limit
		for n < len(hits) && hits[n].at.Equal(last) {
			n++
		}
		hits = hits[:n]
	}
	old := *since
	if len(hits) > 0 {
		last := hits[len(hits)-1].at
		if !last.Equal(*since) {
			*since, *seen = last, nil
		}
		for _, h := range hits {
			if h.at.Equal(last) {
				*seen = append(*seen, h.id)
			}
		}
	}
	*etag = ""
	if since.Equal(old) {
		*etag = firstTag
	}
	var out []T
	for _, h := range hits {
		if h.keep {
			out = append(out, h.v)
		}
	}
	return out, nil
}

// ownEcho reports whether the issue key, last updated at, has changed only by Tandem's own
// last write, and forgets that write once the issue has moved on.
func (t *Tracker) ownEcho(key string, at time.Time) bool {
	return t.own.Echo(key, connector.TimeMark(at))
}

// ownComment is ownEcho for a comment Tandem wrote or edited.
func (t *Tracker) ownComment(id int64, at time.Time) bool {
	return t.own.Echo(commentMark(id), connector.TimeMark(at))
}

// commentMark is the key of a comment's mark (an issue's is its key, owner/name#N).
func commentMark(id int64) string { return "comment " + strconv.FormatInt(id, 10) }

// markOwn records Tandem's write to an issue or a comment (id 0: none).
func (t *Tracker) markOwn(key string, at time.Time, comment int64, cat time.Time) {
	if !at.IsZero() {
		t.own.Put(key, connector.TimeMark(at))
	}
	if comment != 0 {
		t.own.Put(commentMark(comment), connector.TimeMark(cat))
	}
}

// Get returns the issue key with its comments.
func (t *Tracker) Get(ctx context.Context, key string) (item.Item, error) {
	r, n, err := t.parseKey(key)
	if err != nil {
		return item.Item{}, err
	}
	return t.get(ctx, r, n)
}

func (t *Tracker) get(ctx context.Context, r repoName, n int64) (item.Item, error) {
	i, err := t.issue(ctx, r, n)
	if err != nil {
		return item.Item{}, err
	}
	it := issueItem(r, i)
	if i.Comments > 0 {
		if it.Comments, err = t.comments(ctx, r, n); err != nil {
			return item.Item{}, err
		}
	}
	return it, nil
}

// issue reads one issue; a pull request, or an issue that is gone, is a permanent error.
func (t *Tracker) issue(ctx context.Context, r repoName, n int64) (ghIssue, error) {
	var i ghIssue
	err := t.hc.GetJSON(ctx, t.endpoint(fmt.Sprintf("%s/issues/%d", repoPath(r), n), nil), &i)
	switch {
	case httpx.IsStatus(err, 404):
		return i, connector.Permanentf("%s has no issue %s#%d that this account can see (deleted, or moved to another repository)", t.name, r, n)
	case httpx.IsStatus(err, 410):
		return i, connector.Permanentf("%s: issue %s#%d was deleted", t.name, r, n)
	case err != nil:
		return i, fmt.Errorf("get issue %s#%d: %w", r, n, err)
	case i.isPull():
		return i, connector.Permanentf("%s#%d is a pull request: Tandem syncs issues only", r, n)
	}
	return i, nil
}

// comments reads every comment of issue n, oldest first.
func (t *Tracker) comments(ctx context.Context, r repoName, n int64) ([]item.Comment, error) {
	q := url.Values{"per_page": {"100"}}
	next := t.endpoint(fmt.Sprintf("%s/issues/%d/comments", repoPath(r), n), q)
	var out []item.Comment
	for page := 1; next != ""; page++ {
		if page > maxPages {
			return nil, fmt.Errorf("%s: comments of %s#%d still not finished after %d pages", t.name, r, n, maxPages)
		}
		var batch []ghComment
		hdr, err := t.hc.FetchJSON(ctx, next, &batch)
		if err != nil {
			return nil, fmt.Errorf("list comments of %s#%d: %w", r, n, err)
		}
		for _, c := range batch {
			out = append(out, commentItem(c))
		}
		next = httpx.NextLink(hdr)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}
