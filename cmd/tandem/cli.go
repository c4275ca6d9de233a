package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/tandemsync/tandem/core/agent"
)

// The command line's shape: every command is a *command in the table (commands.go's
// commandTable), declaring its words, summary, flags, example and run function. Dispatch,
// per-command help, suggestions for typos, --json and the exit codes live here, once, so a new
// command is one table entry:
//
//	{Name: "frobnicate", Args: "CONNECTION", Summary: "frobnicate a connection",
//	 Example: "tandem frobnicate Red", Data: dataCreate, JSON: true,
//	 Setup: func(fs *flag.FlagSet) runFunc {
//	 	hard := fs.Bool("hard", false, "frobnicate hard")
//	 	return func(ctx context.Context, c *invocation) error { ...c.args[0], *hard, c.af... }
//	 }},
//
// A command with no flags of its own sets Run instead of Setup. Subs makes a command a group
// (tandem queue retry ...); the group's own Run, if any, is what the bare word does.

// Exit codes, as tandem help documents them.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // the command line was wrong: unknown command or flag, missing word
)

// runFunc runs a command once its flags are parsed.
type runFunc func(ctx context.Context, c *invocation) error

// dataUse says what a command does with a data directory, and so which agent flags it takes.
type dataUse int

const (
	dataNone     dataUse = iota // no data directory
	dataExisting                // works on an agent that exists and never creates one: --data-dir only
	dataCreate                  // may create the agent on first use: --data-dir, --listen, --url, --name
)

type command struct {
	Name    string
	Aliases []string
	// Args are the words the command takes, as its usage line shows them: "CODE",
	// "CONNECTION [CODE]", "[RANGE...]". Words in brackets are optional and "..." repeats;
	// the count of words is checked against it before Run.
	Args    string
	Summary string // one line, lower case, for the list of commands
	Help    string // more, for the command's own help; optional
	Example string // one command per line
	Data    dataUse
	JSON    bool // offers --json: output a script parses
	Setup   func(fs *flag.FlagSet) runFunc
	Run     runFunc
	// Check, when set, checks the words and flags before anything else is looked at (the data
	// directory included); its usageError is the answer to a wrong command line.
	Check  func(c *invocation) error
	Subs   []*command
	Hidden bool
	parent *command
}

// invocation is one run of a command: its words after the flags, the flags every command
// shares, and where it writes.
type invocation struct {
	cmd  *command
	args []string
	af   agentFlags
	json bool
	out  io.Writer
	err  io.Writer
	in   io.Reader
}

// usageError is a wrong command line: exit code 2, with a pointer to the command's help.
type usageError struct {
	cmd *command
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(cmd *command, format string, a ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, a...)}
}

// path is the command as typed: "tandem queue retry".
func (c *command) path() string {
	if c.parent == nil {
		return c.Name
	}
	return c.parent.path() + " " + c.Name
}

func (c *command) runnable() bool { return c.Run != nil || c.Setup != nil }

func (c *command) sub(name string) *command {
	for _, s := range c.Subs {
		if s.Name == name || slices.Contains(s.Aliases, name) {
			return s
		}
	}
	return nil
}

// link sets every sub-command's parent.
func link(c *command) *command {
	for _, s := range c.Subs {
		s.parent = c
		link(s)
	}
	return c
}

// argCounts derives how many words Args allows: required words are those outside brackets;
// "..." means any number more. max is -1 for no limit.
func (c *command) argCounts() (required []string, max int) {
	depth := 0
	for _, tok := range strings.Fields(c.Args) {
		open := depth == 0 && strings.HasPrefix(tok, "[")
		depth += strings.Count(tok, "[") - strings.Count(tok, "]")
		if strings.Contains(tok, "...") {
			max = -1
		} else if max >= 0 && (open || depth == 0) {
			max++
		}
		if !open && depth == 0 && !strings.Contains(tok, "]") {
			required = append(required, tok)
		}
	}
	return required, max
}

// flags builds the command's flag set: the shared ones its Data and JSON ask for, then its own.
func (c *command) flags(inv *invocation) (*flag.FlagSet, runFunc) {
	fs := flag.NewFlagSet(c.path(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	passphrase := func() {
		fs.StringVar(&inv.af.passphraseFile, "passphrase-file", "", "read the secrets file's passphrase from this `file` (else $"+passphraseEnv+")")
	}
	switch c.Data {
	case dataExisting:
		fs.StringVar(&inv.af.dir, "data-dir", defaultDataDir(), "the agent's data `directory`")
		passphrase()
	case dataCreate:
		fs.BoolVar(&inv.af.secretsFile, "secrets-file", false, "keep the secrets in a passphrase-encrypted file in the data directory instead of\nthe OS keychain (a server without a desktop session); once it exists, every command uses it")
		passphrase()
		fs.StringVar(&inv.af.dir, "data-dir", defaultDataDir(), "the agent's data `directory`, made on first use")
		fs.StringVar(&inv.af.listen, "listen", "", "the `address` partners connect to, kept for next time (first use: "+defaultListen+";\n\"off\" for none: the agent then pulls its partners' events)")
		fs.StringVar(&inv.af.url, "url", "", "the `URL` partners use when it differs from https://ADDRESS, kept for next time")
		fs.StringVar(&inv.af.name, "name", "", "the `name` partners see, kept for next time")
	}
	if c.JSON {
		fs.BoolVar(&inv.json, "json", false, "print JSON for scripts instead of text")
	}
	run := c.Run
	if c.Setup != nil {
		run = c.Setup(fs)
	}
	return fs, run
}

// valueFlags is every flag of c and its sub-commands that takes a value, so the words can be
// told from flag values before the command is known ("tandem --data-dir D queue").
func valueFlags(c *command, into map[string]bool) map[string]bool {
	if into == nil {
		into = map[string]bool{}
	}
	fs, _ := c.flags(&invocation{})
	fs.VisitAll(func(f *flag.Flag) {
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			into[f.Name] = true
		}
	})
	for _, s := range c.Subs {
		valueFlags(s, into)
	}
	return into
}

// firstWord finds the first argument that is neither a flag nor a flag's value; -1 if none.
func firstWord(args []string, takesValue map[string]bool) int {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return i + 1
			}
			return -1
		case len(a) > 1 && a[0] == '-':
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if takesValue[name] {
				i++
			}
		default:
			return i
		}
	}
	return -1
}

// parseFlags reads fs's flags wherever they stand among args, so "tandem accept CODE
// --data-dir D" works as well as the other way round, and returns the other arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		if i := len(args) - fs.NArg() - 1; i >= 0 && args[i] == "--" {
			// After "--" everything is a word, even what looks like a flag.
			return append(rest, fs.Args()...), nil
		}
		rest, args = append(rest, fs.Arg(0)), fs.Args()[1:]
	}
}

// execute runs the command line args and returns the exit code; what it prints goes to inv's
// writers.
func execute(ctx context.Context, root *command, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := dispatch(ctx, root, args, &invocation{out: stdout, err: stderr, in: stdin})
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "tandem: %s\n", ue.msg)
		if ue.cmd != nil {
			fmt.Fprintf(stderr, "Run '%s --help' for its usage.\n", ue.cmd.path())
		}
		return exitUsage
	default:
		fmt.Fprintf(stderr, "tandem: %s\n", explain(err))
		return exitError
	}
}

func dispatch(ctx context.Context, root *command, args []string, inv *invocation) error {
	takesValue := valueFlags(root, nil)
	cmd := root
	for len(cmd.Subs) > 0 {
		i := firstWord(args, takesValue)
		if i < 0 {
			break
		}
		sub := cmd.sub(args[i])
		if sub == nil {
			if _, max := cmd.argCounts(); cmd.runnable() && max != 0 {
				break // the word is the command's own argument
			}
			// An unknown flag may have taken the word for a command ("queue --stat failed").
			fs, _ := cmd.flags(&invocation{})
			if _, err := parseFlags(fs, args); err != nil && !errors.Is(err, flag.ErrHelp) {
				return flagError(cmd, fs, err)
			}
			if cmd == root {
				return usagef(nil, "unknown command %q.%s Run 'tandem --help' for the list.", args[i], suggest(args[i], subNames(cmd), ""))
			}
			return usagef(cmd, "%s has no command %q.%s", cmd.path(), args[i], suggest(args[i], subNames(cmd), cmd.path()+" "))
		}
		cmd = sub
		args = slices.Delete(slices.Clone(args), i, i+1)
	}
	inv.cmd = cmd
	fs, run := cmd.flags(inv)
	words, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(inv.out, cmd)
		return nil
	}
	if err != nil {
		return flagError(cmd, fs, err)
	}
	if run == nil {
		return usagef(cmd, "%s needs a command: %s.", cmd.path(), strings.Join(subNames(cmd), ", "))
	}
	required, max := cmd.argCounts()
	switch {
	case len(words) < len(required):
		return usagef(cmd, "%s: missing %s. Usage: %s", cmd.path(), joinAnd(required[len(words):]), usageLine(cmd))
	case max >= 0 && len(words) > max && max == 0:
		return usagef(cmd, "%s takes no words, but got %q.", cmd.path(), words[0])
	case max >= 0 && len(words) > max:
		return usagef(cmd, "%s: unexpected %q. Usage: %s", cmd.path(), words[max], usageLine(cmd))
	}
	inv.args = words
	if cmd.Check != nil {
		if err := cmd.Check(inv); err != nil {
			return err
		}
	}
	if cmd.Data != dataNone {
		if err := checkDataDir(inv.af.dir, cmd.Data == dataExisting); err != nil {
			return err
		}
	}
	return run(ctx, inv)
}

func subNames(c *command) []string {
	var names []string
	for _, s := range c.Subs {
		if !s.Hidden {
			names = append(names, s.Name)
		}
	}
	return names
}

// flagError turns the flag package's complaint into a sentence with the closest flag.
func flagError(cmd *command, fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		hint := suggest(name, names, "--")
		if hint == "" && len(names) > 0 {
			hint = " Its flags: --" + strings.Join(names, ", --") + "."
		}
		return usagef(cmd, "%s has no flag --%s.%s", cmd.path(), name, hint)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return usagef(cmd, "the flag %s needs a value, e.g. %s=VALUE.", "--"+strings.TrimLeft(name, "-"), "--"+strings.TrimLeft(name, "-"))
	}
	// invalid value "x" for flag -limit: parse error
	return usagef(cmd, "%s.", strings.Replace(strings.Replace(msg, "for flag -", "for --", 1), ": parse error", ": not a valid value", 1))
}

// suggest names the closest candidate to word, if one is close enough to be a typo.
func suggest(word string, candidates []string, prefix string) string {
	best, bestDist := "", 0
	for _, c := range candidates {
		d := editDistance(strings.ToLower(word), strings.ToLower(c))
		if strings.HasPrefix(c, word) && len(word) >= 2 {
			d = min(d, 1)
		}
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist > max(2, len(word)/3) {
		return ""
	}
	return fmt.Sprintf(" Did you mean %s%s?", prefix, best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func joinAnd(words []string) string {
	if len(words) <= 1 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

func usageLine(c *command) string {
	line := c.path()
	if len(c.Subs) > 0 && !c.runnable() {
		line += " COMMAND"
	} else if len(c.Subs) > 0 {
		line += " [COMMAND]"
	}
	if c.Args != "" {
		line += " " + c.Args
	}
	fs, _ := c.flags(&invocation{})
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		line += " [flags]"
	}
	return line
}

// printHelp writes a command's own help: what it does, its usage, its commands, its flags
// and an example.
func printHelp(w io.Writer, c *command) {
	summary := c.Summary
	if c.parent == nil {
		summary = rootSummary
	}
	fmt.Fprintf(w, "%s\n\nUsage:\n  %s\n", capitalize(summary), usageLine(c))
	if c.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Help))
	}
	if names := subNames(c); len(names) > 0 {
		fmt.Fprintln(w, "\nCommands:")
		tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		for _, s := range c.Subs {
			if !s.Hidden {
				fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(s.Name+" "+s.Args), s.Summary)
			}
		}
		tw.Flush()
	}
	fs, _ := c.flags(&invocation{})
	fmt.Fprintln(w, "\nFlags:")
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		value, usage := flag.UnquoteUsage(f)
		if value == "value" || value == "" {
			value = ""
		} else {
			value = " " + strings.ToUpper(value)
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			def = " (default " + f.DefValue + ")"
		}
		lines := strings.Split(usage+def, "\n")
		fmt.Fprintf(tw, "  %s%s\t%s\n", flagName(f.Name), value, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(tw, "  \t%s\n", l)
		}
	})
	fmt.Fprintf(tw, "  -h, --help\tthis help\n")
	tw.Flush()
	if c.Example != "" {
		fmt.Fprintln(w, "\nExamples:")
		for _, line := range strings.Split(strings.TrimSpace(c.Example), "\n") {
			fmt.Fprintf(w, "  %s\n", strings.TrimSpace(line))
		}
	}
	if c.parent == nil {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(rootFooter))
		return
	}
	fmt.Fprintln(w, "\nExit status: 0 done, 1 failed, 2 wrong usage.")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + map[bool]string{true: "", false: "."}[strings.HasSuffix(s, ".")]
}

// printJSON writes v as indented JSON, the form --json promises.
func (c *invocation) printJSON(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table starts a tab-aligned table on the command's output.
func (c *invocation) table() *tabwriter.Writer {
	return tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
}

func (c *invocation) printf(format string, a ...any) { fmt.Fprintf(c.out, format, a...) }

// call runs a control method on the command's agent (see core/agent.Call).
func (c *invocation) call(ctx context.Context, method string, req, res any) error {
	return agent.Call(ctx, c.af.options(), method, req, res)
}

// checkDataDir refuses a data directory that is a file or not writable, in words that say
// what to do; a command that only reads also refuses one that holds no agent yet, instead of
// creating it.
func checkDataDir(dir string, mustExist bool) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("data directory %q: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("the data directory %s is a file, not a directory; give a directory with --data-dir DIR", abs)
	case err == nil:
		if !writable(abs) {
			return fmt.Errorf("the data directory %s is not writable by this user; fix its owner or mode (chown, chmod), or give another with --data-dir DIR", abs)
		}
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		if mustExist {
			return fmt.Errorf("no agent has used %s yet (it holds no Tandem database); start one there with tandem or tandem serve, or name the right directory with --data-dir DIR", abs)
		}
		// Created on first use: its nearest existing parent must be writable.
		parent := filepath.Dir(abs)
		for {
			if pfi, err := os.Stat(parent); err == nil {
				if !pfi.IsDir() {
					return fmt.Errorf("the data directory %s cannot be made: %s is a file; give another with --data-dir DIR", abs, parent)
				}
				if !writable(parent) {
					return fmt.Errorf("the data directory %s cannot be made: %s is not writable by this user; give another with --data-dir DIR", abs, parent)
				}
				break
			}
			if parent == filepath.Dir(parent) {
				break
			}
			parent = filepath.Dir(parent)
		}
		return nil
	default:
		return fmt.Errorf("the data directory %s cannot be read: %w", abs, err)
	}
	if mustExist {
		if _, err := os.Stat(filepath.Join(abs, storeFileName)); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no agent has used %s yet (it holds no Tandem database); start one there with tandem or tandem serve, or name the right directory with --data-dir DIR", abs)
		}
	}
	return nil
}

// flagName is how a flag is written: -o for a one-letter flag, as the examples write it, else
// --name.
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}
