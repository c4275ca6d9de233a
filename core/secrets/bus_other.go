//go:build !((dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd)

package secrets

// sessionBusMissing: other systems' keychains (macOS Keychain, Windows Credential Manager)
// need no session bus.
func sessionBusMissing() string { return "" }
