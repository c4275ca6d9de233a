//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package secrets

import (
	"os"
	"path/filepath"
)

// sessionBusMissing reports why no D-Bus session bus can be found, or "" if one may be there.
// Without this check godbus would try to autolaunch a bus through dbus-launch, which needs X11
// and can leave a stray daemon behind.
func sessionBusMissing() string {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return ""
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		if fi, err := os.Stat(filepath.Join(dir, "bus")); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return ""
		}
	}
	return "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset); run Tandem inside a desktop session, or start one with dbus-run-session and gnome-keyring-daemon --unlock"
}
