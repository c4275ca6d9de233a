// Package rules compiles and runs connection rules: Go source interpreted by yaegi in a sandbox.
package rules

// How a run is bounded: yaegi code cannot be preempted, so calls run on a worker goroutine
// of the program's own and the caller stops waiting when ctx ends (DefaultTimeout when ctx
// has no deadline). The worker is long-lived: it starts with the first run, serves every
// later one, and ends after workerIdle without work or on Close, so a busy program pays no
// goroutine per run and an idle one holds none. A program whose run was abandoned is
// retired: every later call fails with ErrRetired, because its interpreter may still be busy
// with the runaway code. The runaway code is then stopped through yaegi's own cancellation
// (a cancelled EvalWithContext bumps the interpreter's run id, which every interpreted loop
// checks), which also lets the worker end; the program stays retired all the same, since its
// functions no longer execute. Recompile to recover.
//
// A rule that cannot run long, with no loop, no goto and no function of its own to call
// (recursion), only straight-line code and calls into the rule API, runs on the caller's
// goroutine instead (see boundedRun): a hand-off to the worker and back, and the deadline's
// timer, cost as much as the run of a short rule, three times per change synced.
//
// Runs of one Program are serialized: rule package variables are shared by all calls, and
// the guard that tracks call depth and the current line (see guard.go) is per program.
// Program is safe for use by several goroutines.

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"github.com/traefik/yaegi/interp"

	"github.com/tandemsync/tandem/core/item"
)

// DefaultTimeout bounds a run whose ctx has no deadline.
const DefaultTimeout = 2 * time.Second

// workerIdle is how long a program's worker waits for the next run before it ends.
const workerIdle = 30 * time.Second

var (
	// ErrRetired is returned by every call of a program after a run overran its deadline.
	ErrRetired = errors.New("rule program retired")
	// ErrClosed is returned by every call of a program after Close.
	ErrClosed = errors.New("rule program closed")
	// ErrNoEntry is returned when a program lacks the entry point called.
	ErrNoEntry = errors.New("rule has no such function")
)

// Env is what the host gives a run.
type Env struct {
	Connection string           // name of the connection, shown to the rule by ctx.Connection()
	Vault      TokenVault       // for ctx.Token and ctx.Detokenize; nil makes them fail the run
	Now        func() time.Time // for ctx.Now; nil means time.Now
	FirstSync  bool             // for ctx.FirstSync: the item's first sync
}

// Outcome is what a run reports besides its result.
type Outcome struct {
	Skip       bool     // the rule asked not to sync this item
	SkipReason string   // why, in the rule's words
	Logs       []string // lines from ctx.Log, in order
	// Conflicts are the incoming rule's conflict policies by field name (ctx.Conflict); a
	// field not named follows ConflictPartner.
	Conflicts map[string]string
	// IgnoreCommentEdits and IgnoreCommentDeletions: the incoming rule chose that edits or
	// deletions of synced comments do not follow (ctx.FollowCommentEdits(false), ...).
	IgnoreCommentEdits, IgnoreCommentDeletions bool
}

type (
	outgoingFunc = func(item.Item, *item.Replica, *Context) error
	incomingFunc = func(item.Replica, *item.Item, *Context) error
)

const (
	outgoingSig = "func Outgoing(item tandem.Item, replica *tandem.Replica, ctx *tandem.Context) error"
	incomingSig = "func Incoming(replica tandem.Replica, item *tandem.Item, ctx *tandem.Context) error"
)

// Program is a compiled rule.
type Program struct {
	name  string
	in    *interp.Interpreter
	out   outgoingFunc
	inc   incomingFunc
	guard *guard
	// inline runs are made on the caller's goroutine: the rule always ends soon (boundedRun).
	inline bool
	sem    chan struct{} // holds a token from the start of a run until the worker is done with it
	jobs   chan job      // the run waiting for the worker (capacity 1: runs are serialized)

	mu      sync.Mutex
	retired error
	working bool          // a worker goroutine is running (guarded by mu)
	quit    chan struct{} // closed by Close
}

// job is one run handed to the worker.
type job struct {
	entry string
	rc    *Context
	call  func(*Context) error
	done  chan error // the worker's answer (capacity 1), read by this run's caller only
}

// Compile parses, checks and loads a rule. name is the file name used in messages, such as
// "outgoing.go"; errors name the line: "outgoing.go:12:3: undefined: foo".
func Compile(name, src string) (p *Program, err error) {
	if name == "" {
		name = "rule.go"
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		var list scanner.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			return nil, fmt.Errorf("%s", list[0])
		}
		return nil, err
	}
	if err := check(fset, f); err != nil {
		return nil, err
	}
	var hasOut, hasIn bool
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
			hasOut = hasOut || fd.Name.Name == "Outgoing"
			hasIn = hasIn || fd.Name.Name == "Incoming"
		}
	}
	if !hasOut && !hasIn {
		return nil, fmt.Errorf("%s: rule defines neither Outgoing nor Incoming; want %s or %s", name, outgoingSig, incomingSig)
	}

	p = &Program{name: name, guard: &guard{}, inline: boundedRun(f), sem: make(chan struct{}, 1), jobs: make(chan job, 1), quit: make(chan struct{})}
	inst := instrument(fset, f, name, src)
	// yaegi panics on some invalid programs instead of reporting them.
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, fmt.Errorf("%s: the interpreter could not compile this rule: %s", name, inst.fix(fmt.Sprint(v)))
		}
	}()
	p.in = interp.New(interp.Options{
		Stdin:                strings.NewReader(""),
		Stdout:               io.Discard,
		Stderr:               io.Discard,
		Args:                 []string{},
		SourcecodeFilesystem: fstest.MapFS{name: &fstest.MapFile{Data: []byte(inst.src)}},
	})
	if err := p.in.Use(symbols); err != nil {
		return nil, fmt.Errorf("load rule API: %w", err)
	}
	if err := p.in.Use(interp.Exports{guardPkg + "/" + guardPkg: guardSymbols()}); err != nil {
		return nil, fmt.Errorf("load rule guard: %w", err)
	}
	if _, err := p.in.EvalPath(name); err != nil {
		return nil, errors.New(inst.fix(compileError(err).Error()))
	}
	pkg := f.Name.Name
	if err := p.guard.bind(p.in, pkg); err != nil {
		return nil, fmt.Errorf("load rule guard: %w", err)
	}
	if hasOut {
		v, err := p.in.Eval(pkg + ".Outgoing")
		if err != nil {
			return nil, errors.New(inst.fix(compileError(err).Error()))
		}
		fn, ok := v.Interface().(outgoingFunc)
		if !ok {
			return nil, fmt.Errorf("%s: Outgoing has type %s, want %s", position(fset, f, "Outgoing"), v.Type(), outgoingSig)
		}
		p.out = fn
	}
	if hasIn {
		v, err := p.in.Eval(pkg + ".Incoming")
		if err != nil {
			return nil, errors.New(inst.fix(compileError(err).Error()))
		}
		fn, ok := v.Interface().(incomingFunc)
		if !ok {
			return nil, fmt.Errorf("%s: Incoming has type %s, want %s", position(fset, f, "Incoming"), v.Type(), incomingSig)
		}
		p.inc = fn
	}
	return p, nil
}

// check enforces the sandbox on the syntax tree: only allowed imports, and no goroutines
// or channels, which could outlive the run's deadline.
func check(fset *token.FileSet, f *ast.File) error {
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return fmt.Errorf("%s: bad import path %s", fset.Position(imp.Pos()), imp.Path.Value)
		}
		if why, ok := unavailable[path]; ok {
			return fmt.Errorf("%s: import %q is not available in rules: %s", fset.Position(imp.Pos()), path, why)
		}
		if !allowed[path] {
			return fmt.Errorf("%s: import %q is not allowed in rules (allowed: %s)", fset.Position(imp.Pos()), path, strings.Join(Allowed(), ", "))
		}
		if imp.Name != nil && imp.Name.Name == "." {
			return fmt.Errorf("%s: dot import of %q is not supported in rules", fset.Position(imp.Pos()), path)
		}
	}
	var bad error
	ast.Inspect(f, func(n ast.Node) bool {
		if bad != nil {
			return false
		}
		var what string
		switch n := n.(type) {
		case *ast.Ident:
			if strings.HasPrefix(n.Name, "__tandem") {
				what = "names starting with __tandem"
			}
		case *ast.GoStmt:
			what = "go statements"
		case *ast.SelectStmt:
			what = "select statements"
		case *ast.SendStmt:
			what = "channel sends"
		case *ast.ChanType:
			what = "channels"
		case *ast.UnaryExpr:
			if n.Op == token.ARROW {
				what = "channel receives"
			}
		}
		if what != "" {
			bad = fmt.Errorf("%s: %s are not allowed in rules", fset.Position(n.Pos()), what)
		}
		return bad == nil
	})
	return bad
}

func position(fset *token.FileSet, f *ast.File, fn string) string {
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == fn {
			return fset.Position(fd.Name.Pos()).String()
		}
	}
	return fn
}

// compileError reduces yaegi's errors to the first positioned message.
func compileError(err error) error {
	var list scanner.ErrorList
	if errors.As(err, &list) && len(list) > 0 {
		return fmt.Errorf("%s", list[0])
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return errors.New(msg)
}

// HasOutgoing reports whether the rule defines Outgoing.
func (p *Program) HasOutgoing() bool { return p.out != nil }

// HasIncoming reports whether the rule defines Incoming.
func (p *Program) HasIncoming() bool { return p.inc != nil }

// Name returns the file name the program was compiled under.
func (p *Program) Name() string { return p.name }

// Retired returns nil while the program is usable, and why it is not once a run overran
// its deadline (wrapping ErrRetired).
func (p *Program) Retired() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.retired
}

// Outgoing runs the rule's Outgoing on a copy of it and returns the replica it built. On
// Skip the replica is empty.
func (p *Program) Outgoing(ctx context.Context, it item.Item, env Env) (item.Replica, Outcome, error) {
	if p.out == nil {
		return item.Replica{}, Outcome{}, fmt.Errorf("rule %s: Outgoing: %w", p.name, ErrNoEntry)
	}
	src := it.Clone()
	r := item.Replica{Custom: map[string]string{}} // a rule may set replica.Custom["x"] at once
	o, err := p.run(ctx, "Outgoing", env, func(c *Context) error { return p.out(src, &r, c) })
	if err != nil || o.Skip {
		return item.Replica{}, o, err
	}
	if len(r.Custom) == 0 {
		r.Custom = nil
	}
	return r, o, nil
}

// Incoming runs the rule's Incoming on a deep copy of current and returns what the rule
// made of it. On Skip the result is current, unchanged.
func (p *Program) Incoming(ctx context.Context, r item.Replica, current item.Item, env Env) (item.Item, Outcome, error) {
	if p.inc == nil {
		return item.Item{}, Outcome{}, fmt.Errorf("rule %s: Incoming: %w", p.name, ErrNoEntry)
	}
	rep := cloneReplica(r)
	it := current.Clone()
	if it.Custom == nil {
		it.Custom = map[string]string{} // a rule may set item.Custom["Queue"] at once
	}
	o, err := p.run(ctx, "Incoming", env, func(c *Context) error { return p.inc(rep, &it, c) })
	if err != nil {
		return item.Item{}, o, err
	}
	if o.Skip {
		return current.Clone(), o, nil
	}
	if len(it.Custom) == 0 {
		it.Custom = nil
	}
	return it, o, nil
}

func (p *Program) run(ctx context.Context, entry string, env Env, call func(*Context) error) (Outcome, error) {
	if p.inline {
		return p.runInline(ctx, entry, env, call)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	if err := p.Retired(); err != nil {
		return Outcome{}, err
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return Outcome{}, fmt.Errorf("rule %s: %s: waiting for the previous run: %w", p.name, entry, ctx.Err())
	}
	if err := p.Retired(); err != nil {
		<-p.sem
		return Outcome{}, err
	}
	if err := ctx.Err(); err != nil { // do not retire a program for a caller already late
		<-p.sem
		return Outcome{}, fmt.Errorf("rule %s: %s: %w", p.name, entry, err)
	}
	rc := newContext(env)
	done := make(chan error, 1)
	if err := p.submit(job{entry: entry, rc: rc, call: call, done: done}); err != nil {
		<-p.sem
		return Outcome{}, err
	}
	select {
	case err := <-done:
		return p.finish(entry, rc, err)
	case <-ctx.Done():
		err := fmt.Errorf("rule %s: %s did not finish in time (an endless loop?): %w", p.name, entry, ctx.Err())
		p.retire(err)
		return Outcome{}, err
	}
}

// runInline is run for a rule that always ends soon, on the caller's goroutine.
func (p *Program) runInline(ctx context.Context, entry string, env Env, call func(*Context) error) (Outcome, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return Outcome{}, fmt.Errorf("rule %s: %s: waiting for the previous run: %w", p.name, entry, ctx.Err())
	}
	defer func() { <-p.sem }()
	if err := p.Retired(); err != nil {
		return Outcome{}, err
	}
	if err := ctx.Err(); err != nil {
		return Outcome{}, fmt.Errorf("rule %s: %s: %w", p.name, entry, err)
	}
	rc := newContext(env)
	return p.finish(entry, rc, p.call(entry, rc, call))
}

// finish is a finished run's outcome and its error, the call's own or the one the rule set
// through the API, named with the rule and its entry point.
func (p *Program) finish(entry string, rc *Context, err error) (Outcome, error) {
	o := rc.outcome()
	if err == nil {
		err = rc.err
	}
	if err != nil {
		return o, fmt.Errorf("rule %s: %s: %w", p.name, entry, err)
	}
	return o, nil
}

// boundedRun reports whether a rule's run always ends soon, whatever its input: it has no
// loop and no goto, and declares no function but its entry points and no function literal,
// so nothing it calls can call back into it (no recursion). Its run is then straight-line
// code and calls into the rule API, bounded by the size of the item.
func boundedRun(f *ast.File) bool {
	bounded := true
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ForStmt, *ast.RangeStmt, *ast.FuncLit:
			bounded = false
		case *ast.BranchStmt:
			if n.Tok == token.GOTO {
				bounded = false
			}
		case *ast.FuncDecl:
			if n.Recv != nil || n.Name.Name != "Outgoing" && n.Name.Name != "Incoming" {
				bounded = false
			}
		}
		return bounded
	})
	return bounded
}

// submit hands j to the worker, starting one if none runs. The caller holds p.sem.
func (p *Program) submit(j job) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retired != nil {
		return p.retired
	}
	p.jobs <- j // never blocks: the buffer is empty while the caller holds p.sem
	if !p.working {
		p.working = true
		go p.work()
	}
	return nil
}

// work runs jobs until the program is closed or idle for workerIdle. It gives p.sem back
// after each run, so the next run can start only once this one is over.
func (p *Program) work() {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		select {
		case j := <-p.jobs:
			err := p.call(j.entry, j.rc, j.call)
			var pe *panicError
			if errors.As(err, &pe) {
				// A panic may come from runaway recursion, which leaves this goroutine with a
				// huge stack that every garbage collection would scan: end it; the next run
				// starts a fresh worker.
				p.mu.Lock()
				p.working = false
				p.mu.Unlock()
				j.done <- err
				<-p.sem
				return
			}
			j.done <- err
			<-p.sem
			idle.Reset(workerIdle)
		case <-idle.C:
			p.mu.Lock()
			if len(p.jobs) > 0 { // a run arrived as the timer fired
				p.mu.Unlock()
				idle.Reset(workerIdle)
				continue
			}
			p.working = false
			p.mu.Unlock()
			return
		case <-p.quit:
			p.mu.Lock()
			p.working = false
			p.mu.Unlock()
			select { // a run submitted just before Close still gets its answer
			case j := <-p.jobs:
				j.done <- p.call(j.entry, j.rc, j.call)
				<-p.sem
			default:
			}
			return
		}
	}
}

// Close ends the program's worker; later calls fail with ErrClosed. A run in progress
// finishes first. Closing twice is harmless.
func (p *Program) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retired == nil {
		p.retired = fmt.Errorf("rule %s: %w", p.name, ErrClosed)
	}
	p.stopWorker()
}

// stopWorker tells the worker to end once its current run is over; the caller holds p.mu.
func (p *Program) stopWorker() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
}

// call runs one entry point, turning a panic into an error with the rule's position.
func (p *Program) call(entry string, rc *Context, call func(*Context) error) (err error) {
	p.guard.reset()
	defer func() {
		if v := recover(); v != nil {
			where := "panic"
			if line := p.guard.lastLine(); line > 0 {
				where = fmt.Sprintf("panic at %s:%d", p.name, line)
			}
			if e, ok := v.(error); ok {
				err = &panicError{fmt.Errorf("%s: %w", where, e)}
			} else {
				err = &panicError{fmt.Errorf("%s: %v", where, v)}
			}
		}
	}()
	return call(rc)
}

// panicError is a rule's panic turned into an error.
type panicError struct{ error }

func (p *panicError) Unwrap() error { return p.error }

// retire marks p unusable and stops the interpreter's runaway code.
func (p *Program) retire(cause error) {
	p.mu.Lock()
	if p.retired == nil {
		p.retired = fmt.Errorf("%w: %v; recompile the rule to use it again", ErrRetired, cause)
	}
	p.stopWorker() // it ends as soon as the runaway code does
	p.mu.Unlock()
	// A cancelled EvalWithContext makes yaegi bump its run id, which ends every running
	// interpreted loop. The evaluated loop itself never finishes, so the select inside
	// EvalWithContext can only take the cancellation branch.
	stop, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = p.in.EvalWithContext(stop, "for {}")
}

func cloneReplica(r item.Replica) item.Replica {
	c := r
	it := item.Item{Labels: r.Labels, Comments: r.Comments, Attachments: r.Attachments, Custom: r.Custom}.Clone()
	c.Labels, c.Comments, c.Attachments, c.Custom = it.Labels, it.Comments, it.Attachments, it.Custom
	return c
}
