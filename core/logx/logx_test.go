package logx

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestAggregatorWritesOnceAnIntervalPerKey(t *testing.T) {
	var buf bytes.Buffer
	a := NewAggregator(slog.New(slog.NewTextHandler(&buf, nil)), slog.LevelWarn, "refused", time.Minute)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	for i := 0; i < 120000; i++ {
		a.Note("peer-a", "reason", "revoked")
	}
	a.Note("peer-b", "reason", "unknown")
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("120,001 refusals from two peers wrote %d lines, want 2:\n%s", n, buf.String())
	}
	now = now.Add(time.Minute)
	a.Note("peer-a", "reason", "revoked")
	last := buf.String()[strings.LastIndex(strings.TrimSuffix(buf.String(), "\n"), "\n")+1:]
	if !strings.Contains(last, "held_back=119999") || !strings.Contains(last, "key=peer-a") {
		t.Errorf("next interval's line = %q; want the 119999 held back for peer-a", last)
	}
}

func TestAggregatorBoundsKeys(t *testing.T) {
	var buf bytes.Buffer
	a := NewAggregator(slog.New(slog.NewTextHandler(&buf, nil)), slog.LevelWarn, "refused", time.Minute)
	for i := 0; i < 3*maxKeys; i++ {
		a.Note(strings.Repeat("k", 8) + string(rune('a'+i%26)) + time.Duration(i).String())
	}
	if len(a.m) > maxKeys {
		t.Errorf("tracks %d keys, want at most %d", len(a.m), maxKeys)
	}
	if n := strings.Count(buf.String(), "\n"); n > maxKeys+1 {
		t.Errorf("wrote %d lines for %d distinct keys; want at most %d", n, 3*maxKeys, maxKeys+1)
	}
}
