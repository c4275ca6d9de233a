package ui

import (
	"context"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/tandemsync/tandem/core/agent"
)

// BenchmarkQueueFirstRows measures the time from showing the Queue screen to its first rows,
// on a real agent with 10,000 items and 100,000 queued events (bbolt on disk), beside the
// baseline of the same run: the read the screen did before pages and indexes (the first
// 10,000 events decoded, every refresh).
func BenchmarkQueueFirstRows(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	start := time.Now()
	keys := agent.MemoryKeys()
	connID, err := agent.PrepareBacklog(ctx, dir, keys, 10000, 100000)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("prepared 10,000 items and 100,000 queued events in %v", time.Since(start).Round(time.Second))
	a, err := agent.Open(ctx, agent.Options{Dir: dir, Keys: keys})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	test.NewTempApp(b)

	b.Run("first-rows", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			u := New(a, Options{})
			u.refresh(ctx)
			u.pending.Wait()
			b.StartTimer()
			test.Tap(u.nav[screenQueue])
			for !u.queue.rows.known || !u.queue.rows.loaded() {
				u.pending.Wait()
			}
			b.StopTimer()
			if u.queue.rows.total != 100000 {
				b.Fatalf("the screen shows %d events, want 100000", u.queue.rows.total)
			}
			if _, ok := u.queue.rows.row(0); !ok {
				b.Fatal("no first row")
			}
			b.StartTimer()
		}
	})
	b.Run("baseline-list-10000", func(b *testing.B) {
		for range b.N {
			if _, err := a.Queue(ctx, connID, "out"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTrackerRead measures one refresh of the Tracker screen on a real agent with 10,000
// items (bbolt on disk, one connection): the page of 100 summaries, their sync states and the
// open item in full, beside the baseline of the same run: the read the screen did before
// pages (every item in full, then the sync state of all 10,000), on every refresh.
func BenchmarkTrackerRead(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	start := time.Now()
	keys := agent.MemoryKeys()
	if _, err := agent.PrepareBacklog(ctx, dir, keys, 10000, 10000); err != nil {
		b.Fatal(err)
	}
	b.Logf("prepared 10,000 items in %v", time.Since(start).Round(time.Second))
	a, err := agent.Open(ctx, agent.Options{Dir: dir, Keys: keys})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	test.NewTempApp(b)
	u := New(a, Options{})
	defer u.pending.Wait()
	s := &u.tracker
	s.want.Store(&trackerWant{offset: 5000, key: "BLUE-4000"})

	b.Run("page", func(b *testing.B) {
		for range b.N {
			r, err := s.read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if r.page.Total != 10000 || len(r.page.Items) != trackerPageSize || len(r.sync) != trackerPageSize+1 || r.open.Key != "BLUE-4000" {
				b.Fatalf("read %d of %d items, %d sync states, open %q", len(r.page.Items), r.page.Total, len(r.sync), r.open.Key)
			}
		}
	})
	b.Run("baseline-all-10000", func(b *testing.B) {
		for range b.N {
			items, err := a.Items(ctx)
			if err != nil || len(items) != 10000 {
				b.Fatal(len(items), err)
			}
			keys := make([]string, len(items))
			for i, it := range items {
				keys[i] = it.Key
			}
			if _, err := a.ItemSync(ctx, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
}
