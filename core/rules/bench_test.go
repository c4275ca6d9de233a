package rules

import (
	"context"
	"testing"

	"github.com/tandemsync/tandem/core/item"
)

// nativeOutgoing and nativeIncoming do in plain Go what DefaultOutgoing and DefaultIncoming
// do, with the same defensive copies Program makes, as the baseline for the interpreter's cost.
func nativeOutgoing(it item.Item) item.Replica {
	it = it.Clone()
	return item.Replica{Title: it.Title, Description: it.Description, Status: it.Status,
		Priority: it.Priority, Labels: it.Labels, Comments: it.Comments}
}

func nativeIncoming(r item.Replica, cur item.Item) item.Item {
	r = cloneReplica(r)
	it := cur.Clone()
	if r.Title != "" {
		it.Title = r.Title
	}
	if r.Description != "" {
		it.Description = r.Description
	}
	if r.Status != "" {
		it.Status = r.Status
	}
	if r.Priority != "" {
		it.Priority = r.Priority
	}
	if r.Labels != nil {
		it.Labels = r.Labels
	}
	it.Comments = append(it.Comments, r.Comments...)
	return it
}

var sinkReplica item.Replica
var sinkItem item.Item

// Compare the two sub-benchmarks of each: rule/native is the interpreter's overhead per call.
func BenchmarkOutgoing(b *testing.B) {
	it := sampleItem()
	b.Run("rule", func(b *testing.B) {
		p := mustCompile(b, "outgoing.go", DefaultOutgoing)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			r, _, err := p.Outgoing(ctx, it, Env{})
			if err != nil {
				b.Fatal(err)
			}
			sinkReplica = r
		}
	})
	b.Run("native", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkReplica = nativeOutgoing(it)
		}
	})
}

func BenchmarkIncoming(b *testing.B) {
	r := nativeOutgoing(sampleItem())
	cur := item.Item{Key: "L-1", Title: "old"}
	b.Run("rule", func(b *testing.B) {
		p := mustCompile(b, "incoming.go", DefaultIncoming)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			it, _, err := p.Incoming(ctx, r, cur, Env{})
			if err != nil {
				b.Fatal(err)
			}
			sinkItem = it
		}
	})
	b.Run("native", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkItem = nativeIncoming(r, cur)
		}
	})
}

func BenchmarkCompile(b *testing.B) {
	for b.Loop() {
		mustCompile(b, "outgoing.go", DefaultOutgoing)
	}
}
