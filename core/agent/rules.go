package agent

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/rules"
)

// RuleSources are a connection's outgoing and incoming rules, as Go source.
type RuleSources struct {
	Outgoing string    `json:"outgoing"`
	Incoming string    `json:"incoming"`
	Kind     string    `json:"kind"` // the tracker kind whose defaults these are, "" once edited
	Updated  time.Time `json:"updated"`
}

var rulesBucket = []byte("rules")

func defaultRules(kind string) RuleSources {
	if kind == "" {
		kind = TrackerEmbedded
	}
	out, in := rules.Defaults(kind)
	if c, ok := lookup(kind); ok && c.DefaultRules != nil {
		out, in = c.DefaultRules()
	}
	return RuleSources{Outgoing: out, Incoming: in, Kind: kind, Updated: time.Now().UTC()}
}

// loadRules reads a connection's rules, starting it on the defaults for kind.
func (a *Agent) loadRules(connID, kind string) (RuleSources, error) {
	var rs RuleSources
	found := false
	err := a.st.DB().View(func(tx *bolt.Tx) error {
		v := tx.Bucket(rulesBucket).Get([]byte(connID))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &rs)
	})
	if err != nil {
		return rs, fmt.Errorf("read rules of %s: %w", connID, err)
	}
	if !found {
		rs = defaultRules(kind)
		return rs, a.saveRules(connID, rs)
	}
	return rs, nil
}

func (a *Agent) saveRules(connID string, rs RuleSources) error {
	v, err := json.Marshal(rs)
	if err != nil {
		return err
	}
	return a.st.DB().Update(func(tx *bolt.Tx) error { return tx.Bucket(rulesBucket).Put([]byte(connID), v) })
}

// Rules returns a connection's rules.
func (a *Agent) Rules(connID string) (RuleSources, error) {
	c, err := a.conn(connID)
	if err != nil {
		return RuleSources{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return c.rules.sources(), nil
}

// SetRules replaces a connection's rules after checking that both compile; the running
// engine uses them from its next change on.
func (a *Agent) SetRules(connID string, rs RuleSources) error {
	c, err := a.conn(connID)
	if err != nil {
		return err
	}
	src := &ruleSource{outSrc: rs.Outgoing, inSrc: rs.Incoming}
	if _, _, err := src.programs(); err != nil {
		return err
	}
	rs.Kind, rs.Updated = "", time.Now().UTC()
	if err := a.saveRules(connID, rs); err != nil {
		return err
	}
	a.mu.Lock()
	c.rules.replace(src)
	a.mu.Unlock()
	return nil
}
