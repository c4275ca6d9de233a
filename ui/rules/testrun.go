package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
)

// pickItems is how many of the newest items the item picker offers; any other key can be typed.
const pickItems = 50

// Which rule a test run tries.
const (
	tryDraft = "the rule being edited"
	tryLive  = "the live rule"
)

// testRun is the Test run tab: a real item, the rule being edited (or the live one), and what
// it would do, with nothing sent or written.
type testRun struct {
	s       *Screen
	which   *widget.RadioGroup
	item    *widget.SelectEntry
	sample  *widget.Entry
	fill    *widget.Button
	inBox   *fyne.Container
	run     *widget.Button
	result  *widget.RichText
	help    *widget.Label
	options []string // the picker's choices, "KEY — title"
	loaded  bool
	last    *agent.RuleTestResult // the latest result, for tests
	running bool
}

func (t *testRun) build(s *Screen) fyne.CanvasObject {
	t.s = s
	t.which = widget.NewRadioGroup([]string{tryDraft, tryLive}, nil)
	t.which.Horizontal = true
	t.which.Required = true
	t.which.SetSelected(tryDraft)
	t.item = widget.NewSelectEntry(nil)
	t.item.SetPlaceHolder("item key, e.g. BLUE-12 (or pick one)")
	t.sample = widget.NewMultiLineEntry()
	t.sample.SetPlaceHolder(`what the partner sends, as JSON: {"title": "…", "status": "done"}`)
	t.sample.TextStyle = fyne.TextStyle{Monospace: true}
	t.sample.SetMinRowsVisible(6)
	t.fill = widget.NewButton("Start from the item's fields", t.fillSample)
	t.inBox = container.NewVBox(
		hint("The replica to apply, as the partner would send it. Leave it empty to use the one last received for the item, or start from the item's own fields and edit them."),
		container.NewBorder(nil, nil, nil, t.fill, layoutSpacer()),
		t.sample,
	)
	t.run = widget.NewButtonWithIcon("Run test", theme.MediaPlayIcon(), t.start)
	t.run.Importance = widget.HighImportance
	t.help = hint("")
	t.result = widget.NewRichText()
	t.result.Wrapping = fyne.TextWrapWord
	top := container.NewVBox(
		t.help,
		container.NewHBox(widget.NewLabel("Try"), t.which),
		container.NewBorder(nil, nil, widget.NewLabel("on the item"), t.run, t.item),
		t.inBox,
		widget.NewSeparator(),
	)
	return container.NewBorder(top, nil, nil, nil, container.NewVScroll(t.result))
}

func layoutSpacer() fyne.CanvasObject { return widget.NewLabel("") }

// shown loads the items to pick from the first time the tab opens: one page of the newest.
func (t *testRun) shown() {
	if t.loaded {
		return
	}
	t.loaded = true
	var page agent.ItemPage
	t.s.host.Call("list items to test on", func(ctx context.Context) (err error) {
		page, err = t.s.agent.ItemPage(ctx, 0, pickItems)
		return err
	}, func(err error) {
		if err != nil {
			t.loaded = false
			return
		}
		opts := make([]string, len(page.Items))
		for i, it := range page.Items {
			opts[i] = it.Key + " — " + it.Title
		}
		t.options = opts
		t.item.SetOptions(opts)
	})
}

// reset clears the result when the rule shown changes.
func (t *testRun) reset() {
	t.last = nil
	t.result.ParseMarkdown("")
	if t.s.dir == agent.RuleIncoming {
		t.help.SetText("Applies a replica to a local item the way the engine would and shows the changes, field by field. Nothing is written.")
		t.inBox.Show()
	} else {
		t.help.SetText("Builds the replica of a local item the way the engine would and shows what would be sent. Nothing is sent, and no token is kept.")
		t.inBox.Hide()
	}
}

// key is the item key typed or picked ("BLUE-3 — title" gives BLUE-3).
func (t *testRun) key() string {
	k, _, _ := strings.Cut(t.item.Text, " — ")
	return strings.TrimSpace(k)
}

// fillSample starts the incoming sample from the chosen item's fields (read in full), or
// from a made-up replica when no item is chosen.
func (t *testRun) fillSample() {
	show := func(r item.Replica) {
		b, _ := json.MarshalIndent(r, "", "  ")
		t.sample.SetText(string(b))
	}
	key := t.key()
	if key == "" {
		show(item.Replica{Title: "A title from the partner", Status: "open"})
		return
	}
	var it item.Item
	t.s.host.Call("read "+key, func(ctx context.Context) (err error) {
		it, err = t.s.agent.Item(ctx, key)
		return err
	}, func(err error) {
		if err != nil {
			return // the host says what went wrong
		}
		show(item.Replica{Title: it.Title, Description: it.Description, Status: it.Status, Priority: it.Priority, Labels: it.Labels, Custom: it.Custom})
	})
}

func (t *testRun) start() {
	d := t.s.cur
	if d == nil || t.running {
		return
	}
	connID, dir := t.s.connID, t.s.dir
	in := agent.RuleTestInput{ItemKey: t.key()}
	if dir == agent.RuleOutgoing && in.ItemKey == "" {
		t.s.host.SetStatus("Choose the item to test on.", true)
		return
	}
	if dir == agent.RuleIncoming && strings.TrimSpace(t.sample.Text) != "" {
		var r item.Replica
		if err := json.Unmarshal([]byte(t.sample.Text), &r); err != nil {
			t.s.host.SetStatus("The sample is not valid JSON: "+err.Error(), true)
			return
		}
		in.Replica = &r
	}
	var ad agent.RuleDraft
	if t.which.Selected == tryDraft {
		ad = d.agentDraft("")
	}
	var res agent.RuleTestResult
	t.running = true
	t.run.Disable()
	t.s.host.Call("test the "+dir+" rule", func(ctx context.Context) (err error) {
		res, err = t.s.agent.TestRule(ctx, connID, dir, ad, in)
		return err
	}, func(err error) {
		t.running = false
		t.run.Enable()
		if err != nil {
			t.result.ParseMarkdown("**The test did not run:** " + escape(err.Error()))
			return
		}
		t.last = &res
		t.result.ParseMarkdown(resultMarkdown(res))
	})
}

// escape keeps text from being read as markdown.
func escape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "#", `\#`, "[", `\[`, "]", `\]`, "<", `\<`)
	return r.Replace(s)
}

// resultMarkdown describes a test run for people.
func resultMarkdown(res agent.RuleTestResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Test run on **%s**. Nothing was sent or written.\n\n", escape(orDash(res.ItemKey)))
	if res.FirstSync {
		b.WriteString("This would be the item's first sync.\n\n")
	}
	if res.FromReceived {
		b.WriteString("Applied the replica last received from the partner for this item.\n\n")
	}
	switch {
	case res.Error != "":
		fmt.Fprintf(&b, "### The rule fails\n\n%s\n\nThe item would wait in the queue with this error; other items keep flowing.\n\n", escape(res.Error))
	case res.Skipped:
		fmt.Fprintf(&b, "### Skipped\n\n%s\n\n", escape(orDash(res.SkipReason)))
		if res.Direction == agent.RuleOutgoing && res.Linked {
			b.WriteString("The item stops syncing; the partner's copy is not deleted.\n\n")
		}
	case res.Direction == agent.RuleOutgoing:
		if res.Unchanged {
			b.WriteString("### Nothing would be sent\n\nThe replica equals what was last sent.\n\n")
		}
		data, _ := json.MarshalIndent(res.Replica, "", "  ")
		fmt.Fprintf(&b, "### The replica that would be sent\n\n```\n%s\n```\n\n", data)
		if len(res.Changes) > 0 {
			b.WriteString("### Fields that differ from what was last sent\n\n")
			writeChanges(&b, res.Changes)
		}
	default:
		if len(res.Changes) == 0 && len(res.NewComments) == 0 {
			b.WriteString("### No change\n\nThe item already holds what the rule would write.\n\n")
		}
		if len(res.Changes) > 0 {
			b.WriteString("### Changes to the local item\n\n")
			writeChanges(&b, res.Changes)
		}
		if len(res.NewComments) > 0 {
			fmt.Fprintf(&b, "### Comments that would be added: %d\n\n", len(res.NewComments))
			for _, c := range res.NewComments {
				fmt.Fprintf(&b, "- %s: %s\n", escape(orDash(c.Author.Name)), escape(firstLine(c.Body)))
			}
			b.WriteString("\n")
		}
		if len(res.Conflicts) > 0 {
			b.WriteString("### Conflict policies\n\n")
			fields := make([]string, 0, len(res.Conflicts))
			for f := range res.Conflicts {
				fields = append(fields, f)
			}
			slices.Sort(fields)
			for _, f := range fields {
				fmt.Fprintf(&b, "- %s: %s\n", escape(f), labelOf(conflictLabels, conflictValues, res.Conflicts[f]))
			}
			b.WriteString("\n")
		}
	}
	if len(res.Logs) > 0 {
		b.WriteString("### Log lines\n\n")
		for _, l := range res.Logs {
			fmt.Fprintf(&b, "- %s\n", escape(l))
		}
	}
	return b.String()
}

func writeChanges(b *strings.Builder, cs []agent.FieldChange) {
	for _, c := range cs {
		fmt.Fprintf(b, "- **%s**: %s → %s\n", escape(c.Field), quoteOrNothing(c.Old), quoteOrNothing(c.New))
	}
	b.WriteString("\n")
}

func quoteOrNothing(s string) string {
	if s == "" {
		return "(nothing)"
	}
	return escape(fmt.Sprintf("%q", s))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > 80 {
		return string(r[:80]) + "…"
	}
	return s
}
