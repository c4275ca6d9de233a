package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/audit"
)

// NoListener as a listen address means the agent accepts no connections: it is behind a
// firewall, pulls its partners' events by long-poll and pushes its own.
const NoListener = "off"

// Address is who this agent is to its partners and where it listens. It is kept in the data
// directory, so every command and every start uses the same values.
type Address struct {
	Name   string `json:"name"`          // the name partners see
	Listen string `json:"listen"`        // host:port to accept partners on; NoListener for none
	URL    string `json:"url,omitempty"` // the URL partners dial; "" means https://<listen address>
}

// Reachable reports whether partners can dial this agent.
func (ad Address) Reachable() bool { return ad.Listen != "" && ad.Listen != NoListener }

var addressKey = []byte("address")

// CheckAddress says in words what is wrong with an address, or nil.
func CheckAddress(ad Address) error {
	if strings.TrimSpace(ad.Name) == "" {
		return errors.New("the agent needs a name partners will see")
	}
	if len(ad.Name) > 200 {
		return errors.New("the agent's name is longer than 200 bytes")
	}
	if ad.Reachable() {
		if _, _, err := net.SplitHostPort(ad.Listen); err != nil {
			return fmt.Errorf("listen address %q: want host:port, e.g. 0.0.0.0:7443, or %q for none: %v", ad.Listen, NoListener, err)
		}
	}
	if ad.URL != "" {
		u, err := url.Parse(ad.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			return fmt.Errorf("public URL %q: want https://host[:port], without a user name", ad.URL)
		}
		if !ad.Reachable() {
			return fmt.Errorf("public URL %q given, but the agent listens nowhere; give a listen address too", ad.URL)
		}
	}
	return nil
}

// loadAddress reads the stored address; ok is false on first use.
func (a *Agent) loadAddress() (ad Address, ok bool, err error) {
	err = a.st.DB().View(func(tx *bolt.Tx) error {
		v := tx.Bucket(agentBucket).Get(addressKey)
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &ad)
	})
	if err != nil {
		return Address{}, false, fmt.Errorf("read the agent's address: %w", err)
	}
	return ad, ok, nil
}

func (a *Agent) saveAddress(ad Address) error {
	v, err := json.Marshal(ad)
	if err != nil {
		return err
	}
	return a.st.DB().Update(func(tx *bolt.Tx) error {
		return tx.Bucket(agentBucket).Put(addressKey, v)
	})
}

// resolveAddress merges what the caller gave with what is stored: a value given wins and is
// kept for next time; else the stored one; else the default. It records a change in the
// audit log.
func (a *Agent) resolveAddress(ctx context.Context, opt Options, dirName string) (Address, error) {
	stored, known, err := a.loadAddress()
	if err != nil {
		return Address{}, err
	}
	ad := stored
	if opt.Name != "" {
		ad.Name = opt.Name
	}
	if opt.Listen != "" {
		ad.Listen = opt.Listen
	}
	if opt.URL != "" {
		ad.URL = opt.URL
	}
	if ad.Name == "" {
		ad.Name = dirName
	}
	if ad.Listen == "" {
		ad.Listen = opt.DefaultListen
		if ad.Listen == "" {
			ad.Listen = NoListener
		}
	}
	if err := CheckAddress(ad); err != nil {
		return Address{}, err
	}
	if !known || ad != stored {
		if err := a.saveAddress(ad); err != nil {
			return Address{}, fmt.Errorf("keep the agent's address: %w", err)
		}
		a.record(ctx, audit.KindAgent, fmt.Sprintf("agent address set: name %q, listen %s, url %q (was name %q, listen %q, url %q)",
			ad.Name, ad.Listen, ad.URL, stored.Name, stored.Listen, stored.URL))
	}
	return ad, nil
}

// Address returns the stored address (a new listen address takes effect at the next start).
func (a *Agent) Address(ctx context.Context) (Address, error) {
	ad, _, err := a.loadAddress()
	return ad, err
}

// SetAddress changes the agent's name, listen address and URL. The name is used at once in new
// invitations; a new listen address or URL takes effect when the agent starts next, and
// partners already paired keep the URL they learned (tell them, or pair again).
func (a *Agent) SetAddress(ctx context.Context, ad Address) error {
	ad.Name = strings.TrimSpace(ad.Name)
	ad.Listen = strings.TrimSpace(ad.Listen)
	ad.URL = strings.TrimSpace(ad.URL)
	if ad.Listen == "" {
		ad.Listen = NoListener
	}
	if err := CheckAddress(ad); err != nil {
		return err
	}
	old, _, err := a.loadAddress()
	if err != nil {
		return err
	}
	if old == ad {
		return nil
	}
	if err := a.saveAddress(ad); err != nil {
		return err
	}
	a.mu.Lock()
	a.opt.Name = ad.Name
	a.mu.Unlock()
	a.record(ctx, audit.KindAgent, fmt.Sprintf("agent address changed: name %q, listen %s, url %q (was name %q, listen %s, url %q)",
		ad.Name, ad.Listen, ad.URL, old.Name, old.Listen, old.URL))
	return nil
}
