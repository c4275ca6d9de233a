package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/tandemsync/tandem/core/agent"
)

func runBench(ctx context.Context, n, rate, secs, backlog int) error {
	fmt.Printf("Two agents on loopback, %d cores; measuring (this takes a little while)...\n", runtime.NumCPU())
	res, err := agent.Bench(ctx, agent.BenchOptions{Changes: n, Rate: rate, Duration: time.Duration(secs) * time.Second, Backlog: backlog})
	if err != nil {
		return err
	}
	res.Print(os.Stdout)
	return nil
}
