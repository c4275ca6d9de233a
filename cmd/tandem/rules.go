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
	"github.com/tandemsync/tandem/core/store"
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

CONN is a connection id or the partner's name; DIR is outgoing (out) or incoming (in).
These commands work on the data directory directly, so the agent must be stopped first
(the app, or tandem serve).
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
	opt := af.options()
	opt.Listen = "" // the rules command serves no partner
	a, err := agent.Open(ctx, opt)
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("the agent on %s is running. tandem rules works on the data directory directly for now, so stop the agent (the app, or tandem serve) and run it again", af.dir)
	}
	if err != nil {
		return err
	}
	defer a.Close()
	r := rulesCmd{a: a, w: w, f: rf}
	return r.run(ctx, rest)
}

type rulesCmd struct {
	a *agent.Agent
	w io.Writer
	f rulesFlags
}

func (r rulesCmd) run(ctx context.Context, args []string) error {
	cmd, args := args[0], args[1:]
	need := func(n int, usage string) error {
		if len(args) != n {
			return fmt.Errorf("usage: tandem rules %s", usage)
		}
		return nil
	}
	switch cmd {
	case "show":
		if len(args) > 1 {
			return errors.New("usage: tandem rules show [CONN]")
		}
		return r.show(ctx, args)
	case "versions":
		if err := need(2, "versions CONN DIR"); err != nil {
			return err
		}
		return r.withConn(ctx, args, r.versions)
	case "export":
		if err := need(2, "export CONN DIR [-o FILE] [--format model|script] [--version N]"); err != nil {
			return err
		}
		return r.withConn(ctx, args, r.export)
	case "import":
		if err := need(3, "import CONN DIR FILE [--note TEXT] [--deploy]"); err != nil {
			return err
		}
		return r.withConn(ctx, args, func(ctx context.Context, conn, dir string) error { return r.importRule(ctx, conn, dir, args[2]) })
	case "test":
		if err := need(3, "test CONN DIR ITEM [--version N | --file FILE] [--sample FILE]"); err != nil {
			return err
		}
		return r.withConn(ctx, args, func(ctx context.Context, conn, dir string) error { return r.test(ctx, conn, dir, args[2]) })
	case "compare":
		if err := need(4, "compare CONN DIR A B"); err != nil {
			return err
		}
		a, b, err := twoVersions(args[2], args[3])
		if err != nil {
			return err
		}
		return r.withConn(ctx, args, func(ctx context.Context, conn, dir string) error { return r.compare(ctx, conn, dir, a, b) })
	case "deploy":
		if err := need(3, "deploy CONN DIR N"); err != nil {
			return err
		}
		n, err := versionNumber(args[2])
		if err != nil {
			return err
		}
		return r.withConn(ctx, args, func(ctx context.Context, conn, dir string) error {
			if err := r.a.DeployRule(ctx, conn, dir, n); err != nil {
				return err
			}
			fmt.Fprintf(r.w, "Deployed %s rule version %d of %s.\n", dir, n, conn)
			return nil
		})
	case "rollback":
		if err := need(2, "rollback CONN DIR"); err != nil {
			return err
		}
		return r.withConn(ctx, args, func(ctx context.Context, conn, dir string) error {
			v, err := r.a.RollbackRule(ctx, conn, dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(r.w, "Rolled the %s rule of %s back to version %d (%s).\n", dir, conn, v.Number, orNone(v.Note))
			return nil
		})
	case "vault":
		if len(args) < 1 || len(args) > 2 || (len(args) == 2 && args[1] != "purge") {
			return errors.New("usage: tandem rules vault CONN [purge]")
		}
		conn, err := r.conn(ctx, args[0])
		if err != nil {
			return err
		}
		if len(args) == 2 {
			n, err := r.a.PurgeVault(ctx, conn)
			if err != nil {
				return err
			}
			fmt.Fprintf(r.w, "Forgot %d tokens of %s; tokens the partner still holds no longer resolve here.\n", n, conn)
			return nil
		}
		n, err := r.a.VaultTokens(ctx, conn)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.w, "%s: %d tokens in the vault.\n", conn, n)
		return nil
	case "help":
		fmt.Fprint(r.w, rulesUsage)
		return nil
	}
	return fmt.Errorf("unknown rules command %q; run tandem rules help", cmd)
}

// conn resolves a connection id or a partner's name.
func (r rulesCmd) conn(ctx context.Context, name string) (string, error) {
	conns, err := r.a.Connections(ctx)
	if err != nil {
		return "", err
	}
	var byName []string
	for _, c := range conns {
		if c.ID == name {
			return c.ID, nil
		}
		if strings.EqualFold(c.PartnerName, name) {
			byName = append(byName, c.ID)
		}
	}
	switch len(byName) {
	case 1:
		return byName[0], nil
	case 0:
		return "", fmt.Errorf("no connection %q; tandem rules show lists them", name)
	}
	return "", fmt.Errorf("%d connections are with %q (%s); name one by its id", len(byName), name, strings.Join(byName, ", "))
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

func (r rulesCmd) withConn(ctx context.Context, args []string, fn func(ctx context.Context, conn, dir string) error) error {
	conn, err := r.conn(ctx, args[0])
	if err != nil {
		return err
	}
	dir, err := direction(args[1])
	if err != nil {
		return err
	}
	return fn(ctx, conn, dir)
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

func (r rulesCmd) show(ctx context.Context, args []string) error {
	conns, err := r.a.Connections(ctx)
	if err != nil {
		return err
	}
	if len(conns) == 0 {
		fmt.Fprintln(r.w, "No connections yet: pair with a partner first (tandem invite, tandem accept).")
		return nil
	}
	only := ""
	if len(args) == 1 {
		if only, err = r.conn(ctx, args[0]); err != nil {
			return err
		}
	}
	for _, c := range conns {
		if only != "" && c.ID != only {
			continue
		}
		tokens, _ := r.a.VaultTokens(ctx, c.ID)
		fmt.Fprintf(r.w, "%s with %s (%s), %d tokens in the vault\n", c.ID, c.PartnerName, c.State, tokens)
		for _, dir := range []string{agent.RuleOutgoing, agent.RuleIncoming} {
			v, err := r.a.RuleVersion(ctx, c.ID, dir, 0)
			if err != nil {
				return err
			}
			_, total, err := r.a.RuleVersions(ctx, c.ID, dir, 0, 0)
			if err != nil {
				return err
			}
			fmt.Fprintf(r.w, "  %s: version %d of %d, %s, by %s on %s (%s)\n", dir, v.Number, total, modeWords(v), v.Author,
				v.Created.Local().Format("2006-01-02 15:04"), orNone(v.Note))
			for _, line := range ruleLines(v) {
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
	out = append(out, "comments: "+m.Comments.Include)
	return out
}

func (r rulesCmd) versions(ctx context.Context, conn, dir string) error {
	vs, total, err := r.a.RuleVersions(ctx, conn, dir, 0, 50)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(r.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tLIVE\tMODE\tSAVED\tBY\tNOTE")
	for _, v := range vs {
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
	if total > len(vs) {
		fmt.Fprintf(r.w, "(%d older versions not shown)\n", total-len(vs))
	}
	ds, err := r.a.RuleDeployments(ctx, conn, dir, 0, 20)
	if err != nil {
		return err
	}
	fmt.Fprintln(r.w, "\nDeployments, newest first:")
	for _, d := range ds {
		from := ""
		if d.From != 0 {
			from = fmt.Sprintf(" (was %d)", d.From)
		}
		fmt.Fprintf(r.w, "  %s  %-8s version %d%s by %s\n", d.At.Local().Format("2006-01-02 15:04:05"), d.Action, d.Version, from, d.Author)
	}
	return nil
}

func (r rulesCmd) export(ctx context.Context, conn, dir string) error {
	v, err := r.a.RuleVersion(ctx, conn, dir, r.f.version)
	if err != nil {
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
			return fmt.Errorf("%s rule version %d is a script, so it has no model; export it with --format script", dir, v.Number)
		}
		if data, err = v.Model.Marshal(); err != nil {
			return err
		}
	case "script":
		data = []byte(v.Source)
	default:
		return fmt.Errorf("format %q: want model or script", format)
	}
	if r.f.out == "" || r.f.out == "-" {
		_, err = r.w.Write(data)
		return err
	}
	if err := os.WriteFile(r.f.out, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(r.w, "Wrote %s rule version %d (%s) of %s to %s.\n", dir, v.Number, format, conn, r.f.out)
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

func (r rulesCmd) importRule(ctx context.Context, conn, dir, path string) error {
	d, err := readDraft(path)
	if err != nil {
		return err
	}
	d.Note = r.f.note
	if d.Note == "" {
		d.Note = "imported from " + path
	}
	v, err := r.a.SaveRule(ctx, conn, dir, d)
	if err != nil {
		return err
	}
	if v.CompileError != "" {
		return fmt.Errorf("saved %s rule version %d as a draft, but it does not compile, so it cannot be deployed: %s", dir, v.Number, v.CompileError)
	}
	fmt.Fprintf(r.w, "Saved %s rule version %d of %s (%s).\n", dir, v.Number, conn, v.Mode)
	if !r.f.deploy {
		fmt.Fprintf(r.w, "Try it with tandem rules test %s %s ITEM --version %d, then tandem rules deploy %s %s %d.\n", conn, dir, v.Number, conn, dir, v.Number)
		return nil
	}
	if err := r.a.DeployRule(ctx, conn, dir, v.Number); err != nil {
		return err
	}
	fmt.Fprintf(r.w, "Deployed version %d.\n", v.Number)
	return nil
}

func (r rulesCmd) test(ctx context.Context, conn, dir, key string) error {
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
		v, err := r.a.RuleVersion(ctx, conn, dir, r.f.version)
		if err != nil {
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
	res, err := r.a.TestRule(ctx, conn, dir, d, in)
	if err != nil {
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

func (r rulesCmd) compare(ctx context.Context, conn, dir string, a, b int) error {
	c, err := r.a.CompareRules(ctx, conn, dir, a, b)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.w, "%s rule of %s, version %d → %d:\n", dir, conn, a, b)
	for _, s := range c.Summary {
		fmt.Fprintf(r.w, "  %s\n", s)
	}
	fmt.Fprintln(r.w)
	fmt.Fprint(r.w, srcdiff.Unified(c.Diff, fmt.Sprintf("%s v%d", dir, a), fmt.Sprintf("%s v%d", dir, b), 3))
	return nil
}
