package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runCLI runs a command line in this process and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := execute(context.Background(), rootCommand(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// allCommands lists every command of the table, depth first.
func allCommands(c *command) []*command {
	out := []*command{c}
	for _, s := range c.Subs {
		out = append(out, allCommands(s)...)
	}
	return out
}

func words(c *command) []string {
	return strings.Fields(c.path())[1:]
}

// Every command has its own help, reached three ways, with its usage, its own flags and an
// example, and each exits 0.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range allCommands(rootCommand()) {
		w := words(c)
		for _, args := range [][]string{
			append(slices.Clone(w), "--help"),
			append(slices.Clone(w), "-h"),
			append([]string{"help"}, w...),
		} {
			code, out, errOut := runCLI(t, args...)
			if code != exitOK || errOut != "" {
				t.Errorf("tandem %s: exit %d, stderr %q; want 0 and nothing", strings.Join(args, " "), code, errOut)
				continue
			}
			if !strings.Contains(out, "Usage:\n  "+c.path()) {
				t.Errorf("tandem %s: help lacks the usage line %q:\n%s", strings.Join(args, " "), c.path(), out)
			}
			if c.Example == "" || !strings.Contains(out, "Examples:\n  tandem") {
				t.Errorf("tandem %s: help has no example:\n%s", strings.Join(args, " "), out)
			}
			fs, _ := c.flags(&invocation{})
			fs.VisitAll(func(f *flag.Flag) {
				if !strings.Contains(out, "  "+flagName(f.Name)+" ") {
					t.Errorf("tandem %s: help does not list its flag %s:\n%s", strings.Join(args, " "), flagName(f.Name), out)
				}
			})
		}
	}
	// The root help lists every command.
	_, out, _ := runCLI(t, "--help")
	for _, c := range rootCommand().Subs {
		if !strings.Contains(out, "\n  "+c.Name) {
			t.Errorf("tandem --help does not list %s:\n%s", c.Name, out)
		}
	}
	for _, want := range []string{"Exit status: 0 done, 1 failed, 2 wrong usage", "--data-dir", "--version"} {
		if !strings.Contains(out, want) {
			t.Errorf("tandem --help lacks %q:\n%s", want, out)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}, {"-version"}} {
		code, out, _ := runCLI(t, args...)
		if code != exitOK || !strings.HasPrefix(out, "tandem 0.") || !strings.Contains(out, "protocol") {
			t.Errorf("tandem %s: exit %d, %q; want 0 and the version", args[0], code, out)
		}
	}
}

func TestUnknownCommandsAndFlagsSuggest(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"conections"}, []string{`unknown command "conections"`, "Did you mean connections?"}},
		{[]string{"serv"}, []string{`unknown command "serv"`, "Did you mean serve?"}},
		{[]string{"xyzzy"}, []string{`unknown command "xyzzy"`, "tandem --help"}},
		{[]string{"queue", "retyr"}, []string{`tandem queue has no command "retyr"`, "Did you mean tandem queue retry?"}},
		{[]string{"queue", "--stat", "failed"}, []string{"tandem queue has no flag --stat", "Did you mean --state?"}},
		{[]string{"invite", "--expire", "2h"}, []string{"no flag --expire", "Did you mean --expires?"}},
		{[]string{"serve", "--data-dri", "/x"}, []string{"no flag --data-dri", "Did you mean --data-dir?"}},
		{[]string{"queue", "--limit", "many"}, []string{`invalid value "many" for --limit`}},
		{[]string{"queue", "--limit"}, []string{"--limit needs a value"}},
		{[]string{"accept"}, []string{"tandem accept: missing CODE", "Usage: tandem accept CODE"}},
		{[]string{"queue", "retry", "Red"}, []string{"missing out|in and SEQ"}},
		{[]string{"serve", "now"}, []string{`tandem serve takes no words, but got "now"`}},
		{[]string{"accept", "a", "b"}, []string{`unexpected "b"`}},
		{[]string{"help", "qeue"}, []string{`there is no command "qeue"`, "Did you mean queue?"}},
		{[]string{"connections", "revoke", "Red", "--data-dir", "/nonexistent-tandem"}, []string{"--keep-queued"}},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != exitUsage {
			t.Errorf("tandem %s: exit %d (stdout %q, stderr %q), want %d", strings.Join(tc.args, " "), code, out, errOut, exitUsage)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("tandem %s: stderr %q lacks %q", strings.Join(tc.args, " "), errOut, w)
			}
		}
		if strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
			t.Errorf("tandem %s: %q is more than a sentence and a pointer to help", strings.Join(tc.args, " "), errOut)
		}
	}
}

func TestFlagsStandAnywhere(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, nil, 0o600)
	// A data directory that is a file is refused before anything runs: whichever order the
	// flags and words come in, the command must have seen --data-dir to say so.
	for _, args := range [][]string{
		{"--data-dir", file, "accept", "tandem1-abc"},
		{"accept", "tandem1-abc", "--data-dir", file},
		{"accept", "--data-dir=" + file, "tandem1-abc"},
		{"--data-dir", file, "queue", "retry", "Red", "out", "7"},
		{"queue", "retry", "Red", "--data-dir", file, "out", "7"},
		{"connections", "--data-dir", file, "pause", "Red"},
	} {
		code, _, errOut := runCLI(t, args...)
		if code != exitError || !strings.Contains(errOut, "is a file, not a directory") {
			t.Errorf("tandem %s: exit %d, %q; want 1 and the data directory refused", strings.Join(args, " "), code, errOut)
		}
	}
	c := rootCommand()
	if _, max := c.sub("help").argCounts(); max != -1 {
		t.Errorf("help takes any number of words, got max %d", max)
	}
	for args, want := range map[string][2]int{"": {0, 0}, "CODE": {1, 1}, "CONNECTION [CODE]": {1, 2}, "CONNECTION [RANGE...]": {1, -1}, "[DAYS]": {0, 1}, "CONNECTION out|in SEQ": {3, 3}} {
		req, max := (&command{Args: args}).argCounts()
		if len(req) != want[0] || max != want[1] {
			t.Errorf("argCounts(%q) = %d required, max %d; want %v", args, len(req), max, want)
		}
	}
}

// Commands that only read (or act on an agent that must exist) never create a data
// directory: they say there is no agent there instead.
func TestReadOnlyCommandsCreateNoDataDir(t *testing.T) {
	n := 0
	for _, c := range allCommands(rootCommand()) {
		if c.Data != dataExisting {
			continue
		}
		n++
		dir := filepath.Join(t.TempDir(), "none")
		args := append(words(c), "--data-dir", dir)
		req, _ := c.argCounts()
		for _, r := range req {
			word, ok := map[string]string{"out|in": "out", "SEQ": "1", "on|off": "on", "VERSION": "1", "FROM": "1", "TO": "2"}[r]
			if !ok {
				word = "Red"
			}
			args = append(args, word)
		}
		if c.Name == "revoke" {
			args = append(args, "--keep-queued")
		}
		code, _, errOut := runCLI(t, args...)
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("tandem %s created the data directory", strings.Join(args, " "))
		}
		if code == exitOK || !strings.Contains(errOut, "no agent has used") {
			t.Errorf("tandem %s: exit %d, %q; want an error saying no agent is there", strings.Join(args, " "), code, errOut)
		}
	}
	if n < 8 {
		t.Errorf("only %d commands declare that they need an existing agent", n)
	}
}

func TestBadDataDirectories(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	os.WriteFile(file, nil, 0o600)
	for _, tc := range []struct {
		dir, want string
	}{
		{file, "is a file, not a directory; give a directory with --data-dir DIR"},
		{filepath.Join(file, "sub"), "cannot be made: " + file + " is a file"},
	} {
		code, _, errOut := runCLI(t, "serve", "--data-dir", tc.dir)
		if code != exitError || !strings.Contains(errOut, tc.want) {
			t.Errorf("serve --data-dir %s: exit %d, %q; want 1 and %q", tc.dir, code, errOut, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"connections", "queue", "history", "invite", "invitations"}
	for word, want := range map[string]string{"queu": "queue", "histroy": "history", "invitaions": "invitations", "zzz": ""} {
		got := suggest(word, names, "")
		if want == "" && got != "" || want != "" && got != " Did you mean "+want+"?" {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
}
