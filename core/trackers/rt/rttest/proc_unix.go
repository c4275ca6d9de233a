//go:build unix

package rttest

import "syscall"

// sysProcAttr puts rt-server in a process group of its own, so Stop reaches its workers.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func killGroup(pid int) {
	syscall.Kill(-pid, syscall.SIGTERM)
	syscall.Kill(-pid, syscall.SIGCONT) // a paused group must wake to die
}

func signalGroup(pid int, resume bool) error {
	sig := syscall.SIGSTOP
	if resume {
		sig = syscall.SIGCONT
	}
	return syscall.Kill(-pid, sig)
}
