package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules/model"
	"github.com/tandemsync/tandem/core/rules/srcdiff"
)

const rulesHelp = `Each connection has an outgoing rule (what leaves this side) and an incoming rule (how the
partner's changes apply here). Every save is a version; deploying or rolling back takes effect
from the next change and is recorded in the audit log.
CONNECTION is a connection ID (or a unique start of one) or the partner's name; out|in is the
outgoing or the incoming rule (outgoing and incoming are understood too).`

// checkRule checks the CONNECTION out|in words most rules commands start with.
func checkRule(c *invocation) error {
	if _, err := direction(c.args[1]); err != nil {
		return usagef(c.cmd, "%s", err)
	}
	return nil
}

// ruleRequest reads CONNECTION out|in.
func ruleRequest(c *invocation) agent.RuleRequest {
	dir, _ := direction(c.args[1])
	return agent.RuleRequest{Connection: c.args[0], Direction: dir}
}

func rulesCommand() *command {
	return &command{
		Name:    "rules",
		Summary: "a connection's rules: show, versions, export, import, test, compare, deploy, roll back",
		Help:    rulesHelp,
		Example: "tandem rules\ntandem rules test Red out TDM-12\ntandem rules import Red out rule.json --deploy",
		Data:    dataExisting,
		JSON:    true,
		Run:     func(ctx context.Context, c *invocation) error { return rulesShow(ctx, c, "") },
		Subs: []*command{
			{
				Name: "show", Args: "[CONNECTION]",
				Summary: "each connection's live rules, their versions and mappings",
				Example: "tandem rules show Red", Data: dataExisting, JSON: true,
				Run: func(ctx context.Context, c *invocation) error {
					conn := ""
					if len(c.args) == 1 {
						conn = c.args[0]
					}
					return rulesShow(ctx, c, conn)
				},
			},
			{
				Name: "versions", Args: "CONNECTION out|in",
				Summary: "the versions of a rule, newest first, and its deployments",
				Example: "tandem rules versions Red out", Data: dataExisting, JSON: true,
				Check: checkRule, Run: rulesVersions,
			},
			{
				Name: "export", Args: "CONNECTION out|in",
				Summary: "write a rule (its visual model or its Go source) to a file or standard output",
				Example: "tandem rules export Red out -o rule.json\ntandem rules export Red in --format script --version 3",
				Data:    dataExisting, Check: checkRule,
				Setup: func(fs *flag.FlagSet) runFunc {
					out := fs.String("o", "", "the `file` to write (default: standard output)")
					format := fs.String("format", "", "model or script (default: model for a visual rule, else script)")
					version := fs.Int("version", 0, "the `version` to export (default: the live one)")
					return func(ctx context.Context, c *invocation) error { return rulesExport(ctx, c, *out, *format, *version) }
				},
			},
			{
				Name: "import", Args: "CONNECTION out|in FILE",
				Summary: "save a model (.json) or a script (.go) as a new version",
				Help:    "A model that is malformed, names an unknown field or has an invalid regular expression is\nrefused, naming the mapping; nothing is saved. A script that does not compile is saved as a\ndraft, with the error at its line, and is not deployed.",
				Example: "tandem rules import Red out rule.json --note \"map statuses\" --deploy",
				Data:    dataExisting, Check: checkRule,
				Setup: func(fs *flag.FlagSet) runFunc {
					note := fs.String("note", "", "the `note` for the version history")
					deploy := fs.Bool("deploy", false, "deploy the new version at once")
					return func(ctx context.Context, c *invocation) error { return rulesImport(ctx, c, *note, *deploy) }
				},
			},
			{
				Name: "test", Args: "CONNECTION out|in ITEM",
				Summary: "run a rule on a local item; nothing is sent or written",
				Help:    "Outgoing: the replica that would be sent and what differs from what was last sent, or why the\nitem is skipped. Incoming: the changes a replica would make, field by field: the one last\nreceived for the item, or --sample.",
				Example: "tandem rules test Red out TDM-12\ntandem rules test Red in TDM-12 --sample replica.json --file incoming.go",
				Data:    dataExisting, JSON: true, Check: checkRule,
				Setup: func(fs *flag.FlagSet) runFunc {
					version := fs.Int("version", 0, "the saved `version` to try (default: the live one)")
					file := fs.String("file", "", "a model or script `file` to try instead of a saved version")
					sample := fs.String("sample", "", "a replica in JSON (`file`) to apply, for an incoming rule")
					return func(ctx context.Context, c *invocation) error { return rulesTest(ctx, c, *version, *file, *sample) }
				},
			},
			{
				Name: "compare", Args: "CONNECTION out|in FROM TO",
				Summary: "the source diff and the mapping changes from one version to another",
				Example: "tandem rules compare Red out 2 3", Data: dataExisting, JSON: true,
				Check: func(c *invocation) error {
					if err := checkRule(c); err != nil {
						return err
					}
					for _, w := range c.args[2:] {
						if _, err := versionNumber(w); err != nil {
							return usagef(c.cmd, "%s", err)
						}
					}
					return nil
				},
				Run: rulesCompare,
			},
			{
				Name: "deploy", Args: "CONNECTION out|in VERSION",
				Summary: "make a version the live rule",
				Example: "tandem rules deploy Red out 3", Data: dataExisting,
				Check: func(c *invocation) error {
					if err := checkRule(c); err != nil {
						return err
					}
					if _, err := versionNumber(c.args[2]); err != nil {
						return usagef(c.cmd, "%s", err)
					}
					return nil
				},
				Run: func(ctx context.Context, c *invocation) error {
					req := ruleRequest(c)
					req.Version, _ = versionNumber(c.args[2])
					var v agent.RuleVersion
					if err := c.call(ctx, "rules.deploy", req, &v); err != nil {
						return err
					}
					c.printf("Deployed %s rule version %d of %s: the next change uses it.\n", v.Direction, v.Number, partnerNamer(ctx, c)(v.Connection))
					return nil
				},
			},
			{
				Name: "rollback", Args: "CONNECTION out|in",
				Summary: "go back to the version live before the current one",
				Example: "tandem rules rollback Red out", Data: dataExisting, Check: checkRule,
				Run: func(ctx context.Context, c *invocation) error {
					var v agent.RuleVersion
					if err := c.call(ctx, "rules.rollback", ruleRequest(c), &v); err != nil {
						return err
					}
					c.printf("Rolled the %s rule of %s back to version %d (%s).\n", v.Direction, partnerNamer(ctx, c)(v.Connection), v.Number, orNone(v.Note))
					return nil
				},
			},
			{
				Name: "vault", Args: "CONNECTION [purge]",
				Summary: "count, or forget, the tokens a connection's rules issued",
				Example: "tandem rules vault Red\ntandem rules vault Red purge", Data: dataExisting, JSON: true,
				Check: func(c *invocation) error {
					if len(c.args) == 2 && c.args[1] != "purge" {
						return usagef(c.cmd, "the vault's only action is purge, not %q.", c.args[1])
					}
					return nil
				},
				Run: func(ctx context.Context, c *invocation) error {
					req := agent.VaultRequest{Connection: c.args[0], Purge: len(c.args) == 2}
					var res agent.VaultResult
					if err := c.call(ctx, "rules.vault", req, &res); err != nil {
						return err
					}
					switch {
					case c.json:
						return c.printJSON(res)
					case req.Purge:
						c.printf("Forgot %d tokens of %s; tokens the partner still holds no longer resolve here.\n", res.Tokens, req.Connection)
					default:
						c.printf("%s: %d tokens in the vault.\n", req.Connection, res.Tokens)
					}
					return nil
				},
			},
		},
	}
}

func orNone(s string) string {
	if s == "" {
		return "no note"
	}
	return s
}

func rulesShow(ctx context.Context, c *invocation, conn string) error {
	var list []agent.RulesSummary
	if err := c.call(ctx, "rules.show", agent.RulesShowRequest{Connection: conn}, &list); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(list)
	}
	if len(list) == 0 {
		c.printf("No connections yet: pair with a partner first (tandem invite, tandem accept).\n")
		return nil
	}
	for _, s := range list {
		c.printf("%s with %s (%s), %d tokens in the vault\n", s.Connection, s.PartnerName, s.State, s.VaultTokens)
		for _, v := range []struct {
			rv    agent.RuleVersion
			total int
		}{{s.Outgoing, s.OutgoingTotal}, {s.Incoming, s.IncomingTotal}} {
			c.printf("  %s: version %d of %d, %s, by %s on %s (%s)\n", v.rv.Direction, v.rv.Number, v.total, modeWords(v.rv), v.rv.Author,
				v.rv.Created.Local().Format("2006-01-02 15:04"), orNone(v.rv.Note))
			for _, line := range ruleLines(v.rv) {
				c.printf("    %s\n", line)
			}
		}
	}
	return nil
}

func rulesVersions(ctx context.Context, c *invocation) error {
	req := ruleRequest(c)
	var res agent.RuleVersionsResult
	if err := c.call(ctx, "rules.versions", agent.RuleVersionsRequest{Connection: req.Connection, Direction: req.Direction, Limit: 50}, &res); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(res)
	}
	w := c.table()
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
		c.printf("(%d older versions not shown)\n", res.Total-len(res.Versions))
	}
	c.printf("\nDeployments, newest first:\n")
	for _, d := range res.Deployments {
		from := ""
		if d.From != 0 {
			from = fmt.Sprintf(" (was %d)", d.From)
		}
		c.printf("  %s  %-8s version %d%s by %s\n", d.At.Local().Format("2006-01-02 15:04:05"), d.Action, d.Version, from, d.Author)
	}
	return nil
}

func rulesExport(ctx context.Context, c *invocation, out, format string, version int) error {
	req := ruleRequest(c)
	req.Version = version
	var v agent.RuleVersion
	if err := c.call(ctx, "rules.version", req, &v); err != nil {
		return err
	}
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
		return usagef(c.cmd, "the format is model or script, not %q.", format)
	}
	if out == "" || out == "-" {
		_, err := c.out.Write(data)
		return err
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return err
	}
	c.printf("Wrote %s rule version %d (%s) of %s to %s.\n", v.Direction, v.Number, format, partnerNamer(ctx, c)(v.Connection), out)
	return nil
}

func rulesImport(ctx context.Context, c *invocation, note string, deploy bool) error {
	req, path := ruleRequest(c), c.args[2]
	d, err := readDraft(path)
	if err != nil {
		return err
	}
	d.Note = note
	if d.Note == "" {
		d.Note = "imported from " + path
	}
	var v agent.RuleVersion
	if err := c.call(ctx, "rules.save", agent.RuleSaveRequest{Connection: req.Connection, Direction: req.Direction, Draft: d, Deploy: deploy}, &v); err != nil {
		return err
	}
	if v.CompileError != "" {
		return fmt.Errorf("saved %s rule version %d as a draft, but it does not compile, so it cannot be deployed: %s", v.Direction, v.Number, v.CompileError)
	}
	conn := partnerNamer(ctx, c)(v.Connection)
	c.printf("Saved %s rule version %d of %s (%s).\n", v.Direction, v.Number, conn, v.Mode)
	if deploy {
		c.printf("Deployed version %d: the next change uses it.\n", v.Number)
		return nil
	}
	arg := shellWord(conn)
	c.printf("Try it with tandem rules test %s %s ITEM --version %d, then tandem rules deploy %s %s %d.\n", arg, v.Direction, v.Number, arg, v.Direction, v.Number)
	return nil
}

func rulesTest(ctx context.Context, c *invocation, version int, file, sample string) error {
	req := ruleRequest(c)
	var d agent.RuleDraft
	what := "the live version"
	switch {
	case file != "" && version != 0:
		return usagef(c.cmd, "test takes --version or --file, not both.")
	case file != "":
		var err error
		if d, err = readDraft(file); err != nil {
			return err
		}
		what = file
	case version != 0:
		req.Version = version
		var v agent.RuleVersion
		if err := c.call(ctx, "rules.version", req, &v); err != nil {
			return err
		}
		d = agent.RuleDraft{Mode: v.Mode, Model: v.Model, Source: v.Source}
		what = fmt.Sprintf("version %d", v.Number)
	}
	in := agent.RuleTestInput{ItemKey: c.args[2]}
	if sample != "" {
		data, err := os.ReadFile(sample)
		if err != nil {
			return err
		}
		var rep item.Replica
		if err := json.Unmarshal(data, &rep); err != nil {
			return fmt.Errorf("sample %s is not a replica in JSON: %w", sample, err)
		}
		in.Replica = &rep
	}
	var res agent.RuleTestResult
	if err := c.call(ctx, "rules.test", agent.RuleTestRequest{Connection: req.Connection, Direction: req.Direction, Draft: d, Input: in}, &res); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(res)
	}
	printTest(c.out, res, what)
	return nil
}

func rulesCompare(ctx context.Context, c *invocation) error {
	req := ruleRequest(c)
	from, _ := versionNumber(c.args[2])
	to, _ := versionNumber(c.args[3])
	var cmp agent.RuleComparison
	if err := c.call(ctx, "rules.compare", agent.RuleCompareRequest{Connection: req.Connection, Direction: req.Direction, From: from, To: to}, &cmp); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(cmp)
	}
	c.printf("%s rule of %s, version %d → %d:\n", req.Direction, partnerNamer(ctx, c)(cmp.From.Connection), from, to)
	for _, s := range cmp.Summary {
		c.printf("  %s\n", s)
	}
	c.printf("\n%s", srcdiff.Unified(cmp.Diff, fmt.Sprintf("%s v%d", req.Direction, from), fmt.Sprintf("%s v%d", req.Direction, to), 3))
	return nil
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

// printTest writes a test run's result for people.
func printTest(w io.Writer, res agent.RuleTestResult, what string) {
	fmt.Fprintf(w, "Test run of the %s rule (%s) on %s; nothing was sent or written.\n", res.Direction, what, orNone(res.ItemKey))
	if res.FirstSync {
		fmt.Fprintln(w, "This would be the item's first sync.")
	}
	if res.FromReceived {
		fmt.Fprintln(w, "Applied the replica last received from the partner for this item.")
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

// shellWord quotes s for a POSIX shell when it holds anything but letters, digits and
// -._/:@, so a command Tandem suggests can be pasted as it is ("Red Support" has a space).
func shellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._/:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
