package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tandemsync/tandem/core/audit"
	"github.com/tandemsync/tandem/core/control"
	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/history"
	"github.com/tandemsync/tandem/core/queue"
)

// The sync history's types, as the app and the command line see them.
type (
	HistoryRecord  = history.Record
	HistoryQuery   = history.Query
	HistoryPage    = history.Page
	HistoryOutcome = history.Outcome
	HistoryGap     = history.Gap
	HistoryTally   = history.Tally
)

// The history's retention limits, in days.
const (
	MinHistoryRetentionDays = history.MinRetentionDays
	MaxHistoryRetentionDays = history.MaxRetentionDays
)

// History outcomes.
const (
	OutcomeSent    = history.Sent
	OutcomeApplied = history.Applied
	OutcomeFailed  = history.Failed
	OutcomeRetried = history.Retried
	OutcomeSkipped = history.Skipped
)

// History returns a page of the sync history, newest first.
func (a *Agent) History(ctx context.Context, q HistoryQuery) (HistoryPage, error) {
	return a.hist.Search(q)
}

// Timeline returns everything that happened to an item (by its key on either side), both
// ways, oldest first.
func (a *Agent) Timeline(ctx context.Context, key string) ([]HistoryRecord, error) {
	return a.hist.Timeline(key)
}

// HistoryIncomplete lists the stretches of time whose history could not all be written (a
// full disk); the sync itself went on.
func (a *Agent) HistoryIncomplete(ctx context.Context) ([]HistoryGap, error) {
	return a.hist.Incomplete()
}

// HistoryRetention is how many days the history keeps records.
func (a *Agent) HistoryRetention(ctx context.Context) (int, error) { return a.hist.Retention() }

// SetHistoryRetention changes how many days the history keeps (1 to 365) and enforces it now.
func (a *Agent) SetHistoryRetention(ctx context.Context, days int) error {
	if err := a.hist.SetRetention(days); err != nil {
		return err
	}
	a.record(ctx, audit.KindSettings, fmt.Sprintf("history retention set to %d days", days))
	return nil
}

// DeleteHistory deletes the whole sync history and every captured payload now.
func (a *Agent) DeleteHistory(ctx context.Context) error {
	if err := a.hist.DeleteAll(); err != nil {
		return err
	}
	a.record(ctx, audit.KindSettings, "the whole sync history and every captured payload deleted")
	return nil
}

// SetCapture turns a connection's debug capture of payloads on (for history.CaptureFor) or off
// (deleting what it captured).
func (a *Agent) SetCapture(ctx context.Context, connID string, on bool) error {
	if _, err := a.conn(connID); err != nil {
		return err
	}
	if err := a.hist.SetCapture(connID, on); err != nil {
		return err
	}
	state := "off (captured payloads deleted)"
	if on {
		state = "on"
	}
	a.record(ctx, audit.KindSettings, fmt.Sprintf("connection %s: debug capture of payloads %s", connID, state))
	a.changed(TopicConnections)
	return nil
}

// Captured returns the payload captured with a history record; nil when none was.
func (a *Agent) Captured(ctx context.Context, r HistoryRecord) (json.RawMessage, error) {
	return a.hist.Captured(r)
}

// Throughput returns outcome counts per step over the last span, oldest first, of one
// connection or all ("").
func (a *Agent) Throughput(ctx context.Context, connID string, span, step time.Duration) ([]HistoryTally, error) {
	if span <= 0 || step <= 0 || span/step > 10000 {
		return nil, fmt.Errorf("throughput over %v in steps of %v: not a range the app draws", span, step)
	}
	return a.hist.Tallies(connID, time.Now().Add(-span), step)
}

// recordOperator records in the history what the operator did to events.
func (a *Agent) recordOperator(s segment, action string, evs []queue.Event) {
	outcome := history.Retried
	if action == BulkSkip {
		outcome = history.Skipped
	}
	for _, e := range s.describe(entriesOf(evs)) {
		a.hist.Record(history.Record{Connection: e.Connection, Direction: e.Direction, Local: e.Local, Remote: e.Remote,
			EventID: e.EventID, Kind: e.Kind, Outcome: outcome, Attempt: e.Attempts, Error: e.LastError, Operator: true})
	}
}

func entriesOf(evs []queue.Event) []queue.Entry {
	out := make([]queue.Entry, len(evs))
	for i, e := range evs {
		out[i] = queue.Entry{Event: e}
	}
	return out
}

// historyRecorder is a connection's engine.Recorder: it turns the engine's outcomes into
// history records, with both item keys where the twin knows them.
type historyRecorder struct {
	a    *Agent
	conn string
	eng  atomic.Pointer[engine.Engine] // set once the engine is built
}

// Record implements engine.Recorder.
func (r *historyRecorder) Record(outs []engine.Outcome) {
	var missing []string
	for _, o := range outs {
		if o.Direction == "out" && o.Remote == "" && o.Local != "" {
			missing = append(missing, o.Local)
		}
	}
	var remoteOf map[string]string
	if eng := r.eng.Load(); len(missing) > 0 && eng != nil {
		remoteOf, _, _ = eng.Keys(missing, nil)
	}
	for _, o := range outs {
		rec := history.Record{Connection: r.conn, Direction: o.Direction, Local: o.Local, Remote: o.Remote, EventID: o.Event.ID,
			Kind: o.Event.Kind, Duration: o.Duration, Permanent: o.Permanent, RuleVersion: o.RuleVersion, RuleLogs: o.Logs, Payload: o.Event.Payload,
			Attempt: o.Event.Attempts + 1}
		if rec.Remote == "" {
			rec.Remote = remoteOf[o.Local]
		}
		if !o.At.IsZero() { // on the history's clock, as long ago as it happened
			rec.Time = r.a.hist.Now().Add(-time.Since(o.At))
		}
		switch o.Result {
		case engine.ResultSent:
			rec.Outcome = history.Sent
		case engine.ResultApplied:
			rec.Outcome = history.Applied
		case engine.ResultSkipped:
			rec.Outcome, rec.Error = history.Skipped, "the incoming rule skipped it"
		default:
			rec.Outcome, rec.Attempt = history.Failed, o.Event.Attempts
			if o.Err != nil {
				rec.Error = o.Err.Error()
			}
		}
		r.a.hist.Record(rec)
	}
}

// Control requests of the history commands.
type (
	// TimelineRequest names an item, by its key on either side.
	TimelineRequest struct {
		Item string `json:"item"`
	}
	// RetentionRequest sets the history's retention in days.
	RetentionRequest struct {
		Days int `json:"days"`
	}
	// CaptureRequest turns a connection's debug capture on or off.
	CaptureRequest struct {
		Connection string `json:"connection"`
		On         bool   `json:"on"`
	}
)

// handleHistory serves the history's control methods: `tandem history` asks the running agent
// through them, or opens the data directory when none runs.
func (a *Agent) handleHistory(m *control.Mux) {
	control.Handle(m, "history.search", a.History)
	control.Handle(m, "history.timeline", func(ctx context.Context, req TimelineRequest) ([]HistoryRecord, error) {
		return a.Timeline(ctx, req.Item)
	})
	control.Handle(m, "history.incomplete", func(ctx context.Context, _ None) ([]HistoryGap, error) {
		return a.HistoryIncomplete(ctx)
	})
	control.Handle(m, "history.retention", func(ctx context.Context, _ None) (int, error) {
		return a.HistoryRetention(ctx)
	})
	control.Handle(m, "history.retention.set", func(ctx context.Context, req RetentionRequest) (None, error) {
		return None{}, a.SetHistoryRetention(ctx, req.Days)
	})
	control.Handle(m, "history.delete", func(ctx context.Context, _ None) (None, error) {
		return None{}, a.DeleteHistory(ctx)
	})
	control.Handle(m, "history.capture", func(ctx context.Context, req CaptureRequest) (None, error) {
		c, err := a.findConn(req.Connection)
		if err != nil {
			return None{}, err
		}
		return None{}, a.SetCapture(ctx, c.rec.ID, req.On)
	})
}
