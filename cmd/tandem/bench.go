package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/tandemsync/tandem/core/agent"
)

func runBench(ctx context.Context, n, rate, secs, backlog int, cpuProfile string) error {
	fmt.Printf("Two agents on loopback, %d cores; measuring (this takes a little while)...\n", runtime.NumCPU())
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	res, err := agent.Bench(ctx, agent.BenchOptions{Changes: n, Rate: rate, Duration: time.Duration(secs) * time.Second, Backlog: backlog})
	if err != nil {
		return err
	}
	res.Print(os.Stdout)
	return nil
}
