package srcdiff

import (
	"reflect"
	"testing"
)

func TestLines(t *testing.T) {
	a := "package rule\n\nfunc A() {\n\tx := 1\n\ty := 2\n}\n"
	b := "package rule\n\nfunc A() {\n\tx := 1\n\tz := 3\n\ty := 2\n}\n// end\n"
	got := Lines(a, b)
	want := []Line{
		{Same, 1, 1, "package rule"}, {Same, 2, 2, ""}, {Same, 3, 3, "func A() {"}, {Same, 4, 4, "\tx := 1"},
		{Added, 0, 5, "\tz := 3"}, {Same, 5, 6, "\ty := 2"}, {Same, 6, 7, "}"}, {Added, 0, 8, "// end"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Lines:\n got %+v\nwant %+v", got, want)
	}
	if r, a := Count(got); r != 0 || a != 2 || !Changed(got) {
		t.Errorf("Count = %d removed, %d added; Changed %v", r, a, Changed(got))
	}
	if Changed(Lines(a, a)) {
		t.Error("Changed(same) = true")
	}
	u := Unified(Lines("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nD\ne\nf\ng\n"), "v1", "v2", 1)
	wantU := "--- v1\n+++ v2\n@@ -3,3 +3,3 @@\n c\n-d\n+D\n e\n"
	if u != wantU {
		t.Errorf("Unified:\n%s\nwant\n%s", u, wantU)
	}
}
