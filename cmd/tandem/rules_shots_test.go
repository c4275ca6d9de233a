package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules/model"
)

// TestPrepareRulesScreenshots prepares the data directories the Rules screen's screenshots
// in docs/ are taken from: Blue and Red paired, items at Blue, and a visual outgoing rule
// deployed. It runs only with TANDEM_RULES_SHOTS_DIR set, and leaves the agents' keys in the
// keychain so the app can open Blue's directory afterwards.
func TestPrepareRulesScreenshots(t *testing.T) {
	root := os.Getenv("TANDEM_RULES_SHOTS_DIR")
	if root == "" {
		t.Skip("set TANDEM_RULES_SHOTS_DIR to prepare the Rules screenshots' data")
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(name string) *agent.Agent {
		a, err := agent.Open(ctx, agent.Options{Dir: filepath.Join(root, name), Name: name, Listen: "127.0.0.1:0", Prefix: map[string]string{"Blue": "BLUE", "Red": "RED"}[name], Logger: log,
			Operator: demoOperators[name], Poll: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	blue, red := open("Blue"), open("Red")
	stopBlue, stopRed := serveInBackground(blue), serveInBackground(red)
	inv, err := blue.Invite(ctx, agent.InviteRequest{})
	if err != nil {
		t.Fatal(err)
	}
	code := inv.Code
	info, err := red.Accept(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	conn := info.ID
	r := model.New(model.Outgoing)
	r.Trigger.Conditions = []model.Condition{{Field: "labels", Op: model.OpContains, Value: "partner"}}
	r.Mappings = []model.Mapping{
		{Source: "title", Target: "title", Transform: model.Transform{Kind: model.Copy}},
		{Source: "description", Target: "description", Transform: model.Transform{Kind: model.Mask, Emails: true}},
		{Source: "status", Target: "status", Transform: model.Transform{Kind: model.Map, Values: []model.Pair{{From: "open", To: "to do"}, {From: "in progress", To: "doing"}}, KeepUnmapped: true}},
		{Target: "priority", Transform: model.Transform{Kind: model.Drop}},
		{Source: "labels", Target: "labels", Transform: model.Transform{Kind: model.Map, Values: []model.Pair{{From: "partner", To: ""}}, KeepUnmapped: true}},
		{Source: "custom.customer", Target: "custom.customer", Transform: model.Transform{Kind: model.Tokenize}},
	}
	r.Comments = model.Comments{Include: model.CommentsPublic, MaskEmails: true}
	v, err := blue.SaveRule(ctx, conn, agent.RuleOutgoing, agent.RuleDraft{Mode: agent.RuleVisual, Model: r, Note: "only items labelled partner; Red's status names; priority stays here"})
	if err != nil {
		t.Fatal(err)
	}
	if err := blue.DeployRule(ctx, conn, agent.RuleOutgoing, v.Number); err != nil {
		t.Fatal(err)
	}
	for _, it := range []item.Item{
		{Title: "Printer on floor 3 jams", Description: "Reported by jane.doe@acme.example at reception.", Status: "open", Priority: "high", Labels: []string{"partner", "hardware"}, Custom: map[string]string{"customer": "ACME-4711"}},
		{Title: "VPN drops every hour", Status: "in progress", Priority: "medium", Labels: []string{"partner"}},
		{Title: "Internal: renew the TLS certificate", Status: "open", Priority: "low", Labels: []string{"ops"}},
	} {
		if _, err := blue.CreateItem(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if n, _ := red.Local().Count(ctx); n == 2 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	stopBlue()
	stopRed()
	blue.Close()
	red.Close()
}
