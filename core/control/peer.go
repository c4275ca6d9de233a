package control

import "fmt"

// checkUID is the rule CheckPeer applies to the credentials it read: the same user only.
func checkUID(peerUID, peerPID, uid int) error {
	if peerUID != uid {
		return fmt.Errorf("%w: a process of uid %d (pid %d) connected; the agent runs as uid %d", ErrForeignUser, peerUID, peerPID, uid)
	}
	return nil
}
