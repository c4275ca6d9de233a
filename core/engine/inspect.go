package engine

import (
	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/item"
)

// TwinState is what the engine keeps about a local item's link, for rule test runs: nothing
// here is changed by reading it.
type TwinState struct {
	Remote string        // the partner's key, "" when not linked yet
	Sent   *item.Replica // the replica last sent (or that the last applied state would send), without comments; nil before the first
	// PartnerComments are the local ids of comments that came from the partner: the outgoing
	// rule never sees them, so they are not sent back.
	PartnerComments map[string]bool
	// CommentLinks maps the partner's comment ids to the local ids of the comments they became.
	CommentLinks map[string]string
	// Received is the partner's replica last applied, without comments; nil before the first.
	Received *item.Replica
}

// TwinState returns what the engine knows of a local item's twin.
func (e *Engine) TwinState(local string) (TwinState, error) {
	var ts TwinState
	err := e.opt.Store.DB().View(func(tx *bolt.Tx) error {
		t, err := e.getTwin(tx, local)
		if err != nil {
			return err
		}
		ts = TwinState{Remote: t.Remote, Sent: t.Sent, PartnerComments: t.partnerComments(), CommentLinks: t.Comments, Received: t.Received}
		return nil
	})
	return ts, err
}

// OutgoingInput is the item as the engine hands it to the outgoing rule: without the comments
// that came from the partner.
func OutgoingInput(it item.Item, ts TwinState) item.Item {
	return withoutComments(it, ts.PartnerComments)
}
