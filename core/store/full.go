package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
)

// fullErrnos are the errors of a write refused for want of room.
var fullErrnos = []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG}

// DiskFull reports whether err is a write refused for want of room: the disk or the user's
// quota is full, or the file may not grow (a file-size limit). bbolt reports a file it could
// not grow with the cause's text only ("file resize error: ...: file too large"), so the text
// is matched too.
func DiskFull(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, e := range fullErrnos {
		if errors.Is(err, e) || strings.HasSuffix(msg, e.Error()) {
			return true
		}
	}
	return false
}

// Explain returns err in an operator's words when it is a full disk, naming the directory to
// free space in, and err unchanged otherwise. A write refused so commits nothing: what was
// accepted before stays, and what waits is tried again.
func (s *Store) Explain(err error) error {
	if err == nil || !DiskFull(err) {
		return err
	}
	return fmt.Errorf("the disk holding Tandem's data (%s) is full or the file may not grow: free space there; nothing accepted is lost, and Tandem tries again by itself (%w)", filepath.Dir(s.path), err)
}
