// Package transport is the pinned mutual-TLS HTTPS server and client between two paired agents.
package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tandemsync/tandem/core/identity"
)

// ProtocolVersion is the wire protocol this build speaks; the status endpoint exchanges it.
const ProtocolVersion = 1

// MaxBody is the largest request body a server accepts (a batch of events); larger is 413.
const MaxBody = 8 << 20

// maxPairBody bounds /v1/pair requests and answers, which are small documents.
const maxPairBody = 64 << 10

// Event is the wire form of one event in a batch.
type Event struct {
	Seq     uint64          `json:"seq"`      // the sender's outbox sequence; batches ascend
	ID      string          `json:"id"`       // globally unique; the receiver deduplicates by it
	ItemKey string          `json:"item_key"` // the sender's item key
	Kind    string          `json:"kind"`     // create, update, comment, attachment, unlink, receipt
	Payload json.RawMessage `json:"payload,omitempty"`
	Created time.Time       `json:"created"`
}

// Status is what the status endpoint exchanges, so agents of different versions agree on what they can do.
type Status struct {
	Protocol     int      `json:"protocol"`
	App          string   `json:"app"`
	Capabilities []string `json:"capabilities"`
	State        string   `json:"state"` // the connection's state on the answering side: active, paused, revoked
}

// Peers is what the server asks its consumer about trust.
type Peers interface {
	// Pinned is the partner pinned for an active connection.
	Pinned(connID string) (identity.ID, bool)
	// Known reports whether any connection pins this key: such peers pass the TLS handshake.
	Known(id identity.ID) bool
	// Pairing reports whether an invitation is pending: unknown keys may then complete the
	// handshake, but may only call /v1/pair.
	Pairing() bool
}

// Handler does the work behind the endpoints. Errors that implement StatusCode() int choose
// the HTTP status and their text is sent to the partner; others become a logged 500 with a
// generic message. An error that also implements RetryAfter() time.Duration sets Retry-After.
type Handler interface {
	// StoreBatch stores all events in one transaction and answers the highest sender Seq
	// stored, duplicates included.
	StoreBatch(ctx context.Context, connID string, events []Event) (highest uint64, err error)
	Status(ctx context.Context, connID string) (Status, error)
	// Pair carries the pairing package's own request and response; peer is the TLS peer's key.
	Pair(ctx context.Context, peer identity.ID, body json.RawMessage) (json.RawMessage, error)
	Unpair(ctx context.Context, connID string) error
}

// Puller is implemented by a Handler that serves long-poll, for a partner that cannot accept
// inbound connections and so pulls its events. Without it, GET .../events answers 501.
type Puller interface {
	// Pull answers the events for the partner with Seq above after, waiting up to wait for
	// some to appear; none when the wait ends. Asking for "after N" acknowledges 1..N.
	Pull(ctx context.Context, connID string, after uint64, wait time.Duration) ([]Event, error)
}

// MaxPullWait bounds a long-poll's wait, well inside the server's write timeout.
const MaxPullWait = 60 * time.Second

// ErrBatchTooLarge means a batch encodes to more than MaxBody; send fewer events at once.
var ErrBatchTooLarge = errors.New("batch is larger than the partner accepts")

// StatusError is a non-2xx answer from the partner.
type StatusError struct {
	Code    int
	Message string        // the partner's explanation
	After   time.Duration // from a Retry-After header on 429 or 503; zero if none
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("partner answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// Permanent reports whether retrying the same request cannot help: 4xx except 408 and 429.
func (e *StatusError) Permanent() bool {
	return e.Code >= 400 && e.Code < 500 && e.Code != http.StatusRequestTimeout && e.Code != http.StatusTooManyRequests
}

// RetryAfter is how long the partner asked to wait; zero if it did not say.
func (e *StatusError) RetryAfter() time.Duration {
	return e.After
}

// PinError means the partner presented a key other than the one pinned. It is permanent: only
// the operator can resolve it (the partner reinstalled, or someone is in the middle).
type PinError struct {
	URL       string
	Presented identity.ID
	Pinned    identity.ID
}

func (e *PinError) Error() string {
	if e.Presented.IsZero() {
		return fmt.Sprintf("partner at %s presented no usable Ed25519 key, but connection pins %s", e.URL, e.Pinned.Short())
	}
	return fmt.Sprintf("partner at %s presented key %s, but connection pins %s", e.URL, e.Presented.Short(), e.Pinned.Short())
}

// Permanent is always true: retrying will meet the same key.
func (e *PinError) Permanent() bool { return true }

// errorBody is the JSON form of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

type batchRequest struct {
	Events []Event `json:"events"`
}

type batchResponse struct {
	Stored uint64 `json:"stored"`
}
