// Package packaging builds Tandem's Debian package from nfpm.yaml with nFPM.
package packaging

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
)

// Options say what to package and where to put it.
type Options struct {
	Root    string // the repository's root; nfpm.yaml's paths are relative to it
	Binary  string // the tandem binary to package; default Root/bin/tandem
	OutDir  string // where the .deb goes; default Root/bin
	Version string // default: FyneApp.toml's
	Arch    string // Debian architecture name; default: this machine's Go GOARCH
}

// Deb builds the package and returns its path, e.g. bin/tandem_0.1.0_amd64.deb.
func Deb(o Options) (string, error) {
	if o.Root == "" {
		o.Root = "."
	}
	if o.Binary == "" {
		o.Binary = filepath.Join(o.Root, "bin", "tandem")
	}
	if o.OutDir == "" {
		o.OutDir = filepath.Join(o.Root, "bin")
	}
	if o.Arch == "" {
		o.Arch = runtime.GOARCH // nFPM maps Go's names to Debian's (386 to i386, arm to armhf...)
	}
	if o.Version == "" {
		v, err := AppVersion(filepath.Join(o.Root, "FyneApp.toml"))
		if err != nil {
			return "", err
		}
		o.Version = v
	}
	if fi, err := os.Stat(o.Binary); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("no tandem binary at %s; build it first (make build)", o.Binary)
	}
	bin, err := filepath.Abs(o.Binary)
	if err != nil {
		return "", err
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return "", err
	}
	cfg, err := nfpm.ParseFileWithEnvMapping(filepath.Join(root, "packaging", "nfpm.yaml"), func(name string) string {
		switch name {
		case "VERSION":
			return o.Version
		case "ARCH":
			return o.Arch
		}
		return os.Getenv(name)
	})
	if err != nil {
		return "", fmt.Errorf("read packaging/nfpm.yaml: %w", err)
	}
	info, err := cfg.Get("deb")
	if err != nil {
		return "", err
	}
	// The file's paths are the repository's; nFPM reads them from the working directory.
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	for _, c := range info.Contents {
		c.Source = abs(c.Source)
		if c.Destination == "/usr/bin/tandem" {
			c.Source = bin
		}
	}
	sc := &info.Overridables.Scripts
	sc.PreInstall, sc.PostInstall, sc.PreRemove, sc.PostRemove = abs(sc.PreInstall), abs(sc.PostInstall), abs(sc.PreRemove), abs(sc.PostRemove)
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("prepare the package: %w", err)
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	out := filepath.Join(o.OutDir, pkg.ConventionalFileName(info))
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		os.Remove(out)
		return "", fmt.Errorf("build %s: %w", out, err)
	}
	return out, f.Close()
}

var versionLine = regexp.MustCompile(`^\s*Version\s*=\s*"([^"]+)"`)

// AppVersion reads [Details] Version from FyneApp.toml.
func AppVersion(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := versionLine.FindStringSubmatch(sc.Text()); m != nil {
			return m[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New(path + " names no Version")
}
