package connector

import (
	"context"
	"strings"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
)

// ApplyEach performs writes one at a time with apply, for trackers without a batch API: a
// failed write does not stop the later ones; once ctx is done the rest fail with its error.
func ApplyEach(ctx context.Context, writes []engine.Write, apply func(context.Context, engine.Write) engine.WriteResult) ([]engine.WriteResult, error) {
	results := make([]engine.WriteResult, len(writes))
	for i, w := range writes {
		if err := ctx.Err(); err != nil {
			for j := i; j < len(writes); j++ {
				results[j].Err = err
			}
			return results, err
		}
		results[i] = apply(ctx, w)
	}
	return results, nil
}

// PostedBefore finds, among the comments on an item, those an earlier attempt at a write
// posted before its answer was lost: for each of added, a comment of the same kind, author
// line and text that is not in known (linked to another partner comment) and not taken by an
// earlier one of added. It answers their ids by index into added.
func PostedBefore(added, onItem []item.Comment, known map[string]bool) map[int]string {
	found := map[int]string{}
	taken := map[string]bool{}
	for i, c := range added {
		want := strings.TrimSpace(WithAuthor(c.Author, c.Body))
		for _, x := range onItem {
			if known[x.ID] || taken[x.ID] || x.Internal != c.Internal {
				continue
			}
			if strings.TrimSpace(WithAuthor(x.Author, x.Body)) == want {
				found[i], taken[x.ID] = x.ID, true
				break
			}
		}
	}
	return found
}
