// Package control is the local control channel: a Unix socket in the agent's data directory
// (mode 0600, and only the OS user the agent runs as may connect: peer credentials are
// checked) through which the command line drives a running agent.
//
// Each connection carries one request and one answer, each a line of JSON:
//
//	→ {"v":1,"method":"connections.pause","params":{"connection":"4f2a…"}}
//	← {"result":{...}}   or   {"error":"no connection \"4f2a…\"","code":"not_found"}
//
// Methods live in a Mux, keyed by name, each with request and response types of its own.
// Adding a command is two small, local changes. First, in core/agent/control.go, register the
// method on the agent's Mux:
//
//	control.Handle(m, "rules.deploy", func(ctx context.Context, req RulesDeployRequest) (RulesDeployResult, error) {
//		return a.DeployRules(ctx, req)
//	})
//
// Then, in cmd/tandem, call it. agent.Call reaches the running agent over this socket or, when
// none runs on the data directory, opens the directory itself and runs the same method there:
//
//	var res agent.RulesDeployResult
//	err := agent.Call(ctx, opt, "rules.deploy", agent.RulesDeployRequest{...}, &res)
package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/tandemsync/tandem/core/logx"
)

// SocketName is the control socket inside a data directory.
const SocketName = "control.sock"

// Version is the request format this build speaks.
const Version = 1

// Limits. A request is a small document; an answer may list a long queue.
const (
	MaxRequest     = 1 << 20
	MaxResponse    = 64 << 20
	requestTimeout = 10 * time.Second // to read a request once connected
	// CallTimeout bounds a method run, e.g. an accept that dials a partner (which bounds
	// its own dials well inside this).
	CallTimeout   = 2 * time.Minute
	maxConcurrent = 16
)

// Errors.
var (
	// ErrNotRunning means no agent answers on the data directory's socket.
	ErrNotRunning = errors.New("no agent is running on this data directory")
	// ErrUnknownMethod means the agent has no such method (perhaps an older build).
	ErrUnknownMethod = errors.New("unknown control method")
	// ErrForeignUser means a connection came from another OS user.
	ErrForeignUser = errors.New("the control socket accepts only the OS user the agent runs as")
)

// Request is one call.
type Request struct {
	V      int             `json:"v"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

// Response is the answer to one call: Result, or Error with an optional machine-readable Code.
type Response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	Code   string          `json:"code,omitempty"`
}

// Error codes a handler's error may choose by implementing ControlCode() string.
const (
	CodeInvalid  = "invalid"   // the request is malformed or its values are wrong
	CodeNotFound = "not_found" // what it names does not exist
	CodeUnknown  = "unknown_method"
	CodeRefused  = "refused" // e.g. another OS user
)

// RemoteError is an error the agent answered.
type RemoteError struct {
	Method  string
	Message string
	Code    string
}

func (e *RemoteError) Error() string { return e.Message }

// Is lets errors.Is(err, ErrUnknownMethod) see an unknown method answered by the agent.
func (e *RemoteError) Is(target error) bool {
	return target == ErrUnknownMethod && e.Code == CodeUnknown
}

// DecodeRequest reads one request line: valid JSON, a known version, a method name.
func DecodeRequest(line []byte) (Request, error) {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, fmt.Errorf("malformed control request: %w", err)
	}
	if dec.More() {
		return Request{}, errors.New("malformed control request: data after the JSON document")
	}
	if req.V != Version {
		return Request{}, fmt.Errorf("control request version %d; this agent speaks version %d", req.V, Version)
	}
	if req.Method == "" || len(req.Method) > 100 {
		return Request{}, errors.New("control request without a usable method name")
	}
	if len(req.Params) > 0 && !json.Valid(req.Params) {
		return Request{}, errors.New("control request params are not valid JSON")
	}
	return req, nil
}

// Handler runs one method on its raw params.
type Handler func(ctx context.Context, params json.RawMessage) (any, error)

// Mux is the table of methods.
type Mux struct {
	mu sync.RWMutex
	m  map[string]Handler
}

// NewMux returns an empty table.
func NewMux() *Mux { return &Mux{m: map[string]Handler{}} }

// HandleRaw registers h under name, replacing any earlier one.
func (m *Mux) HandleRaw(name string, h Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[name] = h
}

// Handle registers fn under name: params decode into Req (unknown fields refused), the result
// encodes from Resp.
func Handle[Req, Resp any](m *Mux, name string, fn func(ctx context.Context, req Req) (Resp, error)) {
	m.HandleRaw(name, func(ctx context.Context, params json.RawMessage) (any, error) {
		var req Req
		if len(params) > 0 && string(params) != "null" {
			dec := json.NewDecoder(bytes.NewReader(params))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				return nil, invalid(fmt.Errorf("%s: bad parameters: %w", name, err))
			}
		}
		return fn(ctx, req)
	})
}

// Methods lists the registered names, sorted.
func (m *Mux) Methods() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Sorted(maps.Keys(m.m))
}

// Serve runs one request against the table and answers it. Errors never escape: they become
// the Response's Error and Code.
func (m *Mux) Serve(ctx context.Context, req Request) Response {
	m.mu.RLock()
	h, ok := m.m[req.Method]
	m.mu.RUnlock()
	if !ok {
		return Response{Error: fmt.Sprintf("this agent has no control method %q (is it an older Tandem?)", req.Method), Code: CodeUnknown}
	}
	res, err := h(ctx, req.Params)
	if err != nil {
		return errorResponse(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return Response{Error: fmt.Sprintf("%s: encode the answer: %v", req.Method, err)}
	}
	return Response{Result: b}
}

func errorResponse(err error) Response {
	r := Response{Error: err.Error()}
	var coded interface{ ControlCode() string }
	if errors.As(err, &coded) {
		r.Code = coded.ControlCode()
	}
	return r
}

// codedError attaches a Code to an error.
type codedError struct {
	err  error
	code string
}

func (e codedError) Error() string       { return e.err.Error() }
func (e codedError) Unwrap() error       { return e.err }
func (e codedError) ControlCode() string { return e.code }

func invalid(err error) error { return codedError{err, CodeInvalid} }

// WithCode gives err a Code for the caller (CodeInvalid, CodeNotFound, ...).
func WithCode(err error, code string) error {
	if err == nil {
		return nil
	}
	return codedError{err, code}
}

// SocketPath is the control socket of a data directory.
func SocketPath(dir string) string { return filepath.Join(dir, SocketName) }

// Listen opens the control socket of dir with mode 0600, replacing a stale socket file that no
// agent answers on. An agent that answers there already is an error.
func Listen(dir string) (net.Listener, error) {
	path := SocketPath(dir)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("control socket path %s is %d bytes, longer than the %d a Unix socket allows; use a shorter data directory path", path, len(path), maxSocketPath)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket: %s exists and is not a socket; remove it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another agent answers there", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// The peer-credential check refuses other users even in the moment before this chmod.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	return ln, nil
}

// maxSocketPath is sun_path's size less its terminating NUL on Linux.
const maxSocketPath = 107

// Server answers control requests on a listener.
type Server struct {
	mux *Mux
	log *slog.Logger
	uid int // the only peer uid admitted
	// refusals writes one line an interval about refused connections, not one each.
	refusals *logx.Aggregator
}

// NewServer serves mux's methods to the OS user this process runs as.
func NewServer(mux *Mux, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "control")
	return &Server{mux: mux, log: log, uid: os.Getuid(),
		refusals: logx.NewAggregator(log, slog.LevelWarn, "refused a control connection", time.Minute)}
}

// Serve accepts connections on ln until ctx ends, then closes ln and waits for the requests in
// flight to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	slots := make(chan struct{}, maxConcurrent)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("control socket: %w", err)
		}
		select {
		case slots <- struct{}{}:
		default:
			// Busy: answer at once rather than queue without bound.
			go func() {
				writeResponse(c, Response{Error: "the agent is busy with other control requests; try again", Code: CodeRefused})
				c.Close()
			}()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.serveConn(ctx, c)
		}()
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	if err := CheckPeer(c, s.uid); err != nil {
		s.refusals.Note("peer", "reason", err)
		writeResponse(c, Response{Error: err.Error(), Code: CodeRefused})
		return
	}
	c.SetReadDeadline(time.Now().Add(requestTimeout))
	line, err := readLine(c, MaxRequest)
	if err != nil {
		writeResponse(c, Response{Error: err.Error(), Code: CodeInvalid})
		return
	}
	req, err := DecodeRequest(line)
	if err != nil {
		writeResponse(c, Response{Error: err.Error(), Code: CodeInvalid})
		return
	}
	c.SetReadDeadline(time.Time{})
	cctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	resp := s.mux.Serve(cctx, req)
	c.SetWriteDeadline(time.Now().Add(requestTimeout))
	writeResponse(c, resp)
}

// readLine reads up to the first newline, at most limit bytes; EOF ends a last line too.
func readLine(r io.Reader, limit int) ([]byte, error) {
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 32<<10)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i > limit || i < 0 && len(buf) > limit {
			return nil, fmt.Errorf("control message is larger than %d bytes", limit)
		}
		if i >= 0 {
			return buf[:i], nil
		}
		n, err := r.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err == io.EOF {
			if bytes.IndexByte(buf, '\n') >= 0 {
				continue // the check above returns it
			}
			if len(buf) > limit {
				return nil, fmt.Errorf("control message is larger than %d bytes", limit)
			}
			if len(buf) == 0 {
				return nil, errors.New("empty control message")
			}
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read control request: %w", err)
		}
	}
}

func writeResponse(c net.Conn, r Response) {
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(Response{Error: "encode the answer: " + err.Error()})
	}
	c.Write(append(b, '\n'))
}

// Call sends one request to the agent on dir's socket and decodes the result into res (if not
// nil). ErrNotRunning means no agent answers there; a *RemoteError is the agent's refusal.
func Call(ctx context.Context, dir, method string, params, res any) error {
	p, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("%s: encode parameters: %w", method, err)
	}
	raw, err := CallRaw(ctx, dir, Request{V: Version, Method: method, Params: p})
	if err != nil {
		return err
	}
	if res == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, res); err != nil {
		return fmt.Errorf("%s: decode the agent's answer: %w", method, err)
	}
	return nil
}

// CallRaw sends req and answers the raw result.
func CallRaw(ctx context.Context, dir string, req Request) (json.RawMessage, error) {
	path := SocketPath(dir)
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, ErrNotRunning
		}
		return nil, fmt.Errorf("reach the agent on %s: %w", path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	// A refusal (another user, too busy) may come before the request is read: its answer is
	// read even when sending failed.
	_, werr := c.Write(append(b, '\n'))
	line, err := readLine(c, MaxResponse)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", req.Method, ctx.Err())
		}
		if werr != nil {
			err = werr
		}
		return nil, fmt.Errorf("%s: the agent on %s did not answer: %w", req.Method, path, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("%s: the agent's answer is malformed: %w", req.Method, err)
	}
	if resp.Error != "" {
		return nil, &RemoteError{Method: req.Method, Message: resp.Error, Code: resp.Code}
	}
	return resp.Result, nil
}
