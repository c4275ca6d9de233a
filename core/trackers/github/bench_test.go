package github_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/engine"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/trackers/github"
	"github.com/tandemsync/tandem/core/trackers/github/githubtest"
)

// BenchmarkAPIEconomy counts GitHub requests, and what they cost of the rate limit, per
// synced change each way and per idle poll. The baseline in the same run is the same idle
// poll asked without If-None-Match, as a connector without ETags would.
func BenchmarkAPIEconomy(b *testing.B) {
	srv := githubtest.New(b, repo)
	tr := newTracker(b, srv, func(c *github.Config) { c.PageSize = 100 })
	ctx := context.Background()
	_, cur, err := tr.Changes(ctx, "", 100)
	if err != nil {
		b.Fatal(err)
	}
	var change, changeCost, write, echo, settle, settleCost, idle, idleCost, plainCost, n int64
	count := func(reqs, cost *int64, f func()) {
		before, beforeCost := tr.Requests(), srv.Cost
		f()
		*reqs += tr.Requests() - before
		if cost != nil {
			*cost += int64(srv.Cost - beforeCost)
		}
	}
	for i := 0; i < b.N; i++ {
		n++
		srv.Tick(time.Second)
		num := srv.AddIssue(repo, githubtest.Issue{Title: fmt.Sprint("bench ", i), Body: "x"})
		srv.AddComment(repo, num, "carol", "first")
		srv.Tick(time.Second)
		count(&change, &changeCost, func() {
			got, next, err := tr.Changes(ctx, cur, 100)
			if err != nil || len(got) != 1 {
				b.Fatalf("Changes: %d items, %v; want 1", len(got), err)
			}
			cur = next
		})
		// The partner answers: a status change and a reply, as one write.
		count(&write, nil, func() {
			res, err := tr.Apply(ctx, []engine.Write{{Key: fmt.Sprintf("%s#%d", repo, num), Item: item.Item{Status: "closed"}, Fields: []string{item.FieldStatus},
				NewComments: []item.Comment{{Author: item.User{Name: "Dana Dev"}, Body: "On it."}}}})
			if err != nil || res[0].Err != nil {
				b.Fatalf("Apply: %v / %v", err, res[0].Err)
			}
		})
		count(&echo, nil, func() {
			got, next, err := tr.Changes(ctx, cur, 100)
			if err != nil || len(got) != 0 {
				b.Fatalf("poll after Tandem's write: %d items, %v; want its echo skipped", len(got), err)
			}
			cur = next
		})
		// The first poll after Tandem's write asks from the new since= once (its answer is not
		// 304 yet); from then on polls are idle.
		count(&settle, &settleCost, func() {
			got, next, err := tr.Changes(ctx, cur, 100)
			if err != nil || len(got) != 0 {
				b.Fatalf("settling Changes: %d items, %v", len(got), err)
			}
			cur = next
		})
		count(&idle, &idleCost, func() {
			got, next, err := tr.Changes(ctx, cur, 100)
			if err != nil || len(got) != 0 {
				b.Fatalf("idle Changes: %d items, %v", len(got), err)
			}
			cur = next
		})
		before := srv.Cost
		for _, path := range []string{"/issues?state=all&sort=updated&direction=asc&per_page=100", "/issues/comments?sort=updated&direction=asc&per_page=100"} {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v3/repos/"+repo+path, nil)
			req.Header.Set("Authorization", "Bearer "+srv.Token)
			resp, err := srv.Client().Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
		plainCost += int64(srv.Cost - before)
	}
	b.ReportMetric(float64(change)/float64(n), "req/change")
	b.ReportMetric(float64(changeCost)/float64(n), "cost/change")
	b.ReportMetric(float64(write)/float64(n), "req/write")
	b.ReportMetric(float64(echo)/float64(n), "req/echo-poll")
	b.ReportMetric(float64(settle)/float64(n), "req/settle-poll")
	b.ReportMetric(float64(settleCost)/float64(n), "cost/settle-poll")
	b.ReportMetric(float64(idle)/float64(n), "req/idle-poll")
	b.ReportMetric(float64(idleCost)/float64(n), "cost/idle-poll")
	b.ReportMetric(float64(plainCost)/float64(n), "cost/idle-poll-without-etags")
}
