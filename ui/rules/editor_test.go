package rules

import (
	"fmt"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
)

// editorSource has a tab-indented line, so that pointer positions must account for the
// tab's width as well as the line numbers.
const editorSource = "package rules\n\nfunc Outgoing(ctx tandem.Context) {\n\tfoo := ctx.Item.Title\n\tctx.Log(foo)\n}"

// newTestEditor shows an editor with src in a window of the given size and focuses it.
func newTestEditor(t testing.TB, src string, size fyne.Size) (*codeEditor, fyne.Window) {
	t.Helper()
	test.NewTempApp(t)
	e := newCodeEditor()
	w := test.NewTempWindow(t, e)
	w.Resize(size)
	e.SetText(src)
	w.Canvas().Focus(e)
	return e, w
}

// cellPos is the middle of the left half of the cell at a display column of a row, as the
// grid itself places it: the source has fewer than 10 lines, so the line numbers and their
// bar take 2 cells.
func cellPos(e *codeEditor, row, displayCol int) fyne.Position {
	p := e.grid.PositionForCursorLocation(row, 2+displayCol)
	cell := e.grid.PositionForCursorLocation(1, 1)
	return fyne.NewPos(p.X+cell.X/4, p.Y+cell.Y/2).Subtract(e.scroll.Offset)
}

// drag drags the pointer from one point to another in the editor.
func drag(e *codeEditor, from, to fyne.Position) {
	e.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: to}, Dragged: fyne.NewDelta(to.X-from.X, to.Y-from.Y)})
	e.DragEnd()
}

// dragOnCanvas drags as the driver does: the draggable object under the pointer gets it.
func dragOnCanvas(w fyne.Window, e *codeEditor, from, to fyne.Position) {
	at := fyne.CurrentApp().Driver().AbsolutePositionForObject(e)
	test.Drag(w.Canvas(), at.Add(to), to.X-from.X, to.Y-from.Y)
}

func clipboard() string { return fyne.CurrentApp().Clipboard().Content() }

func typeShortcut(e *codeEditor, s fyne.Shortcut) { e.TypedShortcut(s) }

func shiftKeys(e *codeEditor, keys ...fyne.KeyName) {
	e.KeyDown(&fyne.KeyEvent{Name: desktop.KeyShiftLeft})
	for _, k := range keys {
		e.TypedKey(&fyne.KeyEvent{Name: k})
	}
	e.KeyUp(&fyne.KeyEvent{Name: desktop.KeyShiftLeft})
}

func keys(e *codeEditor, keys ...fyne.KeyName) {
	for _, k := range keys {
		e.TypedKey(&fyne.KeyEvent{Name: k})
	}
}

// TestEditorDragSelectsAndCopies: pressing on "foo" (after a tab) and dragging to the end of
// "ctx" on the next line selects exactly that range; Copy puts exactly it on the clipboard
// and the selected cells are drawn with the selection background.
func TestEditorDragSelectsAndCopies(t *testing.T) {
	e, w := newTestEditor(t, editorSource, fyne.NewSize(600, 300))
	// "\tfoo": the tab takes display columns 0-3, "f" is at 4; on "\tctx.Log", "." is at 7.
	dragOnCanvas(w, e, cellPos(e, 3, 4), cellPos(e, 4, 7))
	if got, want := e.SelectedText(), "foo := ctx.Item.Title\n\tctx"; got != want {
		t.Fatalf("selected %q, want %q", got, want)
	}
	typeShortcut(e, &fyne.ShortcutCopy{})
	if got, want := clipboard(), "foo := ctx.Item.Title\n\tctx"; got != want {
		t.Errorf("copied %q, want %q", got, want)
	}

	// Drawn: on row 3 the tab's cells are not selected, "f" (cell 4) and the line end are; on
	// row 4 the tab's 4 cells and "ctx" are, "." (cell 7) is not.
	sel := theme.Color(theme.ColorNameSelection)
	isSel := func(row, cell int) bool {
		st := e.grid.Rows[row].Cells[cell].Style
		return st != nil && st.BackgroundColor() == sel
	}
	lineEnd := len(e.grid.Rows[3].Cells) - 1
	for _, c := range []struct {
		row, cell int
		want      bool
	}{{3, 3, false}, {3, 4, true}, {3, lineEnd, true}, {4, 0, true}, {4, 3, true}, {4, 6, true}, {4, 7, false}, {2, 0, false}} {
		if got := isSel(c.row, c.cell); got != c.want {
			t.Errorf("row %d cell %d drawn selected: %v, want %v", c.row, c.cell, got, c.want)
		}
	}

	// Dragging backwards selects the same way; a tap clears the selection and places the
	// cursor.
	drag(e, cellPos(e, 4, 7), cellPos(e, 3, 4))
	if got := e.SelectedText(); got != "foo := ctx.Item.Title\n\tctx" {
		t.Errorf("dragged backwards: selected %q", got)
	}
	e.pressed = false
	test.TapAt(e, cellPos(e, 0, 3))
	if got := e.SelectedText(); got != "" || e.row != 0 || e.col != 3 {
		t.Errorf("after a tap: selected %q, cursor %d:%d, want nothing at 0:3", got, e.row, e.col)
	}
	// Dragging in the line numbers selects from the line's start.
	drag(e, fyne.NewPos(1, cellPos(e, 2, 0).Y), cellPos(e, 2, 4))
	if got := e.SelectedText(); got != "func" {
		t.Errorf("dragged from the line numbers: selected %q, want %q", got, "func")
	}
}

// TestEditorShiftClickExtends: a click with Shift (as the desktop driver reports it on
// MouseDown, or held before a tap) extends the selection from the cursor.
func TestEditorShiftClickExtends(t *testing.T) {
	e, _ := newTestEditor(t, editorSource, fyne.NewSize(600, 300))
	e.MouseDown(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: cellPos(e, 2, 5)}, Button: desktop.MouseButtonPrimary})
	e.MouseUp(&desktop.MouseEvent{Button: desktop.MouseButtonPrimary})
	e.Tapped(&fyne.PointEvent{Position: cellPos(e, 2, 5)}) // the driver's delayed tap: nothing more
	e.MouseDown(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: cellPos(e, 2, 13)}, Button: desktop.MouseButtonPrimary, Modifier: fyne.KeyModifierShift})
	if got := e.SelectedText(); got != "Outgoing" {
		t.Errorf("Shift+click selected %q, want %q", got, "Outgoing")
	}
	e.KeyDown(&fyne.KeyEvent{Name: desktop.KeyShiftRight})
	e.pressed = false
	test.TapAt(e, cellPos(e, 2, 17))
	e.KeyUp(&fyne.KeyEvent{Name: desktop.KeyShiftRight})
	if got := e.SelectedText(); got != "Outgoing(ctx" {
		t.Errorf("Shift+tap extended to %q, want %q", got, "Outgoing(ctx")
	}
}

// TestEditorShiftKeysExtend: Shift with the arrows, Home and End extends the selection;
// without Shift, Left and Right leave it at its start or end.
func TestEditorShiftKeysExtend(t *testing.T) {
	e, _ := newTestEditor(t, editorSource, fyne.NewSize(600, 300))
	keys(e, fyne.KeyDown, fyne.KeyDown) // cursor at 2:0, "func"
	shiftKeys(e, fyne.KeyRight, fyne.KeyRight, fyne.KeyRight, fyne.KeyRight)
	if got := e.SelectedText(); got != "func" {
		t.Fatalf("Shift+Right x4 selected %q, want %q", got, "func")
	}
	shiftKeys(e, fyne.KeyDown)
	if got, want := e.SelectedText(), "func Outgoing(ctx tandem.Context) {\n\t"; got != want {
		t.Errorf("then Shift+Down (display column 4, after the tab) selected %q, want %q", got, want)
	}
	shiftKeys(e, fyne.KeyEnd)
	if got, want := e.SelectedText(), "func Outgoing(ctx tandem.Context) {\n\tfoo := ctx.Item.Title"; got != want {
		t.Errorf("then Shift+End selected %q, want %q", got, want)
	}
	shiftKeys(e, fyne.KeyUp, fyne.KeyUp, fyne.KeyHome)
	if got, want := e.SelectedText(), "\n"; got != want {
		t.Errorf("then Shift+Up x2, Shift+Home selected %q, want %q", got, want)
	}
	keys(e, fyne.KeyRight)
	if e.SelectedText() != "" || e.row != 2 || e.col != 0 {
		t.Errorf("Right without Shift: selected %q, cursor %d:%d, want nothing at 2:0 (the selection's end)", e.SelectedText(), e.row, e.col)
	}

	// Ctrl+Shift+Right selects by word; Ctrl+Shift+End to the end of the source.
	typeShortcut(e, &desktop.CustomShortcut{KeyName: fyne.KeyRight, Modifier: fyne.KeyModifierShortcutDefault | fyne.KeyModifierShift})
	typeShortcut(e, &desktop.CustomShortcut{KeyName: fyne.KeyRight, Modifier: fyne.KeyModifierShortcutDefault | fyne.KeyModifierShift})
	if got := e.SelectedText(); got != "func Outgoing" {
		t.Errorf("Ctrl+Shift+Right x2 selected %q, want %q", got, "func Outgoing")
	}
	typeShortcut(e, &desktop.CustomShortcut{KeyName: fyne.KeyEnd, Modifier: fyne.KeyModifierShortcutDefault | fyne.KeyModifierShift})
	if got, want := e.SelectedText(), strings.Join(strings.Split(editorSource, "\n")[2:], "\n"); got != want {
		t.Errorf("Ctrl+Shift+End selected %q, want %q", got, want)
	}
}

// selectRows puts the cursor at a place and extends the selection with Shift+Down and
// Shift+Right.
func selectRows(e *codeEditor, fromRow, fromCol, downs, rights int) {
	e.moveTo(textPos{fromRow, fromCol}, false)
	e.KeyDown(&fyne.KeyEvent{Name: desktop.KeyShiftLeft})
	for range downs {
		keys(e, fyne.KeyDown)
	}
	for range rights {
		keys(e, fyne.KeyRight)
	}
	e.KeyUp(&fyne.KeyEvent{Name: desktop.KeyShiftLeft})
}

// TestEditorEditsReplaceTheSelection: typing, Return, Tab and paste replace a selection over
// several lines; Backspace and Delete remove it; Cut removes it and copies it.
func TestEditorEditsReplaceTheSelection(t *testing.T) {
	cases := []struct {
		name string
		edit func(e *codeEditor)
		want string
	}{
		{"typing", func(e *codeEditor) { test.Type(e, "X") },
			"package rules\n\nfunc OutgoingX.Item.Title\n\tctx.Log(foo)\n}"},
		{"Backspace", func(e *codeEditor) { keys(e, fyne.KeyBackspace) },
			"package rules\n\nfunc Outgoing.Item.Title\n\tctx.Log(foo)\n}"},
		{"Delete", func(e *codeEditor) { keys(e, fyne.KeyDelete) },
			"package rules\n\nfunc Outgoing.Item.Title\n\tctx.Log(foo)\n}"},
		{"Return", func(e *codeEditor) { keys(e, fyne.KeyReturn) },
			"package rules\n\nfunc Outgoing\n.Item.Title\n\tctx.Log(foo)\n}"},
		{"Tab", func(e *codeEditor) { keys(e, fyne.KeyTab) },
			"package rules\n\nfunc Outgoing\t.Item.Title\n\tctx.Log(foo)\n}"},
		{"paste", func(e *codeEditor) {
			fyne.CurrentApp().Clipboard().SetContent("(x)\r\n\ty := x")
			typeShortcut(e, &fyne.ShortcutPaste{})
		}, "package rules\n\nfunc Outgoing(x)\n\ty := x.Item.Title\n\tctx.Log(foo)\n}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, _ := newTestEditor(t, editorSource, fyne.NewSize(600, 300))
			var changed string
			e.OnChanged = func(src string) { changed = src }
			selectRows(e, 2, 13, 1, 1) // Down keeps the display column across the tab: "(ctx tandem.Context) {\n\tfoo := ctx"
			if got, want := e.SelectedText(), "(ctx tandem.Context) {\n\tfoo := ctx"; got != want {
				t.Fatalf("selected %q, want %q", got, want)
			}
			c.edit(e)
			if got := e.Text(); got != c.want {
				t.Errorf("text %q, want %q", got, c.want)
			}
			if changed != c.want {
				t.Errorf("OnChanged got %q, want the new text", changed)
			}
			if e.SelectedText() != "" {
				t.Errorf("a selection is left after the edit: %q", e.SelectedText())
			}
		})
	}
}

// TestEditorCut: Cut puts the selection on the clipboard and removes it; without a selection
// it takes the cursor's line, as Copy does.
func TestEditorCut(t *testing.T) {
	e, _ := newTestEditor(t, editorSource, fyne.NewSize(600, 300))
	selectRows(e, 3, 1, 1, 0) // "foo := ctx.Item.Title\n\t"
	typeShortcut(e, &fyne.ShortcutCut{})
	if got, want := clipboard(), "foo := ctx.Item.Title\n\t"; got != want {
		t.Errorf("cut %q, want %q", got, want)
	}
	if got, want := e.Text(), "package rules\n\nfunc Outgoing(ctx tandem.Context) {\n\tctx.Log(foo)\n}"; got != want {
		t.Errorf("after the cut: %q, want %q", got, want)
	}
	// Nothing selected: Copy and Cut take the cursor's line.
	typeShortcut(e, &fyne.ShortcutCopy{})
	if got := clipboard(); got != "\tctx.Log(foo)\n" {
		t.Errorf("Copy without a selection: %q, want the line", got)
	}
	typeShortcut(e, &fyne.ShortcutCut{})
	if got, want := e.Text(), "package rules\n\nfunc Outgoing(ctx tandem.Context) {\n}"; got != want {
		t.Errorf("Cut without a selection: %q, want %q", got, want)
	}
}

// TestEditorDoubleTapSelectsAWord: a double-click selects the word under the pointer, or the
// symbol.
func TestEditorDoubleTapSelectsAWord(t *testing.T) {
	e, _ := newTestEditor(t, editorSource, fyne.NewSize(600, 300))
	for _, c := range []struct {
		row, cell int
		want      string
	}{{4, 9, "Log"}, {4, 7, "."}, {2, 18, "tandem"}, {3, 4, "foo"}, {3, 1, "\t"}, {0, 40, "rules"}} {
		e.DoubleTapped(&fyne.PointEvent{Position: cellPos(e, c.row, c.cell)})
		if got := e.SelectedText(); got != c.want {
			t.Errorf("double-tap at row %d cell %d selected %q, want %q", c.row, c.cell, got, c.want)
		}
	}
	test.Type(e, "Print")
	if got := strings.Split(e.Text(), "\n")[0]; got != "package Print" {
		t.Errorf("typing over the word: %q", got)
	}
}

// TestEditorReadOnlySelectsAndCopies: a visual rule's source can be selected and copied, not
// cut, typed over or pasted into.
func TestEditorReadOnlySelectsAndCopies(t *testing.T) {
	e, _ := newTestEditor(t, editorSource, fyne.NewSize(600, 300))
	e.SetReadOnly(true)
	drag(e, cellPos(e, 2, 5), cellPos(e, 2, 13))
	typeShortcut(e, &fyne.ShortcutCopy{})
	if got := clipboard(); got != "Outgoing" {
		t.Errorf("copied %q from a read-only editor, want %q", got, "Outgoing")
	}
	fyne.CurrentApp().Clipboard().SetContent("before")
	typeShortcut(e, &fyne.ShortcutCut{})
	test.Type(e, "X")
	keys(e, fyne.KeyBackspace, fyne.KeyDelete, fyne.KeyReturn)
	typeShortcut(e, &fyne.ShortcutPaste{})
	if e.Text() != editorSource || clipboard() != "before" {
		t.Errorf("a read-only editor changed: text %q, clipboard %q", e.Text(), clipboard())
	}
	if got := e.SelectedText(); got != "Outgoing" {
		t.Errorf("the selection after refused edits: %q", got)
	}
	shiftKeys(e, fyne.KeyRight)
	if got := e.SelectedText(); got != "Outgoing(" {
		t.Errorf("Shift+Right in a read-only editor: %q", got)
	}
}

// TestEditorDragScrolls: dragging below the visible lines scrolls and selects to the line
// under the pointer.
func TestEditorDragScrolls(t *testing.T) {
	var b strings.Builder
	for i := range 200 {
		fmt.Fprintf(&b, "// line %d\n", i)
	}
	e, _ := newTestEditor(t, b.String(), fyne.NewSize(400, 200))
	h := e.cellSize().Height
	view := e.scroll.Size().Height
	// From the start of line 0 to 5 lines below the visible area's bottom.
	to := fyne.NewPos(1, view+5*h+h/2)
	drag(e, fyne.NewPos(1, h/2), to)
	if e.scroll.Offset.Y <= 0 {
		t.Fatalf("dragging below the view did not scroll (offset %v)", e.scroll.Offset.Y)
	}
	wantRow := int((view + 5*h + h/2) / h)
	if e.row != wantRow || !strings.HasSuffix(e.SelectedText(), fmt.Sprintf("// line %d\n", wantRow-1)) {
		t.Errorf("cursor at row %d, want %d; selection ends %q", e.row, wantRow, e.SelectedText()[max(len(e.SelectedText())-20, 0):])
	}
	if top, bottom := e.scroll.Offset.Y, e.scroll.Offset.Y+view; float32(e.row)*h < top || float32(e.row+1)*h > bottom+0.5 {
		t.Errorf("the cursor's row %d is not in view (%v-%v)", e.row, top, bottom)
	}
}

// TestEditorUndoRedo: Ctrl+Z takes back a run of typing, of Backspaces, a paste over a
// selection (bringing the selection back), a cut; Ctrl+Y and Ctrl+Shift+Z redo; a new edit
// drops what was undone; a new source or a read-only editor has nothing to undo.
func TestEditorUndoRedo(t *testing.T) {
	e, _ := newTestEditor(t, editorSource, fyne.NewSize(600, 300))
	line := func(n int) string { return strings.Split(e.Text(), "\n")[n] }
	undo := func() { typeShortcut(e, &fyne.ShortcutUndo{}) }
	redo := func() { typeShortcut(e, &fyne.ShortcutRedo{}) }
	var changed string
	e.OnChanged = func(src string) { changed = src }

	e.moveTo(textPos{3, 99}, false)
	test.Type(e, "abc")
	keys(e, fyne.KeyBackspace, fyne.KeyBackspace)
	keys(e, fyne.KeyLeft)
	test.Type(e, "X")
	if got := line(3); got != "\tfoo := ctx.Item.TitleXa" {
		t.Fatalf("after typing: %q", got)
	}
	for i, want := range []string{"\tfoo := ctx.Item.Titlea", "\tfoo := ctx.Item.Titleabc", "\tfoo := ctx.Item.Title", "\tfoo := ctx.Item.Title"} {
		undo()
		if got := line(3); got != want {
			t.Errorf("undo %d: %q, want %q", i+1, got, want)
		}
	}
	if changed != editorSource || e.row != 3 || e.col != len([]rune("\tfoo := ctx.Item.Title")) {
		t.Errorf("after undoing everything: OnChanged had the original %v, cursor %d:%d", changed == editorSource, e.row, e.col)
	}
	redo()
	typeShortcut(e, &desktop.CustomShortcut{KeyName: fyne.KeyZ, Modifier: fyne.KeyModifierShortcutDefault | fyne.KeyModifierShift})
	if got := line(3); got != "\tfoo := ctx.Item.Titlea" {
		t.Errorf("after Ctrl+Y and Ctrl+Shift+Z: %q", got)
	}
	// A new edit drops what was undone. (The redone state has the cursor where it was when
	// the next edit began: before the "a", after the Left.)
	test.Type(e, "!")
	redo()
	if got := line(3); got != "\tfoo := ctx.Item.Title!a" {
		t.Errorf("redo after a new edit changed the text: %q", got)
	}

	// A paste over a selection comes back with the selection.
	e.SetText(editorSource)
	selectRows(e, 2, 13, 1, 1)
	fyne.CurrentApp().Clipboard().SetContent("()")
	typeShortcut(e, &fyne.ShortcutPaste{})
	typeShortcut(e, &fyne.ShortcutCut{}) // the line, as nothing is selected
	if got, want := e.Text(), "package rules\n\n\tctx.Log(foo)\n}"; got != want {
		t.Fatalf("after paste and cut: %q, want %q", got, want)
	}
	undo()
	undo()
	if e.Text() != editorSource || e.SelectedText() != "(ctx tandem.Context) {\n\tfoo := ctx" {
		t.Errorf("after undoing the cut and the paste: text %q, selection %q", e.Text(), e.SelectedText())
	}

	// A new source, or a read-only editor: nothing to undo.
	e.SetText("package other")
	undo()
	if e.Text() != "package other" {
		t.Errorf("undo after SetText: %q", e.Text())
	}
	e.SetText(editorSource)
	test.Type(e, "x")
	e.SetReadOnly(true)
	undo()
	if e.Text() != "x"+editorSource {
		t.Errorf("undo in a read-only editor: %q", e.Text())
	}
}

// TestEditorSelectAll: select all, then typing replaces everything.
func TestEditorSelectAll(t *testing.T) {
	e, _ := newTestEditor(t, editorSource, fyne.NewSize(600, 300))
	typeShortcut(e, &fyne.ShortcutSelectAll{})
	typeShortcut(e, &fyne.ShortcutCopy{})
	if clipboard() != editorSource {
		t.Errorf("select all and copy: %q", clipboard())
	}
	test.Type(e, "x")
	if e.Text() != "x" {
		t.Errorf("typing over everything: %q", e.Text())
	}
}

// BenchmarkEditorDragSelect: one pointer move of a drag selection over a 400-line script,
// against the same move when the source is lexed again at every render (as before the
// lexing was kept between edits), and against a typed character (which must lex again).
func BenchmarkEditorDragSelect(b *testing.B) {
	var src strings.Builder
	for range 50 {
		src.WriteString(editorSource[len("package rules\n\n"):] + "\n\n")
	}
	for _, c := range []struct {
		name  string
		relex bool
	}{{"lexed once", false}, {"lexed every move (baseline)", true}} {
		b.Run(c.name, func(b *testing.B) {
			e, _ := newTestEditor(b, src.String(), fyne.NewSize(800, 600))
			from := cellPos(e, 2, 4)
			b.ResetTimer()
			for i := range b.N {
				if c.relex {
					e.types = nil
				}
				to := cellPos(e, 5+i%20, 10)
				e.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: to}, Dragged: fyne.NewDelta(to.X-from.X, to.Y-from.Y)})
			}
		})
	}
	b.Run("typing a character", func(b *testing.B) {
		e, _ := newTestEditor(b, src.String(), fyne.NewSize(800, 600))
		b.ResetTimer()
		for i := range b.N {
			if i%2 == 0 {
				e.TypedRune('x')
			} else {
				e.TypedKey(&fyne.KeyEvent{Name: fyne.KeyBackspace})
			}
		}
	})
}
