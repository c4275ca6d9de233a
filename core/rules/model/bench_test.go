package model_test

import (
	"context"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules"
	"github.com/tandemsync/tandem/core/rules/model"
)

// typicalTen is an outgoing rule with ten mappings as operators build them: the core fields
// and two custom fields copied, status and priority through value maps, a value set on the
// first sync; a trigger and public comments.
func typicalTen() *model.Rule {
	r := model.New(model.Outgoing)
	r.Trigger.Conditions = []model.Condition{{Field: "status", Op: model.OpNotOneOf, Values: []string{"deleted", "spam"}}}
	r.Mappings = []model.Mapping{
		{Source: "title", Target: "title", Transform: model.Transform{Kind: model.Copy}},
		{Source: "description", Target: "description", Transform: model.Transform{Kind: model.Copy}},
		{Source: "status", Target: "status", Transform: model.Transform{Kind: model.Map, Values: []model.Pair{{From: "new", To: "open"}, {From: "open", To: "in progress"}, {From: "stalled", To: "waiting"}}, KeepUnmapped: true}},
		{Source: "priority", Target: "priority", Transform: model.Transform{Kind: model.Map, Values: []model.Pair{{From: "1", To: "high"}, {From: "2", To: "medium"}}, Default: "low"}},
		{Source: "labels", Target: "labels", Transform: model.Transform{Kind: model.Copy}},
		{Source: "assignee", Target: "assignee", Transform: model.Transform{Kind: model.Copy}},
		{Source: "reporter", Target: "reporter", Transform: model.Transform{Kind: model.Copy}},
		{Source: "custom.customer", Target: "custom.customer", Transform: model.Transform{Kind: model.Copy}},
		{Source: "custom.Queue", Target: "custom.team", Transform: model.Transform{Kind: model.Copy}},
		{Target: "custom.origin", Transform: model.Transform{Kind: model.Fixed, Value: "Blue helpdesk"}, FirstSyncOnly: true},
	}
	return r
}

// nativeTypical does in plain Go what typicalTen's generated rule does.
func nativeTypical(it item.Item, first bool) item.Replica {
	it = it.Clone()
	if it.Status == "deleted" || it.Status == "spam" {
		return item.Replica{}
	}
	r := item.Replica{Custom: map[string]string{}, Title: it.Title, Description: it.Description, Labels: it.Labels, Assignee: it.Assignee, Reporter: it.Reporter}
	if s, ok := map[string]string{"new": "open", "open": "in progress", "stalled": "waiting"}[it.Status]; ok {
		r.Status = s
	} else {
		r.Status = it.Status
	}
	if it.Priority != "" {
		if p, ok := map[string]string{"1": "high", "2": "medium"}[it.Priority]; ok {
			r.Priority = p
		} else {
			r.Priority = "low"
		}
	}
	r.Custom["customer"], r.Custom["team"] = it.Custom["customer"], it.Custom["Queue"]
	return finishNative(r, it, first)
}

// tenMappings is an outgoing rule with ten mappings of the costlier kinds (e-mail masking,
// value maps, a label map, the user map, a token, a mask, a prefix, a first-sync value), a
// trigger and public comments.
func tenMappings() *model.Rule {
	r := model.New(model.Outgoing)
	r.Trigger.Conditions = []model.Condition{{Field: "status", Op: model.OpNotOneOf, Values: []string{"deleted", "spam"}}}
	r.Mappings = []model.Mapping{
		{Source: "title", Target: "title", Transform: model.Transform{Kind: model.Copy}},
		{Source: "description", Target: "description", Transform: model.Transform{Kind: model.Mask, Emails: true}},
		{Source: "status", Target: "status", Transform: model.Transform{Kind: model.Map, Values: []model.Pair{{From: "new", To: "open"}, {From: "open", To: "in progress"}, {From: "stalled", To: "waiting"}}, KeepUnmapped: true}},
		{Source: "priority", Target: "priority", Transform: model.Transform{Kind: model.Map, Values: []model.Pair{{From: "1", To: "high"}, {From: "2", To: "medium"}}, Default: "low"}},
		{Source: "labels", Target: "labels", Transform: model.Transform{Kind: model.Map, Values: []model.Pair{{From: "internal", To: ""}}, KeepUnmapped: true}},
		{Source: "assignee", Target: "assignee", Transform: model.Transform{Kind: model.MapUsers}},
		{Source: "custom.customer", Target: "custom.customer", Transform: model.Transform{Kind: model.Tokenize}},
		{Source: "custom.card", Target: "custom.card", Transform: model.Transform{Kind: model.Mask, KeepLast: 4}},
		{Source: "key", Target: "custom.blueKey", Transform: model.Transform{Kind: model.Affix, Prefix: "BLUE:"}},
		{Target: "custom.origin", Transform: model.Transform{Kind: model.Fixed, Value: "Blue helpdesk"}, FirstSyncOnly: true},
	}
	r.Users = model.Users{Entries: []model.UserEntry{{Match: "ann@blue.example", User: model.User{Name: "Blue support"}}}, KeepUnknown: true}
	return r
}

// nativeTen does in plain Go what tenMappings' generated rule does, with the defensive copy
// Program makes, as the baseline for the interpreter's cost.
var emailRE = regexp.MustCompile(`([A-Za-z0-9._%+\-]+)@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})`)

func nativeTen(it item.Item, v rules.TokenVault, first bool) item.Replica {
	it = it.Clone()
	r := item.Replica{Custom: map[string]string{}}
	if it.Status == "deleted" || it.Status == "spam" {
		return item.Replica{}
	}
	r.Title = it.Title
	r.Description = emailRE.ReplaceAllStringFunc(it.Description, func(a string) string { return a[:1] + "***" + a[strings.LastIndexByte(a, '@'):] })
	r.Status = map[string]string{"new": "open", "open": "in progress", "stalled": "waiting"}[it.Status]
	if p, ok := map[string]string{"1": "high", "2": "medium"}[it.Priority]; ok {
		r.Priority = p
	} else {
		r.Priority = "low"
	}
	for _, l := range it.Labels {
		if l != "internal" {
			r.Labels = append(r.Labels, l)
		}
	}
	if it.Assignee.Email == "ann@blue.example" {
		r.Assignee = item.User{Name: "Blue support"}
	} else {
		r.Assignee = it.Assignee
	}
	r.Custom["customer"], _ = v.Token(it.Custom["customer"])
	c := it.Custom["card"]
	r.Custom["card"] = strings.Repeat("*", len(c)-4) + c[len(c)-4:]
	r.Custom["blueKey"] = "BLUE:" + it.Key
	return finishNative(r, it, first)
}

// finishNative is what both native baselines end with: the first-sync value and the public
// comments.
func finishNative(r item.Replica, it item.Item, first bool) item.Replica {
	if first {
		r.Custom["origin"] = "Blue helpdesk"
	}
	for _, cm := range it.Comments {
		if !cm.Internal {
			r.Comments = append(r.Comments, cm)
		}
	}
	return r
}

var sinkReplica item.Replica

// BenchmarkGeneratedRule measures, in one run, two generated rules of ten mappings (typical
// ones, and ones of the costlier kinds), the hand-written default outgoing rule, and each
// generated rule's mappings as native Go, every rule run with a deadline as the engine runs
// it. Costs are the process's CPU time per evaluation; the targets are a generated rule
// costing at most twice the default rule, and at least 30,000 evaluations per second per core.
func BenchmarkGeneratedRule(b *testing.B) {
	compile := func(r *model.Rule) *rules.Program {
		src, err := model.Generate(r)
		if err != nil {
			b.Fatal(err)
		}
		p, err := rules.Compile("outgoing.go", src)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	typical, heavy := compile(typicalTen()), compile(tenMappings())
	def, err := rules.Compile("outgoing.go", rules.DefaultOutgoing)
	if err != nil {
		b.Fatal(err)
	}
	it := sample()
	it.Custom["card"] = "4111111111111111"
	v := vault{}
	env := rules.Env{Vault: v}
	// The generated rules and their native baselines agree before they are timed.
	check := func(p *rules.Program, native item.Replica) {
		got, _, err := p.Outgoing(context.Background(), it, env)
		if err != nil {
			b.Fatal(err)
		}
		if item.HashValue(got) != item.HashValue(native) {
			b.Fatalf("generated rule and native baseline differ:\n%+v\n%+v", got, native)
		}
	}
	check(typical, nativeTypical(it, false))
	check(heavy, nativeTen(it, v, false))
	rule := func(p *rules.Program) func() {
		return func() {
			ctx, cancel := context.WithTimeout(context.Background(), rules.DefaultTimeout)
			r, _, err := p.Outgoing(ctx, it, env)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			sinkReplica = r
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	// The five run interleaved in rounds, so a burst of load from elsewhere on the machine
	// falls on all of them alike; cost is the process's CPU time, which is what "per core"
	// means and what other processes do not inflate the way they inflate wall time.
	var tTyp, tHeavy, tDef, tNatTyp, tNatHeavy time.Duration
	const rounds = 10
	for r := 0; r < rounds; r++ {
		n := b.N / rounds
		if r == rounds-1 {
			n = b.N - n*(rounds-1)
		}
		tTyp += cpuTime(n, rule(typical))
		tHeavy += cpuTime(n, rule(heavy))
		tDef += cpuTime(n, rule(def))
		tNatTyp += cpuTime(n, func() { sinkReplica = nativeTypical(it, false) })
		tNatHeavy += cpuTime(n, func() { sinkReplica = nativeTen(it, v, false) })
	}
	b.StopTimer()
	n := float64(b.N)
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / n }
	b.ReportMetric(per(tTyp), "typical-ns/eval")
	b.ReportMetric(per(tHeavy), "costly-ns/eval")
	b.ReportMetric(per(tDef), "default-ns/eval")
	b.ReportMetric(n/tTyp.Seconds(), "typical-evals/cpu-s")
	b.ReportMetric(n/tHeavy.Seconds(), "costly-evals/cpu-s")
	b.ReportMetric(float64(tTyp)/float64(tDef), "typical/default")
	b.ReportMetric(float64(tHeavy)/float64(tDef), "costly/default")
	b.ReportMetric(float64(tTyp)/float64(tNatTyp), "typical/native")
	b.ReportMetric(float64(tHeavy)/float64(tNatHeavy), "costly/native")
}

// cpuTime runs f n times and returns the CPU time the process spent meanwhile.
func cpuTime(n int, f func()) time.Duration {
	before := processCPU()
	for i := 0; i < n; i++ {
		f()
	}
	return processCPU() - before
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
