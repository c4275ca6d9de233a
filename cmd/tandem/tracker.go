package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/tandemsync/tandem/core/agent"
)

func trackerCommand() *command {
	run := func(verb string) runFunc {
		return func(ctx context.Context, c *invocation) error {
			return runTracker(ctx, c.af.options(), append([]string{verb}, c.args...), c.in, c.out)
		}
	}
	return &command{
		Name:    "tracker",
		Summary: "show, change or test which tracker the agent syncs",
		Help:    trackerHelp,
		Example: "tandem tracker\ntandem tracker fields\ntandem tracker set rt url=https://rt.acme.example queues=Support\ntandem tracker test",
		Data:    dataExisting,
		Run:     run("show"),
		Subs: []*command{
			{Name: "set", Args: "KIND [KEY=VALUE...]", Summary: "change the tracker settings (secrets from a prompt or standard input)",
				Help: trackerHelp, Example: "tandem tracker set rt url=https://rt.acme.example queues=Support,Billing\nprintf 'token=%s\\n' \"$RT_TOKEN\" | tandem tracker set rt url=https://rt.acme.example queues=Support",
				Data: dataCreate, Run: run("set")},
			{Name: "test", Args: "[KIND [KEY=VALUE...]]", Summary: "check the saved settings (or the ones given) against the tracker",
				Help: trackerHelp, Example: "tandem tracker test\ntandem tracker test github repo=acme/support", Data: dataExisting, Run: run("test")},
			{Name: "fields", Summary: "list each tracker kind's fields", Example: "tandem tracker fields", Run: run("fields")},
		},
	}
}

const trackerUsage = "usage: tandem tracker [set|test KIND KEY=VALUE...|fields]; tandem help tracker says more"

const trackerHelp = `KEY=VALUE sets a field of KIND's settings (tandem tracker fields lists them), and
poll=SECONDS, rpm=REQUESTS-PER-MINUTE, timeout=SECONDS. Secrets are never taken from the
command line: on a terminal Tandem asks for each (empty keeps the one in the keychain); from a
pipe it reads KEY=VALUE lines, or the whole input as the first secret field the settings need.`

// runTracker shows, sets and tests the tracker settings of an agent: through its control
// socket when the agent runs (the app or tandem serve), else on its data directory.
func runTracker(ctx context.Context, opt agent.Options, args []string, stdin io.Reader, stdout io.Writer) error {
	verb := "show"
	if len(args) > 0 {
		verb, args = args[0], args[1:]
	}
	if verb == "fields" {
		return printFields(stdout)
	}
	var view agent.TrackerView
	if err := agent.Call(ctx, opt, "tracker.get", agent.None{}, &view); err != nil {
		return err
	}
	cur := view.Settings
	switch verb {
	case "show":
		if len(args) > 0 {
			return errors.New(trackerUsage)
		}
		return showTracker(view, stdout)
	case "set", "test":
		req := agent.TrackerRequest{Settings: cur}
		if len(args) > 0 || verb == "set" {
			s, err := trackerArgs(cur, args)
			if err != nil {
				return err
			}
			secrets, err := readSecrets(s, stdin, stdout)
			if err != nil {
				return err
			}
			req = agent.TrackerRequest{Settings: s, Secrets: secrets}
		}
		if verb == "test" {
			var check agent.TrackerCheck
			if err := agent.Call(ctx, opt, "tracker.test", req, &check); err != nil {
				return err
			}
			return printCheck(stdout, check)
		}
		if err := agent.Call(ctx, opt, "tracker.set", req, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Saved: this agent syncs %s.\nRun tandem tracker test to check it against the tracker.\n", req.Settings.Describe())
		return nil
	}
	return fmt.Errorf("unknown tracker command %q\n%s", verb, trackerUsage)
}

func connectorOf(kind string) (agent.ConnectorInfo, error) {
	var kinds []string
	for _, c := range agent.Registry() {
		if c.Kind == kind {
			return c, nil
		}
		kinds = append(kinds, c.Kind)
	}
	return agent.ConnectorInfo{}, fmt.Errorf("unknown tracker kind %q: choose one of %s", kind, strings.Join(kinds, ", "))
}

// trackerArgs reads KIND KEY=VALUE...: values of the same kind start from the saved ones.
func trackerArgs(cur agent.TrackerSettings, args []string) (agent.TrackerSettings, error) {
	if len(args) == 0 {
		return cur, errors.New("name the tracker kind: " + trackerUsage)
	}
	c, err := connectorOf(args[0])
	if err != nil {
		return cur, err
	}
	s := agent.TrackerSettings{Kind: c.Kind, Values: map[string]string{}}
	if cur.Kind == c.Kind {
		s = cur
		s.Values = map[string]string{}
		for k, v := range cur.Values {
			s.Values[k] = v
		}
	}
	for _, f := range c.Fields {
		if _, ok := s.Values[f.Key]; !ok && f.Default != "" && !f.IsSecret() {
			s.Values[f.Key] = f.Default
		}
	}
	for _, kv := range args[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return s, fmt.Errorf("%q is not KEY=VALUE", kv)
		}
		switch k {
		case "poll", "timeout":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return s, fmt.Errorf("%s %q: enter whole seconds above zero", k, v)
			}
			if k == "poll" {
				s.Poll = time.Duration(n) * time.Second
			} else {
				s.Timeout = time.Duration(n) * time.Second
			}
			continue
		case "rpm":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return s, fmt.Errorf("rpm %q: enter requests per minute, 0 for unlimited", v)
			}
			s.RequestsPerMinute = n
			continue
		}
		f, ok := fieldOf(c, k)
		switch {
		case !ok:
			return s, fmt.Errorf("%s has no setting %q; its settings: %s", c.Label, k, fieldKeys(c))
		case f.IsSecret():
			return s, fmt.Errorf("%s is a secret: it is read from standard input or a prompt, never from the command line (which other users and the shell history can see)", k)
		case len(f.Choices) > 0 && !contains(f.Choices, v):
			return s, fmt.Errorf("%s %q is not one of %s", k, v, strings.Join(f.Choices, ", "))
		}
		s.Values[k] = v
	}
	return s, nil
}

func fieldOf(c agent.ConnectorInfo, key string) (agent.SettingsField, bool) {
	for _, f := range c.Fields {
		if f.Key == key {
			return f, true
		}
	}
	return agent.SettingsField{}, false
}

func fieldKeys(c agent.ConnectorInfo) string {
	var keys []string
	for _, f := range c.Fields {
		keys = append(keys, f.Key)
	}
	return strings.Join(append(keys, "poll", "rpm", "timeout"), ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// readSecrets asks for the secret fields that apply: on a terminal one by one without echo;
// from a pipe as KEY=VALUE lines (a PEM value runs to its END line), or the whole input as
// the first required secret.
func readSecrets(s agent.TrackerSettings, stdin io.Reader, stdout io.Writer) (map[string]string, error) {
	c, err := connectorOf(s.Kind)
	if err != nil {
		return nil, err
	}
	var fields []agent.SettingsField
	for _, f := range c.Fields {
		if f.IsSecret() && f.Applies(s.Values) {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		for _, fd := range fields {
			fmt.Fprintf(stdout, "%s %s (empty keeps the one in the keychain): ", c.Label, strings.ToLower(fd.Label))
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(stdout)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", fd.Key, err)
			}
			if v := strings.TrimSpace(string(b)); v != "" {
				out[fd.Key] = v
			}
		}
		return out, nil
	}
	data, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read secrets from standard input: %w", err)
	}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return nil, nil
	}
	isKey := func(line string) (agent.SettingsField, string, bool) {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return agent.SettingsField{}, "", false
		}
		for _, f := range fields {
			if f.Key == strings.TrimSpace(k) {
				return f, v, true
			}
		}
		return agent.SettingsField{}, "", false
	}
	lines := strings.Split(text, "\n")
	if _, _, ok := isKey(lines[0]); !ok {
		for _, f := range fields {
			if f.Required {
				out[f.Key] = text
				return out, nil
			}
		}
		out[fields[0].Key] = text
		return out, nil
	}
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		f, v, ok := isKey(line)
		if !ok {
			k, _, _ := strings.Cut(line, "=")
			return nil, fmt.Errorf("standard input line %d: %q is not a secret of these settings (%s)", i+1, k, secretKeys(fields))
		}
		if strings.HasPrefix(v, "-----BEGIN") {
			for !strings.HasPrefix(strings.TrimSpace(lines[i]), "-----END") && i+1 < len(lines) {
				i++
				v += "\n" + strings.TrimRight(lines[i], "\r")
			}
		}
		out[f.Key] = v
	}
	return out, nil
}

func secretKeys(fs []agent.SettingsField) string {
	var keys []string
	for _, f := range fs {
		keys = append(keys, f.Key)
	}
	return strings.Join(keys, ", ")
}

func showTracker(view agent.TrackerView, w io.Writer) error {
	s := view.Settings
	c, err := connectorOf(s.Kind)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "tracker\t%s (%s)\n", c.Label, c.Kind)
	for _, f := range c.Fields {
		if !f.Applies(s.Values) {
			continue
		}
		v := s.Values[f.Key]
		if f.IsSecret() {
			v = "not in the keychain"
			if view.Stored[f.Key] {
				v = "kept in the keychain"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\n", f.Key, v)
	}
	if c.Remote {
		poll := "10 (default)"
		if s.Poll > 0 {
			poll = strconv.Itoa(int(s.Poll.Seconds()))
		}
		rpm := "unlimited"
		if s.RequestsPerMinute > 0 {
			rpm = strconv.Itoa(s.RequestsPerMinute)
		}
		fmt.Fprintf(tw, "poll\t%s seconds\nrpm\t%s\n", poll, rpm)
	}
	return tw.Flush()
}

func printCheck(w io.Writer, c agent.TrackerCheck) error {
	if len(c.Found) > 0 {
		defer fmt.Fprintf(w, "%s found: %s\n", c.Scope, strings.Join(c.Found, ", "))
	}
	if len(c.Missing) > 0 {
		defer fmt.Fprintf(w, "missing or hidden from this account: %s\n", strings.Join(c.Missing, ", "))
	}
	if !c.OK {
		return errors.New(c.Summary)
	}
	fmt.Fprintln(w, "OK:", c.Summary)
	return nil
}

func printFields(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tKEY\tWHAT")
	for _, c := range agent.Registry() {
		if len(c.Fields) == 0 {
			fmt.Fprintf(tw, "%s\t\t%s: no settings\n", c.Kind, c.Label)
		}
		for _, f := range c.Fields {
			what := f.Label
			if f.IsSecret() {
				what += " (secret: from standard input or a prompt)"
			}
			if len(f.Choices) > 0 {
				what += " (" + strings.Join(f.Choices, " | ") + ")"
			}
			if f.ShowWhen != nil {
				what += fmt.Sprintf(" [when %s=%s]", f.ShowWhen.Key, strings.Join(f.ShowWhen.Values, "|"))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Kind, f.Key, what)
		}
	}
	return tw.Flush()
}
