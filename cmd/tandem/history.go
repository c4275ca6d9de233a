package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
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
	fs.StringVar(&hf.item, "item", "", "the timeline of one item (its key on either side)")
	fs.StringVar(&hf.text, "text", "", "only records whose keys, kind or error contain this")
	fs.StringVar(&hf.conn, "connection", "", "only this connection")
	fs.StringVar(&hf.outcome, "outcome", "", "only sent, applied, failed, retried or skipped (comma-separated)")
	fs.DurationVar(&hf.since, "since", 0, "only the last this long, e.g. 24h")
	fs.IntVar(&hf.limit, "limit", 100, "at most this many records")
}

const historyUsage = "usage: tandem history [--item KEY | --text T] [--connection C] [--outcome O] [--since 24h] [--limit N]\n" +
	"       tandem history retention [DAYS] | delete | capture CONNECTION on|off"

func runHistory(ctx context.Context, af agentFlags, hf historyFlags, args []string) error {
	if len(args) > 0 {
		return historyCommand(ctx, af, args)
	}
	var records []agent.HistoryRecord
	more := false
	if hf.item != "" {
		if err := call(ctx, af, "history.timeline", agent.TimelineRequest{Item: hf.item}, &records); err != nil {
			return err
		}
		if len(records) == 0 {
			fmt.Printf("Nothing recorded for %q: no event of an item with that key (on either side) in the history.\n", hf.item)
			return nil
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
		if err := call(ctx, af, "history.search", q, &page); err != nil {
			return err
		}
		records, more = page.Records, page.Next != ""
		if len(records) == 0 {
			fmt.Println("No sync history matches.")
			return nil
		}
	}
	var gaps []agent.HistoryGap
	if err := call(ctx, af, "history.incomplete", agent.None{}, &gaps); err == nil && len(gaps) > 0 {
		g := gaps[len(gaps)-1]
		fmt.Fprintf(os.Stderr, "Note: the history is incomplete: %d outcomes between %s and %s were not written (%s).\n",
			g.Lost, g.From.Local().Format(time.DateTime), g.To.Local().Format(time.DateTime), g.Reason)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TIME\tCONNECTION\tDIR\tLOCAL\tREMOTE\tKIND\tOUTCOME\tATTEMPT\tTOOK\tRULE\tERROR")
	for _, r := range records {
		outcome := string(r.Outcome)
		if r.Operator {
			outcome += " (operator)"
		}
		if r.Captured {
			outcome += " [captured]"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.Time.Local().Format("2006-01-02 15:04:05.000"), r.Connection, r.Direction,
			dash(r.Local), dash(r.Remote), dash(r.Kind), outcome, r.Attempt, r.Duration.Round(time.Millisecond), dash(r.RuleVersion), r.Error)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if more {
		fmt.Printf("Showing the newest %d; narrow with --item, --text, --outcome or --since, or raise --limit.\n", len(records))
	}
	return nil
}

func historyCommand(ctx context.Context, af agentFlags, args []string) error {
	switch {
	case args[0] == "retention" && len(args) == 1:
		var days int
		if err := call(ctx, af, "history.retention", agent.None{}, &days); err != nil {
			return err
		}
		fmt.Printf("The history keeps %d days.\n", days)
		return nil
	case args[0] == "retention" && len(args) == 2:
		days, err := strconv.Atoi(args[1])
		if err != nil {
			return fmt.Errorf("retention %q is not a number of days: allowed %d to %d", args[1], agent.MinHistoryRetentionDays, agent.MaxHistoryRetentionDays)
		}
		if err := call(ctx, af, "history.retention.set", agent.RetentionRequest{Days: days}, nil); err != nil {
			return err
		}
		fmt.Printf("The history now keeps %d days; older records are deleted.\n", days)
		return nil
	case args[0] == "delete" && len(args) == 1:
		if err := call(ctx, af, "history.delete", agent.None{}, nil); err != nil {
			return err
		}
		fmt.Println("The sync history and every captured payload are deleted.")
		return nil
	case args[0] == "capture" && len(args) == 3 && (args[2] == "on" || args[2] == "off"):
		if err := call(ctx, af, "history.capture", agent.CaptureRequest{Connection: args[1], On: args[2] == "on"}, nil); err != nil {
			return err
		}
		if args[2] == "on" {
			fmt.Printf("Debug capture of %s's payloads is on for 24 hours; each payload is deleted 24 hours after it was captured.\n", args[1])
		} else {
			fmt.Printf("Debug capture of %s is off and what it captured is deleted.\n", args[1])
		}
		return nil
	}
	return errors.New(historyUsage)
}
