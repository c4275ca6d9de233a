package control

import (
	"fmt"
	"net"
	"syscall"
)

// CheckPeer admits c only if the process at its other end runs as uid, by the credentials the
// kernel recorded when it connected (SO_PEERCRED): a user cannot forge them.
func CheckPeer(c net.Conn, uid int) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("%w: not a Unix socket connection", ErrForeignUser)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return fmt.Errorf("%w: read peer credentials: %v", ErrForeignUser, err)
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return fmt.Errorf("%w: read peer credentials: %v", ErrForeignUser, err)
	}
	if credErr != nil {
		return fmt.Errorf("%w: read peer credentials: %v", ErrForeignUser, credErr)
	}
	return checkUID(int(cred.Uid), int(cred.Pid), uid)
}
