package ui

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
)

// trackerAgent is what the Tracker screen needs from the agent besides creating and editing
// items: pages of the list, one item in full, and where the page's items stand.
type trackerAgent interface {
	// ItemPage returns the embedded tracker's items from the offset-th newest on, at most
	// limit, as the list shows them, with the number of items (from the tracker's counter).
	ItemPage(ctx context.Context, offset, limit int) (agent.ItemPage, error)
	// Item returns one item in full, comments included.
	Item(ctx context.Context, key string) (item.Item, error)
	// ItemSync returns, for each local item key, its twin's key and sync state per connection.
	ItemSync(ctx context.Context, keys []string) (map[string][]agent.ItemSync, error)
}

// trackerPageSize is how many items one page of the Tracker's list holds: whatever the number
// of items, a refresh reads this many summaries and their sync states, and the open item.
const trackerPageSize = 100

// trackerWant is what the Tracker shows, for the refresh round that runs off the Fyne
// goroutine: the page's offset and the open item's key.
type trackerWant struct {
	offset int
	key    string
}

// trackerRead is one read of what the Tracker shows.
type trackerRead struct {
	asked int // the offset asked for; want.offset is the one read (the last page, if asked past the end)
	want  trackerWant
	page  agent.ItemPage
	sync  map[string][]agent.ItemSync // the page's items and the open one only
	open  item.Item                   // the open item in full, if want.key is set
}

// read reads the page the Tracker shows, its items' sync states and the open item: one page
// and one item, whatever the number of items.
func (s *trackerScreen) read(ctx context.Context) (*trackerRead, error) {
	want := trackerWant{}
	if w := s.want.Load(); w != nil {
		want = *w
	}
	r := &trackerRead{asked: want.offset, want: want}
	a := s.u.agent
	var err error
	if r.page, err = a.ItemPage(ctx, want.offset, trackerPageSize); err != nil {
		return nil, fmt.Errorf("read items: %w", err)
	}
	if len(r.page.Items) == 0 && want.offset > 0 && r.page.Total > 0 {
		// Past the end (the offset came from an older count): the last page instead.
		r.want.offset = (r.page.Total - 1) / trackerPageSize * trackerPageSize
		if r.page, err = a.ItemPage(ctx, r.want.offset, trackerPageSize); err != nil {
			return nil, fmt.Errorf("read items: %w", err)
		}
	}
	keys := make([]string, len(r.page.Items))
	for i, it := range r.page.Items {
		keys[i] = it.Key
	}
	if want.key != "" && !slices.Contains(keys, want.key) {
		keys = append(keys, want.key) // the open item's twins show in the form
	}
	if r.sync, err = a.ItemSync(ctx, keys); err != nil {
		return nil, fmt.Errorf("read sync states: %w", err)
	}
	if want.key != "" {
		if r.open, err = a.Item(ctx, want.key); err != nil {
			return nil, fmt.Errorf("read %s: %w", want.key, err)
		}
	}
	return r, nil
}

// syncText is an item's sync state in a row: its state, its twin's key and the partner's
// name on the first connection, and how many other connections it has.
func syncText(states []agent.ItemSync) (string, widget.Importance) {
	if len(states) == 0 {
		return "", widget.LowImportance
	}
	s := states[0]
	text := twinText(s)
	if len(states) > 1 {
		text += fmt.Sprintf(" +%d", len(states)-1)
	}
	imp := widget.LowImportance
	for _, x := range states {
		switch x.State {
		case agent.ItemFailed:
			return text, widget.DangerImportance
		case agent.ItemPending:
			imp = widget.WarningImportance
		case agent.ItemSynced:
			if imp == widget.LowImportance {
				imp = widget.SuccessImportance
			}
		}
	}
	return text, imp
}

// twinText is where an item stands with one partner: "synced ⇄ RED-4 at Red", or
// "not linked with Red".
func twinText(s agent.ItemSync) string {
	partner := s.Partner
	if partner == "" {
		partner = "the partner"
	}
	if s.Remote == "" {
		if s.State == agent.ItemNotLinked || s.State == "" {
			return "not linked with " + partner
		}
		return s.State + ", not yet linked with " + partner
	}
	return s.State + " ⇄ " + s.Remote + " at " + partner
}

// noPriority is the priority choice that means none: an item may have no priority, and an
// operator may go back to none.
const noPriority = "(no priority)"

// trackerScreen lists the embedded tracker's items a page at a time and edits one at a time.
// The list holds summaries (key, title, status); the form holds the one open item in full.
type trackerScreen struct {
	u      *UI
	page   []item.Summary // the page shown, newest first
	offset int            // of the page shown
	total  int            // items in the tracker, from its counter
	// want is the page and item the operator asked for; refresh rounds read it off the Fyne
	// goroutine. A read that answers for another page arrives late and is dropped.
	want     atomic.Pointer[trackerWant]
	sync     map[string][]agent.ItemSync // the page's and the open item's key -> where it stands per connection
	list     *widget.List
	syncing  bool   // the list selection is being moved by code, not by the operator
	selected string // key of the item in the form; "" for a new item
	opening  string // key of the item being read to open, "" when none is
	base     item.Item
	latest   item.Item // the agent's newest copy of the open item
	// baseFields is what the form showed when base was loaded; a field the operator has not
	// changed since takes the agent's newest value on save, so a partner's change survives.
	baseFields itemFields

	newButton   *widget.Button
	prev, next  *widget.Button
	pageLabel   *widget.Label // "1–100 of 10,000"
	find        *widget.Entry // a key to open
	header      *widget.Label
	twins       *fyne.Container // the item's twin at each partner, with its key to copy
	detail      *container.Scroll
	nextKey     *widget.Label // what the next new item's key will look like
	title       *widget.Entry
	description *widget.Entry
	status      *widget.Select
	priority    *widget.Select
	labels      *widget.Entry
	assignee    *widget.Entry
	save        *widget.Button

	comments      *fyne.Container
	commentEntry  *widget.Entry
	commentButton *widget.Button

	statuses, priorities []string
}

// itemFields are the fields the form edits, as the form shows them.
type itemFields struct {
	title, description, status, priority, labels, assignee string
}

func fieldsOf(it item.Item) itemFields {
	return itemFields{
		title:       it.Title,
		description: it.Description,
		status:      it.Status,
		priority:    orNoPriority(it.Priority),
		labels:      strings.Join(it.Labels, ", "),
		assignee:    userText(it.Assignee),
	}
}

// applyTo copies onto it every field that differs from base, so fields the operator left alone
// keep its values.
func (f itemFields) applyTo(it *item.Item, base itemFields) {
	if f.title != base.title {
		it.Title = f.title
	}
	if f.description != base.description {
		it.Description = f.description
	}
	if f.status != base.status {
		it.Status = f.status
	}
	if f.priority != base.priority {
		it.Priority = f.priority
		if it.Priority == noPriority {
			it.Priority = ""
		}
	}
	if f.labels != base.labels {
		it.Labels = splitLabels(f.labels)
	}
	if f.assignee != base.assignee {
		it.Assignee = item.User{}
		if f.assignee != "" {
			it.Assignee = item.User{ID: f.assignee, Name: f.assignee}
		}
	}
}

func (s *trackerScreen) build(u *UI) fyne.CanvasObject {
	s.u = u
	s.statuses = u.agent.Statuses()
	s.priorities = u.agent.Priorities()
	defer s.showPrefix(u.agent.KeyPrefix())

	s.list = widget.NewList(
		func() int { return len(s.page) },
		func() fyne.CanvasObject {
			key := widget.NewLabelWithStyle("KEY-000", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
			title := widget.NewLabel("title")
			title.Truncation = fyne.TextTruncateEllipsis
			status := widget.NewLabelWithStyle("status", fyne.TextAlignTrailing, fyne.TextStyle{Italic: true})
			state := widget.NewLabelWithStyle("synced ⇄ KEY-000", fyne.TextAlignLeading, fyne.TextStyle{})
			state.Truncation = fyne.TextTruncateEllipsis
			// Two lines: the key and title, then the status and where the item stands.
			return container.NewVBox(container.NewBorder(nil, nil, key, nil, title), container.NewBorder(nil, nil, status, nil, state))
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < 0 || id >= len(s.page) {
				return
			}
			it := s.page[id]
			lines := o.(*fyne.Container).Objects
			row := lines[0].(*fyne.Container).Objects // Border: center first, then key
			row[0].(*widget.Label).SetText(it.Title)
			row[1].(*widget.Label).SetText(it.Key)
			second := lines[1].(*fyne.Container).Objects // the state, then the status
			second[1].(*widget.Label).SetText(it.Status)
			text, imp := syncText(s.sync[it.Key])
			state := second[0].(*widget.Label)
			state.SetText(text)
			setImportance(state, imp)
		},
	)
	s.list.OnSelected = func(id widget.ListItemID) {
		if s.syncing || id < 0 || id >= len(s.page) {
			return
		}
		s.open(s.page[id].Key)
	}
	s.newButton = widget.NewButtonWithIcon("New item", theme.ContentAddIcon(), s.startNew)
	s.prev = widget.NewButtonWithIcon("", theme.NavigateBackIcon(), func() { s.goTo(s.offset - trackerPageSize) })
	s.next = widget.NewButtonWithIcon("", theme.NavigateNextIcon(), func() { s.goTo(s.offset + trackerPageSize) })
	s.pageLabel = widget.NewLabel("")
	// Finding an item is by key: one lookup. Title words would need a word index in the
	// embedded tracker, and a scan of every item's title on each keystroke is what this screen
	// must not do at 10,000 items; so there is no title search yet.
	s.find = widget.NewEntry()
	s.find.OnSubmitted = s.findKey
	s.showPage()

	s.header = widget.NewLabelWithStyle("New item", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	s.header.Wrapping = fyne.TextWrapWord
	s.twins = container.NewVBox()
	s.nextKey = widget.NewLabel("")
	s.nextKey.Importance = widget.LowImportance
	// A title may be long (a partner's tracker may allow thousands of characters): it wraps
	// inside its field instead of drawing one line wider than the screen.
	s.title = widget.NewMultiLineEntry()
	s.title.Wrapping = fyne.TextWrapWord
	s.title.SetMinRowsVisible(2)
	s.title.SetPlaceHolder("What needs doing")
	s.description = widget.NewMultiLineEntry()
	s.description.SetMinRowsVisible(4)
	s.description.Wrapping = fyne.TextWrapWord
	s.status = widget.NewSelect(s.statuses, nil)
	s.status.PlaceHolder = "(no status)"
	s.priority = widget.NewSelect(append([]string{noPriority}, s.priorities...), nil)
	s.priority.PlaceHolder = noPriority
	s.labels = widget.NewEntry()
	s.labels.SetPlaceHolder("comma-separated, e.g. billing, urgent")
	s.assignee = widget.NewEntry()
	s.assignee.SetPlaceHolder("nobody")
	s.save = widget.NewButtonWithIcon("Create", theme.DocumentSaveIcon(), s.saveItem)
	s.save.Importance = widget.HighImportance

	form := widget.NewForm(
		widget.NewFormItem("Title", s.title),
		widget.NewFormItem("Description", s.description),
		widget.NewFormItem("Status", s.status),
		widget.NewFormItem("Priority", s.priority),
		widget.NewFormItem("Labels", s.labels),
		widget.NewFormItem("Assignee", s.assignee),
	)

	s.comments = container.NewVBox()
	s.commentEntry = widget.NewMultiLineEntry()
	s.commentEntry.SetPlaceHolder("Write a comment")
	s.commentEntry.SetMinRowsVisible(2)
	s.commentEntry.Wrapping = fyne.TextWrapWord
	s.commentButton = widget.NewButtonWithIcon("Add comment", theme.MailSendIcon(), s.addComment)

	detail := container.NewVBox(
		s.header,
		s.twins,
		form,
		container.NewHBox(s.save),
		widget.NewSeparator(),
		widget.NewLabelWithStyle("Comments", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		s.comments,
		s.commentEntry,
		container.NewHBox(s.commentButton),
	)
	top := container.NewVBox(container.NewHBox(s.newButton, s.nextKey), s.find)
	pages := container.NewBorder(nil, nil, s.prev, s.next, container.NewCenter(s.pageLabel))
	left := container.NewBorder(top, pages, nil, nil, s.list)
	s.detail = container.NewVScroll(detail)
	split := container.NewHSplit(left, s.detail)
	split.Offset = 0.38
	s.startNew()
	return container.NewBorder(heading("Tracker"), nil, nil, nil, split)
}

// show takes a read of the page and the open item. The form keeps the operator's edits; an
// item the operator has not touched follows the agent.
func (s *trackerScreen) show(r trackerRead) {
	if w := s.want.Load(); w != nil && w.offset != r.want.offset && w.offset != r.asked {
		return // read for another page: the operator moved on, the read for theirs follows
	}
	if !maps.EqualFunc(r.sync, s.sync, slices.Equal) {
		s.sync = r.sync
		s.list.Refresh()
		s.showTwins()
	}
	if r.want.offset != s.offset || r.page.Total != s.total || !slices.EqualFunc(r.page.Items, s.page, summaryEqual) {
		s.page, s.offset, s.total = r.page.Items, r.want.offset, r.page.Total
		s.want.Store(&trackerWant{offset: s.offset, key: s.selected})
		s.showPage()
		s.list.Refresh()
		s.syncSelection()
	}
	if r.want.key == "" || r.want.key != s.selected || s.opening != "" {
		return
	}
	latest := r.open
	s.latest = latest
	if s.form() == s.baseFields {
		if !itemEqual(latest, s.base) {
			s.load(latest)
		}
		return
	}
	if !slices.Equal(latest.Comments, s.base.Comments) {
		s.base.Comments = latest.Comments
		s.showComments(latest.Comments)
	}
}

func summaryEqual(a, b item.Summary) bool {
	return a.Key == b.Key && a.Title == b.Title && a.Status == b.Status && a.Updated.Equal(b.Updated)
}

// setWant tells refresh rounds what the screen shows.
func (s *trackerScreen) setWant() {
	w := trackerWant{offset: s.offset, key: s.selected}
	if cur := s.want.Load(); cur != nil && cur.offset != s.offset {
		w.offset = cur.offset // a page the operator asked for is on its way
	}
	s.want.Store(&w)
}

// showPage says which items the page shows and of how many, and which way the operator can
// page.
func (s *trackerScreen) showPage() {
	switch {
	case s.total == 0:
		s.pageLabel.SetText("No items yet")
	case len(s.page) == 0:
		s.pageLabel.SetText(fmt.Sprintf("none of %s here", thousands(s.total)))
	case s.offset == 0 && len(s.page) == s.total:
		s.pageLabel.SetText(countOf(s.total, "item", "items"))
	default:
		s.pageLabel.SetText(fmt.Sprintf("%s–%s of %s", thousands(s.offset+1), thousands(s.offset+len(s.page)), thousands(s.total)))
	}
	enable(s.prev, s.offset > 0)
	enable(s.next, s.offset+len(s.page) < s.total)
}

// goTo reads the page at offset; the list shows the old page until it arrives.
func (s *trackerScreen) goTo(offset int) {
	offset = max(offset, 0)
	w := trackerWant{offset: offset, key: s.selected}
	s.want.Store(&w)
	var r *trackerRead
	s.u.read("read items", func(ctx context.Context) (err error) {
		r, err = s.read(ctx)
		return err
	}, func(err error) {
		if err == nil {
			s.show(*r)
		}
	})
}

// open reads the item with key in full and shows it in the form.
func (s *trackerScreen) open(key string) {
	s.opening = key
	var it item.Item
	var states map[string][]agent.ItemSync
	s.u.read("open "+key, func(ctx context.Context) (err error) {
		if it, err = s.u.agent.Item(ctx, key); err != nil {
			return err
		}
		states, err = s.u.agent.ItemSync(ctx, []string{key})
		return err
	}, func(err error) {
		if s.opening != key {
			return // the operator opened another item meanwhile
		}
		s.opening = ""
		if err != nil {
			s.syncSelection()
			return
		}
		if !slices.Equal(states[key], s.sync[key]) {
			m := maps.Clone(s.sync)
			if m == nil {
				m = map[string][]agent.ItemSync{}
			}
			m[key] = states[key]
			s.sync = m
			s.list.Refresh()
		}
		s.load(it)
		s.syncSelection()
	})
}

// findKey opens the item whose key the operator typed: BLUE-12, blue-12, or 12 for the
// current prefix.
func (s *trackerScreen) findKey(text string) {
	key := strings.ToUpper(strings.TrimSpace(text))
	if key == "" {
		return
	}
	if _, err := strconv.ParseUint(key, 10, 64); err == nil {
		key = s.u.agent.KeyPrefix() + "-" + key
	}
	s.open(key)
}

// syncSelection highlights the selected item's row if it is on the page.
func (s *trackerScreen) syncSelection() {
	s.syncing = true
	defer func() { s.syncing = false }()
	if i := s.index(s.selected); i >= 0 && s.selected != "" {
		s.list.Select(i)
	} else {
		s.list.UnselectAll()
	}
}

func (s *trackerScreen) index(key string) int {
	return slices.IndexFunc(s.page, func(it item.Summary) bool { return it.Key == key })
}

// startNew empties the form for a new item.
func (s *trackerScreen) startNew() {
	it := item.Item{}
	if len(s.statuses) > 0 {
		it.Status = s.statuses[0]
	}
	s.load(it)
	s.syncSelection()
	if c := fyne.CurrentApp().Driver().CanvasForObject(s.title); c != nil {
		c.Focus(s.title)
	}
}

// load shows it in the form; an item without a key is a new one.
func (s *trackerScreen) load(it item.Item) {
	s.base = it.Clone()
	s.latest = it.Clone()
	s.selected = it.Key
	s.opening = ""
	s.setWant()
	s.baseFields = fieldsOf(it)
	s.title.SetText(it.Title)
	s.description.SetText(it.Description)
	setSelect(s.status, s.statuses, it.Status)
	setSelect(s.priority, append([]string{noPriority}, s.priorities...), orNoPriority(it.Priority))
	s.labels.SetText(s.baseFields.labels)
	s.assignee.SetText(s.baseFields.assignee)
	if it.Key == "" {
		s.header.SetText("New item")
		s.save.SetText("Create")
		s.commentEntry.Disable()
		s.commentButton.Disable()
	} else {
		s.header.SetText(itemHeader(it))
		s.save.SetText("Save")
		s.commentEntry.Enable()
		s.commentButton.Enable()
	}
	s.showComments(it.Comments)
	s.showTwins()
}

// showTwins lists the selected item's twin at each partner: its key (selectable, with a Copy
// button) and the partner's name.
func (s *trackerScreen) showTwins() {
	defer s.relayout()
	s.twins.RemoveAll()
	if s.selected == "" {
		return
	}
	states := s.sync[s.selected]
	if len(states) == 0 {
		none := widget.NewLabel("Not synced with any partner yet.")
		none.Importance = widget.LowImportance
		s.twins.Add(none)
		return
	}
	for _, st := range states {
		_, row := copyable(twinText(st), func(shown string) string {
			if st.Remote != "" {
				return st.Remote // the key the partner's operator knows the item by
			}
			return shown
		})
		s.twins.Add(row)
	}
}

// relayout lays the detail out again after a part of it changed height.
func (s *trackerScreen) relayout() {
	if s.detail != nil {
		s.detail.Content.Refresh()
		s.detail.Refresh()
	}
}

// showPrefix says what the next new item's key looks like.
func (s *trackerScreen) showPrefix(prefix string) {
	s.find.SetPlaceHolder("Go to key, e.g. " + cmp.Or(prefix, "TDM") + "-12")
	if prefix == "" {
		s.nextKey.SetText("")
		return
	}
	s.nextKey.SetText("new keys: " + prefix + "-n")
}

func orNoPriority(p string) string {
	if p == "" {
		return noPriority
	}
	return p
}

// form returns the form's fields as typed.
func (s *trackerScreen) form() itemFields {
	return itemFields{
		title:       s.title.Text,
		description: s.description.Text,
		status:      s.status.Selected,
		priority:    s.priority.Selected,
		labels:      s.labels.Text,
		assignee:    strings.TrimSpace(s.assignee.Text),
	}
}

// saveItem creates or updates the item in the form. On error the form keeps everything typed.
func (s *trackerScreen) saveItem() {
	f := s.form()
	if strings.TrimSpace(f.title) == "" {
		s.u.showError(errors.New("save item: the title is empty; give the item a title first"))
		return
	}
	f.title = oneLine(f.title)
	isNew := s.selected == ""
	var it item.Item
	what := "create item"
	if isNew {
		f.applyTo(&it, itemFields{}) // a new item takes every field as typed
	} else {
		what = "update " + s.selected
		it = s.latest.Clone() // the newest copy: fields left alone keep the agent's values
		f.applyTo(&it, s.baseFields)
	}
	s.save.Disable()
	var saved item.Item
	s.u.call(what, func(ctx context.Context) (err error) {
		if isNew {
			saved, err = s.u.agent.CreateItem(ctx, it)
		} else {
			saved, err = s.u.agent.UpdateItem(ctx, it)
		}
		return err
	}, func(err error) {
		s.save.Enable()
		if err != nil {
			return
		}
		s.put(saved, isNew)
		s.load(saved)
		s.syncSelection()
		verb := "Saved"
		if isNew {
			verb = "Created"
		}
		s.u.setStatus(fmt.Sprintf("%s %s.", verb, saved.Key), false)
	})
}

// put shows it in the list before the next refresh: in its row if the page has it, as the
// first row of the first page if it is new.
func (s *trackerScreen) put(it item.Item, isNew bool) {
	page := slices.Clone(s.page)
	switch i := s.index(it.Key); {
	case i >= 0:
		page[i] = it.Summary()
	case isNew:
		s.total++
		if s.offset != 0 {
			s.showPage()
			return
		}
		page = slices.Insert(page, 0, it.Summary()) // newest first
		if len(page) > trackerPageSize {
			page = page[:trackerPageSize]
		}
	default:
		return
	}
	s.page = page
	s.showPage()
	s.list.Refresh()
}

// addComment adds the typed comment to the item in the form; the text stays until it is saved.
func (s *trackerScreen) addComment() {
	key, body := s.selected, strings.TrimSpace(s.commentEntry.Text)
	if key == "" {
		s.u.showError(errors.New("add comment: create the item first"))
		return
	}
	if body == "" {
		s.u.showError(errors.New("add comment: the comment is empty"))
		return
	}
	s.commentButton.Disable()
	var added item.Comment
	s.u.call("comment on "+key, func(ctx context.Context) (err error) {
		added, err = s.u.agent.AddComment(ctx, key, item.Comment{Body: body, Created: time.Now()})
		return err
	}, func(err error) {
		s.commentButton.Enable()
		if err != nil {
			return
		}
		s.commentEntry.SetText("")
		if s.latest.Key != key {
			return
		}
		it := s.latest.Clone()
		if _, ok := it.Comment(added.ID); !ok {
			it.Comments = append(it.Comments, added)
		}
		s.latest = it
		if s.selected == key {
			s.base.Comments = it.Comments
			s.showComments(it.Comments)
		}
		s.u.setStatus("Comment added to "+key+".", false)
	})
}

func (s *trackerScreen) showComments(cs []item.Comment) {
	s.comments.RemoveAll()
	if len(cs) == 0 {
		none := widget.NewLabel("No comments yet.")
		none.Importance = widget.LowImportance
		s.comments.Add(none)
		return
	}
	for _, c := range cs {
		who := widget.NewLabelWithStyle(commentByline(c), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		body := widget.NewLabel(c.Body)
		body.Wrapping = fyne.TextWrapWord
		s.comments.Add(container.NewVBox(who, body))
	}
}

// setSelect selects value, adding it to the options if the vocabulary lacks it (an item from
// elsewhere may carry a value this tracker does not list), so nothing is silently dropped.
func setSelect(sel *widget.Select, vocabulary []string, value string) {
	opts := vocabulary
	if value != "" && !slices.Contains(vocabulary, value) {
		opts = append(slices.Clone(vocabulary), value)
	}
	if !slices.Equal(sel.Options, opts) {
		sel.SetOptions(opts)
	}
	if value == "" {
		sel.ClearSelected()
		return
	}
	sel.SetSelected(value)
}

// oneLine is a title as one line: the field wraps, but a title has no line breaks.
func oneLine(s string) string {
	return strings.TrimSpace(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s))
}

func splitLabels(s string) []string {
	var out []string
	for _, l := range strings.Split(s, ",") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

func userText(u item.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.ID
}

func itemHeader(it item.Item) string {
	h := it.Key
	if !it.Created.IsZero() {
		h += " · created " + it.Created.Local().Format("2006-01-02 15:04")
		if who := userText(it.Reporter); who != "" {
			h += " by " + who
		}
	}
	if !it.Updated.IsZero() {
		h += " · updated " + it.Updated.Local().Format("2006-01-02 15:04")
	}
	return h
}

func commentByline(c item.Comment) string {
	who := userText(c.Author)
	if who == "" {
		who = "someone"
	}
	if c.Created.IsZero() {
		return who
	}
	return who + ", " + c.Created.Local().Format("2006-01-02 15:04")
}

// itemEqual reports whether a and b would show the same in the form and comments.
func itemEqual(a, b item.Item) bool {
	return fieldsOf(a) == fieldsOf(b) && a.Updated.Equal(b.Updated) && slices.Equal(a.Comments, b.Comments)
}
