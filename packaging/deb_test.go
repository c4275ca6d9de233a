package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// need finds a tool the test needs; under make test (TANDEM_REQUIRE_DISPLAY, set with the
// packages installed) a missing one is a failure, else the test is skipped.
func need(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		if os.Getenv("TANDEM_REQUIRE_PACKAGING") == "1" {
			t.Fatalf("%s is not installed and TANDEM_REQUIRE_PACKAGING=1", tool)
		}
		t.Skipf("%s is not installed", tool)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDeb builds the real binary and the .deb from it, checks what the package holds with
// dpkg-deb (files, modes, owners, control fields, conffiles, maintainer scripts), unpacks it
// into a throwaway root and runs tandem version from there.
func TestDeb(t *testing.T) {
	need(t, "dpkg-deb")
	need(t, "gcc")
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "tandem")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tandem")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	version, err := AppVersion("../FyneApp.toml")
	if err != nil {
		t.Fatal(err)
	}
	deb, err := Deb(Options{Root: "..", Binary: bin, OutDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	if want := "tandem_" + version + "_"; !strings.HasPrefix(filepath.Base(deb), want) {
		t.Errorf("package %s, want it named %s<arch>.deb", deb, want)
	}

	// The files, each owned by root with its mode.
	listing := run(t, "dpkg-deb", "--contents", deb)
	for path, mode := range map[string]string{
		"./usr/bin/tandem": "-rwxr-xr-x",
		"./usr/share/applications/io.tandemsync.tandem.desktop":           "-rw-r--r--",
		"./usr/share/icons/hicolor/512x512/apps/io.tandemsync.tandem.png": "-rw-r--r--",
		"./usr/lib/systemd/system/tandem.service":                         "-rw-r--r--",
		"./usr/lib/systemd/user/tandem.service":                           "-rw-r--r--",
		"./usr/lib/sysusers.d/tandem.conf":                                "-rw-r--r--",
		"./etc/tandem/tandem.env":                                         "-rw-r--r--",
		"./usr/share/doc/tandem/README.md":                                "-rw-r--r--",
	} {
		line := ""
		for _, l := range strings.Split(listing, "\n") {
			if f := strings.Fields(l); len(f) >= 6 && f[len(f)-1] == path {
				line = l
			}
		}
		if line == "" {
			t.Errorf("the package lacks %s:\n%s", path, listing)
			continue
		}
		if f := strings.Fields(line); f[0] != mode || f[1] != "root/root" {
			t.Errorf("%s: %s %s, want %s root/root", path, f[0], f[1], mode)
		}
	}

	// Control fields, conffiles and maintainer scripts.
	fields := run(t, "dpkg-deb", "--field", deb, "Package", "Version", "Architecture", "Depends", "Maintainer", "Description")
	for _, want := range []string{"Package: tandem", "Version: " + version, "Architecture: ", "Depends: libc6, libgl1", "Maintainer: ", "Description: Decentralized two-way sync agent"} {
		if !strings.Contains(fields, want) {
			t.Errorf("control lacks %q:\n%s", want, fields)
		}
	}
	control := filepath.Join(tmp, "control")
	run(t, "dpkg-deb", "--control", deb, control)
	conffiles, _ := os.ReadFile(filepath.Join(control, "conffiles"))
	if !slices.Contains(strings.Fields(string(conffiles)), "/etc/tandem/tandem.env") {
		t.Errorf("conffiles %q: want /etc/tandem/tandem.env kept across upgrades", conffiles)
	}
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		p := filepath.Join(control, script)
		fi, err := os.Stat(p)
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("maintainer script %s: %v (mode %v); want an executable script", script, err, fi)
			continue
		}
		run(t, "sh", "-n", p)
	}

	// Unpacked into a throwaway root, the binary runs.
	root := filepath.Join(tmp, "root")
	run(t, "dpkg-deb", "--extract", deb, root)
	out := run(t, filepath.Join(root, "usr", "bin", "tandem"), "version")
	if !strings.HasPrefix(out, "tandem "+version+" ") {
		t.Errorf("tandem version from the package: %q, want tandem %s", out, version)
	}

	// The units run what the package installs, as the user sysusers makes.
	system := readFile(t, filepath.Join(root, "usr/lib/systemd/system/tandem.service"))
	user := readFile(t, filepath.Join(root, "usr/lib/systemd/user/tandem.service"))
	sysusers := readFile(t, filepath.Join(root, "usr/lib/sysusers.d/tandem.conf"))
	for _, want := range []string{"ExecStart=/usr/bin/tandem serve --data-dir /var/lib/tandem --secrets-file", "User=tandem", "StateDirectory=tandem", "LoadCredential=passphrase:/etc/tandem/passphrase", "EnvironmentFile=-/etc/tandem/tandem.env", "WantedBy=multi-user.target"} {
		if !strings.Contains(system, want) {
			t.Errorf("the system unit lacks %q", want)
		}
	}
	if !strings.Contains(user, "ExecStart=/usr/bin/tandem serve\n") || !strings.Contains(user, "WantedBy=default.target") {
		t.Errorf("the user unit does not run tandem serve for the user's session:\n%s", user)
	}
	if !strings.Contains(sysusers, "u tandem - ") || !strings.Contains(sysusers, "/var/lib/tandem") {
		t.Errorf("sysusers.d makes no user tandem with home /var/lib/tandem:\n%s", sysusers)
	}
	desktop := readFile(t, filepath.Join(root, "usr/share/applications/io.tandemsync.tandem.desktop"))
	if !strings.Contains(desktop, "Exec=tandem\n") || !strings.Contains(desktop, "Icon=io.tandemsync.tandem\n") {
		t.Errorf("the desktop entry does not start tandem with its icon:\n%s", desktop)
	}
	if _, err := exec.LookPath("desktop-file-validate"); err == nil {
		run(t, "desktop-file-validate", filepath.Join(root, "usr/share/applications/io.tandemsync.tandem.desktop"))
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		// Checks the units' syntax; the binary path is the unpacked one's.
		unit := filepath.Join(tmp, "tandem.service")
		os.WriteFile(unit, []byte(strings.ReplaceAll(system, "/usr/bin/tandem", filepath.Join(root, "usr/bin/tandem"))), 0o644)
		if out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput(); err != nil && strings.Contains(string(out), "tandem.service:") {
			t.Errorf("systemd-analyze verify tandem.service: %s", out)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDebWithoutBinary(t *testing.T) {
	_, err := Deb(Options{Root: "..", Binary: filepath.Join(t.TempDir(), "missing")})
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Errorf("Deb without a binary: %v; want a pointer to make build", err)
	}
}
