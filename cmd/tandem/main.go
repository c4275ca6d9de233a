// Command tandem runs a Tandem agent: the desktop app by default, or headless subcommands.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	_ "github.com/tandemsync/tandem/cmd/tandem/internal/quietlocale" // first: before Fyne reads the locale

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/store"
)

const rootSummary = "Tandem keeps issues in sync between two companies' trackers, agent to agent"

const rootFooter = `
Run 'tandem help COMMAND' (or 'tandem COMMAND --help') for a command's flags and examples.
Flags may stand before or after a command's words.

While the app or tandem serve runs on the data directory, the commands act on it through its
control socket; otherwise they open the directory themselves. Commands that only read never
create a data directory.

Exit status: 0 done, 1 failed, 2 wrong usage (unknown command or flag, missing word).`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, rootCommand(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// rootCommand is the command table: tandem itself, and every command under it in the order
// tandem --help lists them.
func rootCommand() *command {
	return link(&command{
		Name:    "tandem",
		Example: "tandem\ntandem --data-dir ~/tandem-acme --name Acme\ntandem serve --listen 0.0.0.0:7443 --url https://tandem.acme.example:7443",
		Help:    "With no command, tandem opens the desktop app on the data directory.",
		Data:    dataCreate,
		Setup: func(fs *flag.FlagSet) runFunc {
			version := fs.Bool("version", false, "print the version and exit")
			return func(ctx context.Context, c *invocation) error {
				if *version {
					return runVersion(ctx, c)
				}
				return runApp(ctx, c.af)
			}
		},
		Subs: []*command{
			{
				Name:    "serve",
				Summary: "run the agent headless (for a server or a systemd service)",
				Help:    "Runs the same agent as the app, without a window, until it is interrupted (Ctrl-C, SIGTERM).\nIts first log line says where its secrets are kept.",
				Example: "tandem serve\ntandem serve --data-dir /var/lib/tandem --listen 0.0.0.0:7443 --url https://tandem.acme.example:7443",
				Data:    dataCreate,
				Run:     func(ctx context.Context, c *invocation) error { return runServe(ctx, c.af) },
			},
			{
				Name:    "demo",
				Summary: "two agents, Blue and Red, paired over loopback, in two windows",
				Help:    "Each agent gets a throwaway data directory with an embedded tracker; create or edit an item\nin one window and watch it arrive in the other. Without a display it runs headless.",
				Example: "tandem demo\ntandem demo --headless",
				Setup: func(fs *flag.FlagSet) runFunc {
					headless := fs.Bool("headless", false, "run without windows and print each sync")
					return func(ctx context.Context, c *invocation) error { return runDemo(ctx, *headless) }
				},
			},
			inviteCommand(),
			invitationsCommand(),
			acceptCommand(),
			connectionsCommand(),
			queueCommand(),
			historyCommand(),
			auditCommand(),
			trackerCommand(),
			rulesCommand(),
			{
				Name:    "bench",
				Summary: "measure end-to-end throughput, latency, work per change, a 100,000-event drain and a restart between two agents on loopback",
				Example: "tandem bench\ntandem bench -n 20000 --rate 500 --seconds 10",
				Setup: func(fs *flag.FlagSet) runFunc {
					n := fs.Int("n", 10000, "changes for the throughput run (-1 skips it)")
					rate := fs.Int("rate", 200, "changes per second for the latency run")
					secs := fs.Int("seconds", 5, "length of the latency run in seconds")
					backlog := fs.Int("backlog", 100000, "events queued while the partner is stopped, for the drain and restart runs (-1 skips them)")
					profile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (both agents) to this file, for go tool pprof")
					return func(ctx context.Context, c *invocation) error {
						return runBench(ctx, *n, *rate, *secs, *backlog, *profile)
					}
				},
			},
			{
				Name:    "version",
				Summary: "print the version",
				Example: "tandem version\ntandem version --json",
				JSON:    true,
				Run:     runVersion,
			},
			{
				Name:    "help",
				Args:    "[COMMAND...]",
				Summary: "show the help of tandem or of a command",
				Example: "tandem help\ntandem help queue retry",
				Run:     runHelp,
			},
		},
	})
}

func runVersion(_ context.Context, c *invocation) error {
	if c.json {
		return c.printJSON(struct {
			Version  string `json:"version"`
			Protocol int    `json:"protocol"`
		}{agent.Version, agent.ProtocolVersion})
	}
	c.printf("tandem %s protocol %d\n", agent.Version, agent.ProtocolVersion)
	return nil
}

// runHelp prints the help of the command its words name.
func runHelp(_ context.Context, c *invocation) error {
	cmd := c.cmd.parent
	for _, w := range c.args {
		sub := cmd.sub(w)
		if sub == nil {
			return usagef(c.cmd, "there is no command %q.%s", (cmd.path() + " " + w)[len("tandem "):], suggest(w, subNames(cmd), ""))
		}
		cmd = sub
	}
	printHelp(c.out, cmd)
	return nil
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

// storeFileName is the database file whose presence says an agent has used a directory.
const storeFileName = store.FileName

// agentFlags are the flags every agent-opening command takes.
type agentFlags struct {
	dir, listen, url, name string
	// secretsFile keeps the secrets in a passphrase-encrypted file in the data directory
	// instead of the OS keychain (for a server without a desktop session).
	secretsFile    bool
	passphraseFile string
}

// defaultListen is where a new agent listens when the operator names no address.
const defaultListen = "127.0.0.1:7443"

func (af agentFlags) options() agent.Options {
	return agent.Options{Dir: af.dir, Listen: af.listen, DefaultListen: defaultListen, URL: af.url, Name: af.name, Logger: slog.Default(),
		KeysFunc: af.keys}
}

// expiresFlag adds --expires to an invite command.
func expiresFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("expires", 24*time.Hour, "how long the invitation code stays valid (e.g. 30m, 2h, 72h)")
}
