package agent

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/tandemsync/tandem/core/secrets"
	"github.com/tandemsync/tandem/core/vault"
)

func (a *Agent) vaultAccount() string { return "vault-key:" + a.opt.Dir }

// openVault opens the token vault with its key from the keychain, creating the key on first
// use. The key never touches the data directory.
func (a *Agent) openVault(ctx context.Context) (*vault.Vault, error) {
	secret, err := a.opt.Keys.Get(ctx, a.vaultAccount())
	var key []byte
	switch {
	case err == nil:
		if key, err = hex.DecodeString(secret); err != nil || len(key) != vault.KeySize {
			return nil, fmt.Errorf("the token vault key in the keychain for %s is damaged", a.opt.Dir)
		}
	case errors.Is(err, secrets.ErrNotFound):
		key = vault.NewKey()
		if err := a.opt.Keys.Set(ctx, a.vaultAccount(), hex.EncodeToString(key)); err != nil {
			return nil, fmt.Errorf("keep the token vault key in the keychain: %w", err)
		}
	default:
		return nil, fmt.Errorf("read the token vault key from the keychain: %w", err)
	}
	v, err := vault.Open(a.st, key)
	if err != nil {
		return nil, fmt.Errorf("open the token vault: %w", err)
	}
	return v, nil
}

// VaultTokens reports how many tokens a connection's rules have issued.
func (a *Agent) VaultTokens(ctx context.Context, connID string) (int, error) {
	if _, err := a.conn(connID); err != nil {
		return 0, err
	}
	return a.vault.Count(connID)
}

// PurgeVault forgets every token of a connection and reports how many there were: tokens the
// partner still holds no longer resolve here.
func (a *Agent) PurgeVault(ctx context.Context, connID string) (int, error) {
	if _, err := a.conn(connID); err != nil {
		return 0, err
	}
	n, err := a.vault.Purge(connID)
	if err == nil {
		a.log.Info("token vault purged", "connection", connID, "tokens", n, "author", a.author())
	}
	return n, err
}
