package transport

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkSend measures a batch round trip over loopback HTTPS with a kept-alive
// connection, a fresh token per request and an in-memory handler. ns/event is the number
// to compare between batch sizes: the per-request cost (token, TLS record, HTTP) is shared
// by the batch.
func BenchmarkSend(b *testing.B) {
	for _, size := range []int{1, 256} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			r := newRig(b)
			c := r.newClient(b, r.client, r.server.ID, conn)
			ctx := context.Background()
			seq := 1
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Send(ctx, events(seq, size)); err != nil {
					b.Fatal(err)
				}
				seq += size
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/event")
		})
	}
}
