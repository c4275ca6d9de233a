package rt

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
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

// page is REST 2's envelope of a listing.
type page[T any] struct {
	Items []T     `json:"items"`
	Page  float64 `json:"page"` // RT sends 0.0 for the pages of an empty result
	Pages float64 `json:"pages"`
	Total float64 `json:"total"`
}

func (p page[T]) more() bool { return p.Page < p.Pages }

// ticketRow is a ticket as the search returns it with ticketFields.
type ticketRow struct {
	ID           string          `json:"id"`
	Subject      string          `json:"Subject"`
	Status       string          `json:"Status"`
	Priority     string          `json:"Priority"`
	Owner        rtUser          `json:"Owner"`
	Requestor    []rtUser        `json:"Requestor"`
	Creator      rtUser          `json:"Creator"`
	Queue        rtQueue         `json:"Queue"`
	Created      string          `json:"Created"`
	LastUpdated  string          `json:"LastUpdated"`
	CustomFields json.RawMessage `json:"CustomFields"`
}

type rtQueue struct {
	ID   string `json:"id"`
	Name string `json:"Name"`
}

type rtCustomField struct {
	Name   string `json:"name"`
	Values []any  `json:"values"`
}

var ticketFields = url.Values{
	"fields":            {"Subject,Status,Priority,Owner,Requestor,Creator,Queue,Created,LastUpdated,CustomFields"},
	"fields[Owner]":     {"Name,RealName,EmailAddress"},
	"fields[Requestor]": {"Name,RealName,EmailAddress"},
	"fields[Creator]":   {"Name,RealName,EmailAddress"},
	"fields[Queue]":     {"Name"},
}

// searchTickets returns one page of a TicketSQL search, oldest change first, and the
// server's clock (from the Date header) when it sent it.
func (t *Tracker) searchTickets(ctx context.Context, query string, pageNo, perPage int) (page[ticketRow], time.Time, error) {
	q := url.Values{
		"query":    {query},
		"orderby":  {"LastUpdated", "id"},
		"order":    {"ASC", "ASC"},
		"page":     {strconv.Itoa(pageNo)},
		"per_page": {strconv.Itoa(perPage)},
	}
	for k, v := range ticketFields {
		q[k] = v
	}
	var p page[ticketRow]
	hdr, err := t.hc.FetchJSON(ctx, t.endpoint("/tickets", q), &p)
	if err != nil {
		return p, time.Time{}, fmt.Errorf("search tickets: %w", err)
	}
	now := time.Now()
	if d, err := http.ParseTime(hdr.Get("Date")); err == nil {
		now = d
	}
	return p, now, nil
}

// cursor is where Changes left off: tickets last updated before At are done, and so are
// the listed ids updated exactly at At.
type cursor struct {
	At   int64   // unix seconds
	Seen []int64 // ticket ids updated at At already returned
}

func parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	rest, ok := strings.CutPrefix(s, "rt1:")
	at, ids, _ := strings.Cut(rest, ":")
	var c cursor
	var err error
	if c.At, err = strconv.ParseInt(at, 10, 64); !ok || err != nil {
		return cursor{}, fmt.Errorf("rt cursor %q is not one this connector wrote", s)
	}
	for _, f := range strings.Split(ids, ",") {
		if f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return cursor{}, fmt.Errorf("rt cursor %q is not one this connector wrote", s)
		}
		c.Seen = append(c.Seen, id)
	}
	return c, nil
}

func (c cursor) String() string {
	ids := make([]string, len(c.Seen))
	for i, id := range c.Seen {
		ids[i] = strconv.FormatInt(id, 10)
	}
	return fmt.Sprintf("rt1:%d:%s", c.At, strings.Join(ids, ","))
}

// queueClause is the TicketSQL selecting the configured queues.
func (t *Tracker) queueClause() string {
	parts := make([]string, len(t.cfg.Queues))
	for i, q := range t.cfg.Queues {
		parts[i] = "Queue = " + quote(q)
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// Changes returns the tickets of the configured queues updated after cursor, oldest first.
//
// RT's LastUpdated has one-second resolution, so the cursor holds a second and the ids
// already returned for that second: a ticket updated in the same second is neither missed
// nor repeated. A second is only handed out once it is over by RT's own clock (the Date of
// its answer), so a later update within that second cannot slip behind the cursor. Tickets
// whose only change since the cursor is Tandem's own write are skipped (see Apply).
func (t *Tracker) Changes(ctx context.Context, cur string, limit int) ([]item.Item, string, error) {
	c, err := parseCursor(cur)
	if err != nil {
		return nil, cur, err
	}
	if limit <= 0 {
		limit = 100
	}
	query := t.queueClause()
	if c.At > 0 {
		query += " AND LastUpdated >= " + quote(time.Unix(c.At, 0).UTC().Format(time.DateTime))
	}
	seen := map[int64]bool{}
	for _, id := range c.Seen {
		seen[id] = true
	}
	type hit struct {
		id int64
		at int64
	}
	var hits []hit
	perPage := min(t.cfg.PageSize, limit+len(c.Seen))
scan:
	for pageNo := 1; pageNo <= maxPages; pageNo++ {
		p, now, err := t.searchTickets(ctx, query, pageNo, perPage)
		if err != nil {
			return nil, cur, err
		}
		for _, r := range p.Items {
			id, err := strconv.ParseInt(r.ID, 10, 64)
			if err != nil {
				return nil, cur, fmt.Errorf("%s listed a ticket with id %q", t.name, r.ID)
			}
			at, err := parseTime(r.LastUpdated)
			if err != nil {
				return nil, cur, fmt.Errorf("ticket %d: %w", id, err)
			}
			sec := at.Unix()
			if sec >= now.Unix() {
				break scan // this second is not over: take it next time
			}
			if sec < c.At || sec == c.At && seen[id] {
				continue
			}
			hits = append(hits, hit{id, sec})
			if len(hits) == limit {
				break scan
			}
		}
		if !p.more() || len(p.Items) == 0 {
			break
		}
	}
	if len(hits) == 0 {
		return nil, cur, nil
	}
	var items []item.Item
	began := time.Now()
	for i, h := range hits {
		if i > 0 && time.Since(began) > t.cfg.ReadBudget {
			hits = hits[:i] // the rest next time: the cursor ends after what was read
			break
		}
		if t.ownEcho(ctx, h.id) {
			continue
		}
		it, err := t.get(ctx, h.id)
		if err != nil {
			return nil, cur, err
		}
		items = append(items, it)
	}
	last := hits[len(hits)-1].at
	next := cursor{At: last}
	if last == c.At {
		next.Seen = slices.Clone(c.Seen)
	}
	for _, h := range hits {
		if h.at == last {
			next.Seen = append(next.Seen, h.id)
		}
	}
	return items, next.String(), nil
}

// ownEcho reports whether ticket id has changed only by Tandem's own last write, and forgets
// that write once the ticket has moved on.
func (t *Tracker) ownEcho(ctx context.Context, id int64) bool {
	v, ok := t.own.Get(strconv.FormatInt(id, 10))
	mark, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil {
		return false
	}
	q := url.Values{
		"query":    {fmt.Sprintf("ObjectType = 'RT::Ticket' AND ObjectId = %d AND id > %d", id, mark)},
		"fields":   {"Type"},
		"per_page": {"1"},
	}
	var p page[struct{}]
	if err := t.hc.GetJSON(ctx, t.endpoint("/transactions", q), &p); err != nil {
		return false // read the ticket in full instead
	}
	t.setMark(id, 0)
	return p.Total == 0
}

// Get returns ticket key with its first message, comments and attachments.
func (t *Tracker) Get(ctx context.Context, key string) (item.Item, error) {
	id, err := parseKey(key)
	if err != nil {
		return item.Item{}, err
	}
	return t.get(ctx, id)
}

func parseKey(key string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(key), "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &keyError{key}
	}
	return id, nil
}

type keyError struct{ key string }

func (e *keyError) Error() string   { return fmt.Sprintf("%q is not an rt ticket number", e.key) }
func (e *keyError) Permanent() bool { return true }

// notFound is a ticket that does not exist or that the account cannot see.
type notFound struct {
	name string
	id   int64
}

func (e *notFound) Error() string {
	return fmt.Sprintf("%s has no ticket %d that this account can see", e.name, e.id)
}
func (e *notFound) Permanent() bool { return true }

func (t *Tracker) get(ctx context.Context, id int64) (item.Item, error) {
	p, _, err := t.searchTickets(ctx, fmt.Sprintf("id = %d", id), 1, 1)
	if err != nil {
		return item.Item{}, fmt.Errorf("get ticket %d: %w", id, err)
	}
	if len(p.Items) == 0 {
		return item.Item{}, &notFound{t.name, id}
	}
	it, err := ticketItem(p.Items[0])
	if err != nil {
		return item.Item{}, fmt.Errorf("ticket %d: %w", id, err)
	}
	if err := t.readMessages(ctx, id, &it); err != nil {
		return item.Item{}, fmt.Errorf("get ticket %d: %w", id, err)
	}
	return it, nil
}

func ticketItem(r ticketRow) (item.Item, error) {
	it := item.Item{
		Key:      r.ID,
		Title:    r.Subject,
		Status:   r.Status,
		Assignee: r.Owner.item(),
	}
	if r.Priority != "" {
		n, err := strconv.Atoi(r.Priority)
		if err != nil {
			return it, fmt.Errorf("priority %q is not a number", r.Priority)
		}
		it.Priority = priorityName(n)
	}
	if len(r.Requestor) > 0 {
		it.Reporter = r.Requestor[0].item()
	} else {
		it.Reporter = r.Creator.item()
	}
	var err error
	if it.Created, err = parseTime(r.Created); err != nil {
		return it, err
	}
	if it.Updated, err = parseTime(r.LastUpdated); err != nil {
		return it, err
	}
	if r.Queue.Name != "" {
		it.Custom = map[string]string{QueueField: r.Queue.Name}
	}
	// REST 2 sends "" when a ticket has no custom fields, else a list.
	if len(r.CustomFields) > 0 && r.CustomFields[0] == '[' {
		var cfs []rtCustomField
		if err := json.Unmarshal(r.CustomFields, &cfs); err != nil {
			return it, fmt.Errorf("custom fields: %w", err)
		}
		for _, cf := range cfs {
			if len(cf.Values) == 0 {
				continue
			}
			vals := make([]string, len(cf.Values))
			for i, v := range cf.Values {
				vals[i] = fmt.Sprint(v)
			}
			if it.Custom == nil {
				it.Custom = map[string]string{}
			}
			it.Custom[cf.Name] = strings.Join(vals, ", ")
		}
	}
	return it, nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" || strings.HasPrefix(s, "1970-01-01") {
		return time.Time{}, nil
	}
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is not RFC 3339", s)
	}
	return tm.UTC(), nil
}

// txnRow and attRow are transactions and attachments as readMessages lists them.
type txnRow struct {
	ID      string `json:"id"`
	Type    string `json:"Type"`
	Kind    string `json:"type"` // REST 2's record kind, "transaction"; keeps it out of Type
	Creator rtUser `json:"Creator"`
	Created string `json:"Created"`
}

type attRow struct {
	ID            string `json:"id"`
	TransactionID string `json:"TransactionId"`
	ContentType   string `json:"ContentType"`
	Filename      string `json:"Filename"`
	ContentLength string `json:"ContentLength"`
	Content       string `json:"Content"`
	Created       string `json:"Created"`
	Creator       rtUser `json:"Creator"`
}

// readMessages fills the description (the ticket's first message), comments (correspondence
// and comments, Internal for comments) and attachments of it: three listings, however many
// messages the ticket has (up to a page each).
func (t *Tracker) readMessages(ctx context.Context, id int64, it *item.Item) error {
	txns, err := httpx.Collect(ctx, 0, maxPages, func(ctx context.Context, n int) (httpx.Page[txnRow], error) {
		q := url.Values{
			"query": {fmt.Sprintf("ObjectType = 'RT::Ticket' AND ObjectId = %d AND "+
				"(Type = 'Create' OR Type = 'Correspond' OR Type = 'Comment')", id)},
			"fields":          {"Type,Creator,Created"},
			"fields[Creator]": {"Name,RealName,EmailAddress"},
			"orderby":         {"id"},
			"order":           {"ASC"},
			"page":            {strconv.Itoa(n)},
			"per_page":        {strconv.Itoa(t.cfg.PageSize)},
		}
		var p page[txnRow]
		if err := t.hc.GetJSON(ctx, t.endpoint("/transactions", q), &p); err != nil {
			return httpx.Page[txnRow]{}, fmt.Errorf("list messages: %w", err)
		}
		return httpx.Page[txnRow]{Items: p.Items, More: p.more()}, nil
	})
	if err != nil {
		return err
	}
	texts, err := httpx.Collect(ctx, 0, maxPages, func(ctx context.Context, n int) (httpx.Page[attRow], error) {
		q := url.Values{
			"fields":   {"TransactionId,ContentType,Filename,Content"},
			"page":     {strconv.Itoa(n)},
			"per_page": {strconv.Itoa(t.cfg.PageSize)},
		}
		search := []map[string]string{{"field": "ContentType", "operator": "LIKE", "value": "text/"}}
		var p page[attRow]
		if _, err := t.hc.QueryJSON(ctx, http.MethodPost, t.endpoint(fmt.Sprintf("/ticket/%d/attachments", id), q), search, &p); err != nil {
			return httpx.Page[attRow]{}, fmt.Errorf("read message texts: %w", err)
		}
		return httpx.Page[attRow]{Items: p.Items, More: p.more()}, nil
	})
	if err != nil {
		return err
	}
	files, err := httpx.Collect(ctx, 0, maxPages, func(ctx context.Context, n int) (httpx.Page[attRow], error) {
		q := url.Values{
			"fields":          {"TransactionId,ContentType,Filename,ContentLength,Created,Creator"},
			"fields[Creator]": {"Name,RealName,EmailAddress"},
			"page":            {strconv.Itoa(n)},
			"per_page":        {strconv.Itoa(t.cfg.PageSize)},
		}
		var p page[attRow]
		if err := t.hc.GetJSON(ctx, t.endpoint(fmt.Sprintf("/ticket/%d/attachments", id), q), &p); err != nil {
			return httpx.Page[attRow]{}, fmt.Errorf("list attachments: %w", err)
		}
		return httpx.Page[attRow]{Items: p.Items, More: p.more()}, nil
	})
	if err != nil {
		return err
	}
	return assemble(it, txns, texts, files)
}

// assemble builds the description, comments and attachments of it from the listings.
func assemble(it *item.Item, txns []txnRow, texts, files []attRow) error {
	plain := map[string][]string{} // transaction id -> text/plain bodies
	html := map[string][]string{}
	for _, a := range texts {
		if a.Filename != "" {
			continue // an attached text file, not the message
		}
		switch {
		case strings.HasPrefix(a.ContentType, "text/plain"):
			plain[a.TransactionID] = append(plain[a.TransactionID], a.Content)
		case strings.HasPrefix(a.ContentType, "text/html"):
			html[a.TransactionID] = append(html[a.TransactionID], a.Content)
		}
	}
	body := func(txn string) string {
		if p := plain[txn]; len(p) > 0 {
			return strings.TrimRight(strings.Join(p, "\n"), "\n")
		}
		return strings.TrimRight(htmlText(strings.Join(html[txn], "\n")), "\n")
	}
	messages := map[string]bool{}
	created := false
	for _, x := range txns {
		messages[x.ID] = true
		at, err := parseTime(x.Created)
		if err != nil {
			return fmt.Errorf("transaction %s: %w", x.ID, err)
		}
		switch x.Type {
		case "Create":
			if !created {
				it.Description = body(x.ID)
				created = true
			}
		case "Comment", "Correspond":
			c := item.Comment{
				ID:       x.ID,
				Author:   x.Creator.item(),
				Body:     body(x.ID),
				Created:  at,
				Internal: x.Type == "Comment",
			}
			if u, rest, ok := connector.ParseAuthor(c.Body); ok {
				c.Author, c.Body = u, rest
			}
			it.Comments = append(it.Comments, c)
		}
	}
	for _, a := range files {
		if a.Filename == "" || !messages[a.TransactionID] {
			continue // a message part, or a file on an outgoing mail RT recorded
		}
		size, _ := strconv.ParseInt(a.ContentLength, 10, 64)
		at, err := parseTime(a.Created)
		if err != nil {
			return fmt.Errorf("attachment %s: %w", a.ID, err)
		}
		it.Attachments = append(it.Attachments, item.Attachment{
			ID: a.ID, Name: a.Filename, MediaType: a.ContentType, Size: size,
			Author: a.Creator.item(), Created: at,
		})
	}
	sort.SliceStable(it.Comments, func(i, j int) bool { return it.Comments[i].Created.Before(it.Comments[j].Created) })
	return nil
}

var tagRE = strings.NewReplacer("<br>", "\n", "<br/>", "\n", "<br />", "\n", "</p>", "\n", "</div>", "\n")

// htmlText turns a message's HTML into plain text, roughly: line breaks kept, tags dropped.
func htmlText(s string) string {
	s = tagRE.Replace(s)
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
		case r == '>' && in:
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'", "&nbsp;", " ", "&amp;", "&").Replace(b.String())
}
