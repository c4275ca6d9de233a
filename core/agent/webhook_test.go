package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/trackers/github"
	"github.com/tandemsync/tandem/core/trackers/github/githubtest"
)

// An agent on GitHub with a webhook address takes signed deliveries there and wakes its
// engine; a delivery with a wrong signature is refused; a new address follows a settings change.
func TestGitHubWebhookListener(t *testing.T) {
	gh := githubtest.New(t, "acme/app")
	a := start(t, Options{Dir: t.TempDir(), Keys: testKeys(t), TrackerTransport: gh.Client().Transport})
	ctx := context.Background()
	addr := freeLoopback(t)
	s := TrackerSettings{Kind: "github", Values: map[string]string{"url": gh.URL, "repositories": "acme/app", "auth": github.AuthToken,
		"webhook_listen": addr}, Poll: time.Hour}
	if err := a.SaveTrackerSettings(ctx, s, map[string]string{"token": gh.Token, "webhook_secret": "s3cret"}); err != nil {
		t.Fatal(err)
	}
	body := `{"action":"edited","repository":{"full_name":"acme/app"},"issue":{"number":1}}`
	post := func(signature string) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+WebhookPath, strings.NewReader(body))
		req.Header.Set("X-GitHub-Event", "issues")
		req.Header.Set("X-Hub-Signature-256", signature)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var code int
	eventually(t, 20*time.Second, "webhook listener up", func() (bool, string) {
		var err error
		code, err = post(github.Sign("s3cret", []byte(body)))
		return err == nil, fmt.Sprint(err)
	})
	if code != http.StatusNoContent {
		t.Fatalf("signed delivery answered %d", code)
	}
	a.mu.Lock()
	notifier := a.sync.(engine.ChangeNotifier)
	a.mu.Unlock()
	select {
	case <-notifier.Changed():
	case <-time.After(5 * time.Second):
		t.Error("the delivery did not wake the engine")
	}
	if code, err := post(github.Sign("wrong", []byte(body))); err != nil || code != http.StatusUnauthorized {
		t.Errorf("delivery with a wrong signature: %d, %v; want 401", code, err)
	}
	// Settings without an address close the listener.
	delete(s.Values, "webhook_listen")
	if err := a.SaveTrackerSettings(ctx, s, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "webhook listener closed", func() (bool, string) {
		_, err := post(github.Sign("s3cret", []byte(body)))
		return err != nil, "still answering"
	})
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
