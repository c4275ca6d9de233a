package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/audit"
)

// The commands that drive an agent: each is one control method (see core/control), run on the
// agent that runs on the data directory, or on the directory itself when none runs.

// call runs a control method for a command.
func call(ctx context.Context, af agentFlags, method string, req, res any) error {
	return agent.Call(ctx, af.options(), method, req, res)
}

func runInvite(ctx context.Context, af agentFlags, expires time.Duration) error {
	var inv agent.Invitation
	if err := call(ctx, af, "invite", agent.InviteRequest{Expires: expires}, &inv); err != nil {
		return err
	}
	fmt.Println(inv.Code)
	fmt.Fprintf(os.Stderr, "Give this code to the partner's operator; it works once, until %s.\nTheir agent will dial this one at %s: keep it running (tandem serve, or the app).\n",
		inv.Expires.Local().Format(time.DateTime), inv.URL)
	return nil
}

func runAccept(ctx context.Context, af agentFlags, code string) error {
	var info agent.ConnectionInfo
	if err := call(ctx, af, "accept", agent.AcceptRequest{Code: code}, &info); err != nil {
		return err
	}
	where := info.PartnerURL
	if info.Pulls {
		where += " (this agent has no listener: it pulls the partner's events)"
	}
	fmt.Printf("Paired with %s (%s) at %s.\nConnection: %s\nVerification code: %s\n", info.PartnerName, info.PartnerID, where, info.ID, info.VerificationCode)
	fmt.Printf("Compare it with the partner's operator, then: tandem connections verify %s\nIf it differs, someone may be in the middle: tandem connections revoke %s\n", info.ID, info.ID)
	return nil
}

func runInvitations(ctx context.Context, af agentFlags, args []string) error {
	switch {
	case len(args) == 0:
		var list []agent.InvitationInfo
		if err := call(ctx, af, "invitations.list", agent.None{}, &list); err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Println("No invitations. Make one with: tandem invite")
			return nil
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "INVITATION\tSTATE\tCREATED\tEXPIRES\tCONNECTION")
		for _, inv := range list {
			conn := inv.Connection
			if inv.Partner != "" {
				conn += " (" + inv.Partner + ")"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", inv.ID, inv.State, inv.Created.Local().Format(time.DateTime), inv.Expires.Local().Format(time.DateTime), conn)
		}
		return w.Flush()
	case len(args) == 2 && args[0] == "cancel":
		if err := call(ctx, af, "invitations.cancel", agent.InvitationRequest{ID: args[1]}, nil); err != nil {
			return err
		}
		fmt.Printf("Invitation %s is cancelled: its code no longer works.\n", args[1])
		return nil
	}
	return errors.New("usage: tandem invitations [cancel ID]")
}

const connectionsUsage = `usage: tandem connections [list]
       tandem connections verify CONNECTION [CODE]
       tandem connections pause|resume CONNECTION
       tandem connections revoke CONNECTION --keep-queued|--delete-queued
       tandem connections allow CONNECTION [RANGE...]
CONNECTION is a connection's ID, the start of one, or the partner's name.`

// queuedFlags say what revoke does with the queued events; the operator must choose.
type queuedFlags struct{ keep, delete bool }

func runConnections(ctx context.Context, af agentFlags, q queuedFlags, args []string) error {
	if len(args) == 0 || args[0] == "list" && len(args) == 1 {
		var list []agent.ConnectionInfo
		if err := call(ctx, af, "connections.list", agent.None{}, &list); err != nil {
			return err
		}
		printConnections(os.Stdout, list)
		return nil
	}
	var info agent.ConnectionInfo
	var err error
	switch verb, rest := args[0], args[1:]; {
	case verb == "verify" && (len(rest) == 1 || len(rest) == 2):
		req := agent.VerifyRequest{Connection: rest[0]}
		if len(rest) == 2 {
			req.Code = rest[1]
		}
		err = call(ctx, af, "connections.verify", req, &info)
	case (verb == "pause" || verb == "resume") && len(rest) == 1:
		err = call(ctx, af, "connections."+verb, agent.ConnectionRequest{Connection: rest[0]}, &info)
	case verb == "revoke" && len(rest) == 1 && q.keep != q.delete:
		err = call(ctx, af, "connections.revoke", agent.RevokeRequest{Connection: rest[0], DeleteQueued: q.delete}, &info)
	case verb == "revoke" && len(rest) == 1:
		return fmt.Errorf("revoking ends the connection with its partner for good; say what to do with its queued events: tandem connections revoke %s --keep-queued (or --delete-queued)", rest[0])
	case verb == "allow" && len(rest) >= 1:
		err = call(ctx, af, "connections.allow", agent.AllowRequest{Connection: rest[0], Allow: rest[1:]}, &info)
	default:
		return errors.New(connectionsUsage)
	}
	if err != nil {
		return err
	}
	printConnections(os.Stdout, []agent.ConnectionInfo{info})
	return nil
}

func printConnections(out io.Writer, list []agent.ConnectionInfo) {
	if len(list) == 0 {
		fmt.Fprintln(out, "No connections. Invite a partner with tandem invite, or accept their code with tandem accept CODE.")
		return
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CONNECTION\tPARTNER\tSTATUS\tVERIFICATION\tOUTBOX\tINBOX\tFAILED\tPROBLEM")
	for _, c := range list {
		verification := c.Verification() + " (code " + c.VerificationCode + ")"
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", c.ID, c.PartnerName, c.Status(), verification, c.Outbox, c.Inbox, c.Failed, c.Problem)
	}
	w.Flush()
}

func runQueue(ctx context.Context, af agentFlags, qf queueFlags, args []string) error {
	if len(args) > 0 {
		if len(args) != 4 || (args[0] != "retry" && args[0] != "skip") {
			return errors.New("usage: tandem queue [retry|skip CONNECTION out|in SEQ]")
		}
		seq, err := strconv.ParseUint(args[3], 10, 64)
		if err != nil {
			return fmt.Errorf("sequence %q is not a number", args[3])
		}
		return call(ctx, af, "queue."+args[0], agent.QueueActionRequest{Connection: args[1], Direction: args[2], Seq: seq}, nil)
	}
	var page agent.QueuePage
	if err := call(ctx, af, "queue.page", agent.QueuePageRequest{Query: qf.query(), Limit: qf.limit}, &page); err != nil {
		return err
	}
	if page.Total == 0 {
		fmt.Println("Nothing waiting: every change has been delivered and applied.")
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CONNECTION\tDIR\tSEQ\tLOCAL\tREMOTE\tKIND\tSTATE\tATTEMPTS\tAGE\tERROR")
	now := time.Now()
	for _, e := range page.Entries {
		state := e.State
		switch {
		case e.State == agent.QueueBlocked:
			state = fmt.Sprintf("blocked by %d", e.BlockedBy)
		case e.State == agent.QueueRetrying && !e.NextRetry.IsZero():
			state = "retry at " + e.NextRetry.Local().Format(time.TimeOnly)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Connection, e.Direction, e.Seq, dash(e.Local), dash(e.Remote),
			e.Kind, state, e.Attempts, now.Sub(e.Created).Round(time.Second), e.LastError)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if page.Total > len(page.Entries) {
		fmt.Printf("%d of %d events shown; narrow with --state, --item or --connection, or raise --limit.\n", len(page.Entries), page.Total)
	}
	return nil
}

// runAudit shows the last entries of the audit log, or checks its chain ("verify"). Verifying
// reads the file itself, so it works whether or not an agent runs and needs no keychain.
func runAudit(ctx context.Context, af agentFlags, args []string) error {
	switch {
	case len(args) == 1 && args[0] == "verify":
		rep, err := audit.VerifyFile(filepath.Join(af.dir, audit.FileName))
		if err != nil {
			return err
		}
		fmt.Println(rep.String())
		if !rep.OK {
			return errors.New("the audit log does not verify")
		}
		return nil
	case len(args) == 0:
		var entries []audit.Entry
		if err := call(ctx, af, "audit.tail", agent.AuditTailRequest{N: 50}, &entries); err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "#\tTIME\tUSER\tKIND\tWHAT")
		for _, e := range entries {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Local().Format(time.DateTime), e.User, e.Kind, strings.ReplaceAll(e.What, "\n", " "))
		}
		return w.Flush()
	}
	return errors.New("usage: tandem audit [verify]")
}

// expiresFlag adds --expires to an invite command.
func expiresFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("expires", 24*time.Hour, "how long the invitation code stays valid (e.g. 30m, 2h, 72h)")
}
