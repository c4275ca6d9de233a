package local

import (
	"context"
	"strconv"
	"testing"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
)

func createWrites(n int) []engine.Write {
	ws := make([]engine.Write, n)
	for i := range ws {
		ws[i] = engine.Write{
			Item: item.Item{
				Title:       "Item " + strconv.Itoa(i),
				Description: "A description of moderate length, as a ticket would have.",
				Labels:      []string{"bench"},
				Reporter:    item.User{ID: "bench", Name: "Bench Mark"},
				Custom:      map[string]string{"site": "Lisbon"},
			},
			NewComments: []item.Comment{{Body: "first comment"}},
		}
	}
	return ws
}

// BenchmarkApplyCreates compares batch sizes on a real, fsyncing bbolt file: the ns/item of
// batch=256 against batch=1 is what one transaction per batch buys.
func BenchmarkApplyCreates(b *testing.B) {
	for _, size := range []int{1, 256} {
		b.Run("batch="+strconv.Itoa(size), func(b *testing.B) {
			tr := newTracker(b)
			ws := createWrites(size)
			ctx := context.Background()
			for b.Loop() {
				res, err := tr.Apply(ctx, ws)
				if err != nil {
					b.Fatal(err)
				}
				if res[size-1].Err != nil {
					b.Fatal(res[size-1].Err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/item")
		})
	}
}

// BenchmarkChanges reads the whole feed of 10,000 items in pages of 500, as the engine does
// after a restart with an empty cursor.
func BenchmarkChanges(b *testing.B) {
	const items, page = 10_000, 500
	tr := newTracker(b)
	ctx := context.Background()
	ws := createWrites(1000)
	for range items / len(ws) {
		if _, err := tr.Apply(ctx, ws); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		cursor, seen := "", 0
		for {
			got, next, err := tr.Changes(ctx, cursor, page)
			if err != nil {
				b.Fatal(err)
			}
			if len(got) == 0 {
				break
			}
			seen += len(got)
			cursor = next
		}
		if seen != items {
			b.Fatalf("read %d items, want %d", seen, items)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*items), "ns/item")
}
