package queue

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// benchPayload is a replica of typical size (~0.5 KiB).
var benchPayload = json.RawMessage(fmt.Sprintf(`{"title":"Printer on floor 3 jams","description":%q,"status":"open","priority":"high","labels":["hw","floor-3"]}`, strings.Repeat("paper jam again ", 24)))

// BenchmarkAppend measures durable appends (fsync on, as in production): one transaction per
// op holding batch events. Compare ns/event across batch sizes for what batching buys.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			st, q := newQueue(b, "out/bench")
			evs := make([]Event, batch)
			for i := range evs {
				evs[i] = Event{ItemKey: fmt.Sprintf("ITEM-%d", i%50), Kind: "update", Payload: benchPayload}
			}
			b.ResetTimer()
			for range b.N {
				for i := range evs {
					evs[i].ID = NewID()
				}
				err := st.DB().Update(func(tx *bolt.Tx) error {
					_, err := q.Append(tx, evs)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
		})
	}
}

// BenchmarkReady measures taking a batch of 256 from a queue of 10,000 events over 1,000 items
// where 1% of the items are blocked behind a permanent failure near the front.
func BenchmarkReady(b *testing.B) {
	st, q := newQueue(b, "out/bench")
	const n, items = 10000, 1000
	err := st.DB().Update(func(tx *bolt.Tx) error {
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = Event{ItemKey: fmt.Sprintf("ITEM-%d", i%items), Kind: "update", Payload: benchPayload}
		}
		stored, err := q.Append(tx, evs)
		if err != nil {
			return err
		}
		for i := 0; i < items; i += 100 {
			if _, err := q.Fail(tx, stored[i].Seq, permanentErr{}, t0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		evs, err := q.Ready(t0, 256)
		if err != nil {
			b.Fatal(err)
		}
		if len(evs) != 256 {
			b.Fatalf("Ready: got %d events, want 256", len(evs))
		}
	}
}

// BenchmarkPage measures reading one screen of 50 rows from a queue of 100,000 events over
// 10,000 items, 1% of them failed, beside the baseline of decoding the whole queue (what the
// Queue screen did before pages and indexes).
func BenchmarkPage(b *testing.B) {
	st, q := newQueue(b, "out/bench")
	const n, items = 100000, 10000
	for start := 0; start < n; start += 10000 {
		err := st.DB().Update(func(tx *bolt.Tx) error {
			evs := make([]Event, 10000)
			for i := range evs {
				evs[i] = Event{ItemKey: fmt.Sprintf("ITEM-%d", (start+i)%items), Kind: "update", Payload: benchPayload}
			}
			stored, err := q.Append(tx, evs)
			if err != nil {
				return err
			}
			for i := 0; i < len(stored); i += 100 {
				if _, err := q.Fail(tx, stored[i].Seq, permanentErr{}, t0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		f      Filter
		offset int
	}{
		{"first", Filter{}, 0},
		{"failed", Filter{States: []State{StateFailed}}, 0},
		{"item", Filter{Item: "ITEM-4711"}, 0},
		{"by-item", Filter{Order: ItemAscending}, 0},
		{"offset-90000", Filter{}, 90000},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				if _, err := q.Page(tc.f, tc.offset, 50); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("counts", func(b *testing.B) {
		for range b.N {
			if _, err := q.Counts(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-whole-queue", func(b *testing.B) {
		for range b.N {
			if _, err := q.List(0, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLifecycle measures an event's whole stay in a queue as the sync path has it: a
// batch appended in one transaction, then acked in another (fsync on).
func BenchmarkLifecycle(b *testing.B) {
	st, q := newQueue(b, "out/bench")
	const batch = 1024
	evs := make([]Event, batch)
	for i := range evs {
		evs[i] = Event{ItemKey: fmt.Sprintf("ITEM-%d", i), Kind: "create", Payload: benchPayload}
	}
	b.ResetTimer()
	for range b.N {
		for i := range evs {
			evs[i].ID = NewID()
		}
		var stored []Event
		err := st.DB().Update(func(tx *bolt.Tx) (err error) {
			stored, err = q.Append(tx, evs)
			return err
		})
		if err == nil {
			err = st.DB().Update(func(tx *bolt.Tx) error { return q.AckEvents(tx, stored...) })
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
}
