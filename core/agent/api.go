package agent

import "time"

// Overview is the health summary the app's Overview screen shows.
type Overview struct {
	AgentID     string // the display form of this agent's ID
	Name        string // the operator-chosen name of this agent
	Tracker     string // which tracker this agent syncs, e.g. "embedded"
	Items       int    // items in the local tracker
	Twins       int    // linked items across all connections
	Queued      int    // events waiting in outboxes and inboxes
	Failed      int    // events in the failed state
	Connections int
	Sent        uint64 // events delivered since the agent started
	Applied     uint64 // events applied since the agent started
	// HistoryIncomplete says, in words, when some outcomes could not be written to the history
	// (a full disk); "" when the history is complete.
	HistoryIncomplete string
}

// ConnectionState is active, paused or revoked; or pending, for a pairing that waits for the
// partner to complete it.
type ConnectionState string

const (
	StateActive  ConnectionState = "active"
	StatePaused  ConnectionState = "paused"
	StateRevoked ConnectionState = "revoked"
	// StatePending: this agent accepted an invitation from an agent that accepts no
	// connections, and waits for that agent's operator to complete the pairing with the reply
	// code (see PendingPairings). Nothing syncs yet.
	StatePending ConnectionState = "pending"
)

// ConnectionInfo describes one pairing with a partner agent.
type ConnectionInfo struct {
	ID               string
	PartnerName      string
	PartnerID        string // display form of the partner's agent ID
	PartnerURL       string // "" when the partner has no listener and pulls
	VerificationCode string // the short code both operators compare
	State            ConnectionState
	Created          time.Time
	Twins            int
	Outbox           int       // events waiting to be delivered
	Inbox            int       // events waiting to be applied
	Failed           int       // events failed permanently, waiting for the operator (both directions)
	Retrying         int       // events failed with a transient error, retried by themselves
	Blocked          int       // events waiting behind a failed event of the same item
	Oldest           time.Time // when the oldest waiting event was queued; zero when none waits
	LastError        string    // the latest delivery or apply error, "" when healthy
	ErrorSince       time.Time // since when LastError has lasted; zero when there is none
	LastSync         time.Time
	Health           string    // HealthHealthy, HealthDegraded, HealthFailing or HealthPaused
	HealthReason     string    // why, in words, when not plainly healthy
	CaptureUntil     time.Time // debug capture of payloads is on until then; zero when off
	// Verified is when the operator confirmed the codes match; zero while unverified.
	Verified  time.Time
	RevokedBy string // for StateRevoked: "operator" or "partner"
	// PartnerState is what the partner's side said: "" (nothing wrong), "paused",
	// "refuses" (it refuses this agent's key), "limiting", "wrongkey".
	PartnerState string
	// Problem says in words what holds the connection up, "" when nothing does.
	Problem string
	Pulls   bool   // this agent has no listener and pulls the partner's events
	Allow   string // the address ranges the partner may call from, comma-separated; "": any
	// ReplyCode, for StatePending: the code to send the partner's operator, who pastes it into
	// their agent to complete the pairing.
	ReplyCode string
	// Expires, for StatePending: when the invitation, and with it the waiting pairing, expires.
	Expires time.Time
}

// IsVerified reports whether the operator confirmed the verification code.
func (c ConnectionInfo) IsVerified() bool { return !c.Verified.IsZero() }

// Status is the connection's state in words, for every place that shows it.
func (c ConnectionInfo) Status() string {
	switch {
	case c.State == StatePending && !time.Now().Before(c.Expires):
		return "Pairing expired"
	case c.State == StatePending:
		return "Waiting for the partner to complete pairing"
	case c.State == StateRevoked && c.RevokedBy == "partner":
		return "Revoked by the partner"
	case c.State == StateRevoked:
		return "Revoked"
	case c.State == StatePaused:
		return "Paused"
	case c.PartnerState == "paused":
		return "Paused by the partner"
	case c.PartnerState == "refuses":
		return "Refused by the partner"
	case c.PartnerState == "wrongkey":
		return "Partner key mismatch"
	}
	return "Active"
}

// Verification says whether the codes were compared, in words.
func (c ConnectionInfo) Verification() string {
	if c.IsVerified() {
		return "Verified"
	}
	return "Unverified"
}

// Queue entry states, as core/queue names them.
const (
	QueuePending  = "pending"  // due now or soon
	QueueBlocked  = "blocked"  // waits behind a failed event of the same item
	QueueRetrying = "retrying" // failed with a transient error; tried again at NextRetry
	QueueFailed   = "failed"   // failed permanently; waits for the operator to retry or skip
)

// QueueEntry is one event as the Queue screen shows it.
type QueueEntry struct {
	Connection string
	Direction  string // "out" or "in"
	Seq        uint64
	EventID    string
	ItemKey    string // the key the queue orders by: the local key outgoing, the partner's incoming
	Local      string // the local item's key, "" while not known (an incoming create)
	Remote     string // the partner's item key, "" while not known (an outgoing create)
	Kind       string
	State      string // QueuePending, QueueBlocked, QueueRetrying or QueueFailed
	BlockedBy  uint64 // for QueueBlocked: the seq of the failed event of the same item it waits for
	Attempts   int
	LastError  string
	NextRetry  time.Time
	Created    time.Time
	Rule       string   // the rule version that built the event or last ran on it: "outgoing v3"
	RuleLogs   []string // that run's ctx.Log lines
}
