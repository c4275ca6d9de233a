// Package spectest serves a fake tracker that holds the connector to the vendor's own
// OpenAPI description: every request the connector sends and every answer the fake gives is
// validated against it, an unknown route fails the test, faults (429, 5xx, rate limits) can be
// injected, and Uncovered names the operations of the description a test never exercised.
// It is for tests only; the descriptions are the trimmed copies under each connector's testdata.
package spectest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Load reads an OpenAPI description. The whole-document Validate is not run: each vendor's
// description has a known mistake elsewhere (see shared/specs/PROVENANCE.md) that does not
// affect routing or request and response validation.
func Load(t testing.TB, path string) *openapi3.T {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return LoadData(t, data)
}

// LoadData is Load from bytes (an embedded description).
func LoadData(t testing.TB, data []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("load description: %v", err)
	}
	return doc
}

// Fault is an answer the server gives instead of the handler's, to the next request that
// matches Op ("METHOD /path/template"; "" matches any).
type Fault struct {
	Op     string
	Status int
	Header map[string]string
	Body   string
}

// Server is a fake tracker validated against a description. Handler implements the vendor's
// behaviour; route is the matched operation, params its path parameters.
type Server struct {
	*httptest.Server
	t       testing.TB
	doc     *openapi3.T
	router  routers.Router
	handler func(w http.ResponseWriter, r *http.Request, op string, params map[string]string)
	// Lenient names statuses every operation of this vendor may answer though the
	// description does not list them per operation (GitHub's 304 to a conditional request,
	// 403 and 429 for rate limits); their bodies are not validated.
	Lenient []int

	mu       sync.Mutex
	used     map[string]int
	faults   []Fault
	requests int
	Log      []string // "METHOD /path status" of every request, for failure messages
}

// New starts a TLS server for doc whose answers come from handler. prefix is the path under
// which the API lives (e.g. "/api/v3" for GitHub Enterprise Server), "" for none.
func New(t testing.TB, doc *openapi3.T, prefix string, handler func(w http.ResponseWriter, r *http.Request, op string, params map[string]string)) *Server {
	t.Helper()
	s := &Server{t: t, doc: doc, handler: handler, used: map[string]int{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	doc.Servers = openapi3.Servers{{URL: s.URL + prefix}}
	var err error
	if s.router, err = gorillamux.NewRouter(doc); err != nil {
		t.Fatalf("router: %v", err)
	}
	return s
}

// Fail queues faults, answered in order to matching requests.
func (s *Server) Fail(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Requests is how many requests the server received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Used reports how often each operation was called.
func (s *Server) Used() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.used))
	for k, v := range s.used {
		m[k] = v
	}
	return m
}

// Uncovered lists the operations of the description no request exercised with a 2xx answer.
func (s *Server) Uncovered() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for path, item := range s.doc.Paths.Map() {
		for method := range item.Operations() {
			op := method + " " + path
			if s.used[op] == 0 {
				out = append(out, op)
			}
		}
	}
	sort.Strings(out)
	return out
}

var validation = &openapi3filter.Options{
	AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
	MultiError:         true,
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	ctx := context.Background()
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := s.router.FindRoute(r)
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	if err != nil {
		s.t.Errorf("spectest: %s %s is not an operation of the description: %v", r.Method, r.URL.Path, err)
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	op := r.Method + " " + route.Path
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: validation}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		s.t.Errorf("spectest: request %s %s violates the description: %v\nbody: %s", r.Method, r.URL, err, clip(body))
		http.Error(w, `{"message":"request does not match the description"}`, http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if f, ok := s.fault(op); ok {
		for k, v := range f.Header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(f.Status)
		io.WriteString(w, f.Body)
		s.logf("%s %s %d (injected)", r.Method, r.URL.Path, f.Status)
		return
	}
	rec := httptest.NewRecorder()
	s.handler(rec, r, op, params)
	res := rec.Result()
	out := rec.Body.Bytes()
	s.logf("%s %s %d", r.Method, r.URL.Path, res.StatusCode)
	if res.StatusCode/100 == 2 {
		s.mu.Lock()
		s.used[op]++
		s.mu.Unlock()
	}
	if !slices.Contains(s.Lenient, res.StatusCode) {
		// A 204 has no body, whatever a description declares for it (Jira's declare JSON).
		rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: res.StatusCode == http.StatusNoContent}}
		rin.SetBodyBytes(out)
		if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
			s.t.Errorf("spectest: the fake's answer to %s %s (%d) violates the description: %v\nbody: %s", r.Method, r.URL.Path, res.StatusCode, err, clip(out))
		}
	}
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	w.Write(out)
}

func (s *Server) fault(op string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Op == "" || f.Op == op {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return f, true
		}
	}
	return Fault{}, false
}

func (s *Server) logf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.Log) < 10000 {
		s.Log = append(s.Log, fmt.Sprintf(format, args...))
	}
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return strings.TrimSpace(string(b))
}
