// Package srcdiff compares two rule sources line by line, for version comparisons and for
// showing what switching a script back to a visual rule would lose.
package srcdiff

import (
	"fmt"
	"strings"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// Line kinds.
const (
	Same    = ' '
	Removed = '-'
	Added   = '+'
)

// Line is one line of a diff: Kind is Same, Removed or Added; Old and New are its line numbers
// in the two sources (0 where it has none).
type Line struct {
	Kind     byte
	Old, New int
	Text     string
}

// Lines returns the line diff from a to b.
func Lines(a, b string) []Line {
	dmp := diffmatchpatch.New()
	ca, cb, lines := dmp.DiffLinesToChars(a, b)
	diffs := dmp.DiffCharsToLines(dmp.DiffMain(ca, cb, false), lines)
	var out []Line
	oldN, newN := 0, 0
	for _, d := range diffs {
		text := strings.TrimSuffix(d.Text, "\n")
		for _, l := range strings.Split(text, "\n") {
			switch d.Type {
			case diffmatchpatch.DiffEqual:
				oldN++
				newN++
				out = append(out, Line{Kind: Same, Old: oldN, New: newN, Text: l})
			case diffmatchpatch.DiffDelete:
				oldN++
				out = append(out, Line{Kind: Removed, Old: oldN, Text: l})
			case diffmatchpatch.DiffInsert:
				newN++
				out = append(out, Line{Kind: Added, New: newN, Text: l})
			}
		}
	}
	return out
}

// Changed reports whether the diff has any added or removed line.
func Changed(lines []Line) bool {
	for _, l := range lines {
		if l.Kind != Same {
			return true
		}
	}
	return false
}

// Count returns how many lines were removed and added.
func Count(lines []Line) (removed, added int) {
	for _, l := range lines {
		switch l.Kind {
		case Removed:
			removed++
		case Added:
			added++
		}
	}
	return removed, added
}

// Unified writes the diff as unified-diff text with context lines around each change, the
// form `tandem rules compare` prints.
func Unified(lines []Line, fromName, toName string, context int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", fromName, toName)
	show := make([]bool, len(lines))
	for i, l := range lines {
		if l.Kind == Same {
			continue
		}
		for j := max(0, i-context); j <= min(len(lines)-1, i+context); j++ {
			show[j] = true
		}
	}
	for i := 0; i < len(lines); {
		if !show[i] {
			i++
			continue
		}
		j := i
		for j < len(lines) && show[j] {
			j++
		}
		oldStart, newStart, oldLen, newLen := 0, 0, 0, 0
		for _, l := range lines[i:j] {
			if l.Kind != Added {
				if oldStart == 0 {
					oldStart = l.Old
				}
				oldLen++
			}
			if l.Kind != Removed {
				if newStart == 0 {
					newStart = l.New
				}
				newLen++
			}
		}
		fmt.Fprintf(&b, "@@ -%d,%d +%d,%d @@\n", oldStart, oldLen, newStart, newLen)
		for _, l := range lines[i:j] {
			b.WriteByte(l.Kind)
			b.WriteString(l.Text)
			b.WriteByte('\n')
		}
		i = j
	}
	return b.String()
}
