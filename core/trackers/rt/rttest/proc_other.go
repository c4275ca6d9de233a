//go:build !unix

package rttest

import (
	"errors"
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
}

func signalGroup(int, bool) error { return errors.New("pausing rt is not supported on this system") }
