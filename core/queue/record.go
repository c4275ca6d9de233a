package queue

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/store"
)

// Stored values are a version byte, the event's head without its payload (length-prefixed),
// then the payload's bytes. Keeping the payload out of the head lets Ready, Stats and the
// indexes skip over it instead of scanning it on every read.
//
// formatV1 heads are JSON. formatV2 heads are binary (below): encoding and decoding JSON
// heads was a tenth of the agent's CPU per change at full speed. Records written as V1 by
// an earlier version are still read; every write is V2.
const (
	formatV1 = 1
	formatV2 = 2
)

// A V2 head is: a flags byte (v2Failed, v2Permanent, v2InFlight), the strings ID, ItemKey,
// Kind, LastError and Rule, Created and NextRetry, Attempts, then the count of Logs and each
// line. A string is a uvarint length and its bytes; a time is its Unix seconds (varint) and
// nanoseconds (uvarint), read back in UTC; Attempts is a varint.
const (
	v2Failed = 1 << iota
	v2Permanent
	v2InFlight
)

func encode(b *bolt.Bucket, e Event) error {
	v := appendRecord(make([]byte, 0, 96+len(e.ID)+len(e.ItemKey)+len(e.Rule)+len(e.LastError)+len(e.Payload)), e)
	return b.Put(store.U64(e.Seq), v)
}

// appendRecord appends e's stored value (version, head, payload) to v.
func appendRecord(v []byte, e Event) []byte {
	v = append(v, formatV2, 0) // the head's length, one byte when it is short (below)
	start := len(v)
	var flags byte
	if e.Failed {
		flags |= v2Failed
	}
	if e.Permanent {
		flags |= v2Permanent
	}
	if e.InFlight {
		flags |= v2InFlight
	}
	v = append(v, flags)
	for _, s := range []string{e.ID, e.ItemKey, e.Kind, e.LastError, e.Rule} {
		v = appendString(v, s)
	}
	v = appendTime(appendTime(v, e.Created), e.NextRetry)
	v = binary.AppendVarint(v, int64(e.Attempts))
	v = binary.AppendUvarint(v, uint64(len(e.Logs)))
	for _, l := range e.Logs {
		v = appendString(v, l)
	}
	if n := len(v) - start; n < 0x80 {
		v[start-1] = byte(n)
	} else { // a longer head: its uvarint length takes more room before it
		var l [binary.MaxVarintLen64]byte
		w := binary.PutUvarint(l[:], uint64(n))
		v = append(v, make([]byte, w-1)...)
		copy(v[start-1+w:], v[start:start+n])
		copy(v[start-1:], l[:w])
	}
	return append(v, e.Payload...)
}

func appendString(v []byte, s string) []byte {
	return append(binary.AppendUvarint(v, uint64(len(s))), s...)
}

func appendTime(v []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(v, t.Unix()), uint64(t.Nanosecond()))
}

func split(k, v []byte) (Event, []byte, error) {
	seq := store.U64From(k)
	if len(v) == 0 || v[0] != formatV1 && v[0] != formatV2 {
		return Event{}, nil, fmt.Errorf("decode event %d: unknown record format", seq)
	}
	n, w := binary.Uvarint(v[1:])
	if w <= 0 || uint64(len(v)-1-w) < n {
		return Event{}, nil, fmt.Errorf("decode event %d: truncated record", seq)
	}
	head, payload := v[1+w:1+w+int(n)], v[1+w+int(n):]
	var e Event
	var err error
	if v[0] == formatV1 {
		err = json.Unmarshal(head, &e)
	} else {
		e, err = decodeHeadV2(head)
	}
	if err != nil {
		return Event{}, nil, fmt.Errorf("decode event %d: %w", seq, err)
	}
	e.Seq = seq
	return e, payload, nil
}

var errDamaged = errors.New("damaged record head")

// headReader reads a V2 head; its first failure sticks.
type headReader struct {
	b   []byte
	err error
}

func (r *headReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, w := binary.Uvarint(r.b)
	if w <= 0 {
		r.err = errDamaged
		return 0
	}
	r.b = r.b[w:]
	return x
}

func (r *headReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	x, w := binary.Varint(r.b)
	if w <= 0 {
		r.err = errDamaged
		return 0
	}
	r.b = r.b[w:]
	return x
}

func (r *headReader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errDamaged
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *headReader) time() time.Time {
	sec, ns := r.varint(), r.uvarint()
	if r.err != nil {
		return time.Time{}
	}
	if ns >= 1e9 {
		r.err = errDamaged
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).UTC()
}

func decodeHeadV2(head []byte) (Event, error) {
	if len(head) == 0 {
		return Event{}, errDamaged
	}
	r := headReader{b: head[1:]}
	flags := head[0]
	e := Event{Failed: flags&v2Failed != 0, Permanent: flags&v2Permanent != 0, InFlight: flags&v2InFlight != 0}
	e.ID, e.ItemKey, e.Kind, e.LastError, e.Rule = r.string(), r.string(), r.string(), r.string(), r.string()
	e.Created, e.NextRetry = r.time(), r.time()
	e.Attempts = int(r.varint())
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) { // each line takes at least a byte
		r.err = errDamaged
	}
	if n > 0 && r.err == nil {
		e.Logs = make([]string, n)
		for i := range e.Logs {
			e.Logs[i] = r.string()
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = errDamaged
	}
	if r.err != nil {
		return Event{}, r.err
	}
	return e, nil
}
