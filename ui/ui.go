// Package ui is Tandem's desktop app: the main window and its screens, built with Fyne.
package ui

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/assets"
	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/audit"
	"github.com/tandemsync/tandem/core/item"
	rulesui "github.com/tandemsync/tandem/ui/rules"
)

// Agent is what the app needs from a running Tandem agent. core/agent implements it; tests use
// a fake.
type Agent interface {
	Overview(ctx context.Context) (agent.Overview, error)
	Connections(ctx context.Context) ([]agent.ConnectionInfo, error)
	CreateItem(ctx context.Context, it item.Item) (item.Item, error)
	UpdateItem(ctx context.Context, it item.Item) (item.Item, error)
	AddComment(ctx context.Context, key string, c item.Comment) (item.Comment, error)
	// Statuses and Priorities are the embedded tracker's vocabularies.
	Statuses() []string
	Priorities() []string
	// KeyPrefix is the prefix of the embedded tracker's new item keys (ACME for ACME-12);
	// SetKeyPrefix changes it for new items, old ones keep their keys.
	KeyPrefix() string
	SetKeyPrefix(ctx context.Context, prefix string) error
	// Invite makes a new invitation code to give the partner, valid as long as asked.
	Invite(ctx context.Context, req agent.InviteRequest) (agent.Invitation, error)
	// Invitations lists the invitations made, newest first; CancelInvitation ends one.
	Invitations(ctx context.Context) ([]agent.InvitationInfo, error)
	CancelInvitation(ctx context.Context, id string) error
	// Accept redeems a partner's invitation code; a code from an agent that accepts no
	// connections gives a pending pairing (agent.StatePending) with the reply code for the
	// partner's operator; a reply code to this agent's invitation completes that pairing.
	Accept(ctx context.Context, code string) (agent.ConnectionInfo, error)
	// PendingPairings lists the pairings that wait for the partner's operator to paste the
	// reply code; CancelPairing ends one.
	PendingPairings(ctx context.Context) ([]agent.ConnectionInfo, error)
	CancelPairing(ctx context.Context, connID string) (agent.ConnectionInfo, error)
	// Verify records that the operator confirmed the verification codes match (code "" means
	// confirmed without typing it). Pause, Resume and Revoke change a connection's state and
	// tell the partner; Revoke keeps or deletes the queued events.
	Verify(ctx context.Context, connID, code string) (agent.ConnectionInfo, error)
	Pause(ctx context.Context, connID string) (agent.ConnectionInfo, error)
	Resume(ctx context.Context, connID string) (agent.ConnectionInfo, error)
	Revoke(ctx context.Context, connID string, deleteQueued bool) (agent.ConnectionInfo, error)
	// SetAllowList limits the partner's addresses to CIDR ranges (or addresses); none: any.
	SetAllowList(ctx context.Context, connID string, allow []string) (agent.ConnectionInfo, error)

	// Connectors lists the trackers the agent can sync and their settings fields: Settings
	// draws its forms from it.
	Connectors() []agent.ConnectorInfo
	// TrackerSettings, TestTracker and SaveTrackerSettings read, check and change which tracker
	// the agent syncs. secrets holds the secret fields typed, by key; one left out means the
	// one already in the keychain.
	TrackerSettings(ctx context.Context) (agent.TrackerSettings, error)
	TestTracker(ctx context.Context, s agent.TrackerSettings, secrets map[string]string) agent.TrackerCheck
	SaveTrackerSettings(ctx context.Context, s agent.TrackerSettings, secrets map[string]string) error

	// Info is who and where the agent is, and where its secrets are kept; SetAddress changes
	// its name, listen address and URL. VerifyAudit checks the audit log's hash chain.
	Info(ctx context.Context) (agent.AgentInfo, error)
	SetAddress(ctx context.Context, ad agent.Address) error
	VerifyAudit(ctx context.Context) (audit.Report, error)

	// Changes tells what changed in the agent until ctx ends; the app reads only that.
	Changes(ctx context.Context) <-chan agent.Topic

	queueAgent
	historyAgent
	trackerAgent
	// The Rules screen's needs: versions, drafts, checks, test runs, deploys and rollbacks.
	rulesui.Agent
}

// Options configure the app.
type Options struct {
	Title string // e.g. "Tandem — Blue"
}

const (
	// roundGap is the least time between two rounds of reads: a burst of changes (a sync of
	// thousands of events) costs a few rounds a second, not one per change.
	roundGap = 300 * time.Millisecond
	// callTimeout bounds one agent call, so a stuck agent shows as an error instead of a spinner.
	callTimeout = 30 * time.Second
)

// The screens, in navigation order.
const (
	screenOverview    = "Overview"
	screenConnections = "Connections"
	screenRules       = "Rules"
	screenQueue       = "Queue"
	screenHistory     = "History"
	screenTracker     = "Tracker"
	screenSettings    = "Settings"
)

var screenOrder = []string{
	screenOverview, screenConnections, screenRules, screenQueue, screenHistory, screenTracker, screenSettings,
}

// UI is the state of one main window. Widgets are touched only on the Fyne goroutine; agent
// calls run on their own goroutines and post their results back with fyne.Do.
type UI struct {
	agent Agent
	opt   Options
	win   fyne.Window // nil when the content is shown outside NewWindow (tests)

	content fyne.CanvasObject
	body    *fyne.Container
	current string
	screens map[string]fyne.CanvasObject
	nav     map[string]*widget.Button
	status  *tapLabel // tapped, it shows the whole message
	// lastFullText is what showFullText showed last (tests read it).
	lastFullText string
	// statusOwner is the screen whose message the status line shows: it clears when the
	// operator moves to another screen. "" is the window's own message (a refresh error),
	// shown on every screen until a refresh succeeds.
	statusOwner string
	// writer is the screen an agent call was started from while its result is applied, so a
	// result that arrives after the operator moved on does not land on the wrong screen.
	writer string
	// refreshFailing is set while the status line shows a refresh error, which the next good
	// refresh clears; an operation's error stays until the operator does something else.
	refreshFailing bool

	overview    overviewScreen
	connections connectionsScreen
	tracker     trackerScreen
	settings    settingsScreen
	queue       queueScreen
	rules       *rulesui.Screen
	history     historyScreen
	historySet  historySettings
	agentSet    agentSettings
	// visible is the current screen's name, for the refresh loop (set on the Fyne goroutine).
	visible atomic.Value

	kick    chan struct{}  // asks the refresh loop for a round of every read
	pending sync.WaitGroup // agent calls in flight, so tests can wait for them
}

// New builds the app's content for a; show it with NewWindow or Content.
func New(a Agent, opt Options) *UI {
	if opt.Title == "" {
		opt.Title = "Tandem"
	}
	u := &UI{agent: a, opt: opt, kick: make(chan struct{}, 1)}
	u.build()
	return u
}

// Content returns the root canvas object: navigation, the current screen and a status line.
func (u *UI) Content() fyne.CanvasObject { return u.content }

// NewWindow builds a main window for a on app. The refresh loop runs while the window is open.
func NewWindow(app fyne.App, a Agent, opt Options) fyne.Window {
	u := New(a, opt)
	w := app.NewWindow(u.opt.Title)
	u.win = w
	w.SetContent(u.Content())
	w.Resize(fyne.NewSize(1000, 680))
	ctx, cancel := context.WithCancel(context.Background())
	w.SetOnClosed(cancel)
	u.Start(ctx)
	return w
}

// Start runs the refresh loop in the background until ctx ends; it returns at once. It also
// checks the audit log's chain once, and says so on the status line if it breaks.
func (u *UI) Start(ctx context.Context) {
	go u.serve(ctx)
	u.agentSet.checkAudit()
}

// serve reads what the agent says changed, until ctx ends. It never polls: with nothing
// changing it waits. Rounds never overlap and are at least roundGap apart, so a busy agent
// costs a few reads a second whatever its rate of changes.
func (u *UI) serve(ctx context.Context) {
	changes := u.agent.Changes(ctx)
	// The charts' time axis moves on even when nothing happens: once a minute, and only while
	// the Overview shows them, their few hundred counters are read again.
	minute := time.NewTicker(time.Minute)
	defer minute.Stop()
	for {
		var topics agent.Topic
		select {
		case <-ctx.Done():
			return
		case t, ok := <-changes:
			if !ok {
				return
			}
			topics = t
		case <-u.kick:
			topics = agent.TopicAll
		case <-minute.C:
			if v, _ := u.visible.Load().(string); v != screenOverview {
				continue
			}
			topics = agent.TopicHistory
		}
		u.round(ctx, topics)
		select {
		case <-ctx.Done():
			return
		case <-time.After(roundGap):
		}
	}
}

// refreshSoon asks the loop for a round now, e.g. after the operator changed something.
func (u *UI) refreshSoon() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// snapshot is one round of reads from the agent: what the changed topics and the visible
// screen need, nothing else.
type snapshot struct {
	topics      agent.Topic
	overview    *agent.Overview
	connections []agent.ConnectionInfo
	invitations []agent.InvitationInfo
	waiting     []agent.ConnectionInfo // pairings waiting for the partner
	invRead     bool                   // invitations and waiting pairings were read (only while the Connections screen shows)
	tracker     *trackerRead           // the Tracker's page and open item (only while it shows)
	charts      *charts
	err         error
}

// refresh reads everything the visible screens show now (tests and the first round).
func (u *UI) refresh(ctx context.Context) { u.round(ctx, agent.TopicAll) }

// round reads what topics and the visible screen need and applies it on the Fyne goroutine.
// The Overview and the connection list are counters (cheap); items are read only while the
// Tracker shows them; pages of the Queue and History screens are re-read only if shown.
func (u *UI) round(ctx context.Context, topics agent.Topic) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	visible, _ := u.visible.Load().(string)
	s := snapshot{topics: topics}
	var err error
	if topics.Has(agent.TopicConnections | agent.TopicQueues | agent.TopicItems) {
		var o agent.Overview
		if o, err = u.agent.Overview(ctx); err != nil {
			s.err = fmt.Errorf("read overview: %w", err)
		} else if s.connections, err = u.agent.Connections(ctx); err != nil {
			s.err = fmt.Errorf("read connections: %w", err)
		}
		s.overview = &o
	}
	if s.err == nil && visible == screenTracker && topics.Has(agent.TopicItems|agent.TopicQueues|agent.TopicConnections) {
		s.tracker, s.err = u.tracker.read(ctx)
	}
	if s.err == nil && (topics == agent.TopicAll || visible == screenOverview && topics.Has(agent.TopicHistory|agent.TopicConnections)) {
		if s.charts, err = u.readCharts(ctx); err != nil {
			s.err = fmt.Errorf("read throughput: %w", err)
		}
	}
	if s.err == nil && visible == screenConnections && topics.Has(agent.TopicConnections) {
		if s.invitations, err = u.agent.Invitations(ctx); err != nil {
			s.err = fmt.Errorf("read invitations: %w", err)
		} else if s.waiting, err = u.agent.PendingPairings(ctx); err != nil {
			s.err = fmt.Errorf("read the pairings waiting for partners: %w", err)
		}
		s.invRead = s.err == nil
	}
	if ctx.Err() != nil && s.err != nil {
		return // the window is closing: nothing to show
	}
	fyne.Do(func() { u.apply(s) })
}

// apply shows a snapshot. On error the screens keep what they last showed.
func (u *UI) apply(s snapshot) {
	if s.err != nil {
		u.setStatusFor("", s.err.Error(), true)
		u.refreshFailing = true
		return
	}
	if u.refreshFailing {
		u.setStatusFor("", "", false)
	}
	if s.overview != nil {
		u.overview.show(*s.overview, s.connections)
		u.connections.show(s.connections)
	}
	if s.invRead {
		u.connections.showInvitations(s.invitations)
		u.connections.showWaiting(s.waiting)
	}
	if s.overview != nil {
		u.queue.showConnections(s.connections)
		u.rules.Show(s.connections)
		u.history.showConnections(s.connections)
		u.history.showIncomplete(s.overview.HistoryIncomplete)
		u.historySet.showConnections(s.connections)
	}
	if s.tracker != nil {
		u.tracker.show(*s.tracker)
	}
	if s.charts != nil {
		u.overview.showCharts(*s.charts)
	}
	if s.topics.Has(agent.TopicQueues | agent.TopicConnections) {
		u.queue.changed()
	}
	if s.topics.Has(agent.TopicHistory) {
		u.history.changed()
	}
}

// do runs fn on the Fyne goroutine.
func (u *UI) do(fn func()) { fyne.Do(fn) }

// call runs fn against the agent on its own goroutine and then done on the Fyne goroutine.
// Callbacks use it so they never block on I/O.
func (u *UI) call(what string, fn func(ctx context.Context) error, done func(err error)) {
	u.run(what, fn, done, true)
}

// read is call for a call that changes nothing: no refresh round follows it, and an error
// shows on the status line only.
func (u *UI) read(what string, fn func(ctx context.Context) error, done func(err error)) {
	u.run(what, fn, done, false)
}

func (u *UI) run(what string, fn func(ctx context.Context) error, done func(err error), changes bool) {
	u.pending.Add(1)
	from := u.current // calls start on the Fyne goroutine, from the screen that asked
	go func() {
		defer u.pending.Done()
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		err := fn(ctx)
		if err != nil {
			err = fmt.Errorf("%s: %w", what, err)
			slog.Warn("agent call", "what", what, "err", err)
		}
		fyne.Do(func() {
			prev := u.writer
			u.writer = from
			defer func() { u.writer = prev }()
			done(err)
			switch {
			case err != nil && changes:
				u.showError(err)
			case err != nil:
				u.setStatus(err.Error(), true)
			}
		})
		if changes {
			u.refreshSoon()
		}
	}()
}

// showError tells the operator in a dialog (when there is a window) and on the status line.
func (u *UI) showError(err error) {
	u.setStatus(err.Error(), true)
	if u.win != nil {
		dialog.ShowError(err, u.win)
	}
}

// confirm asks a yes-or-no question in a dialog; done gets the answer. It returns the dialog
// (nil when there is no window to ask in, which is reported as an error).
func (u *UI) confirm(title, msg, yes string, done func(bool)) *dialog.ConfirmDialog {
	l := widget.NewLabel(msg)
	l.Wrapping = fyne.TextWrapWord
	return u.confirmContent(title, l, yes, done)
}

// confirmContent is confirm with content of the caller's making.
func (u *UI) confirmContent(title string, content fyne.CanvasObject, yes string, done func(bool)) *dialog.ConfirmDialog {
	if u.win == nil {
		u.showError(fmt.Errorf("%s: no window to ask for confirmation in", strings.ToLower(strings.TrimSuffix(title, "?"))))
		return nil
	}
	d := dialog.NewCustomConfirm(title, yes, "Cancel", content, done, u.win)
	d.Resize(fyne.NewSize(520, 240))
	d.Show()
	return d
}

// setStatus shows one line at the bottom of the window, in red for an error. The line belongs
// to the screen that wrote it (the one an agent call started from, else the current one):
// it clears when the operator moves on, and a message for a screen the operator has left is
// not shown at all (its error, if any, still comes as a dialog).
func (u *UI) setStatus(text string, isErr bool) {
	owner := u.writer
	if owner == "" {
		owner = u.current
	}
	u.setStatusFor(owner, text, isErr)
}

// setStatusFor writes the status line for owner ("" for the window as a whole).
func (u *UI) setStatusFor(owner, text string, isErr bool) {
	if owner != "" && owner != u.current {
		return
	}
	u.refreshFailing = false
	u.statusOwner = owner
	u.status.Importance = widget.MediumImportance
	if isErr {
		u.status.Importance = widget.DangerImportance
	}
	u.status.SetText(text)
	u.status.Refresh()
}

func (u *UI) build() {
	u.rules = rulesui.New(u.agent, rulesHost{u})
	u.status = newTapLabel(u, "Status")
	u.overview.u = u
	u.screens = map[string]fyne.CanvasObject{
		screenOverview:    u.overview.build(),
		screenConnections: u.connections.build(u),
		screenRules:       u.rules.Content(),
		screenQueue:       u.queue.build(u),
		screenHistory:     u.history.build(u),
		screenTracker:     u.tracker.build(u),
		screenSettings:    u.settings.build(u),
	}

	u.nav = map[string]*widget.Button{}
	navBox := container.NewVBox()
	for _, name := range screenOrder {
		b := widget.NewButton(name, func() { u.show(name) })
		b.Alignment = widget.ButtonAlignLeading
		u.nav[name] = b
		navBox.Add(b)
	}
	logo := widget.NewIcon(assets.Icon())
	name := widget.NewLabelWithStyle("Tandem", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	name.SizeName = theme.SizeNameSubHeadingText
	header := container.NewBorder(nil, nil, container.NewGridWrap(fyne.NewSquareSize(40), logo), nil, name)
	sidebar := container.NewBorder(
		container.NewVBox(header, widget.NewSeparator()), nil, nil, nil,
		container.NewVBox(navBox, layout.NewSpacer()),
	)

	u.body = container.NewStack()
	u.content = container.NewBorder(nil, u.status, container.NewHBox(sidebar, widget.NewSeparator()), nil, u.body)
	u.show(screenOverview)
}

// show switches to the named screen.
func (u *UI) show(name string) {
	scr, ok := u.screens[name]
	if !ok {
		return
	}
	if u.statusOwner != "" && u.statusOwner != name && u.status.Text != "" {
		u.statusOwner = ""
		u.status.SetText("") // the message was about the screen the operator leaves
	}
	u.current = name
	u.visible.Store(name)
	u.rules.SetVisible(name == screenRules)
	u.body.Objects = []fyne.CanvasObject{scr}
	u.body.Refresh()
	for n, b := range u.nav {
		imp := widget.LowImportance
		if n == name {
			imp = widget.HighImportance
		}
		if b.Importance != imp {
			b.Importance = imp
			b.Refresh()
		}
	}
	switch name {
	case screenQueue:
		u.queue.shown()
	case screenHistory:
		u.history.shown()
	case screenTracker, screenOverview, screenConnections:
		u.refreshSoon() // items, charts and invitations are read only while their screen shows
	case screenSettings:
		u.settings.shown()
		u.historySet.shown()
		u.agentSet.shown()
	}
}

// rulesHost gives the Rules screen the window's agent calls, status line and dialogs.
type rulesHost struct{ u *UI }

func (h rulesHost) Call(what string, fn func(ctx context.Context) error, done func(err error)) {
	h.u.call(what, fn, done)
}
func (h rulesHost) SetStatus(text string, isErr bool) { h.u.setStatus(text, isErr) }
func (h rulesHost) Window() fyne.Window               { return h.u.win }

func heading(text string) *widget.Label {
	l := widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	l.SizeName = theme.SizeNameHeadingText
	return l
}
