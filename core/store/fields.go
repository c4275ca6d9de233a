package store

import (
	"encoding/binary"
	"errors"
	"time"
)

// Binary records: the queue's events and the history's records are stored as flat fields
// rather than JSON, which cost a tenth of the agent's CPU at full speed. A string is a
// uvarint length and its bytes; a time is its Unix seconds (varint) and nanoseconds (uvarint),
// read back in UTC; an integer is a varint.

// AppendString appends s as a length and its bytes.
func AppendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// AppendTime appends t's instant (not its zone).
func AppendTime(b []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(b, t.Unix()), uint64(t.Nanosecond()))
}

// AppendStrings appends a count and each string.
func AppendStrings(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = AppendString(b, s)
	}
	return b
}

// ErrDamaged is a binary record that does not read back.
var ErrDamaged = errors.New("damaged record")

// Fields reads a binary record's fields in order; its first failure sticks (Err), and every
// read after it returns a zero value.
type Fields struct {
	b   []byte
	err error
}

// NewFields reads b.
func NewFields(b []byte) *Fields { return &Fields{b: b} }

// Err is the first failure, or ErrDamaged when bytes are left over after the last field.
func (f *Fields) Err() error {
	if f.err == nil && len(f.b) != 0 {
		return ErrDamaged
	}
	return f.err
}

// Fail marks the record damaged (a count it cannot hold, say).
func (f *Fields) Fail() { f.err = ErrDamaged }

// Failed is the first failure so far, without Err's check for bytes left over.
func (f *Fields) Failed() error { return f.err }

// Len is how many bytes are left to read.
func (f *Fields) Len() int { return len(f.b) }

// Byte reads one byte.
func (f *Fields) Byte() byte {
	if f.err != nil || len(f.b) == 0 {
		f.Fail()
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

// Uvarint reads an unsigned integer.
func (f *Fields) Uvarint() uint64 {
	if f.err != nil {
		return 0
	}
	x, w := binary.Uvarint(f.b)
	if w <= 0 {
		f.Fail()
		return 0
	}
	f.b = f.b[w:]
	return x
}

// Varint reads a signed integer.
func (f *Fields) Varint() int64 {
	if f.err != nil {
		return 0
	}
	x, w := binary.Varint(f.b)
	if w <= 0 {
		f.Fail()
		return 0
	}
	f.b = f.b[w:]
	return x
}

// String reads a string.
func (f *Fields) String() string {
	n := f.Uvarint()
	if f.err != nil {
		return ""
	}
	if n > uint64(len(f.b)) {
		f.Fail()
		return ""
	}
	s := string(f.b[:n])
	f.b = f.b[n:]
	return s
}

// Time reads a time, in UTC.
func (f *Fields) Time() time.Time {
	sec, ns := f.Varint(), f.Uvarint()
	if f.err != nil {
		return time.Time{}
	}
	if ns >= 1e9 {
		f.Fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).UTC()
}

// Strings reads a count and that many strings (nil for none).
func (f *Fields) Strings() []string {
	n := f.Uvarint()
	if f.err == nil && n > uint64(len(f.b)) { // each string takes at least a byte
		f.Fail()
	}
	if n == 0 || f.err != nil {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = f.String()
	}
	return l
}
