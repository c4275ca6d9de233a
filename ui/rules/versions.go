package rules

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
)

// versionsView is the Versions tab: every saved version, newest first, a page at a time; open
// one in the editor, deploy it, or compare two (source diff and mapping changes).
type versionsView struct {
	s        *Screen
	list     *widget.List
	versions []agent.RuleVersion
	total    int
	loaded   bool
	visible  bool
	more     *widget.Button
	selected int // index into versions, -1 for none

	detail    *widget.Label
	openBtn   *widget.Button
	deployBtn *widget.Button

	from, to   *widget.Select
	compareBtn *widget.Button
	summary    *widget.Label
	diff       *fyne.Container
	last       *agent.RuleComparison // the latest comparison, for tests
}

func (v *versionsView) build(s *Screen) fyne.CanvasObject {
	v.s = s
	v.selected = -1
	v.list = widget.NewList(
		func() int { return len(v.versions) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(v.versions) {
				o.(*widget.Label).SetText(versionLine(v.versions[id]))
			}
		},
	)
	v.list.OnSelected = func(id widget.ListItemID) {
		v.selected = id
		v.showSelected()
	}
	v.more = widget.NewButton("Load older versions", v.loadMore)
	v.more.Hide()
	v.detail = widget.NewLabel("Select a version to see it, open it in the editor or deploy it.")
	v.detail.Wrapping = fyne.TextWrapWord
	v.openBtn = widget.NewButtonWithIcon("Open in the editor", theme.DocumentCreateIcon(), func() {
		if v.selected >= 0 {
			v.s.open(v.versions[v.selected])
		}
	})
	v.deployBtn = widget.NewButtonWithIcon("Deploy this version", theme.UploadIcon(), func() {
		if v.selected >= 0 {
			v.s.deploy(v.versions[v.selected].Number)
		}
	})
	v.from = widget.NewSelect(nil, nil)
	v.to = widget.NewSelect(nil, nil)
	v.compareBtn = widget.NewButtonWithIcon("Compare", theme.SearchIcon(), v.compare)
	v.summary = widget.NewLabel("")
	v.summary.Wrapping = fyne.TextWrapWord
	v.diff = container.NewStack()
	v.showSelected()

	left := container.NewBorder(nil, v.more, nil, nil, v.list)
	right := container.NewBorder(
		container.NewVBox(v.detail, container.NewHBox(v.openBtn, v.deployBtn), widget.NewSeparator(),
			container.NewHBox(widget.NewLabel("Compare version"), v.from, widget.NewLabel("with"), v.to, v.compareBtn),
			v.summary),
		nil, nil, nil, container.NewScroll(v.diff))
	split := container.NewHSplit(left, right)
	split.Offset = 0.38
	return split
}

func versionLine(v agent.RuleVersion) string {
	parts := []string{fmt.Sprintf("v%d", v.Number)}
	if v.Live {
		parts = append(parts, "LIVE")
	}
	parts = append(parts, v.Mode, v.Created.Local().Format("2006-01-02 15:04"), orDash(v.Author))
	if v.CompileError != "" {
		parts = append(parts, "does not compile")
	}
	if v.Note != "" {
		parts = append(parts, v.Note)
	}
	return strings.Join(parts, " · ")
}

// shown reads the versions when the tab opens.
func (v *versionsView) shown() {
	v.visible = true
	if !v.loaded {
		v.load(0)
	}
}

// reset forgets the versions read, for another rule or after a save or deploy.
func (v *versionsView) reset() {
	v.loaded, v.versions, v.total, v.selected = false, nil, 0, -1
	v.list.UnselectAll()
	v.list.Refresh()
	v.last = nil
	v.summary.SetText("")
	v.diff.Objects = nil
	v.diff.Refresh()
	v.showSelected()
	if v.visible && v.s.tabs != nil && v.s.tabs.Selected() != nil && v.s.tabs.Selected().Text == "Versions" {
		v.load(0)
	}
}

func (v *versionsView) load(offset int) {
	if v.s.cur == nil {
		return
	}
	v.loaded = true
	connID, dir := v.s.connID, v.s.dir
	var page []agent.RuleVersion
	var total int
	v.s.host.Call("list the rule's versions", func(ctx context.Context) (err error) {
		page, total, err = v.s.agent.RuleVersions(ctx, connID, dir, offset, versionsPage)
		return err
	}, func(err error) {
		if err != nil || connID != v.s.connID || dir != v.s.dir {
			return
		}
		if offset == 0 {
			v.versions = nil
		}
		v.versions = append(v.versions, page...)
		v.total = total
		v.list.Refresh()
		if len(v.versions) < total {
			v.more.Show()
		} else {
			v.more.Hide()
		}
		v.setChoices()
		v.showSelected()
	})
}

func (v *versionsView) loadMore() { v.load(len(v.versions)) }

// setChoices offers the loaded versions to compare, newest against the live one by default.
func (v *versionsView) setChoices() {
	opts := make([]string, len(v.versions))
	live := ""
	for i, ver := range v.versions {
		opts[i] = strconv.Itoa(ver.Number)
		if ver.Live {
			live = opts[i]
		}
	}
	v.from.SetOptions(opts)
	v.to.SetOptions(opts)
	if len(opts) >= 2 {
		if v.from.Selected == "" {
			if live != "" && live != opts[0] {
				v.from.SetSelected(live)
			} else {
				v.from.SetSelected(opts[1])
			}
		}
		if v.to.Selected == "" {
			v.to.SetSelected(opts[0])
		}
	}
}

func (v *versionsView) showSelected() {
	if v.selected < 0 || v.selected >= len(v.versions) {
		v.detail.SetText("Select a version to see it, open it in the editor or deploy it.")
		v.openBtn.Disable()
		v.deployBtn.Disable()
		return
	}
	ver := v.versions[v.selected]
	t := fmt.Sprintf("Version %d, %s, saved %s by %s.", ver.Number, ver.Mode, ver.Created.Local().Format("2006-01-02 15:04:05"), orDash(ver.Author))
	if ver.Note != "" {
		t += " Note: " + ver.Note
	}
	switch {
	case ver.Live:
		t += " It is live."
	case ver.CompileError != "":
		t += " It does not compile, so it cannot be deployed: " + ver.CompileError
	}
	v.detail.SetText(t)
	v.openBtn.Enable()
	if ver.Live || ver.CompileError != "" {
		v.deployBtn.Disable()
	} else {
		v.deployBtn.Enable()
	}
}

// compare shows how the second chosen version differs from the first.
func (v *versionsView) compare() {
	a, errA := strconv.Atoi(v.from.Selected)
	b, errB := strconv.Atoi(v.to.Selected)
	if errA != nil || errB != nil {
		v.s.host.SetStatus("Choose the two versions to compare.", true)
		return
	}
	connID, dir := v.s.connID, v.s.dir
	var c agent.RuleComparison
	v.s.host.Call("compare versions", func(ctx context.Context) (err error) {
		c, err = v.s.agent.CompareRules(ctx, connID, dir, a, b)
		return err
	}, func(err error) {
		if err != nil {
			return
		}
		v.last = &c
		v.summary.SetText(fmt.Sprintf("From version %d to %d:\n• %s", a, b, strings.Join(c.Summary, "\n• ")))
		v.diff.Objects = []fyne.CanvasObject{diffView(c.Diff)}
		v.diff.Refresh()
	})
}
