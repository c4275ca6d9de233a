package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/audit"
)

// partnerNamer reads the connections once and returns what to call each in output meant for
// people: its partner's name where no other connection has that name, else its ID. An ID no
// longer listed (a connection deleted since) stays an ID, and so does every ID when the list
// cannot be read: naming is a courtesy, never a reason to fail a command.
func partnerNamer(ctx context.Context, c *invocation) func(id string) string {
	var list []agent.ConnectionInfo
	if err := c.call(ctx, "connections.list", agent.None{}, &list); err != nil {
		return func(id string) string { return id }
	}
	uses := map[string]int{}
	for _, ci := range list {
		uses[ci.PartnerName]++
	}
	names := map[string]string{}
	for _, ci := range list {
		if ci.PartnerName != "" && uses[ci.PartnerName] == 1 {
			names[ci.ID] = ci.PartnerName
		}
	}
	return func(id string) string {
		if n, ok := names[id]; ok {
			return n
		}
		return id
	}
}

// The commands that drive an agent: each is one control method (see core/control), run on the
// agent that runs on the data directory, or on the directory itself when none runs.

func inviteCommand() *command {
	return &command{
		Name:    "invite",
		Summary: "print a single-use invitation code for a partner's operator",
		Help: "The partner redeems the code with tandem accept (or in the app's Connections screen); their\n" +
			"agent then dials this one, so keep this agent running. The code is printed alone on standard\n" +
			"output; what to do with it goes to standard error.\n\n" +
			"An agent that accepts no connections (--listen off, behind a firewall) invites in two steps:\n" +
			"its code carries no address, so the partner's agent answers it with a reply code, which the\n" +
			"partner's operator sends back; tandem accept REPLY-CODE here completes the pairing. Nobody\n" +
			"dials this agent, and no relay is involved: it pulls its partner's events.",
		Example: "tandem invite\ntandem invite --expires 2h --json",
		Data:    dataCreate,
		JSON:    true,
		Setup: func(fs *flag.FlagSet) runFunc {
			expires := expiresFlag(fs)
			return func(ctx context.Context, c *invocation) error {
				var inv agent.Invitation
				if err := c.call(ctx, "invite", agent.InviteRequest{Expires: *expires}, &inv); err != nil {
					return err
				}
				if c.json {
					return c.printJSON(inv)
				}
				c.printf("%s\n", inv.Code)
				until := inv.Expires.Local().Format(time.DateTime)
				if inv.Reply {
					fmt.Fprintf(c.err, "Made invitation %s. This agent accepts no connections, so pairing takes two steps:\n"+
						"  1. Give this code to the partner's operator. Their agent, which must accept connections, answers\n"+
						"     it with a reply code (it does not dial this agent), and they send that back to you.\n"+
						"  2. Run: tandem accept REPLY-CODE (or paste it into the app's Accept field). This agent then\n"+
						"     dials theirs to complete the pairing, and pulls its events from then on.\n"+
						"The code works once, until %s.\n", inv.ID, until)
					return nil
				}
				fmt.Fprintf(c.err, "Made invitation %s. Give this code to the partner's operator; it works once, until %s.\nTheir agent will dial this one at %s: keep it running (tandem serve, or the app).\n",
					inv.ID, until, inv.URL)
				return nil
			}
		},
	}
}

func invitationsCommand() *command {
	return &command{
		Name:    "invitations",
		Summary: "list the invitations and what became of them",
		Example: "tandem invitations\ntandem invitations cancel 3f9c",
		Data:    dataExisting,
		JSON:    true,
		Run: func(ctx context.Context, c *invocation) error {
			var list []agent.InvitationInfo
			if err := c.call(ctx, "invitations.list", agent.None{}, &list); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(nonNil(list))
			}
			if len(list) == 0 {
				c.printf("No invitations. Make one with: tandem invite\n")
				return nil
			}
			w := c.table()
			fmt.Fprintln(w, "INVITATION\tSTATE\tCREATED\tEXPIRES\tCONNECTION")
			for _, inv := range list {
				conn := inv.Connection
				if inv.Partner != "" {
					conn += " (" + inv.Partner + ")"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", inv.ID, inv.State, inv.Created.Local().Format(time.DateTime), inv.Expires.Local().Format(time.DateTime), conn)
			}
			return w.Flush()
		},
		Subs: []*command{{
			Name:    "cancel",
			Args:    "INVITATION",
			Summary: "cancel an invitation: its code stops working",
			Example: "tandem invitations cancel 3f9c",
			Data:    dataExisting,
			Run: func(ctx context.Context, c *invocation) error {
				if err := c.call(ctx, "invitations.cancel", agent.InvitationRequest{ID: c.args[0]}, nil); err != nil {
					return err
				}
				c.printf("Invitation %s is cancelled: its code no longer works.\n", c.args[0])
				return nil
			},
		}},
	}
}

func acceptCommand() *command {
	return &command{
		Name:    "accept",
		Args:    "CODE",
		Summary: "redeem a partner's invitation code (or the reply code to this agent's invitation) and pair",
		Help: "Both agents then pin each other's key and show the same verification code. Compare it with\n" +
			"the partner's operator (by phone, say), then mark it verified with tandem connections verify.\n\n" +
			"A code from an agent that accepts no connections (behind a firewall) is answered, not redeemed:\n" +
			"the reply code is printed alone on standard output, for the partner's operator, who runs\n" +
			"tandem accept with it on their agent to complete the pairing. Until then the pairing waits\n" +
			"(tandem connections shows it; tandem connections cancel ends it). CODE may also be such a\n" +
			"reply code, pasted on the agent that made the invitation.",
		Example: "tandem accept tandem1-...\ntandem accept tandem1-... --name Acme --listen off\ntandem accept tandemreply1-...",
		Data:    dataCreate,
		JSON:    true,
		Run: func(ctx context.Context, c *invocation) error {
			var info agent.ConnectionInfo
			if err := c.call(ctx, "accept", agent.AcceptRequest{Code: c.args[0]}, &info); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(info)
			}
			if info.State == agent.StatePending {
				c.printf("%s\n", info.ReplyCode)
				name := orPartner(info.PartnerName)
				fmt.Fprintf(c.err, "%s's agent accepts no connections, so it completes the pairing: send this reply code to %s's operator,\n"+
					"who runs tandem accept with it on their agent (or pastes it into the app's Accept field) until %s.\n"+
					"Keep this agent running then: theirs dials it. Until then the pairing waits (connection %s);\n"+
					"tandem connections cancel %s ends it. Verification code, to compare once paired: %s\n",
					name, name, info.Expires.Local().Format(time.DateTime), info.ID, info.ID, info.VerificationCode)
				return nil
			}
			where := info.PartnerURL
			if info.Pulls {
				where += " (this agent has no listener: it pulls the partner's events)"
			}
			c.printf("Paired with %s (%s) at %s.\nConnection: %s\nVerification code: %s\n", info.PartnerName, info.PartnerID, where, info.ID, info.VerificationCode)
			c.printf("Compare it with the partner's operator, then: tandem connections verify %s\nIf it differs, someone may be in the middle: tandem connections revoke %s\n", info.ID, info.ID)
			return nil
		},
	}
}

const connectionHelp = "CONNECTION is a connection's ID, the start of one, or the partner's name."

func connectionsCommand() *command {
	// act runs a connection method and says what changed.
	act := func(method string, req func(c *invocation) any, said func(info agent.ConnectionInfo) string) runFunc {
		return func(ctx context.Context, c *invocation) error {
			var info agent.ConnectionInfo
			if err := c.call(ctx, method, req(c), &info); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(info)
			}
			c.printf("%s\n\n", said(info))
			printConnections(c.out, []agent.ConnectionInfo{info})
			return nil
		}
	}
	named := func(c *invocation) any { return agent.ConnectionRequest{Connection: c.args[0]} }
	list := func(ctx context.Context, c *invocation) error {
		var list []agent.ConnectionInfo
		if err := c.call(ctx, "connections.list", agent.None{}, &list); err != nil {
			return err
		}
		if c.json {
			return c.printJSON(nonNil(list))
		}
		printConnections(c.out, list)
		return nil
	}
	return &command{
		Name:    "connections",
		Summary: "list the connections with partners, or act on one",
		Help:    connectionHelp,
		Example: "tandem connections\ntandem connections pause Red\ntandem connections --json",
		Data:    dataExisting,
		JSON:    true,
		Run:     list,
		Subs: []*command{
			{Name: "list", Summary: "list the connections (the default)", Example: "tandem connections list --json", Data: dataExisting, JSON: true, Run: list},
			{
				Name: "verify", Args: "CONNECTION [CODE]",
				Summary: "mark a connection verified once both operators saw the same code",
				Help:    connectionHelp + "\nWith CODE, the code must match the one this agent shows, so a mistyped comparison fails.",
				Example: "tandem connections verify Red\ntandem connections verify Red 4821-0937",
				Data:    dataExisting, JSON: true,
				Run: func(ctx context.Context, c *invocation) error {
					// Verifying twice changes nothing; say so rather than claim it happened now. The
					// agent stamps a verification as it makes it, so one stamped before this command
					// asked (a second's margin for clocks) was made before.
					asked := time.Now()
					return act("connections.verify", func(c *invocation) any {
						req := agent.VerifyRequest{Connection: c.args[0]}
						if len(c.args) == 2 {
							req.Code = c.args[1]
						}
						return req
					}, func(info agent.ConnectionInfo) string {
						if !info.Verified.IsZero() && info.Verified.Before(asked.Add(-time.Second)) {
							return fmt.Sprintf("The connection with %s (%s) was already verified on %s (code %s); nothing changed.", info.PartnerName, info.ID, info.Verified.Local().Format("2006-01-02 15:04"), info.VerificationCode)
						}
						return fmt.Sprintf("Verified the connection with %s (%s): both operators saw code %s.", info.PartnerName, info.ID, info.VerificationCode)
					})(ctx, c)
				},
			},
			{
				Name: "pause", Args: "CONNECTION", Summary: "stop sending and applying a connection's events until resumed",
				Help: connectionHelp, Example: "tandem connections pause Red", Data: dataExisting, JSON: true,
				Run: act("connections.pause", named, func(info agent.ConnectionInfo) string {
					return fmt.Sprintf("Paused the connection with %s (%s): its events wait until tandem connections resume %s.", info.PartnerName, info.ID, info.PartnerName)
				}),
			},
			{
				Name: "resume", Args: "CONNECTION", Summary: "resume a paused connection",
				Help: connectionHelp, Example: "tandem connections resume Red", Data: dataExisting, JSON: true,
				Run: act("connections.resume", named, func(info agent.ConnectionInfo) string {
					return fmt.Sprintf("Resumed the connection with %s (%s): its waiting events move again.", info.PartnerName, info.ID)
				}),
			},
			revokeCommand(act),
			{
				Name: "cancel", Args: "CONNECTION",
				Summary: "cancel a pairing that waits for the partner to complete it with the reply code",
				Help:    connectionHelp + "\nIts reply code stops working; the partner's operator gets a clear refusal if they paste it.",
				Example: "tandem connections cancel Red", Data: dataExisting, JSON: true,
				Run: func(ctx context.Context, c *invocation) error {
					var info agent.ConnectionInfo
					if err := c.call(ctx, "connections.cancel", named(c), &info); err != nil {
						return err
					}
					if c.json {
						return c.printJSON(info)
					}
					c.printf("Cancelled the pairing that waited for %s (%s): its reply code no longer works.\n", orPartner(info.PartnerName), info.ID)
					return nil
				},
			},
			{
				Name: "allow", Args: "CONNECTION [RANGE...]",
				Summary: "set the address ranges (CIDR) a partner may call from; none allows any",
				Help:    connectionHelp,
				Example: "tandem connections allow Red 203.0.113.0/24 2001:db8::/32\ntandem connections allow Red",
				Data:    dataExisting, JSON: true,
				Run: act("connections.allow", func(c *invocation) any {
					return agent.AllowRequest{Connection: c.args[0], Allow: c.args[1:]}
				}, func(info agent.ConnectionInfo) string {
					if info.Allow == "" {
						return fmt.Sprintf("%s (%s) may now call from any address.", info.PartnerName, info.ID)
					}
					return fmt.Sprintf("%s (%s) may now call only from %s.", info.PartnerName, info.ID, info.Allow)
				}),
			},
		},
	}
}

func revokeCommand(act func(method string, req func(c *invocation) any, said func(info agent.ConnectionInfo) string) runFunc) *command {
	var keep, del bool
	return &command{
		Name: "revoke", Args: "CONNECTION",
		Summary: "end a connection for good (say what to do with its queued events)",
		Help:    connectionHelp + "\nThe partner is told; its key is no longer accepted. Choose --keep-queued or --delete-queued.",
		Example: "tandem connections revoke Red --keep-queued",
		Data:    dataExisting, JSON: true,
		Check: func(c *invocation) error {
			if keep == del {
				return usagef(c.cmd, "revoking ends the connection with its partner for good; say what to do with its queued events: tandem connections revoke %s --keep-queued (or --delete-queued)", c.args[0])
			}
			return nil
		},
		Setup: func(fs *flag.FlagSet) runFunc {
			fs.BoolVar(&keep, "keep-queued", false, "keep the connection's queued events (to read them later)")
			fs.BoolVar(&del, "delete-queued", false, "delete the connection's queued events")
			return act("connections.revoke", func(c *invocation) any {
				return agent.RevokeRequest{Connection: c.args[0], DeleteQueued: del}
			}, func(info agent.ConnectionInfo) string {
				what := "kept its queued events"
				if del {
					what = "deleted its queued events"
				}
				return fmt.Sprintf("Revoked the connection with %s (%s) and %s; the partner is told.", info.PartnerName, info.ID, what)
			})
		},
	}
}

func printConnections(out io.Writer, list []agent.ConnectionInfo) {
	if len(list) == 0 {
		fmt.Fprintln(out, "No connections. Invite a partner with tandem invite, or accept their code with tandem accept CODE.")
		return
	}
	w := (&invocation{out: out}).table()
	fmt.Fprintln(w, "CONNECTION\tPARTNER\tSTATUS\tVERIFICATION\tOUTBOX\tINBOX\tFAILED\tPROBLEM")
	for _, c := range list {
		verification := c.Verification() + " (code " + c.VerificationCode + ")"
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", c.ID, c.PartnerName, c.Status(), verification, c.Outbox, c.Inbox, c.Failed, c.Problem)
	}
	w.Flush()
}

// queueFlags filter `tandem queue`'s listing.
type queueFlags struct {
	conn, dir, state, item, order string
	limit                         int
}

func (qf *queueFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&qf.conn, "connection", "", "only this `connection`")
	fs.StringVar(&qf.dir, "direction", "", "only this `direction`: out or in")
	fs.StringVar(&qf.state, "state", "", "only these `states`: pending, blocked, retrying or failed (comma-separated)")
	fs.StringVar(&qf.item, "item", "", "only items whose `key` starts with this")
	fs.StringVar(&qf.order, "order", agent.QueueOldest, "sort `order`: oldest, newest, item or item-desc")
	fs.IntVar(&qf.limit, "limit", 100, "at most this `number` of events")
}

func (qf queueFlags) query() agent.QueueQuery {
	q := agent.QueueQuery{Connection: qf.conn, Direction: qf.dir, Item: qf.item, Order: qf.order}
	if qf.state != "" {
		q.States = strings.Split(qf.state, ",")
	}
	return q
}

func queueCommand() *command {
	action := func(verb, summary, help, example string, said func(req agent.QueueActionRequest) string) *command {
		return &command{
			Name: verb, Args: "CONNECTION out|in SEQ", Summary: summary,
			Help:    help + "\n" + connectionHelp + "\nSEQ is the event's number in its queue (the SEQ column of tandem queue).",
			Example: example, Data: dataExisting, JSON: true,
			Check: func(c *invocation) error {
				if dir := c.args[1]; dir != "out" && dir != "in" {
					return usagef(c.cmd, "the direction %q is neither out nor in.", dir)
				}
				if _, err := strconv.ParseUint(c.args[2], 10, 64); err != nil {
					return usagef(c.cmd, "the sequence %q is not a number; it is the SEQ column of tandem queue.", c.args[2])
				}
				return nil
			},
			Run: func(ctx context.Context, c *invocation) error {
				seq, _ := strconv.ParseUint(c.args[2], 10, 64)
				req := agent.QueueActionRequest{Connection: c.args[0], Direction: c.args[1], Seq: seq}
				if err := c.call(ctx, "queue."+verb, req, nil); err != nil {
					return err
				}
				if c.json {
					return c.printJSON(struct {
						Done string `json:"done"`
						agent.QueueActionRequest
					}{verb, req})
				}
				c.printf("%s\n", said(req))
				return nil
			},
		}
	}
	dirWord := map[string]string{"out": "outgoing", "in": "incoming"}
	return &command{
		Name:    "queue",
		Summary: "show what waits to be sent or applied, or retry or skip an event",
		Help:    "Lists the queued events of every connection, oldest first: pending, blocked behind a failed\nevent of the same item, retrying by itself, or failed and waiting for the operator.",
		Example: "tandem queue\ntandem queue --state failed --connection Red\ntandem queue --json --limit 1000",
		Data:    dataExisting,
		JSON:    true,
		Setup: func(fs *flag.FlagSet) runFunc {
			var qf queueFlags
			qf.register(fs)
			return func(ctx context.Context, c *invocation) error { return runQueue(ctx, c, qf) }
		},
		Subs: []*command{
			action("retry", "retry a failed event now", "Its later events of the same item follow once it succeeds.",
				"tandem queue retry Red out 42", func(r agent.QueueActionRequest) string {
					return fmt.Sprintf("Retrying %s event %d of %s now; tandem queue shows how it went.", dirWord[r.Direction], r.Seq, r.Connection)
				}),
			action("skip", "drop a failed event for good, so the item's later events move on",
				"The change it carried is not sent (out) or not applied (in); the history records the skip.",
				"tandem queue skip Red in 7", func(r agent.QueueActionRequest) string {
					return fmt.Sprintf("Skipped %s event %d of %s: it will not be retried, and the item's later events move on.", dirWord[r.Direction], r.Seq, r.Connection)
				}),
		},
	}
}

func runQueue(ctx context.Context, c *invocation, qf queueFlags) error {
	var page agent.QueuePage
	if err := c.call(ctx, "queue.page", agent.QueuePageRequest{Query: qf.query(), Limit: qf.limit}, &page); err != nil {
		return err
	}
	if c.json {
		page.Entries = nonNil(page.Entries)
		return c.printJSON(page)
	}
	if page.Total == 0 {
		c.printf("Nothing waiting: every change has been delivered and applied.\n")
		return nil
	}
	name := partnerNamer(ctx, c)
	w := c.table()
	fmt.Fprintln(w, "PARTNER\tDIR\tSEQ\tLOCAL\tREMOTE\tKIND\tSTATE\tATTEMPTS\tAGE\tERROR")
	now := time.Now()
	for _, e := range page.Entries {
		state := e.State
		switch {
		case e.State == agent.QueueBlocked:
			state = fmt.Sprintf("blocked by %d", e.BlockedBy)
		case e.State == agent.QueueRetrying && !e.NextRetry.IsZero():
			state = "retry at " + e.NextRetry.Local().Format(time.TimeOnly)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", name(e.Connection), e.Direction, e.Seq, dash(e.Local), dash(e.Remote),
			e.Kind, state, e.Attempts, now.Sub(e.Created).Round(time.Second), e.LastError)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if page.Total > len(page.Entries) {
		c.printf("%d of %d events shown; narrow with --state, --item or --connection, or raise --limit.\n", len(page.Entries), page.Total)
	}
	return nil
}

func auditCommand() *command {
	return &command{
		Name:    "audit",
		Summary: "show the audit log of configuration changes",
		Help:    "Every change of configuration (pairing, pause, revoke, rules, settings) is one entry, chained\nby hashes so an edit of the file shows.",
		Example: "tandem audit\ntandem audit --limit 500 --json\ntandem audit verify",
		Data:    dataExisting,
		JSON:    true,
		Setup: func(fs *flag.FlagSet) runFunc {
			n := fs.Int("limit", 50, "show the last `number` of entries")
			return func(ctx context.Context, c *invocation) error {
				var entries []audit.Entry
				if err := c.call(ctx, "audit.tail", agent.AuditTailRequest{N: *n}, &entries); err != nil {
					return err
				}
				if c.json {
					return c.printJSON(nonNil(entries))
				}
				if len(entries) == 0 {
					c.printf("The audit log is empty: nothing has been configured yet.\n")
					return nil
				}
				w := c.table()
				fmt.Fprintln(w, "#\tTIME\tUSER\tKIND\tWHAT")
				for _, e := range entries {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Local().Format(time.DateTime), e.User, e.Kind, strings.ReplaceAll(e.What, "\n", " "))
				}
				return w.Flush()
			}
		},
		Subs: []*command{{
			Name:    "verify",
			Summary: "check the audit log's hash chain",
			Help:    "Reads the file itself, so it works whether or not an agent runs and needs no keychain.\nExits 1 when the chain is broken.",
			Example: "tandem audit verify\ntandem audit verify --json",
			Data:    dataExisting,
			JSON:    true,
			Run: func(ctx context.Context, c *invocation) error {
				rep, err := audit.VerifyFile(filepath.Join(c.af.dir, audit.FileName))
				if err != nil {
					return err
				}
				if c.json {
					if err := c.printJSON(rep); err != nil {
						return err
					}
				} else {
					c.printf("%s\n", rep.String())
				}
				if !rep.OK {
					return fmt.Errorf("the audit log does not verify")
				}
				return nil
			},
		}},
	}
}

// orPartner is a partner's name, or "the partner" when it gave none.
func orPartner(name string) string {
	if name == "" {
		return "the partner"
	}
	return name
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// nonNil makes an empty list print as [] rather than null in JSON.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
