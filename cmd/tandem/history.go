package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tandemsync/tandem/core/agent"
)

// historyFlags filter `tandem history`.
type historyFlags struct {
	item, text, conn, outcome string
	since                     time.Duration
	limit                     int
}

func (hf *historyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&hf.item, "item", "", "the timeline of one item (its `key` on either side)")
	fs.StringVar(&hf.text, "text", "", "only records whose keys, kind or error contain this `text`")
	fs.StringVar(&hf.conn, "connection", "", "only this `connection`")
	fs.StringVar(&hf.outcome, "outcome", "", "only these `outcomes`: sent, applied, failed, retried or skipped (comma-separated)")
	fs.DurationVar(&hf.since, "since", 0, "only the last `duration`, e.g. 24h")
	fs.IntVar(&hf.limit, "limit", 100, "at most this `number` of records")
}

func historyCommand() *command {
	return &command{
		Name:    "history",
		Summary: "the sync history, or one item's timeline both ways",
		Help:    "One record per event outcome (sent, applied, failed, retried, skipped), newest first. Records\nhold keys, kinds and errors, never field values.",
		Example: "tandem history --since 24h --outcome failed\ntandem history --item ACME-12\ntandem history --json --limit 1000",
		Data:    dataExisting,
		JSON:    true,
		Setup: func(fs *flag.FlagSet) runFunc {
			var hf historyFlags
			hf.register(fs)
			return func(ctx context.Context, c *invocation) error { return runHistory(ctx, c, hf) }
		},
		Subs: []*command{
			{
				Name: "retention", Args: "[DAYS]",
				Summary: "show or set how many days the history keeps",
				Example: "tandem history retention\ntandem history retention 30",
				Data:    dataExisting, JSON: true,
				Check: func(c *invocation) error {
					if len(c.args) == 1 {
						if _, err := strconv.Atoi(c.args[0]); err != nil {
							return usagef(c.cmd, "the retention %q is not a number of days (allowed: %d to %d).", c.args[0], agent.MinHistoryRetentionDays, agent.MaxHistoryRetentionDays)
						}
					}
					return nil
				},
				Run: func(ctx context.Context, c *invocation) error {
					if len(c.args) == 1 {
						days, _ := strconv.Atoi(c.args[0])
						if err := c.call(ctx, "history.retention.set", agent.RetentionRequest{Days: days}, nil); err != nil {
							return err
						}
						if !c.json {
							c.printf("The history now keeps %d days; older records are deleted.\n", days)
							return nil
						}
					}
					var days int
					if err := c.call(ctx, "history.retention", agent.None{}, &days); err != nil {
						return err
					}
					if c.json {
						return c.printJSON(struct {
							Days int `json:"days"`
						}{days})
					}
					c.printf("The history keeps %d days.\n", days)
					return nil
				},
			},
			{
				Name: "delete", Summary: "delete the whole sync history and every captured payload",
				Example: "tandem history delete", Data: dataExisting,
				Run: func(ctx context.Context, c *invocation) error {
					if err := c.call(ctx, "history.delete", agent.None{}, nil); err != nil {
						return err
					}
					c.printf("The sync history and every captured payload are deleted.\n")
					return nil
				},
			},
			{
				Name: "capture", Args: "CONNECTION on|off",
				Summary: "turn the debug capture of a connection's payloads on (for 24 hours) or off",
				Help:    connectionHelp + "\nCaptured payloads hold field values; each is deleted 24 hours after it was captured.",
				Example: "tandem history capture Red on", Data: dataExisting,
				Check: func(c *invocation) error {
					if onOff := c.args[1]; onOff != "on" && onOff != "off" {
						return usagef(c.cmd, "capture is turned on or off, not %q.", onOff)
					}
					return nil
				},
				Run: func(ctx context.Context, c *invocation) error {
					conn, onOff := c.args[0], c.args[1]
					if err := c.call(ctx, "history.capture", agent.CaptureRequest{Connection: conn, On: onOff == "on"}, nil); err != nil {
						return err
					}
					if onOff == "on" {
						c.printf("Debug capture of %s's payloads is on for 24 hours; each payload is deleted 24 hours after it was captured.\n", conn)
					} else {
						c.printf("Debug capture of %s is off and what it captured is deleted.\n", conn)
					}
					return nil
				},
			},
		},
	}
}

func runHistory(ctx context.Context, c *invocation, hf historyFlags) error {
	var records []agent.HistoryRecord
	more := false
	if hf.item != "" {
		if err := c.call(ctx, "history.timeline", agent.TimelineRequest{Item: hf.item}, &records); err != nil {
			return err
		}
	} else {
		q := agent.HistoryQuery{Text: hf.text, Connection: hf.conn, Limit: hf.limit}
		if hf.since > 0 {
			q.Since = time.Now().Add(-hf.since)
		}
		for _, o := range strings.Split(hf.outcome, ",") {
			if o = strings.TrimSpace(o); o != "" {
				q.Outcomes = append(q.Outcomes, agent.HistoryOutcome(o))
			}
		}
		var page agent.HistoryPage
		if err := c.call(ctx, "history.search", q, &page); err != nil {
			return err
		}
		records, more = page.Records, page.Next != ""
	}
	var gaps []agent.HistoryGap
	if err := c.call(ctx, "history.incomplete", agent.None{}, &gaps); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(struct {
			Records    []agent.HistoryRecord `json:"records"`
			More       bool                  `json:"more"`
			Incomplete any                   `json:"incomplete,omitempty"`
		}{nonNil(records), more, gaps})
	}
	switch {
	case len(records) == 0 && hf.item != "":
		c.printf("Nothing recorded for %q: no event of an item with that key (on either side) in the history.\n", hf.item)
		return nil
	case len(records) == 0:
		c.printf("No sync history matches.\n")
		return nil
	}
	if len(gaps) > 0 {
		g := gaps[len(gaps)-1]
		fmt.Fprintf(c.err, "Note: the history is incomplete: %d outcomes between %s and %s were not written (%s).\n",
			g.Lost, g.From.Local().Format(time.DateTime), g.To.Local().Format(time.DateTime), g.Reason)
	}
	name := partnerNamer(ctx, c)
	w := c.table()
	fmt.Fprintln(w, "TIME\tPARTNER\tDIR\tLOCAL\tREMOTE\tKIND\tOUTCOME\tATTEMPT\tTOOK\tRULE\tERROR")
	for _, r := range records {
		outcome := string(r.Outcome)
		if r.Operator {
			outcome += " (operator)"
		}
		if r.Captured {
			outcome += " [captured]"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.Time.Local().Format("2006-01-02 15:04:05.000"), name(r.Connection), r.Direction,
			dash(r.Local), dash(r.Remote), dash(r.Kind), outcome, r.Attempt, r.Duration.Round(time.Millisecond), dash(r.RuleVersion), r.Error)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if more {
		c.printf("Showing the newest %d; narrow with --item, --text, --outcome or --since, or raise --limit.\n", len(records))
	}
	return nil
}
