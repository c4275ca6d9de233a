package queue

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

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
// Kind, LastError and Rule, Created and NextRetry, Attempts, then Logs, in store's binary
// fields (store.AppendString and the like).
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
		v = store.AppendString(v, s)
	}
	v = store.AppendTime(store.AppendTime(v, e.Created), e.NextRetry)
	v = binary.AppendVarint(v, int64(e.Attempts))
	v = store.AppendStrings(v, e.Logs)
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

func decodeHeadV2(head []byte) (Event, error) {
	f := store.NewFields(head)
	flags := f.Byte()
	e := Event{Failed: flags&v2Failed != 0, Permanent: flags&v2Permanent != 0, InFlight: flags&v2InFlight != 0}
	e.ID, e.ItemKey, e.Kind, e.LastError, e.Rule = f.String(), f.String(), f.String(), f.String(), f.String()
	e.Created, e.NextRetry = f.Time(), f.Time()
	e.Attempts = int(f.Varint())
	e.Logs = f.Strings()
	if err := f.Err(); err != nil {
		return Event{}, err
	}
	return e, nil
}
