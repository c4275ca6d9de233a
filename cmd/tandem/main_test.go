package main

import (
	"flag"
	"slices"
	"strings"
	"testing"
)

func TestFlagsStandAnywhere(t *testing.T) {
	for _, args := range [][]string{
		{"--data-dir", "/d", "tandem1-abc"},
		{"tandem1-abc", "--data-dir", "/d"},
		{"tandem1-abc", "--data-dir=/d"},
	} {
		var af agentFlags
		rest, err := parseFlags(newFlags("accept", &af), args)
		if err != nil || !slices.Equal(rest, []string{"tandem1-abc"}) || af.dir != "/d" {
			t.Errorf("%q: rest %q, data dir %q, err %v; want [tandem1-abc] and /d", args, rest, af.dir, err)
		}
	}
	var af agentFlags
	rest, err := parseFlags(newFlags("queue", &af), []string{"retry", "c1", "--data-dir", "/d", "out", "7"})
	if err != nil || !slices.Equal(rest, []string{"retry", "c1", "out", "7"}) || af.dir != "/d" {
		t.Errorf("queue: rest %q, data dir %q, err %v", rest, af.dir, err)
	}
}

func TestStrayArgumentsRefused(t *testing.T) {
	ran := false
	err := withNoArgs(flag.NewFlagSet("serve", flag.ContinueOnError), []string{"now"}, func() error { ran = true; return nil })
	if err == nil || ran || !strings.Contains(err.Error(), `serve takes no argument "now"`) {
		t.Errorf("serve now: ran %v, err %v; want a refusal naming the word", ran, err)
	}
	if err := withNoArgs(flag.NewFlagSet("serve", flag.ContinueOnError), nil, func() error { ran = true; return nil }); err != nil || !ran {
		t.Errorf("serve: ran %v, err %v", ran, err)
	}
}
