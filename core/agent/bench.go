package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/queue"
	"github.com/tandemsync/tandem/core/secrets"
	"github.com/tandemsync/tandem/core/store"
)

// BenchOptions size a benchmark run.
type BenchOptions struct {
	Changes   int // changes for the throughput run
	Rate      int // changes per second for the latency run
	Duration  time.Duration
	BatchSize int // writes per tracker transaction in the throughput run, and the raw append batch
}

// BenchResult holds the figures of one run, all measured on this machine in the same run.
type BenchResult struct {
	Changes       int
	Elapsed       time.Duration
	Throughput    float64 // changes per second, end to end (written in Blue, applied in Red)
	LatencyRate   int
	LatencyN      int
	P50, P99, Max time.Duration
	RawAppend     float64 // durable bbolt appends per second, same batch size
	BatchSize     int
}

// Ratio is the end-to-end rate as a share of the raw durable append rate.
func (r BenchResult) Ratio() float64 { return r.Throughput / r.RawAppend }

// Print writes the figures for people.
func (r BenchResult) Print(w io.Writer) {
	fmt.Fprintf(w, "end to end:      %d changes in %v = %.0f changes/s (Blue's tracker -> Red's tracker, real HTTPS, fsync on)\n", r.Changes, r.Elapsed.Round(time.Millisecond), r.Throughput)
	fmt.Fprintf(w, "latency at %d/s: p50 %v  p99 %v  max %v  (%d changes, change to applied)\n", r.LatencyRate, r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond), r.LatencyN)
	fmt.Fprintf(w, "raw bbolt:       %.0f durable appends/s in batches of %d (baseline, same run)\n", r.RawAppend, r.BatchSize)
	fmt.Fprintf(w, "ratio:           end to end runs at %.2f of the raw durable append rate\n", r.Ratio())
}

// Bench runs two agents on loopback and measures sustained throughput, latency at a steady
// rate, and the raw durable append rate of bbolt as the baseline.
func Bench(ctx context.Context, opt BenchOptions) (BenchResult, error) {
	if opt.Changes <= 0 {
		opt.Changes = 10000
	}
	if opt.Rate <= 0 {
		opt.Rate = 200
	}
	if opt.Duration <= 0 {
		opt.Duration = 5 * time.Second
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 256
	}
	res := BenchResult{Changes: opt.Changes, LatencyRate: opt.Rate, BatchSize: opt.BatchSize}
	root, err := os.MkdirTemp("", "tandem-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(root)

	raw, err := rawAppendRate(filepath.Join(root, "raw"), opt.Changes, opt.BatchSize)
	if err != nil {
		return res, fmt.Errorf("raw append baseline: %w", err)
	}
	res.RawAppend = raw

	var mu sync.Mutex
	created := map[string]time.Time{}
	var latencies []time.Duration
	appliedCount := 0
	applied := make(chan struct{}, 1)
	onApplied := func(_ string, ap engine.Applied) {
		mu.Lock()
		if t, ok := created[ap.Source]; ok {
			latencies = append(latencies, time.Since(t))
			delete(created, ap.Source)
		}
		appliedCount++
		mu.Unlock()
		select {
		case applied <- struct{}{}:
		default:
		}
	}
	keys := secrets.NewMemory()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	blue, err := Open(ctx, Options{Dir: filepath.Join(root, "blue"), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys, Logger: quiet})
	if err != nil {
		return res, err
	}
	defer blue.Close()
	red, err := Open(ctx, Options{Dir: filepath.Join(root, "red"), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys, Logger: quiet, OnApplied: onApplied})
	if err != nil {
		return res, err
	}
	defer red.Close()
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, a := range []*Agent{blue, red} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.Serve(sctx)
		}()
	}
	defer wg.Wait()
	defer stop()
	inv, err := blue.Invite(ctx, InviteRequest{})
	if err != nil {
		return res, err
	}
	if _, err := red.Accept(ctx, inv.Code); err != nil {
		return res, err
	}

	waitApplied := func(n int, limit time.Duration) error {
		deadline := time.After(limit)
		for {
			mu.Lock()
			done := appliedCount >= n
			mu.Unlock()
			if done {
				return nil
			}
			select {
			case <-applied:
			case <-deadline:
				return fmt.Errorf("only %d of %d changes applied within %v", appliedCount, n, limit)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}

	// Throughput: changes land in Blue's tracker in batches, as a bulk import would write them.
	begin := time.Now()
	for done := 0; done < opt.Changes; {
		n := min(opt.BatchSize, opt.Changes-done)
		writes := make([]engine.Write, n)
		for i := range writes {
			writes[i] = engine.Write{Item: item.Item{Title: fmt.Sprintf("bulk %d", done+i), Description: "bench", Status: "open", Priority: "medium", Labels: []string{"bench"}}}
		}
		if _, err := blue.local.Apply(ctx, writes); err != nil {
			return res, err
		}
		done += n
	}
	if err := waitApplied(opt.Changes, 5*time.Minute); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(begin)
	res.Throughput = float64(opt.Changes) / res.Elapsed.Seconds()

	// Latency: one change at a time at a steady rate, each timed from its write to its apply.
	base := appliedCount
	total := int(float64(opt.Rate) * opt.Duration.Seconds())
	tick := time.NewTicker(time.Second / time.Duration(opt.Rate))
	for i := 0; i < total; i++ {
		<-tick.C
		mu.Lock()
		// Record the time first: the apply can come back before Create returns.
		key := fmt.Sprintf("BLUE-%d", opt.Changes+i+1)
		created[key] = time.Now()
		mu.Unlock()
		it, err := blue.local.Create(ctx, item.Item{Title: fmt.Sprintf("steady %d", i), Status: "open"})
		if err != nil {
			tick.Stop()
			return res, err
		}
		if it.Key != key {
			tick.Stop()
			return res, fmt.Errorf("bench expected key %s, tracker gave %s", key, it.Key)
		}
	}
	tick.Stop()
	if err := waitApplied(base+total, time.Minute); err != nil {
		return res, err
	}
	mu.Lock()
	slices.Sort(latencies)
	res.LatencyN = len(latencies)
	if n := len(latencies); n > 0 {
		res.P50 = latencies[n/2]
		res.P99 = latencies[min(n-1, n*99/100)]
		res.Max = latencies[n-1]
	}
	mu.Unlock()
	return res, nil
}

// rawAppendRate measures durable appends per second into a bbolt-backed queue in batches.
func rawAppendRate(dir string, n, batch int) (float64, error) {
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	q, err := queue.Open(st, "raw")
	if err != nil {
		return 0, err
	}
	payload := []byte(`{"source":"BLUE-1","replica":{"title":"bulk 1","description":"bench","status":"open","priority":"medium","labels":["bench"]}}`)
	begin := time.Now()
	for done := 0; done < n; {
		k := min(batch, n-done)
		evs := make([]queue.Event, k)
		for i := range evs {
			evs[i] = queue.Event{ID: queue.NewID(), ItemKey: fmt.Sprint("BLUE-", done+i), Kind: engine.KindCreate, Payload: payload}
		}
		if err := st.DB().Update(func(tx *bolt.Tx) error { _, err := q.Append(tx, evs); return err }); err != nil {
			return 0, err
		}
		done += k
	}
	return float64(n) / time.Since(begin).Seconds(), nil
}
