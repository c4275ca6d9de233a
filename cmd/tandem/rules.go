package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules/model"
	"github.com/tandemsync/tandem/core/rules/srcdiff"
)

const rulesUsage = `Usage: tandem rules [flags] COMMAND ...

  show [CONN]                          each connection's live rules, their versions and mappings
  versions CONN DIR                    the versions of a rule, newest first, and its deployments
  export CONN DIR [-o FILE] [--format model|script] [--version N]
                                       write a rule to FILE (default: standard output)
  import CONN DIR FILE [--note TEXT] [--deploy]
                                       save FILE as a new version: a model (.json) or a script (.go)
  test CONN DIR ITEM [--version N | --file FILE] [--sample FILE]
                                       run a rule on a local item; nothing is sent or written
  compare CONN DIR A B                 the source diff and mapping changes from version A to B
  deploy CONN DIR N                    make version N the live rule
  rollback CONN DIR                    go back to the version live before the current one
  vault CONN [purge]                   count, or forget, the tokens the connection's rules issued

CONN is a connection ID (or a unique start of one) or the partner's name; DIR is outgoing
(out) or incoming (in). A running agent (the app, or tandem serve) is driven through its
control socket and uses a deployed rule from its next change on; otherwise the command opens
the data directory itself.
`

// rulesFlags are the flags the rules subcommands take, beside the agent's.
type rulesFlags struct {
	out, format, note, file, sample string
	version                         int
	deploy                          bool
}

func runRules(ctx context.Context, args []string, w io.Writer) error {
	var af agentFlags
	var rf rulesFlags
	fs := newFlags("rules", &af)
	fs.StringVar(&rf.out, "o", "", "export: the file to write")
	fs.StringVar(&rf.format, "format", "", "export: model or script (default: model for a visual rule, else script)")
	fs.StringVar(&rf.note, "note", "", "import: the note for the version history")
	fs.StringVar(&rf.file, "file", "", "test: a model or script file to try instead of a saved version")
	fs.StringVar(&rf.sample, "sample", "", "test: a JSON replica to apply (incoming)")
	fs.IntVar(&rf.version, "version", 0, "the version to export or test (default: the live one)")
	fs.BoolVar(&rf.deploy, "deploy", false, "import: deploy the new version at once")
	fs.Usage = func() { fmt.Fprint(fs.Output(), rulesUsage) }
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		rest = []string{"show"}
	}
	r := rulesCmd{af: af, w: w, f: rf}
	return r.run(ctx, rest)
}

type rulesCmd struct {
	af agentFlags
	w  io.Writer
	f  rulesFlags
}

// call runs one of the agent's rules methods (see core/agent/rules_control.go).
func (r rulesCmd) call(ctx context.Context, method string, req, res any) error {
	return call(ctx, r.af, method, req, res)
}

func (r rulesCmd) run(ctx context.Context, args []string) error {
	cmd, args := args[0], args[1:]
	need := func(n int, usage string) error {
		if len(args) != n {
			return fmt.Errorf("usage: tandem rules %s", usage)
		}
		return nil
	}
	// rule reads CONN DIR from the first two arguments.
	rule := func() (agent.RuleRequest, error) {
		dir, err := direction(args[1])
		return agent.RuleRequest{Connection: args[0], Direction: dir}, err
	}
	switch cmd {
	case "show":
		if len(args) > 1 {
			return errors.New("usage: tandem rules show [CONN]")
		}
		req := agent.RulesShowRequest{}
		if len(args) == 1 {
			req.Connection = args[0]
		}
		return r.show(ctx, req)
	case "versions":
		if err := need(2, "versions CONN DIR"); err != nil {
			return err
		}
		req, err := rule()
		if err != nil {
			return err
		}
		return r.versions(ctx, req)
	case "export":
		if err := need(2, "export CONN DIR [-o FILE] [--format model|script] [--version N]"); err != nil {
			return err
		}
		req, err := rule()
		if err != nil {
			return err
		}
		req.Version = r.f.version
		return r.export(ctx, req)
	case "import":
		if err := need(3, "import CONN DIR FILE [--note TEXT] [--deploy]"); err != nil {
			return err
		}
		req, err := rule()
		if err != nil {
			return err
		}
		return r.importRule(ctx, req, args[2])
	case "test":
		if err := need(3, "test CONN DIR ITEM [--version N | --file FILE] [--sample FILE]"); err != nil {
			return err
		}
		req, err := rule()
		if err != nil {
			return err
		}
		return r.test(ctx, req, args[2])
	case "compare":
		if err := need(4, "compare CONN DIR A B"); err != nil {
			return err
		}
		req, err := rule()
		if err != nil {
			return err
		}
		a, b, err := twoVersions(args[2], args[3])
		if err != nil {
			return err
		}
		return r.compare(ctx, agent.RuleCompareRequest{Connection: req.Connection, Direction: req.Direction, From: a, To: b})
	case "deploy":
		if err := need(3, "deploy CONN DIR N"); err != nil {
			return err
		}
		req, err := rule()
		if err != nil {
			return err
		}
		if req.Version, err = versionNumber(args[2]); err != nil {
			return err
		}
		var v agent.RuleVersion
		if err := r.call(ctx, "rules.deploy", req, &v); err != nil {
			return err
		}
		fmt.Fprintf(r.w, "Deployed %s rule version %d of %s: the next change uses it.\n", v.Direction, v.Number, v.Connection)
		return nil
	case "rollback":
		if err := need(2, "rollback CONN DIR"); err != nil {
			return err
		}
		req, err := rule()
		if err != nil {
			return err
		}
		var v agent.RuleVersion
		if err := r.call(ctx, "rules.rollback", req, &v); err != nil {
			return err
		}
		fmt.Fprintf(r.w, "Rolled the %s rule of %s back to version %d (%s).\n", v.Direction, v.Connection, v.Number, orNone(v.Note))
		return nil
	case "vault":
		if len(args) < 1 || len(args) > 2 || (len(args) == 2 && args[1] != "purge") {
			return errors.New("usage: tandem rules vault CONN [purge]")
		}
		req := agent.VaultRequest{Connection: args[0], Purge: len(args) == 2}
		var res agent.VaultResult
		if err := r.call(ctx, "rules.vault", req, &res); err != nil {
			return err
		}
		if req.Purge {
			fmt.Fprintf(r.w, "Forgot %d tokens of %s; tokens the partner still holds no longer resolve here.\n", res.Tokens, args[0])
			return nil
		}
		fmt.Fprintf(r.w, "%s: %d tokens in the vault.\n", args[0], res.Tokens)
		return nil
	case "help":
		fmt.Fprint(r.w, rulesUsage)
		return nil
	}
	return fmt.Errorf("unknown rules command %q; run tandem rules help", cmd)
}

func direction(s string) (string, error) {
	switch strings.ToLower(s) {
	case "out", "outgoing":
		return agent.RuleOutgoing, nil
	case "in", "incoming":
		return agent.RuleIncoming, nil
	}
	return "", fmt.Errorf("direction %q: want outgoing (out) or incoming (in)", s)
}

func versionNumber(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.ToLower(s), "v"))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("version %q: want a number such as 3", s)
	}
	return n, nil
}

func twoVersions(a, b string) (int, int, error) {
	na, err := versionNumber(a)
	if err != nil {
		return 0, 0, err
	}
	nb, err := versionNumber(b)
	return na, nb, err
}

func orNone(s string) string {
	if s == "" {
		return "no note"
	}
	return s
}

func (r rulesCmd) show(ctx context.Context, req agent.RulesShowRequest) error {
	var list []agent.RulesSummary
	if err := r.call(ctx, "rules.show", req, &list); err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(r.w, "No connections yet: pair with a partner first (tandem invite, tandem accept).")
		return nil
	}
	for _, s := range list {
		fmt.Fprintf(r.w, "%s with %s (%s), %d tokens in the vault\n", s.Connection, s.PartnerName, s.State, s.VaultTokens)
		for _, v := range []struct {
			rv    agent.RuleVersion
			total int
		}{{s.Outgoing, s.OutgoingTotal}, {s.Incoming, s.IncomingTotal}} {
			fmt.Fprintf(r.w, "  %s: version %d of %d, %s, by %s on %s (%s)\n", v.rv.Direction, v.rv.Number, v.total, modeWords(v.rv), v.rv.Author,
				v.rv.Created.Local().Format("2006-01-02 15:04"), orNone(v.rv.Note))
			for _, line := range ruleLines(v.rv) {
				fmt.Fprintf(r.w, "    %s\n", line)
			}
		}
	}
	return nil
}

func modeWords(v agent.RuleVersion) string {
	switch {
	case v.Defaults != "":
		return "the default " + v.Mode + " for " + v.Defaults
	case v.Mode == agent.RuleVisual:
		return "visual"
	}
	return "script"
}

// ruleLines describes a rule in a few lines: a visual rule's trigger, mappings and comments;
// a script's length.
func ruleLines(v agent.RuleVersion) []string {
	if v.Model == nil {
		return []string{fmt.Sprintf("script of %d lines (tandem rules export to read it)", strings.Count(v.Source, "\n"))}
	}
	m := v.Model
	var out []string
	if len(m.Trigger.Conditions) == 0 {
		out = append(out, "trigger: every item")
	} else {
		var parts []string
		for _, c := range m.Trigger.Conditions {
			parts = append(parts, c.Label())
		}
		sep := " and "
		if m.Trigger.Match == model.MatchAny {
			sep = " or "
		}
		out = append(out, "trigger: "+strings.Join(parts, sep))
	}
	for _, mp := range m.Mappings {
		out = append(out, mp.Label()+": "+model.Describe(mp, m.Direction))
	}
	return append(out, "comments: "+m.Comments.Include)
}

func (r rulesCmd) versions(ctx context.Context, req agent.RuleRequest) error {
	var res agent.RuleVersionsResult
	if err := r.call(ctx, "rules.versions", agent.RuleVersionsRequest{Connection: req.Connection, Direction: req.Direction, Limit: 50}, &res); err != nil {
		return err
	}
	w := tabwriter.NewWriter(r.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tLIVE\tMODE\tSAVED\tBY\tNOTE")
	for _, v := range res.Versions {
		live := ""
		if v.Live {
			live = "live"
		}
		note := v.Note
		if v.CompileError != "" {
			note = "does not compile: " + v.CompileError
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", v.Number, live, v.Mode, v.Created.Local().Format("2006-01-02 15:04:05"), v.Author, note)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if res.Total > len(res.Versions) {
		fmt.Fprintf(r.w, "(%d older versions not shown)\n", res.Total-len(res.Versions))
	}
	fmt.Fprintln(r.w, "\nDeployments, newest first:")
	for _, d := range res.Deployments {
		from := ""
		if d.From != 0 {
			from = fmt.Sprintf(" (was %d)", d.From)
		}
		fmt.Fprintf(r.w, "  %s  %-8s version %d%s by %s\n", d.At.Local().Format("2006-01-02 15:04:05"), d.Action, d.Version, from, d.Author)
	}
	return nil
}

func (r rulesCmd) export(ctx context.Context, req agent.RuleRequest) error {
	var v agent.RuleVersion
	if err := r.call(ctx, "rules.version", req, &v); err != nil {
		return err
	}
	format := r.f.format
	if format == "" {
		format = "script"
		if v.Model != nil {
			format = "model"
		}
	}
	var data []byte
	switch format {
	case "model":
		if v.Model == nil {
			return fmt.Errorf("%s rule version %d is a script, so it has no model; export it with --format script", v.Direction, v.Number)
		}
		var err error
		if data, err = v.Model.Marshal(); err != nil {
			return err
		}
	case "script":
		data = []byte(v.Source)
	default:
		return fmt.Errorf("format %q: want model or script", format)
	}
	if r.f.out == "" || r.f.out == "-" {
		_, err := r.w.Write(data)
		return err
	}
	if err := os.WriteFile(r.f.out, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(r.w, "Wrote %s rule version %d (%s) of %s to %s.\n", v.Direction, v.Number, format, v.Connection, r.f.out)
	return nil
}

// readDraft reads a rule file: a model when it is JSON, else a script.
func readDraft(path string) (agent.RuleDraft, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return agent.RuleDraft{}, err
	}
	if t := strings.TrimSpace(string(data)); strings.HasPrefix(t, "{") {
		m, err := model.Parse(data)
		if err != nil {
			return agent.RuleDraft{}, fmt.Errorf("%s: %w", path, err)
		}
		return agent.RuleDraft{Mode: agent.RuleVisual, Model: m}, nil
	}
	return agent.RuleDraft{Mode: agent.RuleScript, Source: string(data)}, nil
}

func (r rulesCmd) importRule(ctx context.Context, req agent.RuleRequest, path string) error {
	d, err := readDraft(path)
	if err != nil {
		return err
	}
	d.Note = r.f.note
	if d.Note == "" {
		d.Note = "imported from " + path
	}
	var v agent.RuleVersion
	err = r.call(ctx, "rules.save", agent.RuleSaveRequest{Connection: req.Connection, Direction: req.Direction, Draft: d, Deploy: r.f.deploy}, &v)
	if err != nil && v.Number == 0 {
		return err
	}
	if v.CompileError != "" {
		return fmt.Errorf("saved %s rule version %d as a draft, but it does not compile, so it cannot be deployed: %s", v.Direction, v.Number, v.CompileError)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(r.w, "Saved %s rule version %d of %s (%s).\n", v.Direction, v.Number, v.Connection, v.Mode)
	if r.f.deploy {
		fmt.Fprintf(r.w, "Deployed version %d: the next change uses it.\n", v.Number)
		return nil
	}
	fmt.Fprintf(r.w, "Try it with tandem rules test %s %s ITEM --version %d, then tandem rules deploy %s %s %d.\n", v.Connection, v.Direction, v.Number, v.Connection, v.Direction, v.Number)
	return nil
}

func (r rulesCmd) test(ctx context.Context, req agent.RuleRequest, key string) error {
	var d agent.RuleDraft
	what := "the live version"
	switch {
	case r.f.file != "" && r.f.version != 0:
		return errors.New("test takes --version or --file, not both")
	case r.f.file != "":
		var err error
		if d, err = readDraft(r.f.file); err != nil {
			return err
		}
		what = r.f.file
	case r.f.version != 0:
		var v agent.RuleVersion
		req.Version = r.f.version
		if err := r.call(ctx, "rules.version", req, &v); err != nil {
			return err
		}
		d = agent.RuleDraft{Mode: v.Mode, Model: v.Model, Source: v.Source}
		what = fmt.Sprintf("version %d", v.Number)
	}
	in := agent.RuleTestInput{ItemKey: key}
	if r.f.sample != "" {
		data, err := os.ReadFile(r.f.sample)
		if err != nil {
			return err
		}
		var rep item.Replica
		if err := json.Unmarshal(data, &rep); err != nil {
			return fmt.Errorf("sample %s is not a replica in JSON: %w", r.f.sample, err)
		}
		in.Replica = &rep
	}
	var res agent.RuleTestResult
	if err := r.call(ctx, "rules.test", agent.RuleTestRequest{Connection: req.Connection, Direction: req.Direction, Draft: d, Input: in}, &res); err != nil {
		return err
	}
	printTest(r.w, res, what)
	return nil
}

// printTest writes a test run's result for people.
func printTest(w io.Writer, res agent.RuleTestResult, what string) {
	fmt.Fprintf(w, "Test run of the %s rule (%s) on %s; nothing was sent or written.\n", res.Direction, what, orNone(res.ItemKey))
	if res.FirstSync {
		fmt.Fprintln(w, "This would be the item's first sync.")
	}
	switch {
	case res.Error != "":
		fmt.Fprintf(w, "The rule fails: %s\nThe item would wait in the queue with this error.\n", res.Error)
	case res.Skipped:
		fmt.Fprintf(w, "Skipped: %s\n", orNone(res.SkipReason))
	case res.Direction == agent.RuleOutgoing && res.Unchanged:
		fmt.Fprintln(w, "The replica equals what was last sent: nothing would be sent.")
	}
	if res.Error == "" && !res.Skipped {
		if res.Direction == agent.RuleOutgoing {
			data, _ := json.MarshalIndent(res.Replica, "", "  ")
			fmt.Fprintf(w, "Replica that would be sent:\n%s\n", data)
		}
		if len(res.Changes) > 0 {
			if res.Direction == agent.RuleOutgoing {
				fmt.Fprintln(w, "Fields that differ from what was last sent:")
			} else {
				fmt.Fprintln(w, "Changes to the local item:")
			}
			for _, c := range res.Changes {
				fmt.Fprintf(w, "  %s: %q → %q\n", c.Field, c.Old, c.New)
			}
		}
		if res.Direction == agent.RuleIncoming {
			fmt.Fprintf(w, "Comments that would be added: %d\n", len(res.NewComments))
			for f, p := range res.Conflicts {
				fmt.Fprintf(w, "Conflict policy for %s: %s\n", f, p)
			}
		}
	}
	if len(res.Logs) > 0 {
		fmt.Fprintln(w, "Log lines:")
		for _, l := range res.Logs {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}

func (r rulesCmd) compare(ctx context.Context, req agent.RuleCompareRequest) error {
	var c agent.RuleComparison
	if err := r.call(ctx, "rules.compare", req, &c); err != nil {
		return err
	}
	fmt.Fprintf(r.w, "%s rule of %s, version %d → %d:\n", req.Direction, c.From.Connection, req.From, req.To)
	for _, s := range c.Summary {
		fmt.Fprintf(r.w, "  %s\n", s)
	}
	fmt.Fprintln(r.w)
	fmt.Fprint(r.w, srcdiff.Unified(c.Diff, fmt.Sprintf("%s v%d", req.Direction, req.From), fmt.Sprintf("%s v%d", req.Direction, req.To), 3))
	return nil
}
