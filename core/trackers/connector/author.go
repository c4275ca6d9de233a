package connector

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/tandemsync/tandem/core/item"
)

// A tracker records its API account as the author of what Tandem writes, so a comment from
// the partner carries its author in a first line: "[Alice Smith <alice@example.com> via
// Tandem]". Connectors read the line back into Comment.Author.

var markerRE = regexp.MustCompile(`^\[(.*?)(?: <([^<>\s]*)>)? via Tandem\]\r?\n?`)

// WithAuthor returns body prefixed with the line naming author.
func WithAuthor(author item.User, body string) string {
	name := author.Name
	if name == "" {
		name = author.ID
	}
	if name == "" {
		name = "someone"
	}
	name = strings.NewReplacer("\n", " ", "]", ")", "<", "(", ">", ")").Replace(name)
	if author.Email != "" && !strings.ContainsAny(author.Email, "<> \n") {
		return fmt.Sprintf("[%s <%s> via Tandem]\n%s", name, author.Email, body)
	}
	return fmt.Sprintf("[%s via Tandem]\n%s", name, body)
}

// ParseAuthor returns the partner's author and the body without the line, and whether body
// carried one.
func ParseAuthor(body string) (item.User, string, bool) {
	m := markerRE.FindStringSubmatchIndex(body)
	if m == nil {
		return item.User{}, body, false
	}
	u := item.User{Name: body[m[2]:m[3]]}
	if m[4] >= 0 {
		u.Email = body[m[4]:m[5]]
	}
	return u, body[m[1]:], true
}
