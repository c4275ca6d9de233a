package agent

import (
	"context"
	"fmt"
	"os/user"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
)

// What the operator writes on the Tracker screen carries their name, locally and at the partner.
func TestOperatorIsAuthorAndReporter(t *testing.T) {
	keys := testKeys(t)
	ctx := context.Background()
	bea := item.User{ID: "bea", Name: "Bea Blue"}
	blue := start(t, Options{Dir: t.TempDir(), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys, Operator: bea})
	red := start(t, Options{Dir: t.TempDir(), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys})
	pair(t, blue, red)

	it, err := blue.CreateItem(ctx, item.Item{Title: "Printer jammed"})
	if err != nil {
		t.Fatal(err)
	}
	if it.Reporter != bea {
		t.Errorf("reporter of a new item: got %+v, want the operator %+v", it.Reporter, bea)
	}
	if _, err := blue.AddComment(ctx, it.Key, item.Comment{Body: "Tray 2 again."}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the comment at red with its author", func() (bool, string) {
		got, ok := findItem(t, red, "Printer jammed")
		return ok && len(got.Comments) == 1 && got.Comments[0].Author.Name == "Bea Blue", fmt.Sprintf("%+v", got.Comments)
	})

	// Red names no operator: the OS user it runs as writes.
	got, _ := findItem(t, red, "Printer jammed")
	c, err := red.AddComment(ctx, got.Key, item.Comment{Body: "Ordered a new roller."})
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Skip("no OS user to compare with:", err)
	}
	if c.Author.ID != u.Username || c.Author.Name == "" {
		t.Errorf("author without an operator set: got %+v, want the OS user %q", c.Author, u.Username)
	}
	// A caller that names an author keeps it.
	c, err = red.AddComment(ctx, got.Key, item.Comment{Author: item.User{Name: "Rob Red"}, Body: "Fixed."})
	if err != nil || c.Author.Name != "Rob Red" {
		t.Errorf("named author: got %+v, %v", c.Author, err)
	}
}
