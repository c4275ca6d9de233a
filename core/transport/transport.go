// Package transport is the pinned mutual-TLS HTTPS server and client between two paired agents.
package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
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

// Pin is what a connection trusts: the partner's key, and the address ranges it may call
// from (none: any address).
type Pin struct {
	Partner identity.ID
	Allow   []netip.Prefix
}

// Allows reports whether addr may call on this connection.
func (p Pin) Allows(addr netip.Addr) bool {
	if len(p.Allow) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, pre := range p.Allow {
		if pre.Contains(addr) {
			return true
		}
	}
	return false
}

// Peers is what the server asks its consumer about trust.
type Peers interface {
	// Pinned is what connection connID trusts, if the partner may call its endpoints at all
	// (an active or paused connection; not a revoked or unknown one).
	Pinned(connID string) (Pin, bool)
	// Known reports whether a connection pins this key: such peers pass the TLS handshake.
	Known(id identity.ID) bool
	// Invitation reports whether the invitation with this id exists (an unknown key that names
	// it may complete the handshake, to redeem it or hear why it cannot) and whether it is
	// still pending.
	Invitation(id string) (exists, pending bool)
	// Awaits reports whether this agent accepted the invitation with this id from the agent
	// with key peer, which had no URL, so that it waits for peer to dial it and complete the
	// pairing (see CompletePair); and whether it still waits. Only that key, naming that
	// invitation, passes the handshake for it.
	Awaits(invitation string, peer identity.ID) (exists, pending bool)
	// AllowsAddr decides, before the TLS handshake, whether addr may connect at all: false
	// only where every connection limits its partner's addresses, none lists addr, and no
	// invitation or awaited pairing is pending.
	AllowsAddr(addr netip.Addr) bool
}

// PairRequest is a redemption as the server received it.
type PairRequest struct {
	Peer       identity.ID     // the key the invitee (or, Completes, the inviter) presented in TLS
	Invitation string          // the invitation the TLS connection named (see Pair)
	Body       json.RawMessage // the pairing package's request
	// Completes: the peer is the inviter, which has no URL, completing a pairing this agent
	// awaits (see CompletePair); otherwise an invitee redeems this agent's invitation.
	Completes bool
}

// Handler does the work behind the endpoints. Errors that implement StatusCode() int choose
// the HTTP status and their text is sent to the partner; others become a logged 500 with a
// generic message. An error that also implements RetryAfter() time.Duration sets Retry-After,
// and one that implements ConnectionState() string tells the partner the connection's state
// here (e.g. "paused"), so it can say so in words.
type Handler interface {
	// StoreBatch stores all events in one transaction and answers the highest sender Seq
	// stored, duplicates included.
	StoreBatch(ctx context.Context, connID string, events []Event) (highest uint64, err error)
	Status(ctx context.Context, connID string) (Status, error)
	// Pair redeems an invitation, or completes an awaited pairing (req.Completes), and
	// answers the pairing package's response.
	Pair(ctx context.Context, req PairRequest) (json.RawMessage, error)
	// Unpair: the partner revoked the connection.
	Unpair(ctx context.Context, connID string) error
	// PartnerState: the partner paused or resumed the connection on its side.
	PartnerState(ctx context.Context, connID, state string) (Status, error)
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

// EventTooLargeError is an event that alone encodes to more than MaxBody: no partner accepts
// it, so it waits for the operator instead of blocking the events behind it. It matches
// ErrBatchTooLarge.
type EventTooLargeError struct {
	Seq     uint64
	ItemKey string
	Size    int
}

func (e *EventTooLargeError) Error() string {
	return fmt.Sprintf("the change to %s is %d MB, over the %d MB a partner accepts in one request; shorten the item (its description, comments or a custom field) and retry the event",
		e.ItemKey, (e.Size+(1<<20)-1)>>20, MaxBody>>20)
}

func (e *EventTooLargeError) Unwrap() error { return ErrBatchTooLarge }

// Permanent reports that sending it again cannot succeed.
func (e *EventTooLargeError) Permanent() bool { return true }

// EventSeq is the event that failed, alone of its batch.
func (e *EventTooLargeError) EventSeq() uint64 { return e.Seq }

// Fit is how many events, from the first, fit in one request of at most MaxBody bytes: all of
// them when their payloads are small, as they usually are; else each is measured as the
// encoder writes it. A first event that alone does not fit is an *EventTooLargeError.
func Fit(events []Event) (int, error) {
	const room = MaxBody - len(`{"events":[]}`)
	quick := 0
	for _, ev := range events {
		quick += len(ev.Payload) + 6*(len(ev.ID)+len(ev.ItemKey)+len(ev.Kind)) + 256 // escaping writes at most 6 bytes a byte
	}
	if quick <= room {
		return len(events), nil
	}
	size := 0
	for i, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			return 0, fmt.Errorf("encode event %d: %w", ev.Seq, err)
		}
		if i > 0 {
			size++ // the comma
		}
		if size += len(b); size > room {
			if i == 0 {
				return 0, &EventTooLargeError{Seq: ev.Seq, ItemKey: ev.ItemKey, Size: len(b)}
			}
			return i, nil
		}
	}
	return len(events), nil
}

// StatusError is a non-2xx answer from the partner.
type StatusError struct {
	Code    int
	Message string        // the partner's explanation
	After   time.Duration // from a Retry-After header on 429 or 503; zero if none
	State   string        // the connection's state at the partner, when it said (e.g. "paused")
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

// StateUnpaired is the state an agent answers to a key it does not pair with (any more).
const StateUnpaired = "unpaired"

// IsRefused reports whether err means the partner refuses this agent's key: in the TLS
// handshake (*RefusedError), or on a connection opened before it stopped pairing with it.
func IsRefused(err error) bool {
	var re *RefusedError
	var se *StatusError
	return errors.As(err, &re) || errors.As(err, &se) && se.State == StateUnpaired
}

// RefusedError means the partner refused this agent's key in the TLS handshake: it does not
// pin it (the partner revoked the connection, or never paired, or reinstalled). Retrying does
// not help until the partner's operator acts.
type RefusedError struct {
	URL string
	Key identity.ID // this agent's key, which was refused
	Err error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the partner at %s refuses this agent's key %s: it no longer pins it (it revoked the connection, or was reinstalled with a new identity)", e.URL, e.Key.Short())
}

func (e *RefusedError) Unwrap() error { return e.Err }

// errorBody is the JSON form of every error answer.
type errorBody struct {
	Error string `json:"error"`
	State string `json:"state,omitempty"`
}

type stateRequest struct {
	State string `json:"state"`
}

type batchRequest struct {
	Events []Event `json:"events"`
}

type batchResponse struct {
	Stored uint64 `json:"stored"`
}
