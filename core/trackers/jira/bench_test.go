package jira_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/trackers/jira"
	"github.com/tandemsync/tandem/core/trackers/jira/jiratest"
)

// BenchmarkAPIEconomy counts Jira requests per synced change each way and per idle poll.
func BenchmarkAPIEconomy(b *testing.B) {
	srv := jiratest.New(b, "SUP")
	tr := newTracker(b, srv, func(c *jira.Config) { c.PageSize = 50; c.Fields = nil })
	ctx := context.Background()
	_, cur, err := tr.Changes(ctx, "", 100)
	if err != nil {
		b.Fatal(err)
	}
	var change, write, echo, idle, n int64
	count := func(total *int64, f func()) {
		before := tr.Requests()
		f()
		*total += tr.Requests() - before
	}
	for i := 0; i < b.N; i++ {
		n++
		key := srv.AddIssue(jiratest.Issue{Summary: fmt.Sprint("bench ", i), Description: "x"})
		srv.AddComment(key, "557058:person", "first")
		count(&change, func() {
			got, next, err := tr.Changes(ctx, cur, 100)
			if err != nil || len(got) != 1 {
				b.Fatalf("Changes: %d items, %v; want 1", len(got), err)
			}
			cur = next
		})
		// The partner answers: a status change and a reply, as one write.
		count(&write, func() {
			res, err := tr.Apply(ctx, []engine.Write{{Key: key, Item: item.Item{Status: "In Progress"}, Fields: []string{item.FieldStatus},
				NewComments: []item.Comment{{Author: item.User{Name: "Dana Dev"}, Body: "On it."}}}})
			if err != nil || res[0].Err != nil {
				b.Fatalf("Apply: %v / %v", err, res[0].Err)
			}
		})
		count(&echo, func() {
			got, next, err := tr.Changes(ctx, cur, 100)
			if err != nil || len(got) != 0 {
				b.Fatalf("poll after Tandem's write: %d items, %v; want its echo skipped", len(got), err)
			}
			cur = next
		})
		count(&idle, func() {
			got, next, err := tr.Changes(ctx, cur, 100)
			if err != nil || len(got) != 0 {
				b.Fatalf("idle Changes: %d items, %v", len(got), err)
			}
			cur = next
		})
	}
	b.ReportMetric(float64(change)/float64(n), "req/change")
	b.ReportMetric(float64(write)/float64(n), "req/write")
	b.ReportMetric(float64(echo)/float64(n), "req/echo-poll")
	b.ReportMetric(float64(idle)/float64(n), "req/idle-poll")
}
