package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules"
)

func TestConnectionRulesDecideWhatLeaves(t *testing.T) {
	keys := testKeys(t)
	blue := start(t, Options{Dir: t.TempDir(), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys})
	red := start(t, Options{Dir: t.TempDir(), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys})
	conn := pair(t, blue, red)
	ctx := context.Background()

	rs, err := red.Rules(conn)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Kind != TrackerEmbedded || rs.Outgoing != rules.DefaultOutgoing {
		t.Fatalf("a new connection's rules: got kind %q, want the embedded defaults", rs.Kind)
	}

	// A broken rule is refused with its line, and the working one stays.
	if err := blue.SetRules(conn, RuleSources{Outgoing: "package rule\n\nfunc Outgoing(", Incoming: rules.DefaultIncoming}); err == nil || !strings.Contains(err.Error(), ":") {
		t.Fatalf("SetRules with a syntax error: got %v, want an error naming the line", err)
	}
	masking := strings.Replace(rules.DefaultOutgoing, "replica.Description = item.Description", "replica.Description = ctx.MaskEmails(item.Description)", 1)
	if masking == rules.DefaultOutgoing {
		t.Fatal("the default outgoing rule changed shape; update this test")
	}
	if err := blue.SetRules(conn, RuleSources{Outgoing: masking, Incoming: rules.DefaultIncoming}); err != nil {
		t.Fatalf("SetRules: %v", err)
	}
	if _, err := blue.CreateItem(ctx, item.Item{Title: "call back", Description: "customer is alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "masked item in red", func() (bool, string) {
		items, _ := red.Items(ctx)
		if len(items) != 1 {
			return false, fmt.Sprintf("%d items", len(items))
		}
		return !strings.Contains(items[0].Description, "alice@example.com") && strings.Contains(items[0].Description, "@example.com"), items[0].Description
	})
	if got, _ := blue.Rules(conn); got.Kind != "" || got.Outgoing != masking {
		t.Errorf("blue's rules after SetRules: kind %q, outgoing changed %v", got.Kind, got.Outgoing != masking)
	}
}
