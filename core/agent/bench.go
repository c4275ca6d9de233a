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
	Changes   int // changes for the throughput run; 0: 10,000; negative: no throughput run
	Rate      int // changes per second for the latency run
	Duration  time.Duration
	BatchSize int // writes per tracker transaction in the throughput run, and the raw append batch
	Backlog   int // events queued while the partner is stopped, for the drain and restart runs; 0: 100,000
}

// BenchResult holds the figures of one run, all measured on this machine in the same run.
type BenchResult struct {
	Changes       int
	Elapsed       time.Duration
	Throughput    float64 // changes per second, end to end (written in Blue, applied in Red)
	LatencyRate   int
	LatencyN      int
	P50, P99, Max time.Duration
	// LatencyCommits is the committed (fsynced) transactions per change in the latency run,
	// both agents together: one change at a time, each commit is a wait on its path.
	LatencyCommits float64
	RawAppend      float64 // durable bbolt appends per second, same batch size
	BatchSize      int

	// Work per change in the throughput run, both agents together.
	RuleRunsPerChange, CommitsPerChange float64
	// CPUPerChange is the CPU time (user and system) the process spent per change in the
	// throughput run: both agents and the TLS between them. Unlike the rates it hardly depends
	// on what else the machine runs; 0 where it is not measured.
	CPUPerChange time.Duration

	// The partner stopped while Backlog events queued, then back.
	Backlog       int
	DrainRate     float64       // events applied per second once the partner serves again
	DrainCPU      time.Duration // CPU time of both agents per event drained; 0 where not measured
	FirstApplied  time.Duration // from the partner serving again to its first applied change
	RestartLoaded time.Duration // reopening the agent with the backlog queued until it serves
	RestartEmpty  time.Duration // the same for the partner with empty queues (baseline)
}

// Ratio is the end-to-end rate as a share of the raw durable append rate.
func (r BenchResult) Ratio() float64 { return r.Throughput / r.RawAppend }

// Print writes the figures for people.
func (r BenchResult) Print(w io.Writer) {
	if r.Changes > 0 {
		fmt.Fprintf(w, "end to end:      %d changes in %v = %.0f changes/s (Blue's tracker -> Red's tracker, real HTTPS, fsync on)\n", r.Changes, r.Elapsed.Round(time.Millisecond), r.Throughput)
	}
	fmt.Fprintf(w, "latency at %d/s: p50 %v  p99 %v  max %v  (%d changes, change to applied; %.2f commits per change, both agents, Blue's own write included)\n", r.LatencyRate, r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond), r.LatencyN, r.LatencyCommits)
	fmt.Fprintf(w, "raw bbolt:       %.0f durable appends/s in batches of %d (baseline, same run)\n", r.RawAppend, r.BatchSize)
	if r.Changes > 0 {
		fmt.Fprintf(w, "ratio:           end to end runs at %.2f of the raw durable append rate\n", r.Ratio())
		fmt.Fprintf(w, "work per change: %.2f rule runs, %.3f committed (fsynced) transactions, both agents together\n", r.RuleRunsPerChange, r.CommitsPerChange)
		if r.CPUPerChange > 0 {
			fmt.Fprintf(w, "cpu per change:  %v, both agents together (%.0f changes/s per core if CPU were all that limits it)\n", r.CPUPerChange.Round(time.Microsecond), float64(time.Second)/float64(r.CPUPerChange))
		}
	}
	if r.Backlog > 0 {
		fmt.Fprintf(w, "drain:           %d events queued while the partner was stopped, applied at %.0f events/s (%.2f of the raw append rate); first change applied %v after it served again\n",
			r.Backlog, r.DrainRate, r.DrainRate/r.RawAppend, r.FirstApplied.Round(time.Millisecond))
		if r.DrainCPU > 0 {
			fmt.Fprintf(w, "drain cpu:       %v per event, both agents together (%.0f events/s per core if CPU were all that limits it)\n", r.DrainCPU.Round(time.Microsecond), float64(time.Second)/float64(r.DrainCPU))
		}
		fmt.Fprintf(w, "restart:         %v until serving with %d events queued, against %v with empty queues (baseline)\n",
			r.RestartLoaded.Round(time.Millisecond), r.Backlog, r.RestartEmpty.Round(time.Millisecond))
	}
}

// Bench runs two agents on loopback and measures sustained throughput, latency at a steady
// rate, and the raw durable append rate of bbolt as the baseline.
func Bench(ctx context.Context, opt BenchOptions) (BenchResult, error) {
	skipThroughput := opt.Changes < 0
	if opt.Changes == 0 {
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

	raw, err := rawAppendRate(filepath.Join(root, "raw"), max(opt.Changes, 10000), opt.BatchSize)
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
	blueOpt := Options{Dir: filepath.Join(root, "blue"), Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys, Logger: quiet}
	redOpt := Options{Dir: filepath.Join(root, "red"), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys, Logger: quiet, OnApplied: onApplied}
	blue, err := startBench(ctx, &blueOpt)
	if err != nil {
		return res, err
	}
	defer func() {
		if blue != nil {
			blue.stop()
		}
	}()
	red, err := startBench(ctx, &redOpt)
	if err != nil {
		return res, err
	}
	defer func() {
		if red != nil {
			red.stop()
		}
	}()
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

	if skipThroughput {
		opt.Changes, res.Changes = 0, 0
	} else {
		// Throughput: changes land in Blue's tracker in batches, as a bulk import would write them.
		blueRuns, blueCommits := blue.Work()
		redRuns, redCommits := red.Work()
		cpu := processCPU()
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
		if used := processCPU() - cpu; used > 0 {
			res.CPUPerChange = used / time.Duration(opt.Changes)
		}
		// Receipts may still be on their way back: let the agents go quiet before counting.
		time.Sleep(time.Second)
		br, bc := blue.Work()
		rr, rc := red.Work()
		res.RuleRunsPerChange = float64(br-blueRuns+rr-redRuns) / float64(opt.Changes)
		// Blue's own tracker writes are the changes themselves, not the sync's work.
		imports := int64((opt.Changes + opt.BatchSize - 1) / opt.BatchSize)
		res.CommitsPerChange = float64(bc-blueCommits-imports+rc-redCommits) / float64(opt.Changes)
	}

	// Latency: one change at a time at a steady rate, each timed from its write to its apply.
	base := appliedCount
	_, blueCommits := blue.Work()
	_, redCommits := red.Work()
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
	_, bc := blue.Work()
	_, rc := red.Work()
	res.LatencyCommits = float64(bc-blueCommits+rc-redCommits) / float64(total)
	mu.Lock()
	slices.Sort(latencies)
	res.LatencyN = len(latencies)
	if n := len(latencies); n > 0 {
		res.P50 = latencies[n/2]
		res.P99 = latencies[min(n-1, n*99/100)]
		res.Max = latencies[n-1]
	}
	mu.Unlock()

	if opt.Backlog < 0 {
		return res, nil
	}
	if opt.Backlog == 0 {
		opt.Backlog = 100000
	}
	res.Backlog = opt.Backlog
	// The partner stops for a long stretch while the backlog queues in Blue's outbox.
	red.stop()
	base = appliedCount
	for done := 0; done < opt.Backlog; {
		n := min(1000, opt.Backlog-done)
		writes := make([]engine.Write, n)
		for i := range writes {
			writes[i] = engine.Write{Item: item.Item{Title: fmt.Sprintf("backlog %d", done+i), Status: "open"}}
		}
		if _, err := blue.local.Apply(ctx, writes); err != nil {
			return res, err
		}
		done += n
	}
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		c, err := blue.Connections(ctx)
		if err != nil {
			return res, err
		}
		if len(c) == 1 && c[0].Outbox >= opt.Backlog {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("the backlog did not queue within 10 minutes: %+v", c)
		}
	}
	// Blue restarts with the backlog queued.
	blue.stop()
	began := time.Now()
	if blue, err = startBench(ctx, &blueOpt); err != nil {
		return res, err
	}
	res.RestartLoaded = time.Since(began)
	// The partner comes back: its restart (empty queues) is the baseline; then the drain.
	began = time.Now()
	if red, err = startBench(ctx, &redOpt); err != nil {
		return res, err
	}
	back, drainCPU := time.Now(), processCPU()
	res.RestartEmpty = back.Sub(began)
	firstSeen := make(chan time.Time, 1)
	go func() { // ends when the first change arrives or the drain below gives up
		for {
			mu.Lock()
			n := appliedCount
			mu.Unlock()
			if n > base {
				firstSeen <- time.Now()
				return
			}
			if time.Since(back) > 10*time.Minute {
				close(firstSeen)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	if err := waitApplied(base+opt.Backlog, 10*time.Minute); err != nil {
		return res, err
	}
	res.DrainRate = float64(opt.Backlog) / time.Since(back).Seconds()
	if used := processCPU() - drainCPU; used > 0 && drainCPU > 0 {
		res.DrainCPU = used / time.Duration(opt.Backlog)
	}
	if first, ok := <-firstSeen; ok {
		res.FirstApplied = first.Sub(back)
	}
	return res, nil
}

// benchAgent is an agent the benchmark runs and can stop and start again.
type benchAgent struct {
	*Agent
	stop func()
}

// startBench opens and serves an agent, returning once it serves; it pins opt.Listen to the
// address it got, so a restart comes back where the partner expects it.
func startBench(ctx context.Context, opt *Options) (*benchAgent, error) {
	a, err := Open(ctx, *opt)
	if err != nil {
		return nil, err
	}
	if a.ln != nil {
		opt.Listen = a.ln.Addr().String()
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Serve(sctx)
	}()
	for {
		a.mu.Lock()
		serving := a.serving
		a.mu.Unlock()
		if serving {
			break
		}
		select {
		case <-done:
			cancel()
			a.Close()
			return nil, fmt.Errorf("agent %s stopped while starting", opt.Name)
		case <-time.After(time.Millisecond):
		}
	}
	stopped := false
	return &benchAgent{Agent: a, stop: func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		a.Close()
	}}, nil
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
