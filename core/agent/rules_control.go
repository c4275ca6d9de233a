package agent

import (
	"context"
	"fmt"

	"github.com/tandemsync/tandem/core/control"
)

// The rules' control methods, which `tandem rules` calls (see controlMux). Every request names
// the connection as the operator does: its ID, a unique start of it, or the partner's name.

// RulesShowRequest asks for one connection's rules, or every connection's when empty.
type RulesShowRequest struct {
	Connection string `json:"connection,omitempty"`
}

// RulesSummary is one connection's live rules.
type RulesSummary struct {
	Connection    string          `json:"connection"`
	PartnerName   string          `json:"partnerName"`
	State         ConnectionState `json:"state"`
	Outgoing      RuleVersion     `json:"outgoing"`
	Incoming      RuleVersion     `json:"incoming"`
	OutgoingTotal int             `json:"outgoingTotal"`
	IncomingTotal int             `json:"incomingTotal"`
	VaultTokens   int             `json:"vaultTokens"`
}

// RuleRequest names a connection's rule for one direction and, where it matters, a version
// (0: the live one).
type RuleRequest struct {
	Connection string `json:"connection"`
	Direction  string `json:"direction"`
	Version    int    `json:"version,omitempty"`
}

// RuleVersionsRequest pages a rule's versions.
type RuleVersionsRequest struct {
	Connection string `json:"connection"`
	Direction  string `json:"direction"`
	Offset     int    `json:"offset,omitempty"`
	Limit      int    `json:"limit,omitempty"`
}

// RuleVersionsResult is a page of versions, how many there are, and the latest deployments.
type RuleVersionsResult struct {
	Versions    []RuleVersion    `json:"versions"`
	Total       int              `json:"total"`
	Deployments []RuleDeployment `json:"deployments"`
}

// RuleSaveRequest saves a draft as a new version, deploying it when Deploy is set (and it
// compiles).
type RuleSaveRequest struct {
	Connection string    `json:"connection"`
	Direction  string    `json:"direction"`
	Draft      RuleDraft `json:"draft"`
	Deploy     bool      `json:"deploy,omitempty"`
}

// RuleTestRequest test-runs a draft (or, with a zero draft, the live rule) on an item.
type RuleTestRequest struct {
	Connection string        `json:"connection"`
	Direction  string        `json:"direction"`
	Draft      RuleDraft     `json:"draft"`
	Input      RuleTestInput `json:"input"`
}

// RuleCompareRequest compares two versions.
type RuleCompareRequest struct {
	Connection string `json:"connection"`
	Direction  string `json:"direction"`
	From       int    `json:"from"`
	To         int    `json:"to"`
}

// VaultRequest counts a connection's tokens, or purges them.
type VaultRequest struct {
	Connection string `json:"connection"`
	Purge      bool   `json:"purge,omitempty"`
}

// VaultResult is how many tokens the connection had.
type VaultResult struct {
	Tokens int `json:"tokens"`
}

// connID resolves the connection the operator named.
func (a *Agent) connID(ref string) (string, error) {
	c, err := a.findConn(ref)
	if err != nil {
		return "", err
	}
	return c.ID(), nil
}

// ruleMethods registers the rules' control methods on m.
func (a *Agent) ruleMethods(m *control.Mux) {
	control.Handle(m, "rules.show", a.rulesShow)
	control.Handle(m, "rules.version", func(ctx context.Context, req RuleRequest) (RuleVersion, error) {
		id, err := a.connID(req.Connection)
		if err != nil {
			return RuleVersion{}, err
		}
		return a.RuleVersion(ctx, id, req.Direction, req.Version)
	})
	control.Handle(m, "rules.versions", func(ctx context.Context, req RuleVersionsRequest) (RuleVersionsResult, error) {
		id, err := a.connID(req.Connection)
		if err != nil {
			return RuleVersionsResult{}, err
		}
		if req.Limit <= 0 {
			req.Limit = 50
		}
		var res RuleVersionsResult
		if res.Versions, res.Total, err = a.RuleVersions(ctx, id, req.Direction, req.Offset, req.Limit); err != nil {
			return RuleVersionsResult{}, err
		}
		res.Deployments, err = a.RuleDeployments(ctx, id, req.Direction, 0, 20)
		return res, err
	})
	control.Handle(m, "rules.save", func(ctx context.Context, req RuleSaveRequest) (RuleVersion, error) {
		id, err := a.connID(req.Connection)
		if err != nil {
			return RuleVersion{}, err
		}
		v, err := a.SaveRule(ctx, id, req.Direction, req.Draft)
		if err != nil || !req.Deploy || v.CompileError != "" {
			return v, err
		}
		if err := a.DeployRule(ctx, id, req.Direction, v.Number); err != nil {
			return v, err
		}
		return a.RuleVersion(ctx, id, req.Direction, v.Number)
	})
	control.Handle(m, "rules.deploy", func(ctx context.Context, req RuleRequest) (RuleVersion, error) {
		id, err := a.connID(req.Connection)
		if err != nil {
			return RuleVersion{}, err
		}
		if req.Version <= 0 {
			return RuleVersion{}, control.WithCode(fmt.Errorf("name the version to deploy"), control.CodeInvalid)
		}
		if err := a.DeployRule(ctx, id, req.Direction, req.Version); err != nil {
			return RuleVersion{}, err
		}
		return a.RuleVersion(ctx, id, req.Direction, req.Version)
	})
	control.Handle(m, "rules.rollback", func(ctx context.Context, req RuleRequest) (RuleVersion, error) {
		id, err := a.connID(req.Connection)
		if err != nil {
			return RuleVersion{}, err
		}
		return a.RollbackRule(ctx, id, req.Direction)
	})
	control.Handle(m, "rules.test", func(ctx context.Context, req RuleTestRequest) (RuleTestResult, error) {
		id, err := a.connID(req.Connection)
		if err != nil {
			return RuleTestResult{}, err
		}
		return a.TestRule(ctx, id, req.Direction, req.Draft, req.Input)
	})
	control.Handle(m, "rules.compare", func(ctx context.Context, req RuleCompareRequest) (RuleComparison, error) {
		id, err := a.connID(req.Connection)
		if err != nil {
			return RuleComparison{}, err
		}
		return a.CompareRules(ctx, id, req.Direction, req.From, req.To)
	})
	control.Handle(m, "rules.vault", func(ctx context.Context, req VaultRequest) (VaultResult, error) {
		id, err := a.connID(req.Connection)
		if err != nil {
			return VaultResult{}, err
		}
		var n int
		if req.Purge {
			n, err = a.PurgeVault(ctx, id)
		} else {
			n, err = a.VaultTokens(ctx, id)
		}
		return VaultResult{Tokens: n}, err
	})
}

func (a *Agent) rulesShow(ctx context.Context, req RulesShowRequest) ([]RulesSummary, error) {
	var only string
	if req.Connection != "" {
		id, err := a.connID(req.Connection)
		if err != nil {
			return nil, err
		}
		only = id
	}
	var out []RulesSummary
	for _, c := range a.connList() {
		if only != "" && c.ID() != only {
			continue
		}
		rec := c.recSnapshot()
		s := RulesSummary{Connection: rec.ID, PartnerName: rec.PartnerName, State: rec.State}
		var err error
		if s.Outgoing, err = a.RuleVersion(ctx, rec.ID, RuleOutgoing, 0); err != nil {
			return nil, err
		}
		if s.Incoming, err = a.RuleVersion(ctx, rec.ID, RuleIncoming, 0); err != nil {
			return nil, err
		}
		if _, s.OutgoingTotal, err = a.versions.List(rec.ID, RuleOutgoing, 0, 0); err != nil {
			return nil, err
		}
		if _, s.IncomingTotal, err = a.versions.List(rec.ID, RuleIncoming, 0, 0); err != nil {
			return nil, err
		}
		if s.VaultTokens, err = a.vault.Count(rec.ID); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
