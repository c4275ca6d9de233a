package httpx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// step is one canned answer of a test server.
type step struct {
	status int
	header map[string]string
	body   string
}

// serve answers the steps in order, then repeats the last one.
func serve(t *testing.T, steps ...step) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		s := steps[min(i, len(steps)-1)]
		for k, v := range s.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(s.status)
		fmt.Fprint(w, s.body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// newTest returns a client whose waits are recorded instead of slept.
func newTest(cfg Config) (*Client, *[]time.Duration) {
	c := New(cfg)
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	return c, &waits
}

func TestDoJSON(t *testing.T) {
	ok := step{status: 200, body: `{"name":"x"}`}
	tests := []struct {
		name      string
		method    string
		steps     []step
		wantErr   string // substring; "" for success
		wantCalls int64
		wantPerm  bool
		wantAfter time.Duration
		wantWaits []time.Duration // nil: not checked
	}{
		{name: "ok", method: "GET", steps: []step{ok}, wantCalls: 1},
		{name: "429 then ok honours Retry-After", method: "GET",
			steps:     []step{{status: 429, header: map[string]string{"Retry-After": "2"}}, ok},
			wantCalls: 2, wantWaits: []time.Duration{2 * time.Second}},
		{name: "429 on POST is retried too", method: "POST",
			steps:     []step{{status: 429, header: map[string]string{"Retry-After": "1"}}, ok},
			wantCalls: 2, wantWaits: []time.Duration{time.Second}},
		{name: "503 then ok", method: "GET",
			steps: []step{{status: 503, body: "down for maintenance"}, ok}, wantCalls: 2},
		{name: "503 on POST is not retried", method: "POST",
			steps:   []step{{status: 503, header: map[string]string{"Retry-After": "7"}}, ok},
			wantErr: "had a server error on POST /x (503 Service Unavailable)", wantCalls: 1,
			wantAfter: 7 * time.Second},
		{name: "503 for ever gives up", method: "GET", steps: []step{{status: 503}},
			wantErr: "(503 Service Unavailable)", wantCalls: 4},
		{name: "Retry-After too long is returned, not waited", method: "GET",
			steps:   []step{{status: 429, header: map[string]string{"Retry-After": "3600"}}, ok},
			wantErr: "is limiting our requests (429) (asked to wait 1h0m0s)", wantCalls: 1,
			wantAfter: time.Hour},
		{name: "401 is permanent with a hint", method: "GET",
			steps:     []step{{status: 401, body: `{"message":"Unauthorized"}`}},
			wantErr:   "T at SRV rejected the credentials (401): Unauthorized: check the token in Settings",
			wantCalls: 1, wantPerm: true},
		{name: "400 carries the tracker's message", method: "PUT",
			steps:   []step{{status: 400, body: `{"message":"Status 'bogus' isn't a valid status"}`}},
			wantErr: "rejected PUT /x (400 Bad Request): Status 'bogus' isn't a valid status", wantCalls: 1, wantPerm: true},
		{name: "Jira's error body", method: "PUT",
			steps:   []step{{status: 400, body: `{"errorMessages":["Bad."],"errors":{"priority":"Specify the Priority","assignee":"User 'x' does not exist."}}`}},
			wantErr: "(400 Bad Request): Bad.; assignee: User 'x' does not exist.; priority: Specify the Priority", wantCalls: 1, wantPerm: true},
		{name: "404", method: "GET", steps: []step{{status: 404, body: `{"message":"Not Found"}`}},
			wantErr: "has nothing at /x (404)", wantCalls: 1, wantPerm: true},
		{name: "malformed JSON", method: "GET", steps: []step{{status: 200, body: `{"name":`}},
			wantErr: "sent an answer to GET /x that is not valid JSON", wantCalls: 1},
		{name: "HTML error page", method: "GET", steps: []step{{status: 502, body: "<html>bad gateway</html>"}},
			wantErr: "(502 Bad Gateway)", wantCalls: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, calls := serve(t, tc.steps...)
			c, waits := newTest(Config{Tracker: "T at SRV", AuthHint: "check the token in Settings",
				MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
			var out struct{ Name string }
			err := c.DoJSON(context.Background(), tc.method, srv.URL+"/x?secret=q", map[string]int{"a": 1}, &out)
			if got := calls.Load(); got != tc.wantCalls {
				t.Errorf("calls: got %d, want %d", got, tc.wantCalls)
			}
			if got := c.Requests(); got != tc.wantCalls {
				t.Errorf("Requests(): got %d, want %d", got, tc.wantCalls)
			}
			if tc.wantWaits != nil && fmt.Sprint(*waits) != fmt.Sprint(tc.wantWaits) {
				t.Errorf("waits: got %v, want %v", *waits, tc.wantWaits)
			}
			if tc.wantErr == "" {
				if err != nil || out.Name != "x" {
					t.Fatalf("got %+v, %v; want name x, no error", out, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error: got %v, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q repeats the query string", err)
			}
			var he *Error
			if !errors.As(err, &he) {
				t.Fatalf("error %T is not *Error", err)
			}
			if he.Permanent() != tc.wantPerm {
				t.Errorf("Permanent(): got %v, want %v", he.Permanent(), tc.wantPerm)
			}
			if he.RetryAfter() != tc.wantAfter {
				t.Errorf("RetryAfter(): got %v, want %v", he.RetryAfter(), tc.wantAfter)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, waits := newTest(Config{Tracker: "RT at " + url, Retries: 2})
	err := c.GetJSON(context.Background(), url+"/REST/2.0/", nil)
	var he *Error
	if !errors.As(err, &he) || he.StatusCode != 0 || he.Permanent() {
		t.Fatalf("got %v, want a transient *Error without status", err)
	}
	if want := "RT at " + url + " is unreachable"; !strings.Contains(err.Error(), want) {
		t.Errorf("got %q, want it to contain %q", err, want)
	}
	if len(*waits) != 2 || c.Requests() != 3 {
		t.Errorf("got %d waits and %d requests, want 2 and 3", len(*waits), c.Requests())
	}
}

func TestAuthHeaders(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
		fmt.Fprint(w, "{}")
	}))
	defer srv.Close()
	for _, auth := range []func(*http.Request){TokenAuth("token", "1-2-abc"), BasicAuth("root", "password")} {
		if err := New(Config{Auth: auth}).GetJSON(context.Background(), srv.URL, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"token 1-2-abc", "Basic cm9vdDpwYXNzd29yZA=="}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Authorization: got %q, want %q", got, want)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"5", 5 * time.Second}, {"-3", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tc := range tests {
		if got := ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q): got %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(60, 2) // one a second, bursts of two
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	steps := []struct {
		advance time.Duration
		want    time.Duration
	}{
		{0, 0}, {0, 0}, // the burst
		{0, time.Second}, // spent: wait a second
		{500 * time.Millisecond, 500 * time.Millisecond}, // half earned
		{500 * time.Millisecond, 0},                      // earned
		{10 * time.Second, 0}, {0, 0},                    // refilled, but only up to the burst
		{0, time.Second},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := l.reserve(); got != s.want {
			t.Errorf("#%d reserve after %v: got %v, want %v", i, s.advance, got, s.want)
		}
	}
	if NewLimiter(0, 5) != nil {
		t.Error("NewLimiter(0): want nil (unlimited)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a spent budget with a done ctx: got %v, want context.Canceled", err)
	}
}

func TestCollect(t *testing.T) {
	pages := [][]int{{1, 2}, {3, 4}, {5}}
	fetch := func(_ context.Context, p int) (Page[int], error) {
		return Page[int]{Items: pages[p-1], More: p < len(pages)}, nil
	}
	tests := []struct {
		max, maxPages int
		want          string
		wantErr       bool
	}{
		{0, 0, "[1 2 3 4 5]", false},
		{3, 0, "[1 2 3]", false},
		{0, 2, "[1 2 3 4]", true},
	}
	for _, tc := range tests {
		got, err := Collect(context.Background(), tc.max, tc.maxPages, fetch)
		if fmt.Sprint(got) != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("Collect(max %d, maxPages %d): got %v, %v; want %s, error %v", tc.max, tc.maxPages, got, err, tc.want, tc.wantErr)
		}
	}
}
