package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/secrets"
)

// passphraseEnv names the environment variable that may carry the secrets file's passphrase.
const passphraseEnv = "TANDEM_SECRETS_PASSPHRASE"

// secretsPath is the data directory's passphrase-encrypted secrets file.
func (af agentFlags) secretsPath() string { return filepath.Join(af.dir, secrets.FileName) }

// usesSecretsFile reports whether the agent keeps its secrets in the file instead of the OS
// keychain: asked for with --secrets-file, or chosen before (the file exists).
func (af agentFlags) usesSecretsFile() bool {
	if af.secretsFile {
		return true
	}
	_, err := os.Stat(af.secretsPath())
	return err == nil
}

// keys opens where the agent's secrets live: the OS keychain, or the passphrase-encrypted
// file, whose passphrase comes from --passphrase-file or TANDEM_SECRETS_PASSPHRASE.
func (af agentFlags) keys() (agent.Keys, error) {
	if !af.usesSecretsFile() {
		return secrets.NewKeychain("tandem"), nil
	}
	pass, err := af.passphrase()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(af.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	return secrets.OpenFile(af.secretsPath(), pass)
}

func (af agentFlags) passphrase() (string, error) {
	if af.passphraseFile != "" {
		b, err := os.ReadFile(af.passphraseFile)
		if err != nil {
			return "", fmt.Errorf("read the secrets passphrase: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if v := os.Getenv(passphraseEnv); v != "" {
		return v, nil
	}
	return "", errors.New("this agent keeps its secrets in " + af.secretsPath() + ", encrypted with a passphrase: give it in " +
		passphraseEnv + " or with --passphrase-file FILE")
}

// secretsDescription names where the secrets are, for serve's first log line.
func (af agentFlags) secretsDescription() string {
	if af.usesSecretsFile() {
		return "a passphrase-encrypted file, " + af.secretsPath()
	}
	return "the OS keychain (Secret Service over D-Bus)"
}
