package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/trackers/rt"
	"github.com/tandemsync/tandem/core/trackers/rt/rttest"
)

// faultyRT stands in front of a real RT and spoils a third of the writes: it answers 500 or
// 429 with Retry-After before passing them on, or passes them on and then loses the answer
// (500), answers garbage (HTML where JSON belongs, cut short) or closes the connection in the
// middle of the answer; and it holds the answer to one write in twenty past the client's
// timeout (10 s, so that RT itself, slow on a busy machine, does not overrun it: a create RT
// has not finished when the retry looks for it is the one case no connector can see, see the
// README).
type faultyRT struct {
	rp   *httputil.ReverseProxy
	hold time.Duration

	mu     sync.Mutex
	rng    *rand.Rand
	counts map[string]int
}

var rtWrite = regexp.MustCompile(`^/REST/2\.0/ticket(/\d+(/(correspond|comment))?)?$`)

func (f *faultyRT) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	isWrite := (r.Method == http.MethodPost || r.Method == http.MethodPut) && rtWrite.MatchString(r.URL.Path)
	if !isWrite {
		f.rp.ServeHTTP(w, r)
		return
	}
	f.mu.Lock()
	roll := f.rng.IntN(20)
	fault := "none"
	switch {
	case roll < 2:
		fault = "500"
	case roll < 3:
		fault = "429"
	case roll < 4:
		fault = "lost answer"
	case roll < 5:
		fault = "hang"
	case roll < 6:
		fault = "garbage"
	case roll < 7:
		fault = "closed"
	}
	f.counts[fault]++
	f.mu.Unlock()
	switch fault {
	case "500":
		http.Error(w, "internal error (injected)", http.StatusInternalServerError)
	case "429":
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down (injected)", http.StatusTooManyRequests)
	case "garbage", "closed":
		rec := httptest.NewRecorder()
		f.rp.ServeHTTP(rec, r)  // RT acts on it
		if fault == "garbage" { // and the answer is not what an API answers
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("<html><body>502 Bad Gateway from a proxy that thinks it is fine</body></html>{\"id\":"))
			return
		}
		// or the connection closes in the middle of the answer
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		buf.WriteString("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"id\": ")
		buf.Flush()
		conn.Close()
	case "lost answer", "hang":
		rec := httptest.NewRecorder()
		f.rp.ServeHTTP(rec, r) // RT acts on it
		if fault == "hang" {
			time.Sleep(f.hold) // and answers after the client gave up
		}
		http.Error(w, "the answer was lost (injected)", http.StatusInternalServerError)
	default:
		f.rp.ServeHTTP(w, r)
	}
}

func TestFaultyTrackerEndsWithEverythingAppliedOnce(t *testing.T) {
	srv := rttest.Need(t, rtServer)
	ctx := context.Background()
	// A queue of its own, so other tests' tickets do not count.
	rtDirect(t, srv, "POST", "/queue", map[string]any{"Name": "Faults"}, nil)
	target, _ := url.Parse(srv.URL)
	faulty := &faultyRT{rp: httputil.NewSingleHostReverseProxy(target), hold: 12 * time.Second, rng: rand.New(rand.NewPCG(7, 8)), counts: map[string]int{}}
	proxy := httptest.NewServer(faulty)
	defer proxy.Close()

	keys := testKeys(t)
	helpdesk := start(t, Options{Dir: t.TempDir(), Name: "Helpdesk", Listen: "127.0.0.1:0", Keys: keys})
	settings := rtSettings(proxy.URL, "Faults", srv.User)
	settings.Poll, settings.Timeout = 300*time.Millisecond, 10*time.Second
	if err := helpdesk.SaveTrackerSettings(ctx, settings, secret(srv.Password)); err != nil {
		t.Fatal(err)
	}
	dev := start(t, Options{Dir: t.TempDir(), Name: "Dev", Listen: "127.0.0.1:0", Prefix: "DEV", Keys: keys})
	pair(t, helpdesk, dev)

	const items, comments = 8, 3
	for i := range items {
		it, err := dev.CreateItem(ctx, item.Item{Title: fmt.Sprintf("fault %d", i), Description: "made at dev", Status: "open"})
		if err != nil {
			t.Fatal(err)
		}
		for c := range comments {
			if _, err := dev.AddComment(ctx, it.Key, item.Comment{Author: item.User{Name: "Dana Dev"}, Body: fmt.Sprintf("comment %d on fault %d", c, i)}); err != nil {
				t.Fatal(err)
			}
		}
		it.Title = fmt.Sprintf("fault %d (edited)", i)
		if _, err := dev.UpdateItem(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	reader, err := rt.New(rt.Config{URL: srv.URL, Queues: []string{"Faults"}, User: srv.User, Password: srv.Password})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Minute, "every item and comment in rt once", func() (bool, string) {
		var bad []string
		byKey := map[string]item.Item{}
		cursor := ""
		for range 100 {
			got, next, err := reader.Changes(ctx, cursor, 100)
			if err != nil {
				return false, err.Error()
			}
			for _, it := range got {
				byKey[it.Key] = it // a ticket that changed while being read comes again
			}
			if next == cursor {
				break
			}
			cursor = next
		}
		tickets := map[string][]item.Item{}
		for _, it := range byKey {
			tickets[it.Title] = append(tickets[it.Title], it)
		}
		for i := range items {
			title := fmt.Sprintf("fault %d (edited)", i)
			ts := tickets[title]
			if len(ts) != 1 {
				bad = append(bad, fmt.Sprintf("%d tickets %q", len(ts), title))
				continue
			}
			for c := range comments {
				body := fmt.Sprintf("comment %d on fault %d", c, i)
				n := 0
				for _, x := range ts[0].Comments {
					if strings.TrimSpace(x.Body) == body {
						n++
					}
				}
				if n != 1 {
					bad = append(bad, fmt.Sprintf("%q %d times on %q", body, n, title))
				}
			}
		}
		if len(tickets) != items {
			bad = append(bad, fmt.Sprintf("%d distinct tickets, want %d: %v", len(tickets), items, keysOf(tickets)))
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	eventually(t, 2*time.Minute, "queues drained", func() (bool, string) {
		h, _ := helpdesk.Overview(ctx)
		d, _ := dev.Overview(ctx)
		return h.Queued == 0 && d.Queued == 0 && h.Failed == 0 && d.Failed == 0, fmt.Sprintf("helpdesk %+v dev %+v", h, d)
	})
	// Nothing the faults made twice came back to dev as an item of its own.
	if got, _ := dev.Items(ctx); len(got) != items {
		t.Errorf("dev has %d items, want %d", len(got), items)
	}
	faulty.mu.Lock()
	defer faulty.mu.Unlock()
	t.Logf("writes seen by the faulty RT: %v", faulty.counts)
	if faulty.counts["500"]+faulty.counts["429"]+faulty.counts["lost answer"] == 0 || faulty.counts["hang"] == 0 || faulty.counts["garbage"]+faulty.counts["closed"] == 0 {
		t.Errorf("the run saw too few faults to mean anything: %v", faulty.counts)
	}
}
