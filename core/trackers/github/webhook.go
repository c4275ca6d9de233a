package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Webhook is the outcome of one delivery, for logs and tests.
type Webhook struct {
	Event  string // X-GitHub-Event
	Action string
	Key    string // the issue it is about, "" when none of ours
}

// ErrBadSignature is a delivery whose X-Hub-Signature-256 does not match the secret.
var ErrBadSignature = errors.New("webhook signature does not match the secret: check the webhook secret in GitHub and in Settings")

// maxWebhook bounds a delivery (GitHub's own limit is 25 MB; issues are far smaller).
const maxWebhook = 5 << 20

// ReceiveWebhook verifies and reads one delivery: the signature over the exact body, then the
// event. issues and issue_comment events of a synced repository's issues make the engine poll
// at once (polling stays the reconciliation: a lost delivery only delays a change); ping is
// answered; any other event is refused with an error that says which to subscribe to.
func (t *Tracker) ReceiveWebhook(event, signature string, body []byte) (Webhook, error) {
	wh := Webhook{Event: event}
	if t.cfg.WebhookSecret == "" {
		return wh, errors.New("no webhook secret in Settings: Tandem accepts only signed deliveries")
	}
	if !validSignature(t.cfg.WebhookSecret, signature, body) {
		return wh, ErrBadSignature
	}
	var p struct {
		Action     string `json:"action"`
		Repository struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
		Issue *struct {
			Number      int64           `json:"number"`
			PullRequest json.RawMessage `json:"pull_request"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return wh, fmt.Errorf("webhook body is not JSON: %w", err)
	}
	wh.Action = p.Action
	switch event {
	case "ping":
		return wh, nil
	case "issues", "issue_comment":
	default:
		return wh, fmt.Errorf("webhook event %q is not one Tandem uses: subscribe the webhook to Issues and Issue comments only", event)
	}
	if p.Issue == nil {
		return wh, fmt.Errorf("%s webhook has no issue", event)
	}
	if len(p.Issue.PullRequest) > 0 && string(p.Issue.PullRequest) != "null" {
		return wh, nil // a pull request's conversation: not synced
	}
	for _, r := range t.repos {
		if strings.EqualFold(r.String(), p.Repository.FullName) {
			wh.Key = itemKey(r, p.Issue.Number)
			t.nudge()
			return wh, nil
		}
	}
	return wh, nil // another repository the webhook also covers
}

func validSignature(secret, header string, body []byte) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Sign is the X-Hub-Signature-256 GitHub sends for body (for tests and tools).
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// WebhookHandler serves GitHub's webhook deliveries (POST) for this tracker.
func (t *Tracker) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "GitHub webhooks are POSTed", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhook+1))
		if err != nil || len(body) > maxWebhook {
			http.Error(w, "webhook body unreadable or too large", http.StatusRequestEntityTooLarge)
			return
		}
		wh, err := t.ReceiveWebhook(r.Header.Get("X-GitHub-Event"), r.Header.Get("X-Hub-Signature-256"), body)
		switch {
		case errors.Is(err, ErrBadSignature):
			t.log.Warn("webhook refused", "event", wh.Event, "delivery", r.Header.Get("X-GitHub-Delivery"), "err", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
		case err != nil:
			t.log.Warn("webhook refused", "event", wh.Event, "delivery", r.Header.Get("X-GitHub-Delivery"), "err", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			t.log.Debug("webhook", "event", wh.Event, "action", wh.Action, "issue", wh.Key)
			w.WriteHeader(http.StatusNoContent)
		}
	})
}
