package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// explain turns the errors an operator meets on a first start into one sentence that says what
// to do; anything else passes through as it is.
func explain(err error) string {
	var op *net.OpError
	if errors.Is(err, syscall.EADDRINUSE) && errors.As(err, &op) && op.Op == "listen" {
		return fmt.Sprintf("another program already listens on %s (perhaps another Tandem agent); stop it, or give this agent another address with --listen ADDR (kept for next time)", op.Addr)
	}
	if errors.Is(err, syscall.EADDRNOTAVAIL) && errors.As(err, &op) && op.Op == "listen" {
		return fmt.Sprintf("this machine has no address %s to listen on; give one of its own addresses with --listen ADDR (or 0.0.0.0:PORT for all)", op.Addr)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && (errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)) {
		return fmt.Sprintf("%s is not writable by this user (%v); fix its owner or mode, or give another data directory with --data-dir DIR", pe.Path, pe.Err)
	}
	return err.Error()
}

// writable says whether this process may create files in dir.
func writable(dir string) bool {
	return unix.Access(dir, unix.W_OK) == nil
}
