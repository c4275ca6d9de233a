package agent

import (
	"context"

	"github.com/tandemsync/tandem/core/queue"
)

// Item sync states, as the Tracker screen shows them.
const (
	ItemSynced    = "synced"     // linked, nothing waiting
	ItemPending   = "pending"    // events of the item wait to be delivered or applied
	ItemFailed    = "failed"     // an event of the item failed and waits (retrying, or for the operator)
	ItemNotLinked = "not linked" // no twin on this connection (yet): nothing sent, or not accepted
)

// ItemSync is where one item stands on one connection.
type ItemSync struct {
	Connection string
	Partner    string
	Remote     string // the twin's key at the partner, "" while not linked
	State      string // ItemSynced, ItemPending, ItemFailed or ItemNotLinked
}

// ItemSync returns, for each local item key, where it stands on each connection: its twin's
// key and whether events of it wait or failed. It reads the twins and the queues' item
// indexes for those keys only.
func (a *Agent) ItemSync(ctx context.Context, keys []string) (map[string][]ItemSync, error) {
	out := make(map[string][]ItemSync, len(keys))
	for _, c := range a.connList() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		remoteOf, _, err := c.eng.Keys(keys, nil)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			s := ItemSync{Connection: c.rec.ID, Partner: c.rec.PartnerName, Remote: remoteOf[k], State: ItemNotLinked}
			if s.Remote != "" {
				s.State = ItemSynced
			}
			waiting, failed, err := itemEvents(c.out, k)
			if err != nil {
				return nil, err
			}
			if s.Remote != "" {
				w, f, err := itemEvents(c.in, s.Remote)
				if err != nil {
					return nil, err
				}
				waiting, failed = waiting+w, failed+f
			}
			switch {
			case failed > 0:
				s.State = ItemFailed
			case waiting > 0:
				s.State = ItemPending
			}
			out[k] = append(out[k], s)
		}
	}
	return out, nil
}

// itemEvents counts an item's events in a queue, and how many of them failed.
func itemEvents(q *queue.Queue, key string) (waiting, failed int, err error) {
	if waiting, err = q.Count(queue.Filter{Item: key, Exact: true}); err != nil || waiting == 0 {
		return waiting, 0, err
	}
	failed, err = q.Count(queue.Filter{Item: key, Exact: true, States: []queue.State{queue.StateFailed, queue.StateRetrying}})
	return waiting, failed, err
}
