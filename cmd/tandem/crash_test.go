package main

// The crash test: two agents as separate `tandem serve` processes on their own data
// directories, one syncing a real Request Tracker, the other its embedded tracker. Drivers
// make changes on both sides while a killer sends SIGKILL to either agent at random moments
// and starts it again; at the end every change is on the other side exactly once, in order
// per item, nothing exists twice, and the queues are empty.
//
// The agents are this test binary re-executed as `tandem serve` (TestMain runs main's own
// command line in the child); the child only adds, through serveHook, a loopback endpoint
// that lets the driver edit the embedded tracker of the running agent.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/secrets"
	"github.com/tandemsync/tandem/core/trackers/httpx"
	"github.com/tandemsync/tandem/core/trackers/rt"
	"github.com/tandemsync/tandem/core/trackers/rt/rttest"
)

const crashChildEnv = "TANDEM_CRASH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		serveHook = startDriverEndpoint
		main() // tandem serve ..., as the command line gives it; main exits
	}
	os.Exit(m.Run())
}

// startDriverEndpoint serves, on loopback, idempotent edits of the agent's embedded tracker
// and writes its address to driver.addr in the data directory. It lives as long as the
// process, which the test kills.
func startDriverEndpoint(a *agent.Agent) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	find := func(ctx context.Context, tag string) (item.Item, bool, error) {
		items, err := a.Items(ctx)
		if err != nil {
			return item.Item{}, false, err
		}
		for _, it := range items {
			if strings.HasPrefix(it.Title, tag+" ") {
				return it, true, nil
			}
		}
		return item.Item{}, false, nil
	}
	type req struct{ Tag, Title, Body string }
	mux := http.NewServeMux()
	handle := func(path string, fn func(ctx context.Context, r req) (any, error)) {
		mux.HandleFunc(path, func(w http.ResponseWriter, hr *http.Request) {
			var r req
			if hr.Method == http.MethodPost {
				if err := json.NewDecoder(hr.Body).Decode(&r); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
			}
			out, err := fn(hr.Context(), r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			json.NewEncoder(w).Encode(out)
		})
	}
	// create makes the item tagged Tag unless it exists (the answer to an earlier try may
	// have been lost to a kill).
	handle("POST /create", func(ctx context.Context, r req) (any, error) {
		if _, ok, err := find(ctx, r.Tag); ok || err != nil {
			return nil, err
		}
		_, err := a.CreateItem(ctx, item.Item{Title: r.Title, Description: "made by the crash test", Status: "open"})
		return nil, err
	})
	handle("POST /title", func(ctx context.Context, r req) (any, error) {
		it, ok, err := find(ctx, r.Tag)
		if err != nil || !ok {
			return nil, fmt.Errorf("no item %s: %v", r.Tag, err)
		}
		it.Title = r.Title
		_, err = a.UpdateItem(ctx, it)
		return nil, err
	})
	// comment adds Body to the item tagged Tag unless it has it already.
	handle("POST /comment", func(ctx context.Context, r req) (any, error) {
		it, ok, err := find(ctx, r.Tag)
		if err != nil || !ok {
			return nil, fmt.Errorf("no item %s: %v", r.Tag, err)
		}
		for _, c := range it.Comments {
			if c.Body == r.Body {
				return nil, nil
			}
		}
		_, err = a.AddComment(ctx, it.Key, item.Comment{Author: item.User{Name: "Dana Dev"}, Body: r.Body})
		return nil, err
	})
	handle("GET /items", func(ctx context.Context, _ req) (any, error) { return a.Items(ctx) })
	dir := a.DataDir()
	tmp := filepath.Join(dir, "driver.addr.tmp")
	if err := os.WriteFile(tmp, []byte(ln.Addr().String()), 0o600); err != nil {
		panic(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "driver.addr")); err != nil {
		panic(err)
	}
	go http.Serve(ln, mux) // ends with the process
}

// crashStall is how long the check waits with nothing changing before it reports what differs:
// longer than the retry wait of a write that failed nine times in a row (about 5 minutes).
const crashStall = 20 * time.Minute

// crashConfig sizes a run.
type crashConfig struct {
	kills, changes int
	items          int // items made on each side
}

func TestCrashKillsLoseNothingAndRepeatNothing(t *testing.T) {
	cfg := crashConfig{kills: 20, changes: 2000, items: 12}
	if n, _ := strconv.Atoi(os.Getenv("TANDEM_CHAOS_KILLS")); n > 0 {
		cfg.kills = n
	}
	if n, _ := strconv.Atoi(os.Getenv("TANDEM_CHAOS_CHANGES")); n > 0 {
		cfg.changes = n
		cfg.items = max(cfg.items, n/150)
	}
	runCrash(t, cfg)
}

// child is one `tandem serve` process that the killer stops and starts.
type child struct {
	name, dir string
	args      []string
	log       *os.File

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	logFrom int64 // the log's size when the process started
}

// progressed reports whether the process has logged sync work since it started: the killer
// waits for that, so every life of an agent gets something done, however slow RT is.
func (c *child) progressed() bool {
	c.mu.Lock()
	from := c.logFrom
	c.mu.Unlock()
	b, err := os.ReadFile(c.log.Name())
	if err != nil || int64(len(b)) <= from {
		return false
	}
	tail := string(b[from:])
	return strings.Contains(tail, "applied partner events") || strings.Contains(tail, "detected local changes") || strings.Contains(tail, "sent events")
}

func (c *child) start(t *testing.T) {
	t.Helper()
	os.Remove(filepath.Join(c.dir, "driver.addr"))
	size := int64(0)
	if fi, err := c.log.Stat(); err == nil {
		size = fi.Size()
	}
	cmd := exec.Command(os.Args[0], c.args...)
	cmd.Env = append(os.Environ(), crashChildEnv+"=1")
	cmd.Stdout, cmd.Stderr = c.log, c.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", c.name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }() // ends when the process does
	c.mu.Lock()
	c.cmd, c.done, c.logFrom = cmd, done, size
	c.mu.Unlock()
}

// stop ends the process with sig and waits for it.
func (c *child) stop(sig syscall.Signal) {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// call posts (or gets, with body nil) to the child's driver endpoint, trying again while the
// child is dead or starting, and decodes the answer into out.
func (c *child) call(ctx context.Context, path string, body, out any) error {
	var lastErr error
	for ctx.Err() == nil {
		addr, err := os.ReadFile(filepath.Join(c.dir, "driver.addr"))
		if err == nil {
			method, rd := http.MethodGet, []byte(nil)
			if body != nil {
				method = http.MethodPost
				rd, _ = json.Marshal(body)
			}
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			req, _ := http.NewRequestWithContext(rctx, method, "http://"+string(addr)+path, bytes.NewReader(rd))
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				var msg bytes.Buffer
				msg.ReadFrom(resp.Body)
				resp.Body.Close()
				cancel()
				if resp.StatusCode == http.StatusOK {
					if out != nil {
						return json.Unmarshal(msg.Bytes(), out)
					}
					return nil
				}
				lastErr = fmt.Errorf("%s %s: %s", c.name, path, msg.String())
			} else {
				cancel()
				lastErr = err
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s %s: %v (last: %v)", c.name, path, ctx.Err(), lastErr)
}

// rtDriver is a person at the helpdesk working in RT directly, as a user of their own.
type rtDriver struct {
	srv  *rttest.Server
	hc   *httpx.Client
	mu   sync.Mutex
	ids  map[string]string // tag -> ticket id
	user string
}

func (d *rtDriver) do(ctx context.Context, method, path string, in, out any) error {
	return d.hc.DoJSON(ctx, method, d.srv.URL+"/REST/2.0"+path, in, out)
}

// ticket finds the ticket tagged tag (made by either side), remembering its id.
func (d *rtDriver) ticket(ctx context.Context, tag string) (string, error) {
	d.mu.Lock()
	id, ok := d.ids[tag]
	d.mu.Unlock()
	if ok {
		return id, nil
	}
	q := url.Values{"query": {fmt.Sprintf("Queue = 'General' AND Subject LIKE '%s '", tag)}, "fields": {"Subject"}}
	var p struct {
		Items []struct {
			ID      json.Number `json:"id"`
			Subject string      `json:"Subject"`
		} `json:"items"`
	}
	if err := d.do(ctx, http.MethodGet, "/tickets?"+q.Encode(), nil, &p); err != nil {
		return "", err
	}
	for _, row := range p.Items {
		if strings.HasPrefix(row.Subject, tag+" ") {
			d.mu.Lock()
			d.ids[tag] = row.ID.String()
			d.mu.Unlock()
			return row.ID.String(), nil
		}
	}
	return "", nil
}

func runCrash(t *testing.T, cfg crashConfig) {
	if os.Getenv("TANDEM_REQUIRE_KEYCHAIN") != "1" {
		if err := secrets.NewKeychain("tandem").Probe(context.Background()); err != nil {
			t.Skipf("no OS keychain (%v); make test provides one", err)
		}
	}
	srv := rttest.StartT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.AddUser(ctx, "dee", "Dee Desk", "dee@helpdesk.example", "dee-password"); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	rtDir, embDir := filepath.Join(root, "helpdesk"), filepath.Join(root, "dev")
	rtAddr, embAddr := freeAddr(t), freeAddr(t)

	// Set the agents up in this process, then leave them to `tandem serve`.
	helpdesk, err := agent.Open(ctx, agent.Options{Dir: rtDir, Name: "Helpdesk", Listen: rtAddr})
	if err != nil {
		t.Fatal(err)
	}
	settings := agent.TrackerSettings{Kind: agent.TrackerRT, Poll: 500 * time.Millisecond, Timeout: 30 * time.Second,
		Values: map[string]string{"url": srv.URL, "queues": "General", "auth": rt.AuthPassword, "user": srv.User}}
	if err := helpdesk.SaveTrackerSettings(ctx, settings, map[string]string{"credential": srv.Password}); err != nil {
		t.Fatal(err)
	}
	inv, err := helpdesk.Invite(ctx, agent.InviteRequest{})
	if err != nil {
		t.Fatal(err)
	}
	helpdesk.Close()
	logf := func(name string) *os.File {
		f, err := os.Create(filepath.Join(root, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	sides := []*child{
		{name: "helpdesk", dir: rtDir, args: []string{"serve", "--data-dir", rtDir, "--listen", rtAddr, "--name", "Helpdesk"}, log: logf("helpdesk")},
		{name: "dev", dir: embDir, args: []string{"serve", "--data-dir", embDir, "--listen", embAddr, "--name", "Dev"}, log: logf("dev")},
	}
	hd, dev := sides[0], sides[1]
	hd.start(t)
	defer func() {
		for _, c := range sides {
			c.stop(syscall.SIGKILL)
		}
		if t.Failed() {
			for _, c := range sides {
				b, _ := os.ReadFile(c.log.Name())
				if len(b) > 6000 {
					b = b[len(b)-6000:]
				}
				t.Logf("end of %s's log:\n%s", c.name, b)
			}
		}
	}()
	devAgent, err := agent.Open(ctx, agent.Options{Dir: embDir, Name: "Dev", Listen: embAddr, Prefix: "DEV"})
	if err != nil {
		t.Fatal(err)
	}
	var accepted error
	for range 100 { // the helpdesk process is starting
		if _, accepted = devAgent.Accept(ctx, inv.Code); accepted == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	devAgent.Close()
	if accepted != nil {
		t.Fatalf("pair: %v", accepted)
	}
	dev.start(t)

	// The RT driver is a person at RT: it waits as long as RT takes (a loaded machine with a
	// long chaos run once kept it past 30 s), since a create it gave up on could not be retried.
	rd := &rtDriver{srv: srv, ids: map[string]string{}, user: "dee",
		hc: httpx.New(httpx.Config{Tracker: "RT", Auth: httpx.BasicAuth("dee", "dee-password"), Timeout: 3 * time.Minute})}

	// What the drivers did, per item tag: the final title, and each side's comments in order.
	var mu sync.Mutex
	titles := map[string]string{}
	comments := map[string]map[string][]string{"dev": {}, "rt": {}} // side -> tag -> bodies
	made := 0
	count := func() {
		mu.Lock()
		made++
		mu.Unlock()
	}
	// RT is the slow side (each change there costs it a few requests, and every change from
	// dev becomes a write to it), so most changes are made at dev, where people edit an item
	// a few times in a row.
	devChanges := cfg.changes * 19 / 20
	rtChanges := cfg.changes - devChanges

	// The dev driver works in the embedded tracker through the running agent.
	devDrive := func() error {
		rng := rand.New(rand.NewPCG(1, 2))
		var own []string
		for n := 0; n < devChanges; n++ {
			switch {
			case len(own) < cfg.items && (len(own) == 0 || rng.IntN(8) == 0):
				tag := fmt.Sprintf("[D%d]", len(own)+1)
				title := tag + " v0"
				if err := dev.call(ctx, "/create", map[string]string{"Tag": tag, "Title": title}, nil); err != nil {
					return err
				}
				own = append(own, tag)
				mu.Lock()
				titles[tag] = title
				mu.Unlock()
			case rng.IntN(8) != 0:
				tag := own[rng.IntN(len(own))]
				for burst := 1 + rng.IntN(8); burst > 0 && n < devChanges; burst-- {
					title := fmt.Sprintf("%s v%d", tag, n)
					if err := dev.call(ctx, "/title", map[string]string{"Tag": tag, "Title": title}, nil); err != nil {
						return err
					}
					mu.Lock()
					titles[tag] = title
					mu.Unlock()
					count()
					n++
				}
				n--
				continue
			default:
				tag := own[rng.IntN(len(own))]
				if rng.IntN(3) == 0 { // now and then on an item the helpdesk made, once it is here
					var items []item.Item
					if err := dev.call(ctx, "/items", nil, &items); err != nil {
						return err
					}
					for _, it := range items {
						if strings.HasPrefix(it.Title, "[R") {
							tag, _, _ = strings.Cut(it.Title, " ")
							break
						}
					}
				}
				body := fmt.Sprintf("dev comment %d on %s", n, tag)
				if err := dev.call(ctx, "/comment", map[string]string{"Tag": tag, "Body": body}, nil); err != nil {
					return err
				}
				mu.Lock()
				comments["dev"][tag] = append(comments["dev"][tag], body)
				mu.Unlock()
			}
			count()
		}
		return nil
	}
	// The RT driver works in RT as a person of the helpdesk.
	rtDrive := func() error {
		rng := rand.New(rand.NewPCG(3, 4))
		var own []string
		for n := 0; n < rtChanges; n++ {
			switch {
			case len(own) < cfg.items && (len(own) == 0 || rng.IntN(4) == 0):
				tag := fmt.Sprintf("[R%d]", len(own)+1)
				title := tag + " v0"
				if err := rd.do(ctx, http.MethodPost, "/ticket", map[string]any{"Queue": "General", "Subject": title, "Content": "made in RT by the crash test", "ContentType": "text/plain"}, nil); err != nil {
					return err
				}
				own = append(own, tag)
				mu.Lock()
				titles[tag] = title
				mu.Unlock()
			case rng.IntN(3) == 0:
				tag := own[rng.IntN(len(own))]
				id, err := rd.ticket(ctx, tag)
				if err != nil || id == "" {
					return fmt.Errorf("find %s in rt: %v", tag, err)
				}
				title := fmt.Sprintf("%s v%d", tag, n)
				if err := rd.do(ctx, http.MethodPut, "/ticket/"+id, map[string]any{"Subject": title}, nil); err != nil {
					return err
				}
				mu.Lock()
				titles[tag] = title
				mu.Unlock()
			default:
				tag := own[rng.IntN(len(own))]
				if rng.IntN(3) == 0 { // now and then on a ticket that came from dev
					d := fmt.Sprintf("[D%d]", 1+rng.IntN(cfg.items))
					if id, err := rd.ticket(ctx, d); err == nil && id != "" {
						tag = d
					}
				}
				id, err := rd.ticket(ctx, tag)
				if err != nil || id == "" {
					return fmt.Errorf("find %s in rt: %v", tag, err)
				}
				body := fmt.Sprintf("rt comment %d on %s", n, tag)
				if err := rd.do(ctx, http.MethodPost, "/ticket/"+id+"/correspond", map[string]any{"Content": body, "ContentType": "text/plain"}, nil); err != nil {
					return err
				}
				mu.Lock()
				comments["rt"][tag] = append(comments["rt"][tag], body)
				mu.Unlock()
			}
			count()
		}
		return nil
	}

	begin := time.Now()
	driveErr := make(chan error, 2)
	for _, drive := range []func() error{devDrive, rtDrive} {
		go func() { driveErr <- drive() }()
	}
	// The killer: SIGKILL either agent at random moments until the drivers are done and
	// enough kills were made, starting each again after a short while. A victim is killed
	// only once it has got some sync work done since it started (see progressed; or after 20 s
	// of nothing to do), at a random
	// moment after that.
	rng := rand.New(rand.NewPCG(5, 6))
	kills, driving := 0, 2
	for driving > 0 || kills < cfg.kills {
		c := sides[rng.IntN(2)]
		wait := time.Duration(1000+rng.IntN(5000)) * time.Millisecond
		for start := time.Now(); !c.progressed() && time.Since(start) < 20*time.Second; {
			time.Sleep(200 * time.Millisecond)
		}
		select {
		case err := <-driveErr:
			if err != nil {
				t.Fatalf("driver: %v", err)
			}
			driving--
			continue
		case <-time.After(wait):
		}
		c.stop(syscall.SIGKILL)
		kills++
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
		c.start(t)
	}
	mu.Lock()
	t.Logf("%d changes made and %d kills in %v", made, kills, time.Since(begin).Round(time.Second))
	ended := time.Now()
	mu.Unlock()

	// Everything arrives: both sides converge on the drivers' record.
	reader, err := rt.New(rt.Config{URL: srv.URL, Queues: []string{"General"}, User: "dee", Password: "dee-password"})
	if err != nil {
		t.Fatal(err)
	}
	// The sides may take long to agree after a long run (RT writes about five changes a
	// second), so the wait ends when they agree, or when what differs has not changed for
	// crashStall: then nothing is catching up, and what differs is the finding.
	var problems []string
	last, lastChange := "", time.Now()
	for {
		var devItems []item.Item
		if err := dev.call(ctx, "/items", nil, &devItems); err != nil {
			t.Fatal(err)
		}
		rtItems, err := allTickets(ctx, reader)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		problems = append(check("dev", devItems, titles, comments), check("rt", rtItems, titles, comments)...)
		mu.Unlock()
		if now := strings.Join(problems, "\n"); now != last {
			last, lastChange = now, time.Now()
		}
		if len(problems) == 0 || time.Since(lastChange) > crashStall {
			break
		}
		time.Sleep(5 * time.Second)
	}
	if len(problems) > 0 {
		if len(problems) > 40 {
			problems = append(problems[:40], fmt.Sprintf("... and %d more", len(problems)-40))
		}
		t.Fatalf("after the kills the sides do not agree with what the drivers did:\n%s", strings.Join(problems, "\n"))
	}
	t.Logf("both sides agree %v after the last change", time.Since(ended).Round(time.Second))

	// The queues are empty: stop both agents and look.
	for _, c := range sides {
		c.stop(syscall.SIGTERM)
	}
	for _, c := range sides {
		a, err := agent.Open(ctx, agent.Options{Dir: c.dir})
		if err != nil {
			t.Fatal(err)
		}
		conns, _ := a.Connections(ctx)
		a.Close()
		for _, conn := range conns {
			if conn.Inbox != 0 || conn.Outbox != 0 || conn.Failed != 0 {
				t.Errorf("%s's queues after the run: inbox %d, outbox %d, failed %d (%s)", c.name, conn.Inbox, conn.Outbox, conn.Failed, conn.LastError)
			}
		}
	}
}

// check compares one side's items with what the drivers did: every tagged item once, with
// its final title, every comment once, and each side's comments on an item in its order.
func check(side string, items []item.Item, titles map[string]string, comments map[string]map[string][]string) []string {
	var bad []string
	byTag := map[string][]item.Item{}
	for _, it := range items {
		tag, _, _ := strings.Cut(it.Title, " ")
		byTag[tag] = append(byTag[tag], it)
	}
	for tag, title := range titles {
		got := byTag[tag]
		if len(got) != 1 {
			bad = append(bad, fmt.Sprintf("%s has %d items %s, want 1", side, len(got), tag))
			continue
		}
		it := got[0]
		if it.Title != title {
			bad = append(bad, fmt.Sprintf("%s: %s is titled %q, want %q", side, tag, it.Title, title))
		}
		seen := map[string]int{}
		var bodies []string
		for _, c := range it.Comments {
			b := strings.TrimSpace(c.Body)
			seen[b]++
			bodies = append(bodies, b)
		}
		for from, byItem := range comments {
			want := byItem[tag]
			var order []string
			for _, b := range bodies {
				if slices.Contains(want, b) {
					order = append(order, b)
				}
			}
			for _, b := range want {
				if seen[b] != 1 {
					bad = append(bad, fmt.Sprintf("%s: %s has %q (from %s) %d times, want once", side, tag, b, from, seen[b]))
				}
			}
			if len(order) == len(want) && !slices.Equal(order, want) {
				bad = append(bad, fmt.Sprintf("%s: %s has the comments from %s in the order %q, want %q", side, tag, from, order, want))
			}
		}
	}
	for tag, got := range byTag {
		if _, ok := titles[tag]; !ok && strings.HasPrefix(tag, "[") {
			bad = append(bad, fmt.Sprintf("%s has %d items %s that no driver made", side, len(got), tag))
		}
	}
	slices.Sort(bad)
	return bad
}

// allTickets reads every ticket of the General queue in full.
func allTickets(ctx context.Context, tr *rt.Tracker) ([]item.Item, error) {
	byKey := map[string]item.Item{} // a ticket that changes while it is read comes again
	cursor := ""
	for range 1000 {
		items, next, err := tr.Changes(ctx, cursor, 100)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			byKey[it.Key] = it
		}
		if next == cursor {
			out := make([]item.Item, 0, len(byKey))
			for _, it := range byKey {
				out = append(out, it)
			}
			return out, nil
		}
		cursor = next
	}
	return nil, errors.New("rt kept listing tickets")
}
