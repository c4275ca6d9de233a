package rt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/trackers/connector"
)

// Apply creates and updates tickets and adds comments, one write at a time.
//
// Every comment carries its partner author in a first line "[Name <email> via Tandem]",
// since RT records the API user as the creator; Get and Changes read the marker back into
// Comment.Author. Internal comments become RT comments, the others correspondence (which
// RT mails to the requestors). The returned CommentIDs are RT transaction ids, the same ids
// Get reports, so the engine knows them as its own on the next poll. After writing, the
// newest transaction of the ticket is remembered: while nothing newer happens, Changes skips
// the ticket as Tandem's own echo.
//
// RT cannot change a ticket's first message, so description changes after creation are not
// written (a notice is logged); labels have no RT equivalent and are not written.
func (t *Tracker) Apply(ctx context.Context, writes []engine.Write) ([]engine.WriteResult, error) {
	return connector.ApplyEach(ctx, writes, t.apply)
}

func (t *Tracker) apply(ctx context.Context, w engine.Write) engine.WriteResult {
	var res engine.WriteResult
	var id int64
	found := false // an earlier attempt's ticket was adopted
	if w.Key == "" {
		queue, err := t.queueFor(w.Item)
		if err != nil {
			res.Err = err
			return res
		}
		if w.Retry {
			// The earlier attempt may have created the ticket and lost the answer (a timeout
			// while RT was busy or stopped): adopt that ticket rather than make a second.
			if id, found, err = t.findCreated(ctx, queue, w.Item.Title, w.Linked); err != nil {
				res.Err = fmt.Errorf("look for the ticket an earlier attempt created: %w", err)
				return res
			}
		}
		if !found {
			if id, err = t.create(ctx, queue, w.Item); err != nil {
				res.Err = fmt.Errorf("create ticket: %w", err)
				return res
			}
		}
	} else {
		var err error
		if id, err = parseKey(w.Key); err != nil {
			res.Err = err
			return res
		}
		if err := t.update(ctx, id, w); err != nil {
			res.Key = w.Key
			res.Err = fmt.Errorf("update ticket %d: %w", id, err)
			return res
		}
	}
	res.Key = strconv.FormatInt(id, 10)
	// A retry may follow an attempt that posted some comments and lost the answer: those are
	// found on the ticket and linked, not posted twice.
	var already map[int]string
	if w.Retry && len(w.NewComments) > 0 && (w.Key != "" || found) {
		var err error
		if already, err = t.postedBefore(ctx, id, w.NewComments, w.Known); err != nil {
			res.Err = fmt.Errorf("ticket %d: look for the comments an earlier attempt added: %w", id, err)
			return res
		}
	}
	var posted []item.Comment
	postFailed := false
	for i, c := range w.NewComments {
		if _, ok := already[i]; ok {
			continue
		}
		if err := t.comment(ctx, id, c); err != nil {
			res.Err = fmt.Errorf("add comment to ticket %d: %w", id, err)
			postFailed = true
			break
		}
		posted = append(posted, c)
	}
	newPosted := len(posted)
	if res.Err == nil && (len(w.EditComments) > 0 || len(w.DeleteComments) > 0) {
		notes, err := t.commentNotes(ctx, id, w)
		posted = append(posted, notes...)
		if err != nil {
			res.Err = err
		}
	}
	var ids []string
	var err error
	if postFailed && len(posted) > 0 {
		// The failed post may have landed all the same (its answer lost): then the newest
		// comments are not the ones posted, in order. Each posted one is found by its text.
		ids, err = t.findPosted(ctx, id, posted, w.Known)
	} else {
		ids, err = t.markOwn(ctx, id, posted)
	}
	if err != nil && res.Err == nil {
		res.Err = fmt.Errorf("ticket %d: find the comments just added: %w", id, err)
	}
	if len(ids) == len(posted) {
		res.NoteIDs = ids[newPosted:]
		ids = ids[:newPosted]
	}
	// The ids of NewComments in order, as far as each is known to be on the ticket.
	for i := range w.NewComments {
		if txn, ok := already[i]; ok {
			res.CommentIDs = append(res.CommentIDs, txn)
			continue
		}
		if len(ids) == 0 {
			break
		}
		res.CommentIDs, ids = append(res.CommentIDs, ids[0]), ids[1:]
	}
	return res
}

// postedBefore finds, on ticket id, comments an earlier attempt at this write posted: for
// each of added, a comment of the same kind, author and text that is not in known (linked to
// another partner comment) and not taken by an earlier one of added. It answers their ids by
// index into added.
func (t *Tracker) postedBefore(ctx context.Context, id int64, added []item.Comment, known map[string]bool) (map[int]string, error) {
	it, err := t.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return connector.PostedBefore(added, it.Comments, known), nil
}

// findPosted answers the ids of the comments just posted to ticket id, in order, each found
// by its kind, author and text (postedBefore), or none when any is not found: the retry finds
// them then. It also sets the echo mark, as markOwn does.
func (t *Tracker) findPosted(ctx context.Context, id int64, posted []item.Comment, known map[string]bool) ([]string, error) {
	if _, err := t.markOwn(ctx, id, nil); err != nil {
		return nil, err
	}
	found, err := t.postedBefore(ctx, id, posted, known)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(posted))
	for i := range posted {
		if ids[i] = found[i]; ids[i] == "" {
			return nil, fmt.Errorf("found %d of the %d comments just added", len(found), len(posted))
		}
	}
	return ids, nil
}

// QueueField is the custom field under which a ticket's queue is read and written: a rule
// that sets item.Custom["Queue"] creates the ticket in that queue, or moves it there. It must
// be one of the synced queues; without it new tickets go to the first.
const QueueField = "Queue"

// queueFor is the synced queue it names in QueueField, or the first synced queue.
func (t *Tracker) queueFor(it item.Item) (string, error) {
	q := strings.TrimSpace(it.Custom[QueueField])
	if q == "" {
		return t.cfg.Queues[0], nil
	}
	for _, c := range t.cfg.Queues {
		if strings.EqualFold(c, q) {
			return c, nil
		}
	}
	return "", connector.Permanent(fmt.Errorf("queue %q is not one of the synced queues (%s): Tandem would lose sight of the ticket there; add it in Settings or change the rule",
		q, strings.Join(t.cfg.Queues, ", ")))
}

// customFields is it's custom fields as RT takes them, without the queue.
func customFields(it item.Item) map[string]string {
	cfs := maps.Clone(it.Custom)
	delete(cfs, QueueField)
	return cfs
}

// create posts a new ticket in queue with all core fields and returns its id.
func (t *Tracker) create(ctx context.Context, queue string, it item.Item) (int64, error) {
	body := map[string]any{
		"Queue":       queue,
		"Subject":     it.Title,
		"Content":     it.Description,
		"ContentType": "text/plain",
	}
	if it.Status != "" {
		body["Status"] = it.Status
	}
	if it.Priority != "" {
		n, err := priorityNumber(it.Priority)
		if err != nil {
			return 0, connector.Permanent(err)
		}
		body["Priority"] = n
	}
	if !it.Assignee.IsZero() {
		body["Owner"] = ownerValue(it.Assignee)
	}
	if it.Reporter.Email != "" {
		body["Requestor"] = it.Reporter.Email
	}
	if cfs := customFields(it); len(cfs) > 0 {
		body["CustomFields"] = cfs
	}
	var out struct {
		ID json.Number `json:"id"`
	}
	if err := t.hc.DoJSON(ctx, http.MethodPost, t.endpoint("/ticket", nil), body, &out); err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(out.ID.String(), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s answered the new ticket's id as %q", t.name, out.ID)
	}
	return id, nil
}

// adoptWindow is how far back findCreated looks for a ticket an earlier attempt created.
const adoptWindow = 24 * time.Hour

// findCreated looks, in queue, for the newest ticket with this subject that the
// account Tandem signs in as created within adoptWindow and that is not linked already (a
// ticket another partner item with the same subject was synced to).
func (t *Tracker) findCreated(ctx context.Context, queue, subject string, linked func(string) bool) (int64, bool, error) {
	since := time.Now().Add(-adoptWindow).UTC().Format("2006-01-02 15:04:05")
	query := fmt.Sprintf("Queue = %s AND Subject = %s AND Creator = %s AND Created > %s",
		quote(queue), quote(subject), quote(t.account(ctx)), quote(since))
	q := url.Values{"query": {query}, "orderby": {"id"}, "order": {"DESC"}, "per_page": {"20"}, "fields": {"Subject"}}
	var p page[struct {
		ID      json.Number `json:"id"`
		Subject string      `json:"Subject"`
	}]
	if _, err := t.hc.FetchJSON(ctx, t.endpoint("/tickets", q), &p); err != nil {
		return 0, false, err
	}
	for _, row := range p.Items {
		if row.Subject != subject { // TicketSQL's = ignores case
			continue
		}
		id, err := strconv.ParseInt(row.ID.String(), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s answered a ticket id %q", t.name, row.ID)
		}
		if linked != nil && linked(strconv.FormatInt(id, 10)) {
			continue
		}
		return id, true, nil
	}
	return 0, false, nil
}

// update writes the named fields of w to ticket id.
func (t *Tracker) update(ctx context.Context, id int64, w engine.Write) error {
	body := map[string]any{}
	cfs := map[string]string{}
	for _, f := range w.Fields {
		switch f {
		case item.FieldTitle:
			body["Subject"] = w.Item.Title
		case item.FieldStatus:
			body["Status"] = w.Item.Status
		case item.FieldPriority:
			n, err := priorityNumber(w.Item.Priority)
			if err != nil {
				return connector.Permanent(err)
			}
			body["Priority"] = n
		case item.FieldAssignee:
			body["Owner"] = ownerValue(w.Item.Assignee)
		case item.FieldReporter:
			if w.Item.Reporter.Email != "" {
				body["Requestor"] = []string{w.Item.Reporter.Email}
			}
		case item.FieldDescription:
			t.log.Warn("rt cannot change a ticket's first message; description change not written", "ticket", id)
		case item.FieldLabels:
			t.log.Debug("rt has no labels; labels not written", "ticket", id)
		case item.CustomField(QueueField):
			q, err := t.queueFor(w.Item)
			if err != nil {
				return err
			}
			body["Queue"] = q
		default:
			if name, ok := item.CustomName(f); ok {
				cfs[name] = w.Item.Custom[name]
			}
		}
	}
	if len(cfs) > 0 {
		body["CustomFields"] = cfs
	}
	if len(body) == 0 {
		return nil
	}
	var msgs []string
	if err := t.hc.DoJSON(ctx, http.MethodPut, t.endpoint(fmt.Sprintf("/ticket/%d", id), nil), body, &msgs); err != nil {
		return err
	}
	// RT answers 200 with one message per change, failures included.
	var failed []string
	for _, m := range msgs {
		if refused(m) {
			failed = append(failed, m)
		}
	}
	if len(failed) > 0 {
		return connector.Permanent(fmt.Errorf("%s refused part of the change: %s", t.name, strings.Join(failed, "; ")))
	}
	return nil
}

// refused reports whether an RT update message reports a failure.
func refused(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{"isn't a valid", "is not a valid", "does not exist", "permission denied",
		"no permission", "invalid", "could not", "couldn't", "can't", "cannot", "not allowed", "illegal"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// commentNotes stands in for the comment edits and deletions RT cannot make: its transactions
// cannot be changed, so an edit becomes a follow-up comment of the same kind with the comment's
// new text, and a deletion a short internal note. It answers the notes it posted, in order.
func (t *Tracker) commentNotes(ctx context.Context, id int64, w engine.Write) ([]item.Comment, error) {
	if !w.CommentNotes {
		return nil, connector.Permanent(fmt.Errorf("ticket %d: Request Tracker cannot edit or delete a comment in place, and the rule does not let edits and deletions follow as notes", id))
	}
	var posted []item.Comment
	for _, c := range w.EditComments {
		note := item.Comment{Author: c.Author, Internal: c.Internal,
			Body: fmt.Sprintf("(edited comment #%s; it now reads:)\n%s", c.ID, c.Body)}
		if err := t.comment(ctx, id, note); err != nil {
			return posted, fmt.Errorf("ticket %d: note the edit of comment %s: %w", id, c.ID, err)
		}
		posted = append(posted, note)
	}
	for _, cid := range w.DeleteComments {
		note := item.Comment{Author: item.User{Name: "Tandem"}, Internal: true,
			Body: fmt.Sprintf("The partner deleted comment #%s; Request Tracker keeps it, so it stays above.", cid)}
		if err := t.comment(ctx, id, note); err != nil {
			return posted, fmt.Errorf("ticket %d: note the deletion of comment %s: %w", id, cid, err)
		}
		posted = append(posted, note)
	}
	return posted, nil
}

// comment adds c to ticket id: an RT comment when Internal, else correspondence.
func (t *Tracker) comment(ctx context.Context, id int64, c item.Comment) error {
	kind := "correspond"
	if c.Internal {
		kind = "comment"
	}
	body := map[string]any{"Content": connector.WithAuthor(c.Author, c.Body), "ContentType": "text/plain"}
	return t.hc.DoJSON(ctx, http.MethodPost, t.endpoint(fmt.Sprintf("/ticket/%d/%s", id, kind), nil), body, nil)
}

// rtSystem is the account RT's own scrips act as.
const rtSystem = "RT_System"

// markOwn reads the newest transactions of ticket id just after Tandem wrote to it. The
// newest becomes the echo mark (see Changes) when Tandem's account made it; when someone else
// already acted on the ticket there is no mark, so the next poll reads the ticket in full and
// their change is not taken for Tandem's echo. The newest comments by Tandem's account, one
// per added comment, are their ids, oldest first: RT's comment endpoints do not answer the
// transaction id, hence this one read. (A person acting in the milliseconds between two of
// Tandem's requests for one write can still be hidden behind the mark; the engine's own diff
// then still keeps Tandem's echo from the partner.)
func (t *Tracker) markOwn(ctx context.Context, id int64, added []item.Comment) ([]string, error) {
	q := url.Values{
		"query":           {fmt.Sprintf("ObjectType = 'RT::Ticket' AND ObjectId = %d", id)},
		"fields":          {"Type,Creator"},
		"fields[Creator]": {"Name"},
		"orderby":         {"id"},
		"order":           {"DESC"},
		"per_page":        {strconv.Itoa(min(100, 20+4*len(added)))},
	}
	var p page[txnRow]
	if err := t.hc.GetJSON(ctx, t.endpoint("/transactions", q), &p); err != nil {
		return nil, err
	}
	if len(p.Items) == 0 {
		return nil, errors.New("the ticket has no transactions")
	}
	mark, err := strconv.ParseInt(p.Items[0].ID, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("transaction id %q is not a number", p.Items[0].ID)
	}
	me, known := t.knownAccount(ctx)
	ours := func(x txnRow) bool { return !known || strings.EqualFold(x.Creator.Name, me) }
	// RT's scrips answer a write with transactions of their own (EmailRecord, the status a
	// reply reopens), made by RT_System: the newest one made by a person decides.
	latest := p.Items[0]
	for _, x := range p.Items {
		if x.Creator.Name != rtSystem {
			latest = x
			break
		}
	}
	if known && ours(latest) {
		t.setMark(id, mark)
	} else {
		t.setMark(id, 0)
	}
	var ids []string
	want := len(added)
	for _, x := range p.Items { // newest first
		if len(ids) == want {
			break
		}
		internal := added[want-1-len(ids)].Internal
		if ours(x) && (x.Type == "Comment" && internal || x.Type == "Correspond" && !internal) {
			ids = append(ids, x.ID)
		}
	}
	if len(ids) < want {
		// Which is which is not certain: link none. The retry finds them (postedBefore).
		return nil, fmt.Errorf("found %d of the %d comments just added", len(ids), want)
	}
	slices.Reverse(ids)
	return ids, nil
}
