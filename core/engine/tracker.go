package engine

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/tandemsync/tandem/core/item"
)

// Tracker is what the engine needs from a local system of record. Each tracker package
// (core/trackers/local, core/trackers/rt, ...) returns a concrete type that satisfies it.
//
// Errors may carry behaviour the queue understands, without importing it:
//   - Permanent() bool returning true: retrying will not help (4xx, validation); the event
//     waits for the operator.
//   - RetryAfter() time.Duration: the tracker asked us to wait (429/503 Retry-After).
//
// Any other error is treated as transient and retried with backoff.
type Tracker interface {
	// Changes returns the items changed after cursor (an opaque string, "" for the start),
	// at most limit of them, oldest first, and the cursor to pass next time. The engine stores
	// the cursor durably once it has handled the items, so a slow tracker should return fewer
	// (with the cursor after the last one returned) rather than take long: the engine asks
	// again at once while the cursor moves.
	Changes(ctx context.Context, cursor string, limit int) (items []item.Item, next string, err error)
	// Get returns one item with its comments.
	Get(ctx context.Context, key string) (item.Item, error)
	// Apply performs writes in order, each on its own; a failed write does not stop later
	// ones. Trackers that can should do all of them in one transaction or request batch.
	Apply(ctx context.Context, writes []Write) ([]WriteResult, error)
}

// TxTracker is implemented by a tracker that keeps its items in the agent's own bbolt file
// (the embedded tracker). The engine makes its writes inside the transaction that records
// twins, acks and receipts, so a crash leaves all of an apply or none of it. ApplyTx follows
// Apply's contract, except that it must not commit: a storage error fails the transaction.
//
// ItemTx reads an item inside tx (ok false when there is none): the engine checks that the
// items it planned from are still as it read them, since the tracker's own writes (an
// operator's edit) do not wait for the engine.
type TxTracker interface {
	ApplyTx(tx *bolt.Tx, writes []Write) ([]WriteResult, error)
	ItemTx(tx *bolt.Tx, key string) (it item.Item, ok bool, err error)
}

// ChangeNotifier is implemented by trackers that can say when something changed, so the
// engine reacts at once instead of waiting for its next poll.
type ChangeNotifier interface {
	Changed() <-chan struct{}
}

// Write is one change to make to a local item.
type Write struct {
	Key         string         // the local key; empty to create a new item
	Item        item.Item      // the values; only Fields are written (all core fields on create)
	Fields      []string       // names of the changed fields (item.FieldTitle, ..., item.CustomField(NAME))
	NewComments []item.Comment // comments to add, in order; Author is kept where the tracker can
	// EditComments are comments already on the item to change, by their local ID: the new
	// Body (and the partner's Author, kept as on NewComments). DeleteComments are the local
	// ids of comments to remove; one that is already gone is not an error. Trackers that
	// cannot edit or delete comments answer a permanent error naming what they cannot do.
	EditComments   []item.Comment
	DeleteComments []string
	// CommentNotes, for a tracker that cannot edit or delete a comment (Request Tracker): say so
	// with a follow-up comment (an edit: what it says now; a deletion: a short note) instead of
	// failing. The engine sets it when the incoming rule lets edits and deletions follow.
	CommentNotes bool
	// Retry is set when an earlier attempt at this write failed, possibly after the tracker
	// acted on it (a request whose answer was lost). A tracker without transactions should
	// look for what that attempt made (e.g. a ticket it created) before creating again.
	Retry bool
	// Linked, set with Retry on a create, reports whether a local key is already linked to
	// another of the partner's items in this connection: an item found that way was not made
	// by the earlier attempt and must not be adopted.
	Linked func(key string) bool
	// Known, set with Retry, holds the local ids of comments already linked to the partner's
	// comments: a tracker looking for comments the earlier attempt posted must not take them.
	Known map[string]bool
}

// WriteResult is the outcome of one Write.
type WriteResult struct {
	Key        string   // the local key (new for a create); set even with Err when a create got that far
	CommentIDs []string // the local ids of NewComments, in order
	// NoteIDs are the local ids of follow-up comments a tracker added for EditComments and
	// DeleteComments it could not make in place: they stand for the partner's comments, so
	// the engine never sends them back as new ones.
	NoteIDs []string
	Err     error // nil on success
	// Item is the item as the write left it, when the tracker knows it without another read
	// (nil otherwise): the engine then recognises its own write on the next detection without
	// running the outgoing rule.
	Item *item.Item
}
