package httpx

import (
	"context"
	"fmt"
)

// Page is one page of a paged listing.
type Page[T any] struct {
	Items []T
	More  bool // another page follows
}

// Collect fetches pages 1, 2, ... until a page says there is no more, or until max items are
// gathered (max <= 0: no bound). maxPages guards against a tracker that always says "more".
func Collect[T any](ctx context.Context, max, maxPages int, fetch func(ctx context.Context, page int) (Page[T], error)) ([]T, error) {
	var all []T
	for page := 1; ; page++ {
		if maxPages > 0 && page > maxPages {
			return all, fmt.Errorf("listing still not finished after %d pages", maxPages)
		}
		p, err := fetch(ctx, page)
		if err != nil {
			return all, fmt.Errorf("page %d: %w", page, err)
		}
		all = append(all, p.Items...)
		if max > 0 && len(all) >= max {
			return all[:max], nil
		}
		if !p.More || len(p.Items) == 0 {
			return all, nil
		}
	}
}
