// Package secrets keeps credentials and private keys in the OS keychain, with timeouts and clear errors.
package secrets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	keyring "github.com/zalando/go-keyring"
)

// ErrNotFound means the keychain holds no secret for the account.
var ErrNotFound = errors.New("no such secret in the keychain")

// ErrUnavailable means no keychain could be reached; the wrapping error says why and what to do.
var ErrUnavailable = errors.New("the OS keychain is unavailable")

// DefaultTimeout bounds every keychain call.
const DefaultTimeout = 5 * time.Second

// inflight admits one keychain call at a time in the process. go-keyring cannot be cancelled,
// so a call that hangs (a locked keyring waiting on a prompt nobody sees) keeps its goroutine
// until the OS answers; holding this slot meanwhile keeps hung calls from piling up.
var inflight = make(chan struct{}, 1)

// Keychain stores secrets in the OS keychain under one service name.
type Keychain struct {
	service string
	timeout time.Duration
}

// NewKeychain returns the keychain for service (e.g. "tandem") with the default timeout.
func NewKeychain(service string) *Keychain {
	return NewKeychainTimeout(service, DefaultTimeout)
}

// NewKeychainTimeout is NewKeychain with another bound per call; timeout <= 0 means the default.
func NewKeychainTimeout(service string, timeout time.Duration) *Keychain {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Keychain{service: service, timeout: timeout}
}

// Describe names the store for the operator.
func (k *Keychain) Describe() string { return "the OS keychain (Secret Service over D-Bus)" }

// Get returns the secret stored for account, or ErrNotFound.
func (k *Keychain) Get(ctx context.Context, account string) (string, error) {
	return k.call(ctx, "get", account, func() (string, error) {
		return keyring.Get(k.service, account)
	})
}

// Set stores secret for account, replacing any earlier one.
func (k *Keychain) Set(ctx context.Context, account, secret string) error {
	_, err := k.call(ctx, "set", account, func() (string, error) {
		return "", keyring.Set(k.service, account, secret)
	})
	return err
}

// Delete removes the secret for account, or returns ErrNotFound.
func (k *Keychain) Delete(ctx context.Context, account string) error {
	_, err := k.call(ctx, "delete", account, func() (string, error) {
		return "", keyring.Delete(k.service, account)
	})
	return err
}

// Probe stores, reads back and deletes a throwaway entry. It returns nil when the keychain
// works, or an error wrapping ErrUnavailable that says why.
func (k *Keychain) Probe(ctx context.Context) error {
	account := "tandem-probe-" + randomHex(8)
	want := randomHex(16)
	if err := k.Set(ctx, account, want); err != nil {
		return probeErr("store", err)
	}
	got, err := k.Get(ctx, account)
	if err != nil {
		_ = k.Delete(ctx, account)
		return probeErr("read back", err)
	}
	if err := k.Delete(ctx, account); err != nil {
		return probeErr("delete", err)
	}
	if got != want {
		return fmt.Errorf("keychain probe: %w: it returned a different value than was stored", ErrUnavailable)
	}
	return nil
}

func probeErr(step string, err error) error {
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("keychain probe %s: %w", step, err)
	}
	// Any other answer (even "not found" right after a store) means the keychain cannot be trusted.
	return fmt.Errorf("keychain probe %s: %w: %w", step, ErrUnavailable, err)
}

// call runs f in its own goroutine and gives up after the timeout or when ctx ends. The secret
// never enters an error: only the operation, the account and go-keyring's error do.
func (k *Keychain) call(ctx context.Context, op, account string, f func() (string, error)) (string, error) {
	if account == "" {
		return "", fmt.Errorf("keychain %s: empty account name", op)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("keychain %s %q: %w", op, account, err)
	}
	if reason := sessionBusMissing(); reason != "" {
		return "", fmt.Errorf("keychain %s %q: %w: %s", op, account, ErrUnavailable, reason)
	}
	timer := time.NewTimer(k.timeout)
	defer timer.Stop()
	select {
	case inflight <- struct{}{}:
	case <-timer.C:
		return "", fmt.Errorf("keychain %s %q: %w: an earlier call to the OS keychain has not returned after %v; is gnome-keyring running and unlocked?", op, account, ErrUnavailable, k.timeout)
	case <-ctx.Done():
		return "", fmt.Errorf("keychain %s %q: %w", op, account, ctx.Err())
	}
	type result struct {
		value string
		err   error
	}
	done := make(chan result, 1)
	// This goroutine ends when go-keyring returns; it releases the slot then, not before.
	go func() {
		defer func() { <-inflight }()
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return "", fmt.Errorf("keychain %s %q: %w", op, account, classify(r.err))
		}
		return r.value, nil
	case <-timer.C:
		return "", fmt.Errorf("keychain %s %q: %w: the OS keychain did not answer within %v; is gnome-keyring running and unlocked?", op, account, ErrUnavailable, k.timeout)
	case <-ctx.Done():
		return "", fmt.Errorf("keychain %s %q: %w", op, account, ctx.Err())
	}
}

// classify maps go-keyring's errors onto this package's sentinels, keeping the reason.
func classify(err error) error {
	if errors.Is(err, keyring.ErrNotFound) {
		return ErrNotFound
	}
	if errors.Is(err, keyring.ErrSetDataTooBig) {
		return fmt.Errorf("the secret is too large for the OS keychain: %w", err)
	}
	switch dbusErrorName(err) {
	case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner":
		return fmt.Errorf("%w: no Secret Service on the D-Bus session bus; install and start gnome-keyring (or another Secret Service such as KeePassXC): %w", ErrUnavailable, err)
	}
	if strings.Contains(err.Error(), "unlock") {
		return fmt.Errorf("%w: the keyring is locked; unlock it (e.g. log in to the desktop, or gnome-keyring-daemon --unlock): %w", ErrUnavailable, err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// dbusErrorName is the D-Bus error name inside err, or "". godbus returns both Error and *Error.
func dbusErrorName(err error) string {
	var v dbus.Error
	if errors.As(err, &v) {
		return v.Name
	}
	var p *dbus.Error
	if errors.As(err, &p) && p != nil {
		return p.Name
	}
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails since Go 1.24
	return hex.EncodeToString(b)
}

// Memory keeps secrets in process memory only: for throwaway demo keys when no keychain is
// reachable, and for tests of the packages that use secrets.
type Memory struct {
	mu sync.Mutex
	m  map[string]string
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{m: make(map[string]string)}
}

// Describe names the store for the operator.
func (m *Memory) Describe() string { return "process memory only (throwaway keys)" }

// Get returns the secret stored for account, or ErrNotFound.
func (m *Memory) Get(ctx context.Context, account string) (string, error) {
	if err := memCheck(ctx, "get", account); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[account]
	if !ok {
		return "", fmt.Errorf("memory keychain get %q: %w", account, ErrNotFound)
	}
	return v, nil
}

// Set stores secret for account, replacing any earlier one.
func (m *Memory) Set(ctx context.Context, account, secret string) error {
	if err := memCheck(ctx, "set", account); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[account] = secret
	return nil
}

// Delete removes the secret for account, or returns ErrNotFound.
func (m *Memory) Delete(ctx context.Context, account string) error {
	if err := memCheck(ctx, "delete", account); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[account]; !ok {
		return fmt.Errorf("memory keychain delete %q: %w", account, ErrNotFound)
	}
	delete(m.m, account)
	return nil
}

// Probe always succeeds unless ctx is done: process memory is always there.
func (m *Memory) Probe(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory keychain probe: %w", err)
	}
	return nil
}

func memCheck(ctx context.Context, op, account string) error {
	if account == "" {
		return fmt.Errorf("memory keychain %s: empty account name", op)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory keychain %s %q: %w", op, account, err)
	}
	return nil
}
