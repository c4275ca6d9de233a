package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/tandemsync/tandem/core/agent"
)

func runBench(ctx context.Context, n, rate, secs, backlog int, cpuProfile string) error {
	serverGC()
	fmt.Printf("Two agents on loopback, %d cores, GOGC %s as tandem serve runs them; measuring (this takes a little while)...\n", runtime.NumCPU(), gcPercent())
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

// gcPercent is the collector's setting, as GOGC spells it.
func gcPercent() string {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	if p < 0 {
		return "off"
	}
	return strconv.Itoa(p)
}
