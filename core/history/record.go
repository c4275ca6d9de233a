package history

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tandemsync/tandem/core/store"
)

// A record is stored as JSON (what earlier versions wrote, and still read: it starts with
// '{') or, from this version on, as recordV2 and flat binary fields, which cost a fraction of
// encoding/json's time on a path that writes four records per change: the flags (v2Permanent,
// v2Operator, v2Captured), Time, the strings Connection, Direction, Local, Remote, EventID,
// Kind, Outcome, Error and RuleVersion, Duration and Attempt, then RuleLogs.
const recordV2 = 2

const (
	v2Permanent = 1 << iota
	v2Operator
	v2Captured
)

// encodeRecord is r's stored value (without its ID, which is in its key).
func encodeRecord(r Record) []byte {
	var flags byte
	if r.Permanent {
		flags |= v2Permanent
	}
	if r.Operator {
		flags |= v2Operator
	}
	if r.Captured {
		flags |= v2Captured
	}
	v := make([]byte, 0, 128+len(r.Error))
	v = store.AppendTime(append(v, recordV2, flags), r.Time)
	for _, s := range []string{r.Connection, r.Direction, r.Local, r.Remote, r.EventID, r.Kind, string(r.Outcome), r.Error, r.RuleVersion} {
		v = store.AppendString(v, s)
	}
	v = binary.AppendVarint(binary.AppendVarint(v, int64(r.Duration)), int64(r.Attempt))
	return store.AppendStrings(v, r.RuleLogs)
}

func decodeRecord(k, v []byte) (Record, error) {
	var r Record
	var err error
	if len(v) > 0 && v[0] == recordV2 {
		r, err = decodeRecordV2(v[1:])
	} else {
		err = json.Unmarshal(v, &r)
	}
	if err != nil {
		return Record{}, fmt.Errorf("decode history record %x: %w", k, err)
	}
	if len(k) >= 16 {
		r.ID = store.U64From(k[8:])
	}
	return r, nil
}

func decodeRecordV2(v []byte) (Record, error) {
	f := store.NewFields(v)
	flags := f.Byte()
	r := Record{Permanent: flags&v2Permanent != 0, Operator: flags&v2Operator != 0, Captured: flags&v2Captured != 0, Time: f.Time()}
	var outcome string
	r.Connection, r.Direction, r.Local, r.Remote, r.EventID, r.Kind, outcome, r.Error, r.RuleVersion =
		f.String(), f.String(), f.String(), f.String(), f.String(), f.String(), f.String(), f.String(), f.String()
	r.Outcome = Outcome(outcome)
	r.Duration, r.Attempt = time.Duration(f.Varint()), int(f.Varint())
	r.RuleLogs = f.Strings()
	if err := f.Err(); err != nil {
		return Record{}, err
	}
	return r, nil
}
