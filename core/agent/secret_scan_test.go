package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/pairing"
	"github.com/tandemsync/tandem/core/trackers/rt/rttest"
)

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// encodings are the forms a secret could take in a file or a log line.
func encodings(secret []byte) [][]byte {
	return [][]byte{
		secret,
		[]byte(base64.StdEncoding.EncodeToString(secret)),
		[]byte(base64.RawStdEncoding.EncodeToString(secret)),
		[]byte(base64.RawURLEncoding.EncodeToString(secret)),
		[]byte(hex.EncodeToString(secret)),
	}
}

// After a full sync with Request Tracker (pairing, a ticket from RT to the partner, a comment
// back into RT), neither data directory nor any log line holds a private key, the RT
// credential or the invitation's secret.
func TestNoSecretsOnDiskOrInLogsAfterRTSync(t *testing.T) {
	srv := rttest.Need(t, rtServer)
	keys := testKeys(t)
	ctx := context.Background()
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Tandem's own RT account, with a password that appears nowhere by chance (the test
	// server's default is the word "password").
	var rnd [12]byte
	rand.Read(rnd[:])
	rtUser, rtPassword := "tandem-scan-"+hex.EncodeToString(rnd[:3]), "pw-"+hex.EncodeToString(rnd[3:])
	if err := srv.AddUser(ctx, rtUser, "Tandem Scan", rtUser+"@example.com", rtPassword); err != nil {
		t.Fatal(err)
	}
	hdDir, devDir := t.TempDir(), t.TempDir()
	helpdesk := start(t, Options{Dir: hdDir, Name: "Helpdesk", Listen: "127.0.0.1:0", Keys: keys, Logger: logger})
	settings := rtSettings(srv.URL, "General", rtUser)
	settings.Poll, settings.Timeout = 300*time.Millisecond, 20*time.Second
	if err := helpdesk.SaveTrackerSettings(ctx, settings, secret(rtPassword)); err != nil {
		t.Fatalf("save rt settings: %v", err)
	}
	dev := start(t, Options{Dir: devDir, Name: "Dev", Listen: "127.0.0.1:0", Prefix: "DEV", Keys: keys, Logger: logger})
	inv, err := helpdesk.Invite(ctx, InviteRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Accept(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}

	subject := "Badge reader at the side door " + fmt.Sprint(time.Now().UnixNano())
	var created struct {
		ID string `json:"id"`
	}
	rtDirect(t, srv, "POST", "/ticket", map[string]any{"Queue": "General", "Subject": subject, "Content": "It beeps red for everyone.", "ContentType": "text/plain"}, &created)
	eventually(t, 120*time.Second, "the rt ticket at dev", func() (bool, string) {
		_, ok := findItem(t, dev, subject)
		return ok, ""
	})
	it, _ := findItem(t, dev, subject)
	if _, err := dev.AddComment(ctx, it.Key, item.Comment{Author: item.User{Name: "Dana Dev"}, Body: "A new reader is on its way."}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 120*time.Second, "dev's comment in rt", func() (bool, string) {
		for _, tk := range rtTickets(t, srv)[subject] {
			if hasComment(tk, "Dana Dev", "A new reader is on its way.") {
				return true, ""
			}
		}
		return false, ""
	})
	helpdesk.stop()
	dev.stop()

	code, err := pairing.ParseCode(inv.Code)
	if err != nil {
		t.Fatal(err)
	}
	needles := map[string][][]byte{
		"the RT password":           {[]byte(rtPassword), []byte(base64.StdEncoding.EncodeToString([]byte(rtUser + ":" + rtPassword)))},
		"the invitation code":       {[]byte(inv.Code)},
		"the invitation's secret":   encodings(code.Secret),
		"helpdesk's private key":    append(encodings(helpdesk.id.Private.Seed()), encodings(helpdesk.id.Private)...),
		"dev's private key":         append(encodings(dev.id.Private.Seed()), encodings(dev.id.Private)...),
		"helpdesk's key (keychain)": {[]byte(helpdesk.id.MarshalPrivate())},
		"dev's key (keychain)":      {[]byte(dev.id.MarshalPrivate())},
	}
	scan := func(where string, data []byte) {
		for what, forms := range needles {
			for _, n := range forms {
				if len(n) >= 8 && bytes.Contains(data, n) {
					t.Errorf("%s holds %s", where, what)
				}
			}
		}
	}
	files := 0
	for _, dir := range []string{hdDir, devDir} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Type()&fs.ModeSocket != 0 {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			scan(path, data)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	logged := logs.Bytes()
	scan("the logs", logged)
	if files < 4 || len(logged) == 0 || !strings.Contains(string(logged), "paired") {
		t.Errorf("scanned %d files and %d bytes of logs; the scan looked at too little to mean anything", files, len(logged))
	}
}
