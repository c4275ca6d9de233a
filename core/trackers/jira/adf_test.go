package jira

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Text in the forms ADF has a counterpart for survives text -> ADF -> text unchanged.
func TestADFRoundTrip(t *testing.T) {
	texts := []string{
		"",
		"One paragraph.",
		"First line\nsecond line of the same paragraph.\n\nA second paragraph.",
		"# Title\n\n## Sub title\n\nBody.",
		"- one\n- two\n  - two a\n  - two b\n- three",
		"1. first\n2. second\n   3. nested? no: three spaces is a continuation",
		"3. starts at three\n4. four",
		"Steps:\n\n1. open\n2. save\n\nThen:\n\n- it crashes",
		"```go\nfunc main() {\n\tprintln(\"hi\")\n}\n```",
		"```\nplain code\n```",
		"Run `make test` and see [the docs](https://example.com/docs?a=1).",
		"Bare link https://example.com/x, then more.",
		"Ping [@Alice Smith](accountid:5b10a2844c20165700ede21g) about **this**.",
		"> quoted\n> still quoted\n\nafter",
		"above\n\n---\n\nbelow",
		"[`code link`](https://example.com) and [**bold link**](https://example.com/b)",
	}
	for _, want := range texts {
		doc := FromText(want)
		b, _ := json.Marshal(doc)
		var back Node
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		got, lossy := ToText(&back)
		if got != want || len(lossy) != 0 {
			t.Errorf("round trip of %q:\n got %q (lossy %v)\nADF %s", want, got, lossy, b)
		}
	}
}

// ADF as Jira's editor writes it reads as the text an operator expects; what has no text
// form is marked and reported.
func TestADFToText(t *testing.T) {
	tests := []struct {
		adf, want string
		lossy     []string
	}{
		{`{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"Hello "},{"type":"text","text":"world","marks":[{"type":"em"}]},{"type":"emoji","attrs":{"shortName":":smile:","text":"😄"}}]}]}`,
			"Hello world😄", nil},
		{`{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"mention","attrs":{"id":"abc","text":"@Bob"}},{"type":"text","text":" see "},{"type":"inlineCard","attrs":{"url":"https://x.atlassian.net/browse/A-1"}}]}]}`,
			"[@Bob](accountid:abc) see https://x.atlassian.net/browse/A-1", nil},
		{`{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"before"}]},{"type":"table","content":[]},{"type":"mediaSingle","content":[]}]}`,
			"before\n\n[Jira table not shown as text]\n\n[Jira mediaSingle not shown as text]", []string{"mediaSingle", "table"}},
		{`{"type":"doc","version":1,"content":[{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"a"}]},{"type":"orderedList","content":[{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"b"}]}]}]}]}]}]}`,
			"- a\n  1. b", nil},
		{`{"type":"doc","version":1,"content":[{"type":"panel","attrs":{"panelType":"info"},"content":[{"type":"paragraph","content":[{"type":"text","text":"x"}]}]}]}`,
			"[Jira panel not shown as text]", []string{"panel"}},
	}
	for _, tc := range tests {
		var doc Node
		if err := json.Unmarshal([]byte(tc.adf), &doc); err != nil {
			t.Fatal(err)
		}
		got, lossy := ToText(&doc)
		if got != tc.want || !reflect.DeepEqual(lossy, tc.lossy) {
			t.Errorf("ToText(%s):\n got %q lossy %v\nwant %q lossy %v", tc.adf, got, lossy, tc.want, tc.lossy)
		}
	}
}
