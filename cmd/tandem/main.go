// Command tandem runs a Tandem agent: the desktop app by default, or headless subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/tandemsync/tandem/core/agent"
)

const usage = `Tandem keeps issues in sync between two companies' trackers, agent to agent.

Usage:
  tandem [flags]                 open the desktop app on the default data directory
  tandem serve [flags]           run the agent headless
  tandem demo [--headless]       two agents, Blue and Red, paired over loopback
  tandem invite [--expires 24h]  print an invitation code for a partner
  tandem invitations [cancel ID] list the invitations, or cancel one
  tandem accept CODE             redeem a partner's invitation code
  tandem connections [verify|pause|resume|revoke|allow CONNECTION ...]
                                 list the connections, or act on one
  tandem queue [flags] [retry|skip CONN DIR SEQ]   show or act on the queues
                 (--connection, --direction, --state, --item, --order, --limit)
  tandem history [flags]         the sync history, or one item's timeline (--item KEY)
                 (--text, --connection, --outcome, --since, --limit;
                  history retention [DAYS] | delete | capture CONN on|off)
  tandem audit [verify]          show the audit log of configuration changes, or check its chain
  tandem tracker [flags] [set|test KIND KEY=VALUE...|fields]   show, change or test the tracker settings
  tandem bench                   measure end-to-end throughput and latency
  tandem version                 print the version

While the app or tandem serve runs on the data directory, these commands act on it through
its control socket; otherwise they open the directory themselves.

Common flags (anywhere among the arguments):
  --data-dir DIR   the agent's data directory (default: %s)
  --listen ADDR    address partners connect to, kept for next time (first use: 127.0.0.1:7443;
                   "off" for none: the agent then pulls its partners' events)
  --url URL        URL partners use, when it differs from https://ADDR; kept for next time
  --name NAME      the name partners see; kept for next time
  --secrets-file   keep the private key and credentials in DIR/secrets.enc, encrypted with a
                   passphrase (from $TANDEM_SECRETS_PASSPHRASE or --passphrase-file FILE),
                   instead of the OS keychain: for a server without a desktop session. Once
                   the file exists, every command on DIR uses it.
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tandem:", err)
		os.Exit(1)
	}
}

func defaultDataDir() string {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "tandem-data"
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "tandem")
}

// agentFlags are the flags every agent-opening command takes.
type agentFlags struct {
	dir, listen, url, name string
	// secretsFile keeps the secrets in a passphrase-encrypted file in the data directory
	// instead of the OS keychain (for a server without a desktop session).
	secretsFile    bool
	passphraseFile string
}

func newFlags(name string, af *agentFlags) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&af.dir, "data-dir", defaultDataDir(), "the agent's data directory")
	fs.StringVar(&af.listen, "listen", "", "address partners connect to (kept; first use: "+defaultListen+`; "off" for none)`)
	fs.StringVar(&af.url, "url", "", "URL partners use, when it differs from https://ADDR")
	fs.StringVar(&af.name, "name", "", "the name partners see")
	fs.BoolVar(&af.secretsFile, "secrets-file", false, "keep secrets in a passphrase-encrypted file in the data directory, not the OS keychain")
	fs.StringVar(&af.passphraseFile, "passphrase-file", "", "read the secrets file's passphrase from this file (else $"+passphraseEnv+")")
	fs.Usage = func() { fmt.Fprintf(fs.Output(), usage, defaultDataDir()) }
	return fs
}

// defaultListen is where a new agent listens when the operator names no address.
const defaultListen = "127.0.0.1:7443"

func (af agentFlags) options() agent.Options {
	return agent.Options{Dir: af.dir, Listen: af.listen, DefaultListen: defaultListen, URL: af.url, Name: af.name, Logger: slog.Default(),
		KeysFunc: af.keys}
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
		rest, args = append(rest, fs.Arg(0)), fs.Args()[1:]
	}
}

// withNoArgs parses a command that takes only flags, refusing stray words, then runs it.
func withNoArgs(fs *flag.FlagSet, args []string, run func() error) error {
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%s takes no argument %q; run tandem help", fs.Name(), rest[0])
	}
	return run()
}

func run(args []string) error {
	cmd := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var af agentFlags
	switch cmd {
	case "":
		return withNoArgs(newFlags("tandem", &af), args, func() error { return runApp(ctx, af) })
	case "serve":
		return withNoArgs(newFlags("serve", &af), args, func() error { return runServe(ctx, af) })
	case "demo":
		fs := flag.NewFlagSet("demo", flag.ContinueOnError)
		headless := fs.Bool("headless", false, "run without windows and print each sync")
		return withNoArgs(fs, args, func() error { return runDemo(ctx, *headless) })
	case "invite":
		fs := newFlags("invite", &af)
		expires := expiresFlag(fs)
		return withNoArgs(fs, args, func() error { return runInvite(ctx, af, *expires) })
	case "invitations", "audit":
		rest, err := parseFlags(newFlags(cmd, &af), args)
		if err != nil {
			return err
		}
		if cmd == "invitations" {
			return runInvitations(ctx, af, rest)
		}
		return runAudit(ctx, af, rest)
	case "connections":
		fs := newFlags(cmd, &af)
		var q queuedFlags
		fs.BoolVar(&q.keep, "keep-queued", false, "revoke: keep the connection's queued events")
		fs.BoolVar(&q.delete, "delete-queued", false, "revoke: delete the connection's queued events")
		rest, err := parseFlags(fs, args)
		if err != nil {
			return err
		}
		return runConnections(ctx, af, q, rest)
	case "accept":
		rest, err := parseFlags(newFlags("accept", &af), args)
		if err != nil {
			return err
		}
		if len(rest) != 1 {
			return errors.New("accept takes one invitation code: tandem accept tandem1-...")
		}
		return runAccept(ctx, af, rest[0])
	case "queue":
		fs := newFlags("queue", &af)
		var qf queueFlags
		qf.register(fs)
		rest, err := parseFlags(fs, args)
		if err != nil {
			return err
		}
		return runQueue(ctx, af, qf, rest)
	case "history":
		fs := newFlags("history", &af)
		var hf historyFlags
		hf.register(fs)
		rest, err := parseFlags(fs, args)
		if err != nil {
			return err
		}
		return runHistory(ctx, af, hf, rest)
	case "tracker":
		rest, err := parseFlags(newFlags("tracker", &af), args)
		if err != nil {
			return err
		}
		return runTracker(ctx, af.options(), rest, os.Stdin, os.Stdout)
	case "bench":
		fs := flag.NewFlagSet("bench", flag.ContinueOnError)
		n := fs.Int("n", 10000, "changes for the throughput run")
		rate := fs.Int("rate", 200, "changes per second for the latency run")
		secs := fs.Int("seconds", 5, "length of the latency run")
		return withNoArgs(fs, args, func() error { return runBench(ctx, *n, *rate, *secs) })
	case "version":
		fmt.Println("tandem", agent.Version, "protocol", agent.ProtocolVersion)
		return nil
	case "help":
		fmt.Printf(usage, defaultDataDir())
		return nil
	}
	return fmt.Errorf("unknown command %q; run tandem help", cmd)
}
