package httpx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestGetConditional(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("If-None-Match"))
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		fmt.Fprint(w, `{"name":"x"}`)
	}))
	defer srv.Close()
	c := New(Config{Tracker: "T"})
	var out struct{ Name string }
	hdr, nm, err := c.GetConditional(context.Background(), srv.URL, "", &out)
	if err != nil || nm || out.Name != "x" || hdr.Get("ETag") != `"v1"` {
		t.Fatalf("first read: got %+v, notModified %v, etag %q, %v", out, nm, hdr.Get("ETag"), err)
	}
	out.Name = "kept"
	_, nm, err = c.GetConditional(context.Background(), srv.URL, `"v1"`, &out)
	if err != nil || !nm || out.Name != "kept" {
		t.Fatalf("conditional read: got %+v, notModified %v, %v; want 304 with out untouched", out, nm, err)
	}
	if fmt.Sprint(got) != `[ "v1"]` {
		t.Errorf("If-None-Match sent: %q", got)
	}
}

func TestRateLimitAnswers(t *testing.T) {
	reset := strconv.FormatInt(time.Now().Add(20*time.Second).Unix(), 10)
	far := strconv.FormatInt(time.Now().Add(2*time.Hour).Unix(), 10)
	ok := step{status: 200, body: `{"name":"x"}`}
	tests := []struct {
		name      string
		steps     []step
		wantErr   string
		wantCalls int64
		minWait   time.Duration // the first wait, at least
	}{
		{name: "secondary limit: 403 with retry-after is waited out",
			steps:     []step{{status: 403, header: map[string]string{"Retry-After": "3"}, body: `{"message":"You have exceeded a secondary rate limit"}`}, ok},
			wantCalls: 2, minWait: 3 * time.Second},
		{name: "primary limit: 403 with remaining 0 waits for the reset",
			steps:     []step{{status: 403, header: map[string]string{"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": reset}, body: `{"message":"API rate limit exceeded"}`}, ok},
			wantCalls: 2, minWait: 15 * time.Second},
		{name: "a reset too far away is handed to the queue",
			steps:   []step{{status: 403, header: map[string]string{"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": far}, body: `{"message":"API rate limit exceeded"}`}},
			wantErr: "is limiting our requests (403): API rate limit exceeded (asked to wait 1h59m", wantCalls: 1},
		{name: "a 403 without limit headers is a missing right",
			steps:   []step{{status: 403, body: `{"message":"Resource not accessible by integration"}`}},
			wantErr: "the account lacks the right: Resource not accessible by integration", wantCalls: 1},
		{name: "Jira's RateLimit-Reason is named",
			steps:   []step{{status: 429, header: map[string]string{"Retry-After": "7200", "RateLimit-Reason": "jira-quota-tenant-based"}}},
			wantErr: "is limiting our requests (429): jira-quota-tenant-based (asked to wait 2h0m0s)", wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := serve(t, tc.steps...)
			c, waits := newTest(Config{Tracker: "T"})
			var out struct{ Name string }
			err := c.GetJSON(context.Background(), srv.URL+"/x", &out)
			if calls.Load() != tc.wantCalls {
				t.Errorf("calls: got %d, want %d", calls.Load(), tc.wantCalls)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(*waits) == 0 || (*waits)[0] < tc.minWait {
					t.Errorf("waits %v, want a first wait of at least %v", *waits, tc.minWait)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error: got %v, want it to contain %q", err, tc.wantErr)
			}
			var he *Error
			if errors.As(err, &he) && he.Permanent() != !he.RateLimited {
				t.Errorf("Permanent() %v with RateLimited %v", he.Permanent(), he.RateLimited)
			}
		})
	}
}

func TestSpentBudgetPausesTheNextRequest(t *testing.T) {
	reset := strconv.FormatInt(time.Now().Add(10*time.Second).Unix(), 10)
	srv, calls := serve(t, step{status: 200, header: map[string]string{"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": reset}, body: `{}`},
		step{status: 200, body: `{}`})
	c, waits := newTest(Config{Tracker: "T"})
	for range 2 {
		if err := c.GetJSON(context.Background(), srv.URL, nil); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 2 || len(*waits) != 1 || (*waits)[0] < 5*time.Second {
		t.Errorf("calls %d, waits %v: want the second request to wait for the reset first", calls.Load(), *waits)
	}
}

func TestWriteBudget(t *testing.T) {
	srv, _ := serve(t, step{status: 200, body: `{}`})
	c := New(Config{Tracker: "T", WritesPerMinute: 60})
	c.writes.now = func() time.Time { return time.Unix(0, 0) } // a frozen clock: nothing refills
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	for range 5 { // reads are not writes
		if err := c.GetJSON(ctx, srv.URL, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 7 { // a burst of six writes, then the budget waits
		err := c.DoJSON(ctx, http.MethodPost, srv.URL, map[string]int{}, nil)
		if i < 6 && err != nil || i == 6 && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("write %d: %v", i, err)
		}
	}
}

func TestNextLink(t *testing.T) {
	h := http.Header{}
	h.Add("Link", `<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last"`)
	if got := NextLink(h); got != "https://api.github.com/repositories/1/issues?page=2" {
		t.Errorf("NextLink: got %q", got)
	}
	h.Set("Link", `<https://x/?page=1>; rel="prev"`)
	if got := NextLink(h); got != "" {
		t.Errorf("NextLink without next: got %q", got)
	}
}
