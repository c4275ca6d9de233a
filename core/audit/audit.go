// Package audit is the tamper-evident log of configuration changes: pairing, verification,
// pause, resume, revoke, rule deploys and rollbacks, settings and secret changes (never the
// values). Each entry has the time, the OS user, a kind and what changed, and is chained to
// the entry before it by SHA-256, so an entry edited, removed, inserted or reordered breaks
// the chain at that place, and Verify says where.
//
// Recording a change from anywhere in the agent:
//
//	if err := a.audit.Record(ctx, audit.KindRuleDeploy, "connection 4f2a…: outgoing rule version 7"); err != nil { ... }
//
// The log is kept apart from the sync history: it lives longer and is verified, not searched.
package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// FileName is the audit log inside a data directory.
const FileName = "audit.log"

// Kinds of change. Callers may use others; these are the ones Tandem records.
const (
	KindAgent        = "agent"        // the agent's name, listen address or URL
	KindInvitation   = "invitation"   // an invitation created or cancelled
	KindPairing      = "pairing"      // a connection made (either side)
	KindVerification = "verification" // the operator confirmed the verification codes match
	KindPause        = "pause"
	KindResume       = "resume"
	KindRevoke       = "revoke"      // by this operator, or by the partner
	KindAllowList    = "allow-list"  // a connection's partner IP ranges
	KindRuleDeploy   = "rule-deploy" // a rule version deployed
	KindRuleRollback = "rule-rollback"
	KindSettings     = "settings" // tracker and other settings
	KindSecret       = "secret"   // a credential stored, replaced or removed (never its value)
)

// Entry is one recorded change. Hash is SHA-256 over Prev and the other fields (see hash).
type Entry struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	User string    `json:"user"`
	Kind string    `json:"kind"`
	What string    `json:"what"`
	Prev string    `json:"prev"` // the Hash of the entry before; "" for the first
	Hash string    `json:"hash"`
}

// hash is the entry's chain hash: SHA-256 of a fixed, versioned encoding of every field but
// Hash. JSON of a struct with fixed field order is that encoding.
func (e Entry) hash() string {
	c := e
	c.Hash = ""
	b, _ := json.Marshal(c) // a struct of strings, numbers and a time always encodes
	h := sha256.New()
	h.Write([]byte("tandem audit v1\x00"))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// maxLine bounds one entry on disk; What is cut to fit well below it.
const (
	maxLine = 64 << 10
	maxWhat = 8 << 10
)

// Log appends entries to the audit file of one data directory. Only the process that holds the
// data directory (its database lock) writes; Verify may read at any time.
type Log struct {
	mu   sync.Mutex
	f    *os.File
	path string
	seq  uint64
	head string
	user string
	now  func() time.Time
}

// Open opens (creating if needed) the audit log in dir, mode 0600, ready to append after the
// last entry. A last line cut short by a crash stays in the file (Verify reports it); new
// entries chain to the last complete one.
func Open(dir string) (*Log, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	l := &Log{f: f, path: path, user: osUser(), now: time.Now}
	last, complete, err := lastEntry(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open audit log %s: %w", path, err)
	}
	if !complete {
		// Start the next entry on a line of its own.
		if _, err := f.Write([]byte("\n")); err != nil {
			f.Close()
			return nil, fmt.Errorf("open audit log: %w", err)
		}
	}
	if last != nil {
		l.seq, l.head = last.Seq, last.Hash
	}
	return l, nil
}

// Path is the audit file.
func (l *Log) Path() string { return l.path }

type userKey struct{}

// WithUser names who makes the changes recorded under ctx, when it is not the OS user this
// process runs as.
func WithUser(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, userKey{}, name)
}

// Record appends one change and syncs it to disk. what says what changed in words an auditor
// understands; it must never hold a secret's value.
func (l *Log) Record(ctx context.Context, kind, what string) error {
	if kind == "" {
		return errors.New("audit: record without a kind")
	}
	u := l.user
	if v, ok := ctx.Value(userKey{}).(string); ok && v != "" {
		u = v
	}
	what = strings.ToValidUTF8(what, "?")
	if len(what) > maxWhat {
		what = what[:maxWhat] + "…"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("audit: the log is closed")
	}
	e := Entry{Seq: l.seq + 1, Time: l.now().UTC(), User: u, Kind: kind, What: what, Prev: l.head}
	e.Hash = e.hash()
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: encode entry: %w", err)
	}
	if _, err := l.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("audit: write %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit: sync %s: %w", l.path, err)
	}
	l.seq, l.head = e.Seq, e.Hash
	return nil
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Report is what Verify found.
type Report struct {
	Entries int    // complete entries read
	OK      bool   // the whole chain holds
	Line    int    // where it breaks: the 1-based line number; 0 when OK
	Seq     uint64 // the seq of the entry at Line, when it could be read
	Reason  string // why it breaks, in words
	Last    Entry  // the last entry read
}

// String is one line for the operator.
func (r Report) String() string {
	if r.OK {
		if r.Entries == 0 {
			return "The audit log is empty."
		}
		return fmt.Sprintf("The audit log holds %d entries and its chain is intact (last: #%d at %s).", r.Entries, r.Last.Seq, r.Last.Time.Local().Format(time.DateTime))
	}
	return fmt.Sprintf("The audit log's chain breaks at line %d: %s. Entries from there on cannot be trusted.", r.Line, r.Reason)
}

// VerifyFile checks the chain of the audit log at path (a data directory's FileName).
func VerifyFile(path string) (Report, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Report{OK: true}, nil
	}
	if err != nil {
		return Report{}, fmt.Errorf("verify audit log: %w", err)
	}
	defer f.Close()
	return Verify(f)
}

// Verify reads an audit log from r and checks every entry: that it decodes, that its seq
// follows the one before, that Prev is the hash of the entry before and Hash its own. It stops
// at the first break. It reads line by line, so a long log costs no more memory than one entry.
func Verify(r io.Reader) (Report, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var rep Report
	var prev *Entry
	for line := 1; ; line++ {
		raw, err := readLine(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return rep, fmt.Errorf("verify audit log: %w", err)
		}
		fail := func(seq uint64, format string, args ...any) (Report, error) {
			rep.Line, rep.Seq, rep.Reason = line, seq, fmt.Sprintf(format, args...)
			return rep, nil
		}
		if len(raw) == 0 {
			// An empty line is what Open leaves after a crash cut the line before short.
			return fail(0, "an empty line (an entry was cut short or removed)")
		}
		if len(raw) > maxLine {
			return fail(0, "a line of %d bytes, longer than any entry", len(raw))
		}
		var e Entry
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return fail(0, "the line is not an audit entry (%v)", err)
		}
		switch {
		case prev == nil && e.Seq != 1:
			return fail(e.Seq, "the first entry is #%d, not #1 (earlier entries were removed)", e.Seq)
		case prev != nil && e.Seq != prev.Seq+1:
			return fail(e.Seq, "entry #%d follows #%d (entries were removed, added or reordered)", e.Seq, prev.Seq)
		case prev == nil && e.Prev != "":
			return fail(e.Seq, "the first entry points to an entry before it")
		case prev != nil && e.Prev != prev.Hash:
			return fail(e.Seq, "entry #%d does not point to the hash of entry #%d (an entry was changed or replaced)", e.Seq, prev.Seq)
		case e.Hash != e.hash():
			return fail(e.Seq, "entry #%d was changed after it was written (its hash does not match its content)", e.Seq)
		}
		rep.Entries++
		rep.Last = e
		prev = &rep.Last
	}
	rep.OK = true
	return rep, nil
}

// readLine reads one line without its newline; a last line without one is returned as is.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		part, err := br.ReadSlice('\n')
		if len(buf) <= maxLine {
			buf = append(buf, part...)
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(buf, []byte("\n")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(buf) > 0:
			return buf, nil
		default:
			return nil, err
		}
	}
}

// Tail returns up to n of the last entries, oldest first, reading only the end of the file.
func (l *Log) Tail(n int) ([]Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.Open(l.path)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer f.Close()
	return tail(f, n)
}

// tail reads backwards from the end of f in blocks until it has n complete lines.
func tail(f *os.File, n int) ([]Entry, error) {
	if n <= 0 {
		return nil, nil
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	const block = 32 << 10
	end := fi.Size()
	var buf []byte
	for off := end; ; {
		start := max(off-block, 0)
		chunk := make([]byte, off-start)
		if _, err := f.ReadAt(chunk, start); err != nil && err != io.EOF {
			return nil, err
		}
		buf = append(chunk, buf...)
		off = start
		if off == 0 || bytes.Count(buf, []byte("\n")) > n+1 || len(buf) > n*maxLine {
			lines := bytes.Split(bytes.TrimRight(buf, "\n"), []byte("\n"))
			if off > 0 {
				lines = lines[1:] // the first may be partial
			}
			var out []Entry
			for _, ln := range lines {
				var e Entry
				if json.Unmarshal(ln, &e) == nil && e.Seq > 0 {
					out = append(out, e)
				}
			}
			if len(out) > n {
				out = out[len(out)-n:]
			}
			return out, nil
		}
	}
}

// lastEntry finds the last complete entry of f, and whether the file ends with a newline (or
// is empty).
func lastEntry(f *os.File) (*Entry, bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	if fi.Size() == 0 {
		return nil, true, nil
	}
	var lastByte [1]byte
	if _, err := f.ReadAt(lastByte[:], fi.Size()-1); err != nil {
		return nil, false, err
	}
	entries, err := tail(f, 2)
	if err != nil {
		return nil, false, err
	}
	if len(entries) == 0 {
		return nil, lastByte[0] == '\n', nil
	}
	return &entries[len(entries)-1], lastByte[0] == '\n', nil
}

// osUser is the login name this process runs as.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}
