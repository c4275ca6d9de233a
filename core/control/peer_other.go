//go:build !linux

package control

import (
	"fmt"
	"net"
)

// CheckPeer refuses every connection where this build cannot read peer credentials: the
// socket's mode 0600 alone is not the check the control channel promises.
func CheckPeer(c net.Conn, uid int) error {
	return fmt.Errorf("%w: this platform's peer credentials are not supported yet", ErrForeignUser)
}
