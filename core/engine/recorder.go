package engine

import (
	"errors"
	"time"

	"github.com/tandemsync/tandem/core/queue"
)

// Recorder receives the outcome of every event the engine handles, for the sync history. It
// must not block and cannot fail the sync: what it does with an outcome is its own business.
type Recorder interface {
	Record(outcomes []Outcome)
}

// Outcome results.
const (
	ResultSent    = "sent"    // the partner stored it
	ResultApplied = "applied" // applied to the tracker (a receipt: the link recorded)
	ResultFailed  = "failed"  // this attempt failed; Err says why
	ResultSkipped = "skipped" // the incoming rule chose not to apply it
)

// Outcome is what happened to one event. Event carries the payload, which a recorder must not
// keep unless the operator asked for a debug capture.
type Outcome struct {
	Direction   string // "out" or "in"
	Event       queue.Event
	Local       string // the local item key, "" when not known
	Remote      string // the partner's item key, "" when not known
	Result      string
	Err         error
	Permanent   bool      // the failure waits for the operator
	At          time.Time // when it happened, if not as it is recorded
	Duration    time.Duration
	RuleVersion string   // the rule version that ran ("outgoing v3"), when known
	Logs        []string // its ctx.Log lines
}

// record hands outcomes to the recorder, if there is one.
func (e *Engine) record(outs []Outcome) {
	if e.opt.Recorder != nil && len(outs) > 0 {
		e.opt.Recorder.Record(outs)
	}
}

func failed(dir string, ev queue.Event, local, remote string, err error, took time.Duration) Outcome {
	var p interface{ Permanent() bool }
	o := Outcome{Direction: dir, Event: ev, Local: local, Remote: remote, Result: ResultFailed, Err: err,
		Permanent: errors.As(err, &p) && p.Permanent(), Duration: took, RuleVersion: ev.Rule, Logs: ev.Logs}
	var note interface{ RuleNote() (string, []string) }
	if errors.As(err, &note) {
		o.RuleVersion, o.Logs = note.RuleNote()
	}
	return o
}
