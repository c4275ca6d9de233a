package ui

import (
	"context"
	"fmt"
	"log/slog"
)

// pageRows is how many rows one read of a paged list fetches.
const pageRows = 100

// pager feeds a widget.List from an agent that answers pages: it keeps the blocks of rows it
// has read, asks for a missing block when the list shows one of its rows, and forgets them
// all when the query or the data changes, so the list re-reads only what is on screen. The
// list's length is the total the last read answered.
//
// Every method runs on the Fyne goroutine; reads run on their own goroutines and post back
// with fyne.Do.
type pager[T any] struct {
	u     *UI
	what  string                                                         // for errors: "read the queue"
	fetch func(ctx context.Context, offset, limit int) ([]T, int, error) // set per query
	// shown is called after rows arrived: refresh the list and whatever depends on the total.
	shown func()

	gen     int // bumped by reset; reads of an older generation are dropped
	total   int
	known   bool // total comes from a read of this generation
	blocks  map[int][]T
	loading map[int]bool
	stale   map[int]bool // blocks to re-read; their old rows show meanwhile
	err     error
}

func newPager[T any](u *UI, what string, shown func()) *pager[T] {
	return &pager[T]{u: u, what: what, shown: shown, blocks: map[int][]T{}, loading: map[int]bool{}, stale: map[int]bool{}}
}

// reset starts over for a new query: nothing is known until the first read answers.
func (p *pager[T]) reset(fetch func(ctx context.Context, offset, limit int) ([]T, int, error)) {
	p.fetch = fetch
	p.gen++
	p.total, p.known, p.err = 0, false, nil
	p.blocks, p.loading, p.stale = map[int][]T{}, map[int]bool{}, map[int]bool{}
	p.load(0)
}

// invalidate marks every block read so far as stale after the data changed: rows keep showing
// until their new values arrive, and only blocks the list shows again are read again. The
// first block is read at once, for the total.
func (p *pager[T]) invalidate() {
	if p.fetch == nil {
		return
	}
	for b := range p.blocks {
		p.stale[b] = true
	}
	p.load(0)
}

// row returns row i if it is known; asking for a row the pager does not have (or has stale)
// reads its block.
func (p *pager[T]) row(i int) (T, bool) {
	var zero T
	b := i / pageRows
	rows, ok := p.blocks[b]
	if !ok || p.stale[b] {
		p.load(b)
	}
	if !ok || i%pageRows >= len(rows) {
		return zero, false
	}
	return rows[i%pageRows], true
}

func (p *pager[T]) load(b int) {
	if p.fetch == nil || p.loading[b] {
		return
	}
	p.loading[b] = true
	gen, fetch := p.gen, p.fetch
	p.u.pending.Add(1)
	go func() {
		defer p.u.pending.Done()
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		rows, total, err := fetch(ctx, b*pageRows, pageRows)
		if err != nil {
			err = fmt.Errorf("%s: %w", p.what, err)
			slog.Warn("agent call", "what", p.what, "err", err)
		}
		p.u.do(func() {
			if gen != p.gen {
				return
			}
			delete(p.loading, b)
			p.err = err
			if err != nil {
				p.u.setStatus(err.Error(), true)
				return
			}
			p.blocks[b] = rows
			delete(p.stale, b)
			if p.total != total || !p.known {
				p.total, p.known = total, true
				// Blocks past the end are gone; the others may have shifted: read again as shown.
				for k := range p.blocks {
					if k*pageRows >= total {
						delete(p.blocks, k)
					} else if k != b {
						p.stale[k] = true
					}
				}
			}
			p.shown()
		})
	}()
}

// loaded reports whether every read has answered, for tests.
func (p *pager[T]) loaded() bool { return len(p.loading) == 0 }
