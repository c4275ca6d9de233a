package transport

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tandemsync/tandem/core/identity"
)

// guardedListener refuses, before any TLS byte is read, connections from addresses no partner
// may use and connections beyond the cap per remote address.
type guardedListener struct {
	net.Listener
	s       *Server
	perAddr int

	mu    sync.Mutex
	count map[netip.Addr]int
}

func (l *guardedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := remoteAddr(c)
		if !l.s.peers.AllowsAddr(addr) {
			l.s.refused.Note("addr "+addr.String(), "remote", addr.String(), "reason", "address outside every connection's allow-list")
			c.Close()
			continue
		}
		l.mu.Lock()
		if l.count[addr] >= l.perAddr {
			l.mu.Unlock()
			l.s.refused.Note("addr "+addr.String(), "remote", addr.String(), "reason", "too many connections from this address")
			c.Close()
			continue
		}
		l.count[addr]++
		l.mu.Unlock()
		return &countedConn{Conn: c, release: func() { l.release(addr) }}, nil
	}
}

func (l *guardedListener) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count[addr]--; l.count[addr] <= 0 {
		delete(l.count, addr)
	}
}

// countedConn gives its slot back once, on the first Close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// remoteAddr is the IP a connection comes from, unmapped (::ffff:1.2.3.4 is 1.2.3.4).
func remoteAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// requestAddr is the IP a request comes from.
func requestAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// buckets are token buckets keyed by peer or address: rate tokens a second, up to burst.
type buckets struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds the map; full, idle buckets (which are full again) are dropped.
const maxBuckets = 16384

func newBuckets(rate float64, burst int) *buckets {
	return &buckets{rate: rate, burst: float64(burst), now: time.Now, m: map[string]*bucket{}}
}

// take spends one token of key's bucket. When none is left it answers how long until one is.
func (b *buckets) take(key string) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	bk, found := b.m[key]
	if !found {
		if len(b.m) >= maxBuckets {
			b.prune(now)
		}
		bk = &bucket{tokens: b.burst, at: now}
		b.m[key] = bk
	}
	bk.tokens = min(b.burst, bk.tokens+now.Sub(bk.at).Seconds()*b.rate)
	bk.at = now
	if bk.tokens >= 1 {
		bk.tokens--
		return true, 0
	}
	return false, time.Duration((1 - bk.tokens) / b.rate * float64(time.Second))
}

func (b *buckets) prune(now time.Time) {
	for k, bk := range b.m {
		if bk.tokens+now.Sub(bk.at).Seconds()*b.rate >= b.burst {
			delete(b.m, k)
		}
	}
}

// pairingConns are the TLS connections of keys no connection pins, admitted because they named
// an invitation, or a pairing this agent awaits from exactly that key. Each is closed when
// what it was admitted for stops being pending, unless its key has become a partner by then.
type pairingConns struct {
	mu sync.Mutex
	m  map[net.Conn]pairingConn
}

type pairingConn struct {
	peer       identity.ID
	invitation string
	completes  bool // admitted to complete a pairing this agent awaits, not to redeem
	busy       int  // requests in flight: a redemption in progress is never cut off
}

// pending reports whether what pc was admitted for may still happen.
func (pc pairingConn) pending(peers Peers) bool {
	if pc.completes {
		_, pending := peers.Awaits(pc.invitation, pc.peer)
		return pending
	}
	_, pending := peers.Invitation(pc.invitation)
	return pending
}

func (p *pairingConns) add(c net.Conn, pc pairingConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[net.Conn]pairingConn{}
	}
	p.m[c] = pc
}

func (p *pairingConns) remove(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, c)
}

// begin marks a request in flight on c; the returned func ends it.
func (p *pairingConns) begin(c net.Conn) (end func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pc, ok := p.m[c]
	if !ok {
		return func() {}
	}
	pc.busy++
	p.m[c] = pc
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if pc, ok := p.m[c]; ok {
			pc.busy--
			p.m[c] = pc
		}
	}
}

func (p *pairingConns) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// sweep closes the connections whose invitation ended; those whose key is now a partner's
// simply leave the set.
func (p *pairingConns) sweep(s *Server) {
	p.mu.Lock()
	list := make(map[net.Conn]pairingConn, len(p.m))
	for c, pc := range p.m {
		list[c] = pc
	}
	p.mu.Unlock()
	for c, pc := range list {
		if pc.busy > 0 {
			continue
		}
		if s.peers.Known(pc.peer) {
			p.remove(c)
			continue
		}
		if pc.pending(s.peers) {
			continue
		}
		p.mu.Lock()
		if now, ok := p.m[c]; ok && now.busy == 0 {
			delete(p.m, c)
			c.Close()
			s.log.Info("closed a pairing connection: its invitation or awaited pairing ended", "invitation", pc.invitation, "remote", c.RemoteAddr().String())
		}
		p.mu.Unlock()
	}
}

// sweepLoop sweeps every interval until ctx ends.
func (p *pairingConns) sweepLoop(ctx context.Context, s *Server, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if p.len() > 0 {
				p.sweep(s)
			}
		}
	}
}
