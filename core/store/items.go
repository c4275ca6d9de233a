package store

import (
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/tandemsync/tandem/core/item"
)

// Items, replicas and their parts as binary fields: the embedded tracker stores its items so,
// and the engine's twins hold replicas so. Decoding an item from JSON was the embedded
// tracker's largest cost at full speed, read on every change detected and applied.
//
// Times keep their offset from UTC besides their instant (AppendZonedTime): a time read back
// formats, and so hashes, exactly as it did when it was stored, as it does from JSON.

// ItemV2 is the first byte of an item stored as binary fields. An item stored as JSON starts
// with '{'.
const ItemV2 = 2

// AppendItem appends it as ItemV2 and its fields: Key, Title, Status and Updated first, which
// a list reads alone (ReadSummary), then the rest.
func AppendItem(v []byte, it item.Item) []byte {
	v = append(v, ItemV2)
	v = AppendString(AppendString(AppendString(v, it.Key), it.Title), it.Status)
	v = AppendZonedTime(v, it.Updated)
	v = AppendString(AppendString(v, it.Description), it.Priority)
	v = AppendStrings(v, it.Labels)
	v = AppendUser(AppendUser(v, it.Assignee), it.Reporter)
	v = AppendComments(v, it.Comments)
	v = AppendAttachments(v, it.Attachments)
	v = AppendMap(v, it.Custom)
	return AppendZonedTime(v, it.Created)
}

// DecodeItem reads an item AppendItem wrote, or one an earlier version stored as JSON. Empty
// lists and maps read back as nil, as they do from JSON with omitempty.
func DecodeItem(v []byte) (item.Item, error) {
	var it item.Item
	if len(v) == 0 || v[0] != ItemV2 {
		err := json.Unmarshal(v, &it)
		return it, err
	}
	f := NewFields(v[1:])
	it.Key, it.Title, it.Status = f.String(), f.String(), f.String()
	it.Updated = ReadZonedTime(f)
	it.Description, it.Priority = f.String(), f.String()
	it.Labels = f.Strings()
	it.Assignee, it.Reporter = ReadUser(f), ReadUser(f)
	it.Comments = ReadComments(f)
	it.Attachments = ReadAttachments(f)
	it.Custom = ReadMap(f)
	it.Created = ReadZonedTime(f)
	if err := f.Err(); err != nil {
		return item.Item{}, err
	}
	return it, nil
}

// DecodeSummary reads only what a list shows of a stored item.
func DecodeSummary(v []byte) (item.Summary, error) {
	var s item.Summary
	if len(v) == 0 || v[0] != ItemV2 {
		err := json.Unmarshal(v, &s)
		return s, err
	}
	f := NewFields(v[1:])
	s.Key, s.Title, s.Status = f.String(), f.String(), f.String()
	s.Updated = ReadZonedTime(f)
	if err := f.Failed(); err != nil {
		return item.Summary{}, err
	}
	return s, nil
}

// AppendUser appends u's id, name and email.
func AppendUser(v []byte, u item.User) []byte {
	return AppendString(AppendString(AppendString(v, u.ID), u.Name), u.Email)
}

// ReadUser reads what AppendUser wrote.
func ReadUser(f *Fields) item.User {
	return item.User{ID: f.String(), Name: f.String(), Email: f.String()}
}

// AppendZonedTime appends t's instant and its offset from UTC.
func AppendZonedTime(v []byte, t time.Time) []byte {
	_, off := t.Zone()
	return binary.AppendVarint(AppendTime(v, t), int64(off))
}

// ReadZonedTime reads what AppendZonedTime wrote: in UTC when the offset is 0, else in a
// zone of that offset.
func ReadZonedTime(f *Fields) time.Time {
	t, off := f.Time(), f.Varint()
	if off == 0 || f.Failed() != nil {
		return t
	}
	if off <= -24*60*60 || off >= 24*60*60 {
		f.Fail()
		return time.Time{}
	}
	return t.In(time.FixedZone("", int(off)))
}

// ReadCount reads a count of entries, each at least a byte long, refusing one the record
// cannot hold.
func ReadCount(f *Fields) int {
	n := f.Uvarint()
	if n > uint64(f.Len()) {
		f.Fail()
		return 0
	}
	return int(n)
}

// AppendMap appends a count, then each key and value.
func AppendMap[M ~map[string]string](v []byte, m M) []byte {
	v = binary.AppendUvarint(v, uint64(len(m)))
	for k, s := range m {
		v = AppendString(AppendString(v, k), s)
	}
	return v
}

// ReadMap reads what AppendMap wrote; an empty map reads back as nil.
func ReadMap(f *Fields) map[string]string {
	n := ReadCount(f)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := f.String()
		m[k] = f.String()
	}
	return m
}

// AppendBool appends b as one byte.
func AppendBool(v []byte, b bool) []byte {
	if b {
		return append(v, 1)
	}
	return append(v, 0)
}

// AppendComments appends a count and each comment.
func AppendComments(v []byte, cs []item.Comment) []byte {
	v = binary.AppendUvarint(v, uint64(len(cs)))
	for _, c := range cs {
		v = AppendUser(AppendString(v, c.ID), c.Author)
		v = AppendZonedTime(AppendString(v, c.Body), c.Created)
		v = AppendBool(v, c.Internal)
	}
	return v
}

// ReadComments reads what AppendComments wrote (nil for none).
func ReadComments(f *Fields) []item.Comment {
	n := ReadCount(f)
	if n == 0 {
		return nil
	}
	cs := make([]item.Comment, n)
	for i := range cs {
		c := &cs[i]
		c.ID, c.Author, c.Body = f.String(), ReadUser(f), f.String()
		c.Created, c.Internal = ReadZonedTime(f), f.Byte() != 0
	}
	return cs
}

// AppendAttachments appends a count and each attachment.
func AppendAttachments(v []byte, as []item.Attachment) []byte {
	v = binary.AppendUvarint(v, uint64(len(as)))
	for _, a := range as {
		v = AppendString(AppendString(AppendString(v, a.ID), a.Name), a.MediaType)
		v = AppendZonedTime(AppendUser(binary.AppendVarint(v, a.Size), a.Author), a.Created)
	}
	return v
}

// ReadAttachments reads what AppendAttachments wrote (nil for none).
func ReadAttachments(f *Fields) []item.Attachment {
	n := ReadCount(f)
	if n == 0 {
		return nil
	}
	as := make([]item.Attachment, n)
	for i := range as {
		a := &as[i]
		a.ID, a.Name, a.MediaType = f.String(), f.String(), f.String()
		a.Size, a.Author, a.Created = f.Varint(), ReadUser(f), ReadZonedTime(f)
	}
	return as
}
