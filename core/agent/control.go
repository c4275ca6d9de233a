package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tandemsync/tandem/core/audit"
	"github.com/tandemsync/tandem/core/control"
	"github.com/tandemsync/tandem/core/store"
)

// The control methods: what the command line asks of an agent, by name, with a request and a
// result type each. To add one, register it in controlMux and call it with Call (see the
// package documentation of core/control).

// None is the request or result of a method that takes or answers nothing.
type None struct{}

// AgentInfo is who and where the agent is.
type AgentInfo struct {
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	URL     string  `json:"url"` // "" when it listens nowhere
	Address Address `json:"address"`
	DataDir string  `json:"dataDir"`
	Version string  `json:"version"`
	Secrets string  `json:"secrets"` // where the private key and credentials are kept, in words
}

// ConnectionRequest names a connection: its ID, a unique start of it, or the partner's name.
type ConnectionRequest struct {
	Connection string `json:"connection"`
}

// VerifyRequest confirms a connection's verification code; Code, when given, must match.
type VerifyRequest struct {
	Connection string `json:"connection"`
	Code       string `json:"code,omitempty"`
}

// RevokeRequest revokes a connection, keeping or deleting its queued events.
type RevokeRequest struct {
	Connection   string `json:"connection"`
	DeleteQueued bool   `json:"deleteQueued"`
}

// AllowRequest sets a connection's allow-list of partner address ranges (CIDR); empty clears it.
type AllowRequest struct {
	Connection string   `json:"connection"`
	Allow      []string `json:"allow"`
}

// AcceptRequest redeems a partner's invitation code.
type AcceptRequest struct {
	Code string `json:"code"`
}

// InvitationRequest names an invitation.
type InvitationRequest struct {
	ID string `json:"id"`
}

// QueuePageRequest asks for a page of queued events; Query.Connection may name the
// connection as the operator does (ID, start of one, or partner name).
type QueuePageRequest struct {
	Query  QueueQuery `json:"query"`
	Offset int        `json:"offset,omitempty"`
	Limit  int        `json:"limit,omitempty"`
}

// QueueActionRequest retries or skips one event.
type QueueActionRequest struct {
	Connection string `json:"connection"`
	Direction  string `json:"direction"`
	Seq        uint64 `json:"seq"`
}

// AuditTailRequest asks for the last N audit entries.
type AuditTailRequest struct {
	N int `json:"n"`
}

// controlMux is the table of control methods this agent serves.
func (a *Agent) controlMux() *control.Mux {
	m := control.NewMux()
	control.Handle(m, "agent.info", func(ctx context.Context, _ None) (AgentInfo, error) {
		return a.Info(ctx)
	})
	control.Handle(m, "invite", a.Invite)
	control.Handle(m, "invitations.list", func(ctx context.Context, _ None) ([]InvitationInfo, error) {
		return a.Invitations(ctx)
	})
	control.Handle(m, "invitations.cancel", func(ctx context.Context, req InvitationRequest) (None, error) {
		return None{}, a.CancelInvitation(ctx, req.ID)
	})
	control.Handle(m, "accept", func(ctx context.Context, req AcceptRequest) (ConnectionInfo, error) {
		return a.Accept(ctx, req.Code)
	})
	control.Handle(m, "connections.list", func(ctx context.Context, _ None) ([]ConnectionInfo, error) {
		list, err := a.Connections(ctx)
		if err != nil {
			return nil, err
		}
		pending, err := a.PendingPairings(ctx)
		return append(list, pending...), err
	})
	control.Handle(m, "connections.cancel", func(ctx context.Context, req ConnectionRequest) (ConnectionInfo, error) {
		return a.CancelPairing(ctx, req.Connection)
	})
	control.Handle(m, "connections.verify", func(ctx context.Context, req VerifyRequest) (ConnectionInfo, error) {
		return a.Verify(ctx, req.Connection, req.Code)
	})
	control.Handle(m, "connections.pause", func(ctx context.Context, req ConnectionRequest) (ConnectionInfo, error) {
		return a.Pause(ctx, req.Connection)
	})
	control.Handle(m, "connections.resume", func(ctx context.Context, req ConnectionRequest) (ConnectionInfo, error) {
		return a.Resume(ctx, req.Connection)
	})
	control.Handle(m, "connections.revoke", func(ctx context.Context, req RevokeRequest) (ConnectionInfo, error) {
		return a.Revoke(ctx, req.Connection, req.DeleteQueued)
	})
	control.Handle(m, "connections.allow", func(ctx context.Context, req AllowRequest) (ConnectionInfo, error) {
		return a.SetAllowList(ctx, req.Connection, req.Allow)
	})
	control.Handle(m, "queue.page", a.queuePage)
	control.Handle(m, "queue.retry", func(ctx context.Context, req QueueActionRequest) (None, error) {
		return None{}, a.queueAction(ctx, req, a.Retry)
	})
	control.Handle(m, "queue.skip", func(ctx context.Context, req QueueActionRequest) (None, error) {
		return None{}, a.queueAction(ctx, req, a.Skip)
	})
	control.Handle(m, "audit.verify", func(ctx context.Context, _ None) (audit.Report, error) {
		return a.VerifyAudit(ctx)
	})
	control.Handle(m, "audit.tail", func(ctx context.Context, req AuditTailRequest) ([]audit.Entry, error) {
		return a.AuditTail(ctx, req.N)
	})
	a.handleHistory(m)
	a.handleTracker(m)
	a.ruleMethods(m)
	return m
}

// Call runs a control method on the agent of opt.Dir: over the control socket when an agent
// runs there (the app or tandem serve), else by opening the data directory for this one call.
// req is encoded and res decoded as JSON either way, so both paths behave the same. Errors the
// method returns are *control.RemoteError.
func Call(ctx context.Context, opt Options, method string, req, res any) error {
	dir, err := filepath.Abs(opt.Dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	opt.Dir = dir
	err = control.Call(ctx, dir, method, req, res)
	if !errors.Is(err, control.ErrNotRunning) {
		return err
	}
	opt.Offline = true
	a, err := Open(ctx, opt)
	if errors.Is(err, store.ErrLocked) {
		// An agent holds the directory but its socket is not up yet: it is starting.
		time.Sleep(time.Second)
		return control.Call(ctx, dir, method, req, res)
	}
	if err != nil {
		return err
	}
	defer a.Close()
	return a.call(ctx, method, req, res)
}

// call runs a control method in this process, through the same table and JSON as the socket.
func (a *Agent) call(ctx context.Context, method string, req, res any) error {
	params, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: encode parameters: %w", method, err)
	}
	resp := a.controlMux().Serve(ctx, control.Request{V: control.Version, Method: method, Params: params})
	if resp.Error != "" {
		return &control.RemoteError{Method: method, Message: resp.Error, Code: resp.Code}
	}
	if res == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Result, res); err != nil {
		return fmt.Errorf("%s: decode the result: %w", method, err)
	}
	return nil
}

// Info is who and where the agent is.
func (a *Agent) Info(ctx context.Context) (AgentInfo, error) {
	ad, err := a.Address(ctx)
	if err != nil {
		return AgentInfo{}, err
	}
	return AgentInfo{ID: a.id.ID.String(), Name: a.Name(), URL: a.url, Address: ad, DataDir: a.opt.Dir, Version: Version, Secrets: a.Secrets()}, nil
}

func (a *Agent) queuePage(ctx context.Context, req QueuePageRequest) (QueuePage, error) {
	if req.Query.Connection != "" {
		c, err := a.findConn(req.Query.Connection)
		if err != nil {
			return QueuePage{}, err
		}
		req.Query.Connection = c.ID()
	}
	if req.Limit <= 0 {
		req.Limit = 100
	}
	page, err := a.QueuePage(ctx, req.Query, req.Offset, min(req.Limit, 10000))
	if err != nil {
		return QueuePage{}, control.WithCode(err, control.CodeInvalid)
	}
	return page, nil
}

func (a *Agent) queueAction(ctx context.Context, req QueueActionRequest, act func(ctx context.Context, connID, direction string, seq uint64) error) error {
	c, err := a.findConn(req.Connection)
	if err != nil {
		return err
	}
	return act(ctx, c.rec.ID, req.Direction, req.Seq)
}

// VerifyAudit checks the audit log's hash chain.
func (a *Agent) VerifyAudit(ctx context.Context) (audit.Report, error) {
	return audit.VerifyFile(a.audit.Path())
}

// AuditTail returns the last n audit entries, oldest first.
func (a *Agent) AuditTail(ctx context.Context, n int) ([]audit.Entry, error) {
	if n <= 0 {
		n = 50
	}
	return a.audit.Tail(min(n, 10000))
}
