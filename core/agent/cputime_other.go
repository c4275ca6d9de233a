//go:build !unix

package agent

import "time"

// processCPU is not measured on this platform: the benchmark prints no CPU figure.
func processCPU() time.Duration { return 0 }
