package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/queue"
	"github.com/tandemsync/tandem/core/secrets"
)

// PrepareBacklog fills the data directory dir for the app's benchmarks at scale: an agent
// (its key in keys) paired with a partner that is gone, items in its embedded tracker, their
// create events detected and queued by the real engine, and more update events queued behind
// them until events wait in all, one in a hundred failed for good. The events carry replicas of
// a realistic size. It returns the connection's id.
func PrepareBacklog(ctx context.Context, dir string, keys Keys, items, events int) (string, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	partnerDir, err := os.MkdirTemp("", "tandem-gone-partner-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(partnerDir)
	a, err := Open(ctx, Options{Dir: dir, Name: "Blue", Listen: "127.0.0.1:0", Prefix: "BLUE", Keys: keys, Logger: quiet, NoSync: true, Poll: 100 * time.Millisecond})
	if err != nil {
		return "", err
	}
	defer a.Close()
	partner, err := Open(ctx, Options{Dir: filepath.Join(partnerDir, "red"), Name: "Red", Listen: "127.0.0.1:0", Prefix: "RED", Keys: keys, Logger: quiet, NoSync: true})
	if err != nil {
		return "", err
	}
	defer partner.RemoveKey(context.Background())
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	for _, x := range []*Agent{a, partner} {
		go func() {
			x.Serve(sctx)
			done <- struct{}{}
		}()
	}
	inv, err := a.Invite(ctx, InviteRequest{})
	if err == nil {
		_, err = partner.Accept(ctx, inv.Code)
	}
	stopAll := func() {
		stop()
		<-done
		<-done
	}
	if err != nil {
		stopAll()
		return "", fmt.Errorf("pair with the throwaway partner: %w", err)
	}
	conns, _ := a.Connections(ctx)
	connID := conns[0].ID
	// The partner goes away for good; what the agent sends from now on waits.
	partner.Close()
	desc := strings.Repeat("The printer on floor 3 jams on every second page. ", 8)
	for i := range items {
		_, err := a.CreateItem(ctx, item.Item{Title: fmt.Sprintf("Printer %d jams", i), Description: desc, Status: "open", Priority: "medium", Labels: []string{"hardware"}})
		if err != nil {
			stopAll()
			return "", err
		}
	}
	// The real engine detects them: one create each in the outbox.
	c, _ := a.conn(connID)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		n, err := c.out.Counts()
		if err == nil && n.Total() >= items {
			break
		}
		if time.Now().After(deadline) {
			stopAll()
			return "", fmt.Errorf("the engine queued %d of %d creates in 5 minutes", n.Total(), items)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopAll()
	// The rest are updates of the same items, as many edits made while the partner was away.
	listed, err := a.local.List(ctx, 0, 0)
	if err != nil {
		return "", err
	}
	payload, _ := json.Marshal(engine.Change{Source: "BLUE-1", Replica: item.Replica{Title: "Printer jams", Description: desc, Status: "open", Priority: "medium", Labels: []string{"hardware"}},
		Changed: []string{"title"}, Prev: &item.Replica{Title: "Printer"}})
	for start := items; start < events; start += 10000 {
		err := a.st.DB().Update(func(tx *bolt.Tx) error {
			var evs []queue.Event
			for i := start; i < min(start+10000, events); i++ {
				evs = append(evs, queue.Event{ItemKey: listed[i%len(listed)].Key, Kind: engine.KindUpdate, Payload: payload})
			}
			stored, err := c.out.Append(tx, evs)
			if err != nil {
				return err
			}
			for i := 0; i < len(stored); i += 100 {
				if _, err := c.out.Fail(tx, stored[i].Seq, permanentBench{}, time.Now()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return connID, nil
}

type permanentBench struct{}

func (permanentBench) Error() string {
	return "incoming rule: status \"reopened\" is not mapped (benchmark)"
}
func (permanentBench) Permanent() bool { return true }

// MemoryKeys keeps agent keys in this process's memory only: for benchmarks and throwaway
// agents that must not touch the OS keychain.
func MemoryKeys() Keys { return secrets.NewMemory() }
