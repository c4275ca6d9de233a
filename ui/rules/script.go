package rules

import (
	"context"
	"errors"
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/rules/model"
	"github.com/tandemsync/tandem/core/rules/srcdiff"
)

// checkDelay is how long the script view waits after the last keystroke before compiling.
const checkDelay = 400 * time.Millisecond

// scriptView is the Script tab: the rule's Go source, read-only while the rule is visual (it
// is generated) and editable once taken over, with compile errors at their line as you type.
type scriptView struct {
	s        *Screen
	banner   *widget.Label
	editAs   *widget.Button
	back     *widget.Button
	editor   *codeEditor
	problem  *widget.Label
	checking int // the generation of the latest check, so an older answer is ignored

	lossDialog dialog.Dialog // the open "back to visual" question, for tests
	lossDiff   []srcdiff.Line
}

func (v *scriptView) build(s *Screen) fyne.CanvasObject {
	v.s = s
	v.banner = widget.NewLabel("")
	v.banner.Wrapping = fyne.TextWrapWord
	v.editAs = widget.NewButtonWithIcon("Edit as script", theme.DocumentCreateIcon(), v.editAsScript)
	v.back = widget.NewButtonWithIcon("Back to visual…", theme.NavigateBackIcon(), v.backToVisual)
	v.editor = newCodeEditor()
	v.editor.OnChanged = v.typed
	v.problem = widget.NewLabel("")
	v.problem.Wrapping = fyne.TextWrapWord
	top := container.NewBorder(nil, nil, nil, container.NewHBox(v.editAs, v.back), v.banner)
	return container.NewBorder(top, v.problem, nil, nil, v.editor)
}

// show fills the tab from the draft.
func (v *scriptView) show() {
	d := v.s.cur
	if d == nil {
		return
	}
	if d.mode == agent.RuleScript {
		v.banner.SetText("This rule is a script: edit it here. Compile errors show at their line as you type; a script that does not compile is saved as a draft and cannot be deployed.")
		v.editAs.Hide()
		v.back.Show()
		v.editor.SetReadOnly(false)
		if v.editor.Text() != d.script {
			v.editor.SetText(d.script)
		}
		v.check()
		return
	}
	v.banner.SetText("Generated from the visual rule, so it is read-only. \"Edit as script\" turns this rule into a script you can change freely.")
	v.editAs.Show()
	v.back.Hide()
	v.editor.SetReadOnly(true)
	src, err := model.Generate(d.model)
	if err != nil {
		v.problem.SetText("The visual rule has a problem, so there is no source yet: " + err.Error())
		v.problem.Importance = widget.DangerImportance
		v.problem.Refresh()
		return
	}
	if v.editor.Text() != src {
		v.editor.SetText(src)
	}
	v.editor.SetErrorLine(0)
	v.setProblem("", false)
}

func (v *scriptView) setProblem(text string, isErr bool) {
	v.problem.SetText(text)
	v.problem.Importance = widget.MediumImportance
	if isErr {
		v.problem.Importance = widget.DangerImportance
	}
	v.problem.Refresh()
}

// editAsScript switches the rule to script mode, starting from the generated source.
func (v *scriptView) editAsScript() {
	d := v.s.cur
	if d == nil || d.mode == agent.RuleScript {
		return
	}
	src, err := model.Generate(d.model)
	if err != nil {
		v.s.host.SetStatus("Fix the visual rule first: "+err.Error(), true)
		return
	}
	d.mode, d.script, d.dirty = agent.RuleScript, model.AsScript(src), true
	v.s.visual.show()
	v.show()
	v.s.showState()
	v.s.host.SetStatus("The rule is a script now; save it to keep it that way.", false)
}

// typed records an edit of the script and checks it once typing pauses.
func (v *scriptView) typed(src string) {
	d := v.s.cur
	if d == nil || d.mode != agent.RuleScript {
		return
	}
	d.script = src
	if !d.dirty {
		d.dirty = true
		v.s.showState()
	}
	v.checking++
	gen := v.checking
	time.AfterFunc(checkDelay, func() {
		fyne.Do(func() {
			if gen == v.checking {
				v.check()
			}
		})
	})
}

// check compiles the script in the agent's sandbox and shows the error at its line.
func (v *scriptView) check() {
	d := v.s.cur
	if d == nil || d.mode != agent.RuleScript {
		return
	}
	v.checking++
	gen, src, dir := v.checking, d.script, v.s.dir
	var problem error
	v.s.host.Call("check the script", func(ctx context.Context) error {
		problem = v.s.agent.CheckRule(ctx, dir, src)
		return nil
	}, func(error) {
		if gen != v.checking {
			return
		}
		v.showCheck(problem)
	})
}

func (v *scriptView) showCheck(problem error) {
	if problem == nil {
		v.editor.SetErrorLine(0)
		v.setProblem("Compiles.", false)
		return
	}
	var re *agent.RuleError
	if errors.As(problem, &re) && re.Line > 0 {
		v.editor.SetErrorLine(re.Line)
		v.setProblem(fmt.Sprintf("Line %d: %s", re.Line, re.Message), true)
		return
	}
	v.editor.SetErrorLine(0)
	v.setProblem(problem.Error(), true)
}

// backToVisual shows what going back to the visual rule would lose, as a diff from the
// script to the visual rule's source, and asks first.
func (v *scriptView) backToVisual() {
	d := v.s.cur
	if d == nil || d.mode != agent.RuleScript {
		return
	}
	gen, err := model.Generate(d.model)
	if err != nil {
		v.s.host.SetStatus("The visual rule to go back to has a problem: "+err.Error(), true)
		return
	}
	// Against the generated source as a script would start from it, so the header that marks
	// generated code does not count as a loss.
	v.lossDiff = srcdiff.Lines(d.script, model.AsScript(gen))
	removed, added := srcdiff.Count(v.lossDiff)
	apply := func() {
		d.mode, d.dirty = agent.RuleVisual, true
		v.lossDialog = nil
		v.s.visual.show()
		v.show()
		v.s.showState()
		v.s.host.SetStatus("Back to the visual rule; save it to keep it that way.", false)
	}
	w := v.s.host.Window()
	if w == nil {
		apply() // no window to ask in (tests drive the screen without one)
		return
	}
	if removed == 0 && added == 0 {
		apply()
		return
	}
	msg := widget.NewLabel(fmt.Sprintf("The script becomes the visual rule again. Lines marked − are in the script and would be lost (%d); lines marked + come from the visual rule (%d).", removed, added))
	msg.Wrapping = fyne.TextWrapWord
	content := container.NewBorder(msg, nil, nil, nil, container.NewScroll(diffView(v.lossDiff)))
	dl := dialog.NewCustomConfirm("Go back to the visual rule?", "Discard the script's changes", "Keep the script", content, func(yes bool) {
		v.lossDialog = nil
		if yes {
			apply()
		}
	}, w)
	dl.Resize(fyne.NewSize(820, 560))
	v.lossDialog = dl
	dl.Show()
}

// diffContext is how many unchanged lines a diff view shows around each change.
const diffContext = 3

// diffView shows a line diff: removed lines on red, added lines on green, with both line
// numbers, and only the unchanged lines near a change ("⋯" stands for the others).
func diffView(lines []srcdiff.Line) fyne.CanvasObject {
	grid := widget.NewTextGrid()
	red := &widget.CustomTextGridStyle{BGColor: withAlpha(theme.Color(theme.ColorNameError), 0x50)}
	green := &widget.CustomTextGridStyle{BGColor: withAlpha(theme.Color(theme.ColorNameSuccess), 0x50)}
	near := make([]bool, len(lines))
	for i, l := range lines {
		if l.Kind == srcdiff.Same {
			continue
		}
		for j := max(0, i-diffContext); j <= min(len(lines)-1, i+diffContext); j++ {
			near[j] = true
		}
	}
	num := func(n int) string {
		if n == 0 {
			return "    "
		}
		return fmt.Sprintf("%4d", n)
	}
	row := func(text string) widget.TextGridRow {
		cells := make([]widget.TextGridCell, 0, len(text)+1)
		for _, r := range text {
			cells = append(cells, widget.TextGridCell{Rune: r})
		}
		return widget.TextGridRow{Cells: append(cells, widget.TextGridCell{Rune: ' '})}
	}
	var rows []widget.TextGridRow
	skipped := false
	for i, l := range lines {
		if !near[i] {
			skipped = true
			continue
		}
		if skipped {
			rows = append(rows, row("   ⋯"))
			skipped = false
		}
		r := row(fmt.Sprintf("%s %s %c %s", num(l.Old), num(l.New), l.Kind, expandTabs(l.Text)))
		switch l.Kind {
		case srcdiff.Removed:
			r.Style = red
		case srcdiff.Added:
			r.Style = green
		}
		rows = append(rows, r)
	}
	if skipped {
		rows = append(rows, row("   ⋯"))
	}
	if len(rows) == 0 {
		rows = append(rows, row("No difference."))
	}
	grid.Rows = rows
	return grid
}

func expandTabs(s string) string {
	var out []rune
	for _, r := range s {
		if r == '\t' {
			for n := tabWidth - len(out)%tabWidth; n > 0; n-- {
				out = append(out, ' ')
			}
			continue
		}
		out = append(out, r)
	}
	return string(out)
}
