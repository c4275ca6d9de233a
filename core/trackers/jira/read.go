package jira

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/trackers/connector"
	"github.com/tandemsync/tandem/core/trackers/httpx"
)

// Custom fields under which Jira's own fields are read and written.
const (
	ProjectField   = "Project"    // the issue's project key; on create, where it goes
	IssueTypeField = "Issue type" // the issue type's name; on create, which type
)

// timeLayout is how Jira writes times.
const timeLayout = "2006-01-02T15:04:05.000-0700"

type jiraTime struct{ time.Time }

func (t *jiraTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil || s == "" {
		return err
	}
	v, err := time.Parse(timeLayout, s)
	if err != nil {
		if v, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("jira time %q: %w", s, err)
		}
	}
	t.Time = v.UTC()
	return nil
}

type jiraUser struct {
	AccountID    string `json:"accountId"`
	DisplayName  string `json:"displayName"`
	EmailAddress string `json:"emailAddress"`
	TimeZone     string `json:"timeZone"`
}

func (u *jiraUser) item() item.User {
	if u == nil || u.AccountID == "" {
		return item.User{}
	}
	return item.User{ID: u.AccountID, Name: u.DisplayName, Email: u.EmailAddress}
}

type named struct {
	ID   string `json:"id,omitempty"`
	Key  string `json:"key,omitempty"`
	Name string `json:"name,omitempty"`
}

type jiraComment struct {
	ID         string          `json:"id"`
	Author     *jiraUser       `json:"author"`
	Body       *Node           `json:"body"`
	Created    jiraTime        `json:"created"`
	Updated    jiraTime        `json:"updated"`
	Visibility json.RawMessage `json:"visibility"`
}

type commentPage struct {
	Comments   []jiraComment `json:"comments"`
	StartAt    int           `json:"startAt"`
	MaxResults int           `json:"maxResults"`
	Total      int           `json:"total"`
}

// issueFields are the fields Tandem reads; custom fields stay raw until resolved by name.
type issueFields struct {
	Summary     string       `json:"summary"`
	Description *Node        `json:"description"`
	Status      *named       `json:"status"`
	Priority    *named       `json:"priority"`
	Labels      []string     `json:"labels"`
	Assignee    *jiraUser    `json:"assignee"`
	Reporter    *jiraUser    `json:"reporter"`
	IssueType   *named       `json:"issuetype"`
	Project     *named       `json:"project"`
	Created     jiraTime     `json:"created"`
	Updated     jiraTime     `json:"updated"`
	Comment     *commentPage `json:"comment"`
}

type jiraIssue struct {
	ID     string                     `json:"id"`
	Key    string                     `json:"key"`
	Fields issueFields                `json:"-"`
	Raw    map[string]json.RawMessage `json:"fields"`
}

func (i *jiraIssue) decode() error {
	b, err := json.Marshal(i.Raw)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, &i.Fields)
}

var baseFields = []string{"summary", "description", "status", "priority", "labels", "assignee", "reporter", "issuetype", "project",
	"created", "updated", "comment"}

// fieldList is the fields to ask for: Tandem's and the configured custom fields' ids.
func (t *Tracker) fieldList(ctx context.Context) ([]string, error) {
	out := append([]string(nil), baseFields...)
	for _, name := range t.cfg.Fields {
		f, err := t.field(ctx, name)
		if err != nil {
			return nil, err
		}
		out = append(out, f.ID)
	}
	return out, nil
}

// issueItem turns a Jira issue into an item (comments from the issue's comment field).
func (t *Tracker) issueItem(ctx context.Context, i jiraIssue) (item.Item, error) {
	if err := i.decode(); err != nil {
		return item.Item{}, fmt.Errorf("issue %s: %w", i.Key, err)
	}
	f := i.Fields
	it := item.Item{
		Key:      i.Key,
		Title:    f.Summary,
		Labels:   f.Labels,
		Assignee: f.Assignee.item(),
		Reporter: f.Reporter.item(),
		Created:  f.Created.Time,
		Updated:  f.Updated.Time,
		Custom:   map[string]string{},
	}
	desc, lossy := ToText(f.Description)
	it.Description = desc
	t.mu.Lock()
	if len(lossy) > 0 {
		t.lossy[i.Key] = lossy
	} else {
		delete(t.lossy, i.Key)
	}
	t.mu.Unlock()
	if f.Status != nil {
		it.Status = f.Status.Name
	}
	if f.Priority != nil {
		it.Priority = f.Priority.Name
	}
	if f.Project != nil {
		it.Custom[ProjectField] = f.Project.Key
	}
	if f.IssueType != nil {
		it.Custom[IssueTypeField] = f.IssueType.Name
	}
	for _, name := range t.cfg.Fields {
		fd, err := t.field(ctx, name)
		if err != nil {
			return it, err
		}
		if v := fieldText(i.Raw[fd.ID]); v != "" {
			it.Custom[fd.Name] = v
		}
	}
	if f.Comment != nil {
		cs := f.Comment.Comments
		if f.Comment.Total > len(cs) {
			var err error
			if cs, err = t.allComments(ctx, i.Key); err != nil {
				return it, err
			}
		}
		for _, c := range cs {
			it.Comments = append(it.Comments, commentItem(c))
		}
	}
	sort.SliceStable(it.Comments, func(a, b int) bool { return it.Comments[a].Created.Before(it.Comments[b].Created) })
	return it, nil
}

func commentItem(c jiraComment) item.Comment {
	body, _ := ToText(c.Body)
	ic := item.Comment{ID: c.ID, Author: c.Author.item(), Body: body, Created: c.Created.Time,
		Internal: len(c.Visibility) > 0 && string(c.Visibility) != "null"}
	if u, rest, ok := connector.ParseAuthor(body); ok {
		ic.Author, ic.Body = u, rest
	}
	return ic
}

// fieldText renders a custom field's value as text: strings and numbers as they are, options
// by value, users by account id, arrays comma-separated.
func fieldText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	var text func(v any) string
	text = func(v any) string {
		switch x := v.(type) {
		case string:
			return x
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			return strconv.FormatBool(x)
		case []any:
			parts := make([]string, 0, len(x))
			for _, e := range x {
				if s := text(e); s != "" {
					parts = append(parts, s)
				}
			}
			return strings.Join(parts, ", ")
		case map[string]any:
			for _, k := range []string{"value", "accountId", "name", "key"} {
				if s, ok := x[k].(string); ok {
					return s
				}
			}
			if x["type"] == "doc" {
				b, _ := json.Marshal(x)
				var n Node
				json.Unmarshal(b, &n)
				s, _ := ToText(&n)
				return s
			}
		}
		return ""
	}
	return text(v)
}

// allComments reads every comment of an issue, oldest first.
func (t *Tracker) allComments(ctx context.Context, key string) ([]jiraComment, error) {
	var out []jiraComment
	for start := 0; start < 100000; {
		q := url.Values{"startAt": {strconv.Itoa(start)}, "maxResults": {"100"}, "orderBy": {"created"}}
		var p commentPage
		if err := t.hc.GetJSON(ctx, t.endpoint("/issue/"+url.PathEscape(key)+"/comment", q), &p); err != nil {
			return nil, fmt.Errorf("list comments of %s: %w", key, err)
		}
		out = append(out, p.Comments...)
		start += len(p.Comments)
		if len(p.Comments) == 0 || start >= p.Total {
			break
		}
	}
	return out, nil
}

// cursor is where Changes left off: issues updated before At are done, and so are those in
// Seen updated exactly at At.
type cursor struct {
	At   time.Time `json:"at,omitzero"`
	Seen []string  `json:"seen,omitempty"`
}

const cursorPrefix = "jira1:"

func parseCursor(s string) (cursor, error) {
	var c cursor
	if s == "" {
		return c, nil
	}
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok || json.Unmarshal([]byte(rest), &c) != nil {
		return cursor{}, fmt.Errorf("jira cursor %q is not one this connector wrote", s)
	}
	return c, nil
}

func (c cursor) String() string {
	b, _ := json.Marshal(c)
	return cursorPrefix + string(b)
}

// jqlQuote makes s a JQL string literal.
func jqlQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func (t *Tracker) projectClause() string {
	keys := make([]string, len(t.projects))
	for i, p := range t.projects {
		keys[i] = jqlQuote(p)
	}
	return "project in (" + strings.Join(keys, ", ") + ")"
}

// account returns who Tandem signs in as, asked once, with the time zone in which JQL reads
// dates.
func (t *Tracker) account(ctx context.Context) (*jiraUser, *time.Location, error) {
	t.mu.Lock()
	me, zone := t.me, t.zone
	t.mu.Unlock()
	if me != nil {
		return me, zone, nil
	}
	var u jiraUser
	if err := t.hc.GetJSON(ctx, t.endpoint("/myself", nil), &u); err != nil {
		return nil, nil, fmt.Errorf("read the account Tandem signs in as: %w", err)
	}
	zone = time.UTC
	if u.TimeZone != "" {
		if z, err := time.LoadLocation(u.TimeZone); err == nil {
			zone = z
		}
	}
	t.mu.Lock()
	t.me, t.zone = &u, zone
	t.mu.Unlock()
	return &u, zone, nil
}

type searchPage struct {
	Issues        []jiraIssue `json:"issues"`
	NextPageToken string      `json:"nextPageToken"`
	IsLast        bool        `json:"isLast"`
}

// search runs one JQL query, page by page with nextPageToken, until stop says enough.
func (t *Tracker) search(ctx context.Context, jql string, fields []string, pageSize int, each func(jiraIssue) (more bool)) error {
	token := ""
	for page := 0; page < 1000; page++ {
		body := map[string]any{"jql": jql, "fields": fields, "maxResults": pageSize}
		if token != "" {
			body["nextPageToken"] = token
		}
		var p searchPage
		if _, err := t.hc.QueryJSON(ctx, http.MethodPost, t.endpoint("/search/jql", nil), body, &p); err != nil {
			if httpx.IsStatus(err, http.StatusBadRequest) {
				return connector.Permanent(fmt.Errorf("search %s: %w", t.name, err))
			}
			return fmt.Errorf("search %s: %w", t.name, err)
		}
		for _, i := range p.Issues {
			if !each(i) {
				return nil
			}
		}
		if p.IsLast || p.NextPageToken == "" || len(p.Issues) == 0 {
			return nil
		}
		token = p.NextPageToken
	}
	return fmt.Errorf("search %s: still not finished after 1000 pages", t.name)
}

// Changes returns the issues of the configured projects updated after cursor, oldest first.
//
// JQL compares times to the minute, in the account's time zone, so each search starts an
// overlap before the cursor and what was already returned is skipped by exact time and key.
// Issues whose only change is Tandem's own last write are skipped.
func (t *Tracker) Changes(ctx context.Context, cur string, limit int) ([]item.Item, string, error) {
	c, err := parseCursor(cur)
	if err != nil {
		return nil, cur, connector.Permanent(err)
	}
	if limit <= 0 {
		limit = 100
	}
	_, zone, err := t.account(ctx)
	if err != nil {
		return nil, cur, err
	}
	fields, err := t.fieldList(ctx)
	if err != nil {
		return nil, cur, err
	}
	jql := t.projectClause()
	if !c.At.IsZero() {
		from := c.At.Add(-t.cfg.Overlap).In(zone).Format("2006-01-02 15:04")
		jql += " AND updated >= " + jqlQuote(from)
	}
	jql += " ORDER BY updated ASC, key ASC"
	seen := map[string]bool{}
	for _, k := range c.Seen {
		seen[k] = true
	}
	var hits []jiraIssue
	var decodeErr error
	err = t.search(ctx, jql, fields, min(t.cfg.PageSize, limit+len(c.Seen)+10), func(i jiraIssue) bool {
		if err := i.decode(); err != nil {
			decodeErr = fmt.Errorf("%s: issue %s: %w", t.name, i.Key, err)
			return false
		}
		at := i.Fields.Updated.Time
		if at.Before(c.At) || at.Equal(c.At) && seen[i.Key] {
			return true
		}
		hits = append(hits, i)
		return len(hits) <= limit
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return nil, cur, err
	}
	// JQL sorts by the minute's value it holds, not always to the millisecond: order exactly.
	sort.SliceStable(hits, func(a, b int) bool { return hits[a].Fields.Updated.Before(hits[b].Fields.Updated.Time) })
	if len(hits) > limit {
		last := hits[limit-1].Fields.Updated.Time
		n := limit
		for n < len(hits) && hits[n].Fields.Updated.Equal(last) {
			n++
		}
		hits = hits[:n]
	}
	if len(hits) == 0 {
		return nil, cur, nil
	}
	var items []item.Item
	for _, i := range hits {
		if t.ownEcho(i.Key, i.Fields.Updated.Time) {
			continue
		}
		it, err := t.issueItem(ctx, i)
		if err != nil {
			return nil, cur, err
		}
		items = append(items, it)
	}
	last := hits[len(hits)-1].Fields.Updated.Time
	next := cursor{At: last}
	if last.Equal(c.At) {
		next.Seen = append(next.Seen, c.Seen...)
	}
	for _, i := range hits {
		if i.Fields.Updated.Equal(last) {
			next.Seen = append(next.Seen, i.Key)
		}
	}
	return items, next.String(), nil
}

// ownEcho reports whether issue key, updated at, has changed only by Tandem's last write.
func (t *Tracker) ownEcho(key string, at time.Time) bool {
	return t.own.Echo(key, connector.TimeMark(at))
}

// Get returns issue key with its comments.
func (t *Tracker) Get(ctx context.Context, key string) (item.Item, error) {
	i, err := t.issue(ctx, key, nil)
	if err != nil {
		return item.Item{}, err
	}
	return t.issueItem(ctx, i)
}

// issue reads one issue with fields (nil: all Tandem reads).
func (t *Tracker) issue(ctx context.Context, key string, fields []string) (jiraIssue, error) {
	var i jiraIssue
	key = strings.TrimSpace(key)
	if !issueKeyRE.MatchString(key) {
		return i, connector.Permanentf("%q is not a jira issue key like SUP-12", key)
	}
	if fields == nil {
		var err error
		if fields, err = t.fieldList(ctx); err != nil {
			return i, err
		}
	}
	q := url.Values{"fields": {strings.Join(fields, ",")}}
	err := t.hc.GetJSON(ctx, t.endpoint("/issue/"+url.PathEscape(key), q), &i)
	switch {
	case httpx.IsStatus(err, http.StatusNotFound):
		return i, connector.Permanentf("%s has no issue %s that this account can see (deleted, moved, or no browse permission)", t.name, key)
	case err != nil:
		return i, fmt.Errorf("get issue %s: %w", key, err)
	}
	return i, i.decode()
}
