package jira

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Atlassian Document Format (ADF) is how Jira Cloud's REST v3 holds descriptions and comment
// bodies. Tandem's items hold plain text with a little Markdown, and the two convert both
// ways without loss for what issue text mostly is:
//
//	paragraphs             blank-line separated; a line break inside one is a hard break
//	headings               "# ", "## ", ... (levels 1 to 6)
//	bullet, ordered lists  "- item", "1. item"; nested by two spaces of indent per level
//	code blocks            ``` fences, with the language after the opening fence
//	quotes                 "> " lines
//	rules                  "---"
//	inline code            `code`
//	links                  [text](https://...); a bare URL is a link to itself
//	bold                   **text**
//	mentions               [@Name](accountid:ACCOUNT-ID)
//
// Italic, underline, strike-through, colour, sub/superscript marks are dropped (their text
// is kept); emoji read as their shortcode, dates as the date, inline cards as their URL.
// Tables, panels, media, expands, task and decision lists and any node this list does not
// name have no text form: reading shows "[Jira <type> not shown as text]" in their place and
// reports them as lossy, and Tandem refuses to overwrite such a description (the partner's
// text would destroy them) with an error saying so.

// Node is one ADF node.
type Node struct {
	Type    string         `json:"type"`
	Version int            `json:"version,omitempty"`
	Attrs   map[string]any `json:"attrs,omitempty"`
	Content []*Node        `json:"content,omitempty"`
	Text    string         `json:"text,omitempty"`
	Marks   []Mark         `json:"marks,omitempty"`
}

// Mark is a formatting mark on a text node.
type Mark struct {
	Type  string         `json:"type"`
	Attrs map[string]any `json:"attrs,omitempty"`
}

// mentionScheme is the link form of a mention in text.
const mentionScheme = "accountid:"

// ToText renders doc as text, and lists the node types it could not render faithfully.
func ToText(doc *Node) (string, []string) {
	if doc == nil {
		return "", nil
	}
	r := &renderer{lossy: map[string]bool{}}
	blocks := r.blocks(doc.Content, "")
	var lossy []string
	for t := range r.lossy {
		lossy = append(lossy, t)
	}
	sort.Strings(lossy)
	return strings.Join(blocks, "\n\n"), lossy
}

type renderer struct{ lossy map[string]bool }

// blocks renders block nodes, each a string; indent prefixes every line (for nested lists).
func (r *renderer) blocks(nodes []*Node, indent string) []string {
	var out []string
	for _, n := range nodes {
		if s, ok := r.block(n, indent); ok {
			out = append(out, s)
		}
	}
	return out
}

func (r *renderer) block(n *Node, indent string) (string, bool) {
	switch n.Type {
	case "paragraph":
		return indent + strings.ReplaceAll(r.inline(n.Content), "\n", "\n"+indent), true
	case "heading":
		level := 1
		if v, ok := n.Attrs["level"].(float64); ok && v >= 1 && v <= 6 {
			level = int(v)
		}
		return indent + strings.Repeat("#", level) + " " + r.inline(n.Content), true
	case "bulletList", "orderedList":
		var lines []string
		start := 1
		if v, ok := n.Attrs["order"].(float64); ok && v >= 1 {
			start = int(v)
		}
		for i, li := range n.Content {
			marker := "- "
			if n.Type == "orderedList" {
				marker = strconv.Itoa(start+i) + ". "
			}
			lines = append(lines, r.listItem(li, indent, marker))
		}
		return strings.Join(lines, "\n"), true
	case "codeBlock":
		lang, _ := n.Attrs["language"].(string)
		var b strings.Builder
		for _, c := range n.Content {
			b.WriteString(c.Text)
		}
		code := strings.ReplaceAll(b.String(), "\n", "\n"+indent)
		return indent + "```" + lang + "\n" + indent + code + "\n" + indent + "```", true
	case "blockquote":
		inner := strings.Join(r.blocks(n.Content, ""), "\n\n")
		return indent + "> " + strings.ReplaceAll(inner, "\n", "\n"+indent+"> "), true
	case "rule":
		return indent + "---", true
	}
	r.lossy[n.Type] = true
	return indent + fmt.Sprintf("[Jira %s not shown as text]", n.Type), true
}

// listItem renders one item: its first paragraph after the marker, the rest (nested lists,
// further paragraphs) indented beneath.
func (r *renderer) listItem(li *Node, indent, marker string) string {
	if li.Type != "listItem" {
		s, _ := r.block(li, indent)
		return s
	}
	pad := indent + strings.Repeat(" ", 2)
	var parts []string
	for i, c := range li.Content {
		if i == 0 && c.Type == "paragraph" {
			parts = append(parts, indent+marker+strings.ReplaceAll(r.inline(c.Content), "\n", "\n"+pad))
			continue
		}
		if i == 0 {
			parts = append(parts, indent+strings.TrimRight(marker, " "))
		}
		s, _ := r.block(c, pad)
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return indent + strings.TrimRight(marker, " ")
	}
	return strings.Join(parts, "\n")
}

func (r *renderer) inline(nodes []*Node) string {
	var b strings.Builder
	for _, n := range nodes {
		switch n.Type {
		case "text":
			b.WriteString(markText(n))
		case "hardBreak":
			b.WriteString("\n")
		case "mention":
			id, _ := n.Attrs["id"].(string)
			text, _ := n.Attrs["text"].(string)
			if !strings.HasPrefix(text, "@") {
				text = "@" + text
			}
			fmt.Fprintf(&b, "[%s](%s%s)", text, mentionScheme, id)
		case "emoji":
			if s, ok := n.Attrs["text"].(string); ok && s != "" {
				b.WriteString(s)
			} else {
				s, _ := n.Attrs["shortName"].(string)
				b.WriteString(s)
			}
		case "inlineCard":
			u, _ := n.Attrs["url"].(string)
			b.WriteString(u)
		case "date":
			if ts, ok := n.Attrs["timestamp"].(string); ok {
				if ms, err := strconv.ParseInt(ts, 10, 64); err == nil {
					b.WriteString(unixMilli(ms))
					continue
				}
			}
			r.lossy["date"] = true
		default:
			r.lossy[n.Type] = true
			fmt.Fprintf(&b, "[Jira %s not shown as text]", n.Type)
		}
	}
	return b.String()
}

// markText renders a text node with the marks that have a text form.
func markText(n *Node) string {
	s := n.Text
	var link string
	code, strong := false, false
	for _, m := range n.Marks {
		switch m.Type {
		case "code":
			code = true
		case "strong":
			strong = true
		case "link":
			link, _ = m.Attrs["href"].(string)
		}
	}
	if code {
		s = "`" + s + "`"
	}
	if strong {
		s = "**" + s + "**"
	}
	if link != "" && !(link == n.Text && !code && !strong) {
		s = "[" + s + "](" + link + ")"
	}
	return s
}

// FromText turns text into an ADF document (see the package comment for the forms it reads).
func FromText(text string) *Node {
	doc := &Node{Type: "doc", Version: 1, Content: []*Node{}}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	doc.Content = parseBlocks(lines)
	return doc
}

var (
	bulletRE  = regexp.MustCompile(`^( *)[-*] (.*)$`)
	orderedRE = regexp.MustCompile(`^( *)(\d+)\. (.*)$`)
	headingRE = regexp.MustCompile(`^(#{1,6}) (.*)$`)
)

func parseBlocks(lines []string) []*Node {
	var out []*Node
	for i := 0; i < len(lines); {
		line := lines[i]
		switch {
		case strings.TrimSpace(line) == "":
			i++
		case strings.HasPrefix(line, "```"):
			lang := strings.TrimSpace(strings.TrimPrefix(line, "```"))
			j := i + 1
			for j < len(lines) && !strings.HasPrefix(lines[j], "```") {
				j++
			}
			n := &Node{Type: "codeBlock"}
			if lang != "" {
				n.Attrs = map[string]any{"language": lang}
			}
			if code := strings.Join(lines[i+1:min(j, len(lines))], "\n"); code != "" {
				n.Content = []*Node{{Type: "text", Text: code}}
			}
			out = append(out, n)
			i = j + 1
		case strings.TrimSpace(line) == "---":
			out = append(out, &Node{Type: "rule"})
			i++
		case headingRE.MatchString(line):
			m := headingRE.FindStringSubmatch(line)
			out = append(out, &Node{Type: "heading", Attrs: map[string]any{"level": len(m[1])}, Content: parseInline(m[2])})
			i++
		case strings.HasPrefix(line, "> ") || line == ">":
			j := i
			var quoted []string
			for j < len(lines) && (strings.HasPrefix(lines[j], "> ") || lines[j] == ">") {
				quoted = append(quoted, strings.TrimPrefix(strings.TrimPrefix(lines[j], ">"), " "))
				j++
			}
			out = append(out, &Node{Type: "blockquote", Content: parseBlocks(quoted)})
			i = j
		case isListLine(line, 0):
			n, j := parseList(lines, i, 0)
			out = append(out, n)
			i = j
		default:
			j := i
			var para []string
			for j < len(lines) && strings.TrimSpace(lines[j]) != "" && (j == i || !startsBlock(lines[j])) {
				para = append(para, lines[j])
				j++
			}
			out = append(out, &Node{Type: "paragraph", Content: parseInline(strings.Join(para, "\n"))})
			i = j
		}
	}
	return out
}

func startsBlock(line string) bool {
	return strings.HasPrefix(line, "```") || headingRE.MatchString(line) || strings.HasPrefix(line, "> ") ||
		strings.TrimSpace(line) == "---" || isListLine(line, 0)
}

// isListLine reports whether line is a list item at exactly indent spaces.
func isListLine(line string, indent int) bool {
	if m := bulletRE.FindStringSubmatch(line); m != nil {
		return len(m[1]) == indent
	}
	if m := orderedRE.FindStringSubmatch(line); m != nil {
		return len(m[1]) == indent
	}
	return false
}

// parseList reads the list starting at lines[i] at indent, with nested lists and
// continuation lines, and returns it and the index after it.
func parseList(lines []string, i, indent int) (*Node, int) {
	ordered := orderedRE.MatchString(lines[i])
	list := &Node{Type: "bulletList"}
	if ordered {
		list.Type = "orderedList"
		if m := orderedRE.FindStringSubmatch(lines[i]); m[2] != "1" {
			n, _ := strconv.Atoi(m[2])
			list.Attrs = map[string]any{"order": n}
		}
	}
	for i < len(lines) && isListLine(lines[i], indent) && orderedRE.MatchString(lines[i]) == ordered {
		var text string
		if ordered {
			text = orderedRE.FindStringSubmatch(lines[i])[3]
		} else {
			text = bulletRE.FindStringSubmatch(lines[i])[2]
		}
		i++
		pad := strings.Repeat(" ", indent+2)
		// Lines indented under the item continue it (a hard break), unless they start a
		// nested list.
		for i < len(lines) && strings.HasPrefix(lines[i], pad) && !isListLine(lines[i], indent+2) && strings.TrimSpace(lines[i]) != "" {
			text += "\n" + strings.TrimPrefix(lines[i], pad)
			i++
		}
		li := &Node{Type: "listItem", Content: []*Node{{Type: "paragraph", Content: parseInline(text)}}}
		for i < len(lines) && isListLine(lines[i], indent+2) {
			var nested *Node
			nested, i = parseList(lines, i, indent+2)
			li.Content = append(li.Content, nested)
		}
		list.Content = append(list.Content, li)
	}
	return list, i
}

// inlineRE finds, in order of preference: a mention, a link, inline code, bold, a bare URL.
var inlineRE = regexp.MustCompile("\\[(@[^\\]]*)\\]\\(" + mentionScheme + "([^)\\s]+)\\)" +
	"|\\[([^\\]]+)\\]\\((https?://[^)\\s]+|mailto:[^)\\s]+)\\)" +
	"|`([^`]+)`" +
	"|\\*\\*([^*]+)\\*\\*" +
	"|(https?://[^\\s<>()\\[\\]]*[^\\s<>()\\[\\].,;:!?'\"])")

func parseInline(s string) []*Node {
	var out []*Node
	text := func(t string, marks ...Mark) {
		for i, part := range strings.Split(t, "\n") {
			if i > 0 {
				out = append(out, &Node{Type: "hardBreak"})
			}
			if part != "" {
				out = append(out, &Node{Type: "text", Text: part, Marks: marks})
			}
		}
	}
	for s != "" {
		m := inlineRE.FindStringSubmatchIndex(s)
		if m == nil {
			text(s)
			break
		}
		text(s[:m[0]])
		g := func(k int) string {
			if m[2*k] < 0 {
				return ""
			}
			return s[m[2*k]:m[2*k+1]]
		}
		switch {
		case m[2] >= 0:
			out = append(out, &Node{Type: "mention", Attrs: map[string]any{"id": g(2), "text": g(1)}})
		case m[6] >= 0:
			link := Mark{Type: "link", Attrs: map[string]any{"href": g(4)}}
			inner := g(3)
			switch {
			case strings.HasPrefix(inner, "`") && strings.HasSuffix(inner, "`") && len(inner) > 2:
				text(inner[1:len(inner)-1], Mark{Type: "code"}, link)
			case strings.HasPrefix(inner, "**") && strings.HasSuffix(inner, "**") && len(inner) > 4:
				text(inner[2:len(inner)-2], Mark{Type: "strong"}, link)
			default:
				text(inner, link)
			}
		case m[10] >= 0:
			text(g(5), Mark{Type: "code"})
		case m[12] >= 0:
			text(g(6), Mark{Type: "strong"})
		default:
			u := g(7)
			text(u, Mark{Type: "link", Attrs: map[string]any{"href": u}})
		}
		s = s[m[1]:]
	}
	return out
}

func unixMilli(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02") }
