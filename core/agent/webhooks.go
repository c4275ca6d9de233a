package agent

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tandemsync/tandem/core/engine"
)

// WebhookPath is where the agent takes a tracker's webhook deliveries.
const WebhookPath = "/webhook"

// webhookReceiver is a tracker that takes its vendor's webhook deliveries (GitHub's), as the
// fast path beside polling.
type webhookReceiver interface {
	WebhookHandler() http.Handler
}

// webhooks serves the tracker's webhook deliveries on the address its settings name
// (webhook_listen), following tracker changes, until ctx ends. Deliveries are verified by the
// tracker (a signature over the body) and only wake the engine, which then polls: their
// content is never applied, so plain HTTP behind the operator's TLS front is enough.
func (a *Agent) webhooks(ctx context.Context) {
	var (
		srv  *http.Server
		done chan struct{}
		addr string
		cur  engine.Tracker
	)
	stop := func() {
		if srv != nil {
			srv.Close()
			<-done
			srv, addr, cur = nil, "", nil
		}
	}
	defer stop()
	for {
		a.mu.Lock()
		tr, s := a.sync, a.settings
		a.mu.Unlock()
		want := strings.TrimSpace(s.Values["webhook_listen"])
		h, ok := tr.(webhookReceiver)
		if !ok {
			want = ""
		}
		if want != addr || tr != cur {
			stop()
			if want != "" {
				ln, err := net.Listen("tcp", want)
				if err != nil {
					a.log.Error("webhook listener not started; polling continues", "addr", want, "err", err)
				} else {
					mux := http.NewServeMux()
					mux.Handle(WebhookPath, h.WebhookHandler())
					srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: time.Minute}
					done = make(chan struct{})
					go func(srv *http.Server, done chan struct{}) {
						defer close(done)
						if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
							a.log.Error("webhook listener stopped", "err", err)
						}
					}(srv, done)
					addr, cur = want, tr
					a.log.Info("taking webhook deliveries", "addr", ln.Addr().String(), "path", WebhookPath)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-a.trackerChanged:
		}
	}
}
