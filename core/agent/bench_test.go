package agent

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The benchmark itself runs in `tandem bench`; this runs it small, so it keeps working.
func TestBenchRunsEndToEnd(t *testing.T) {
	res, err := Bench(context.Background(), BenchOptions{Changes: 300, Rate: 50, Duration: time.Second, BatchSize: 100, Backlog: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Throughput <= 0 || res.RawAppend <= 0 || res.LatencyN != 50 || res.DrainRate <= 0 || res.RestartLoaded <= 0 {
		t.Errorf("figures missing: %+v", res)
	}
	// A create costs an outgoing run at Blue, an incoming and an outgoing (its echo's hash)
	// at Red; receipts cost none.
	if res.RuleRunsPerChange < 2.5 || res.RuleRunsPerChange > 3.5 {
		t.Errorf("rule runs per change: %.2f, want about 3", res.RuleRunsPerChange)
	}
	var out bytes.Buffer
	res.Print(&out)
	t.Log("\n" + out.String())
	for _, want := range []string{"end to end", "rule runs", "drain", "restart"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed figures lack %q:\n%s", want, out.String())
		}
	}
}
