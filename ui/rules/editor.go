package rules

import (
	"image/color"
	"math"
	"strings"
	"unicode"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"github.com/alecthomas/chroma/v2"
	"github.com/alecthomas/chroma/v2/lexers"
	"github.com/alecthomas/chroma/v2/styles"
)

// tabWidth is how many columns a tab takes on screen, as gofmt'd Go is read.
const tabWidth = 4

// textPos is a place in the source: a row and the rune index in it (the cursor sits before
// that rune; len(row) is the end of the line).
type textPos struct{ row, col int }

func (p textPos) before(q textPos) bool { return p.row < q.row || p.row == q.row && p.col < q.col }

// codeEditor is a small Go source editor: line numbers, syntax highlighting by chroma, the
// line of a compile error marked, a text selection made with the mouse (press and drag,
// double-click for a word, Shift+click) or with Shift and the movement keys, and the keys a
// code editor needs (arrows, Ctrl+arrows by word, Home/End, Ctrl+Home/End, Page Up/Down, Tab,
// Return with indentation, Backspace/Delete, select all, copy, cut, paste, undo and redo).
// Typing, pasting, Return and Tab replace the selection. It is read-only while the rule is
// visual: the selection and Copy still work there, edits do not. Widget state changes only
// on the Fyne goroutine.
type codeEditor struct {
	widget.BaseWidget
	grid   *widget.TextGrid
	scroll *container.Scroll

	lines    [][]rune
	row, col int // the cursor, in runes

	// The selection runs between anchor and the cursor while selecting; it is empty when
	// they meet.
	anchor    textPos
	selecting bool
	shiftDown bool // a Shift key is held: moves and clicks extend the selection
	dragging  bool // a mouse drag is selecting
	pressed   bool // MouseDown placed the cursor: the Tapped that follows a click has nothing to do
	goalCol   int  // the display column Up and Down keep to across shorter lines; -1 when unset

	readOnly bool
	focused  bool
	errLine  int // 1-based line of the compile error, 0 for none

	// types is chroma's token type of every rune; nil once the text changed, so that moving
	// the cursor or the selection does not lex the source again.
	types [][]chroma.TokenType

	// Undo and redo: the states before the edits (and after the undone ones), and the kind
	// and end of the last edit, so that a run of typing at one place is undone at once.
	undo, redo []editState
	lastKind   editKind
	lastEnd    textPos

	// OnChanged is called after every edit with the new source.
	OnChanged func(src string)
}

// editKind groups edits for Undo: a run of typed characters (or of Backspaces, or of
// Deletes) that goes on where the last one ended is one step.
type editKind int

const (
	editOther editKind = iota
	editTyping
	editBackspace
	editDelete
)

// editState is what Undo brings back: the text, the cursor and the selection.
type editState struct {
	text           string
	cursor, anchor textPos
	selecting      bool
}

// undoLimit bounds the steps kept (each holds the whole source: 200 steps of a 20 kB
// script are 4 MB).
const undoLimit = 200

var (
	_ fyne.Draggable         = (*codeEditor)(nil)
	_ fyne.DoubleTappable    = (*codeEditor)(nil)
	_ fyne.SecondaryTappable = (*codeEditor)(nil)
	_ fyne.Shortcutable      = (*codeEditor)(nil)
	_ fyne.Tabbable          = (*codeEditor)(nil)
	_ desktop.Mouseable      = (*codeEditor)(nil)
	_ desktop.Keyable        = (*codeEditor)(nil)
)

func newCodeEditor() *codeEditor {
	e := &codeEditor{grid: widget.NewTextGrid(), lines: [][]rune{{}}, goalCol: -1}
	e.grid.ShowLineNumbers = true
	e.grid.Scroll = fyne.ScrollNone // the editor scrolls, so it can keep the cursor in view
	e.scroll = container.NewScroll(e.grid)
	e.ExtendBaseWidget(e)
	return e
}

func (e *codeEditor) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(e.scroll) }

// SetText replaces the source and puts the cursor at the start.
func (e *codeEditor) SetText(src string) {
	e.lines = splitLines(src)
	e.row, e.col, e.selecting, e.types = 0, 0, false, nil
	e.undo, e.redo, e.lastKind = nil, nil, editOther // another rule's source: nothing to undo
	e.render()
	e.scroll.ScrollToTop()
}

// Text returns the source.
func (e *codeEditor) Text() string {
	return e.textBetween(textPos{}, textPos{len(e.lines) - 1, len(e.lines[len(e.lines)-1])})
}

// SelectedText returns the selected text, "" when nothing is selected.
func (e *codeEditor) SelectedText() string {
	start, end, ok := e.selection()
	if !ok {
		return ""
	}
	return e.textBetween(start, end)
}

// SetReadOnly allows or forbids editing.
func (e *codeEditor) SetReadOnly(ro bool) {
	e.readOnly = ro
	e.render()
}

// SetErrorLine marks a line (1-based) as the place of a compile error; 0 clears it.
func (e *codeEditor) SetErrorLine(line int) {
	if line == e.errLine {
		return
	}
	e.errLine = line
	e.render()
	if line > 0 {
		e.showRow(line - 1)
	}
}

func (e *codeEditor) cursor() textPos { return textPos{e.row, e.col} }

// selection returns the selected range in text order; ok is false when nothing is selected.
func (e *codeEditor) selection() (start, end textPos, ok bool) {
	if !e.selecting || e.anchor == e.cursor() {
		return textPos{}, textPos{}, false
	}
	if e.cursor().before(e.anchor) {
		return e.cursor(), e.anchor, true
	}
	return e.anchor, e.cursor(), true
}

// textBetween returns the text from start to end (start not after end).
func (e *codeEditor) textBetween(start, end textPos) string {
	if start.row == end.row {
		return string(e.lines[start.row][start.col:end.col])
	}
	var b strings.Builder
	b.WriteString(string(e.lines[start.row][start.col:]))
	for r := start.row + 1; r < end.row; r++ {
		b.WriteByte('\n')
		b.WriteString(string(e.lines[r]))
	}
	b.WriteByte('\n')
	b.WriteString(string(e.lines[end.row][:end.col]))
	return b.String()
}

// deleteSelection removes the selected text and leaves the cursor where it began; it
// reports whether there was any. The caller reports the change.
func (e *codeEditor) deleteSelection() bool {
	start, end, ok := e.selection()
	e.selecting = false
	if !ok {
		return false
	}
	e.lines[start.row] = append(e.lines[start.row][:start.col:start.col], e.lines[end.row][end.col:]...)
	e.lines = append(e.lines[:start.row+1], e.lines[end.row+1:]...)
	e.row, e.col = start.row, start.col
	return true
}

// moveTo puts the cursor at p (clamped to the text). With extend the selection grows from
// where it was anchored (or from the old cursor); without, it is dropped.
func (e *codeEditor) moveTo(p textPos, extend bool) {
	if extend && !e.selecting {
		e.anchor, e.selecting = e.cursor(), true
	}
	if !extend {
		e.selecting = false
	}
	e.goalCol = -1
	e.row = min(max(p.row, 0), len(e.lines)-1)
	e.col = min(max(p.col, 0), len(e.lines[e.row]))
	e.render()
	e.showCursor()
}

func (e *codeEditor) selectAll() {
	last := len(e.lines) - 1
	e.anchor, e.selecting = textPos{}, true
	e.row, e.col = last, len(e.lines[last])
	e.render()
}

func splitLines(src string) [][]rune {
	parts := strings.Split(src, "\n")
	out := make([][]rune, len(parts))
	for i, p := range parts {
		out[i] = []rune(p)
	}
	return out
}

// styleCache holds the cell styles of the chroma style in use.
type styleCache struct {
	name   string
	byType map[chroma.TokenType]widget.TextGridStyle
}

var cellStyles styleCache

// tokenStyle returns the cell style chroma's style gives a token type.
func tokenStyle(t chroma.TokenType) widget.TextGridStyle {
	name := "github"
	if a := fyne.CurrentApp(); a != nil && a.Settings().ThemeVariant() == theme.VariantDark {
		name = "github-dark"
	}
	if cellStyles.name != name {
		cellStyles = styleCache{name: name, byType: map[chroma.TokenType]widget.TextGridStyle{}}
	}
	if s, ok := cellStyles.byType[t]; ok {
		return s
	}
	entry := styles.Get(name).Get(t)
	var s widget.TextGridStyle
	if entry.Colour.IsSet() {
		s = &widget.CustomTextGridStyle{
			FGColor:   color.NRGBA{R: entry.Colour.Red(), G: entry.Colour.Green(), B: entry.Colour.Blue(), A: 0xff},
			TextStyle: fyne.TextStyle{Bold: entry.Bold == chroma.Yes, Italic: entry.Italic == chroma.Yes, Monospace: true},
		}
	}
	cellStyles.byType[t] = s
	return s
}

// highlight returns each rune's token type, line by line.
func highlight(lines [][]rune, src string) [][]chroma.TokenType {
	types := make([][]chroma.TokenType, len(lines))
	for i, l := range lines {
		types[i] = make([]chroma.TokenType, len(l))
	}
	lexer := lexers.Get("go")
	it, err := lexer.Tokenise(nil, src)
	if err != nil {
		return types
	}
	row, col := 0, 0
	for _, tok := range it.Tokens() {
		for _, r := range tok.Value {
			if r == '\n' {
				row, col = row+1, 0
				continue
			}
			if row < len(types) && col < len(types[row]) {
				types[row][col] = tok.Type
			}
			col++
		}
	}
	return types
}

// render draws the source with its highlighting, the error line, the selection and the
// cursor. The source is lexed again only after an edit.
func (e *codeEditor) render() {
	if e.types == nil {
		e.types = highlight(e.lines, e.Text())
	}
	start, end, hasSel := e.selection()
	selected := func(row, col int) bool {
		p := textPos{row, col}
		return hasSel && !p.before(start) && p.before(end)
	}
	errBG := withAlpha(theme.Color(theme.ColorNameError), 0x40)
	selBG := theme.Color(theme.ColorNameSelection)
	cursor := &widget.CustomTextGridStyle{FGColor: theme.Color(theme.ColorNameBackground), BGColor: theme.Color(theme.ColorNamePrimary)}
	showCursor := e.focused && !e.readOnly
	rows := make([]widget.TextGridRow, len(e.lines))
	for i, l := range e.lines {
		var cells []widget.TextGridCell
		for j, r := range l {
			st := tokenStyle(e.types[i][j])
			sel := selected(i, j)
			if sel {
				st = withBackground(st, selBG)
			}
			if showCursor && i == e.row && j == e.col {
				st = cursor
			}
			if r == '\t' {
				w := tabWidth - len(cells)%tabWidth
				cells = append(cells, widget.TextGridCell{Rune: ' ', Style: st})
				for k := 1; k < w; k++ {
					cells = append(cells, widget.TextGridCell{Rune: ' ', Style: withBackground(nil, bgOf(st, sel, selBG))})
				}
				continue
			}
			cells = append(cells, widget.TextGridCell{Rune: r, Style: st})
		}
		// Every row ends with a blank cell: the cursor's place at the end of the line, the
		// line break when it is selected, and a guard for Fyne 2.7's TextGrid, which indexes
		// past its cells when line numbers are shown and no row has any.
		var endStyle widget.TextGridStyle
		if selected(i, len(l)) {
			endStyle = withBackground(nil, selBG)
		}
		if showCursor && i == e.row && e.col >= len(l) {
			endStyle = cursor
		}
		cells = append(cells, widget.TextGridCell{Rune: ' ', Style: endStyle})
		rows[i] = widget.TextGridRow{Cells: cells}
		if i+1 == e.errLine {
			rows[i].Style = &widget.CustomTextGridStyle{BGColor: errBG}
		}
	}
	e.grid.Rows = rows
	e.grid.Refresh()
}

func bgOf(st widget.TextGridStyle, selected bool, sel color.Color) color.Color {
	if selected {
		return sel
	}
	if st != nil {
		return st.BackgroundColor()
	}
	return nil
}

func withBackground(st widget.TextGridStyle, bg color.Color) widget.TextGridStyle {
	c := &widget.CustomTextGridStyle{BGColor: bg}
	if st != nil {
		c.FGColor, c.TextStyle = st.TextColor(), st.Style()
	}
	return c
}

func withAlpha(c color.Color, a uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: a}
}

// cellSize is the size of one character cell, measured as the TextGrid measures it.
func (e *codeEditor) cellSize() fyne.Size {
	s := fyne.MeasureText("M", e.grid.Theme().Size(theme.SizeNameText), fyne.TextStyle{Monospace: true})
	return fyne.NewSize(float32(math.Round(float64(s.Width))), float32(math.Round(float64(s.Height))))
}

// gutter is the width of the line numbers and their bar, in cells.
func (e *codeEditor) gutter() int {
	n, d := len(e.lines), 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d + 1
}

// runeAt maps a position on a line, in cells from the line's start, to a rune index:
// with nearest the boundary between runes closest to it (where a click puts the cursor),
// else the rune under it (len(l) past the end). Tabs are as wide as they are drawn.
func runeAt(l []rune, cells float32, nearest bool) int {
	x := 0
	for i, r := range l {
		w := 1
		if r == '\t' {
			w = tabWidth - x%tabWidth
		}
		edge := float32(x + w)
		if nearest {
			edge = float32(x) + float32(w)/2
		}
		if cells < edge {
			return i
		}
		x += w
	}
	return len(l)
}

// displayCol is the cell a rune index starts at, tabs expanded.
func displayCol(l []rune, col int) int {
	x := 0
	for _, r := range l[:col] {
		if r == '\t' {
			x += tabWidth - x%tabWidth
		} else {
			x++
		}
	}
	return x
}

// posAt maps a point in the editor to a place in the text, through the scroll offset, the
// line numbers and tab widths (see runeAt for nearest). Above the text is its start, below
// it its end.
func (e *codeEditor) posAt(p fyne.Position, nearest bool) textPos {
	cs := e.cellSize()
	y := p.Y + e.scroll.Offset.Y
	if y < 0 {
		return textPos{}
	}
	row := int(y / cs.Height)
	if row >= len(e.lines) {
		last := len(e.lines) - 1
		return textPos{last, len(e.lines[last])}
	}
	cells := (p.X+e.scroll.Offset.X)/cs.Width - float32(e.gutter())
	return textPos{row, runeAt(e.lines[row], cells, nearest)}
}

func (e *codeEditor) requestFocus() {
	if c := fyne.CurrentApp().Driver().CanvasForObject(e); c != nil && c.Focused() != e {
		c.Focus(e)
	}
}

// shiftHeld tells whether Shift is down, from the key events or from the desktop driver.
func (e *codeEditor) shiftHeld() bool {
	if e.shiftDown {
		return true
	}
	d, ok := fyne.CurrentApp().Driver().(desktop.Driver)
	return ok && d.CurrentKeyModifiers()&fyne.KeyModifierShift != 0
}

// MouseDown places the cursor at once (Tapped waits to tell a double-click); with Shift it
// extends the selection to the pointer.
func (e *codeEditor) MouseDown(m *desktop.MouseEvent) {
	if m.Button != desktop.MouseButtonPrimary {
		return
	}
	e.requestFocus()
	e.pressed = true
	e.moveTo(e.posAt(m.Position, true), m.Modifier&fyne.KeyModifierShift != 0 || e.shiftHeld())
}

// MouseUp ends a click; a drag ends in DragEnd.
func (e *codeEditor) MouseUp(*desktop.MouseEvent) {}

// Tapped places the cursor under the pointer (extending the selection with Shift) and takes
// the keyboard, where MouseDown has not already done so.
func (e *codeEditor) Tapped(ev *fyne.PointEvent) {
	if e.pressed {
		e.pressed = false
		return
	}
	e.requestFocus()
	e.moveTo(e.posAt(ev.Position, true), e.shiftHeld())
}

// DoubleTapped selects the word under the pointer (or the run of spaces, or the symbol).
func (e *codeEditor) DoubleTapped(ev *fyne.PointEvent) {
	e.requestFocus()
	p := e.posAt(ev.Position, false)
	l := e.lines[p.row]
	if len(l) == 0 {
		return
	}
	col := min(p.col, len(l)-1)
	class := charClass(l[col])
	start, end := col, col+1
	for start > 0 && charClass(l[start-1]) == class {
		start--
	}
	for end < len(l) && charClass(l[end]) == class {
		end++
	}
	e.anchor, e.selecting = textPos{p.row, start}, true
	e.row, e.col = p.row, end
	e.render()
}

// Dragged selects from where the drag began to the pointer, scrolling when the pointer is
// beyond the visible lines.
func (e *codeEditor) Dragged(d *fyne.DragEvent) {
	if !e.dragging {
		e.dragging = true
		e.requestFocus()
		// With Shift held the drag extends the selection a Shift+click made; else it starts
		// where the button went down.
		if !e.selecting || !e.shiftHeld() {
			e.anchor = e.posAt(d.Position.Subtract(d.Dragged), true)
		}
		e.selecting = true
	}
	p := e.posAt(d.Position, true)
	e.row, e.col = p.row, p.col
	e.render()
	e.showCursor()
}

// DragEnd ends the drag; a drag that came back to where it began selects nothing.
func (e *codeEditor) DragEnd() {
	e.dragging = false
	if e.anchor == e.cursor() {
		e.selecting = false
	}
}

// TappedSecondary offers Cut, Copy, Paste and Select all, as a text field does.
func (e *codeEditor) TappedSecondary(ev *fyne.PointEvent) {
	c := fyne.CurrentApp().Driver().CanvasForObject(e)
	if c == nil {
		return
	}
	e.requestFocus()
	do := func(s fyne.Shortcut) func() { return func() { e.TypedShortcut(s) } }
	cut := fyne.NewMenuItem("Cut", do(&fyne.ShortcutCut{}))
	paste := fyne.NewMenuItem("Paste", do(&fyne.ShortcutPaste{}))
	cut.Disabled, paste.Disabled = e.readOnly, e.readOnly
	menu := fyne.NewMenu("", cut, fyne.NewMenuItem("Copy", do(&fyne.ShortcutCopy{})), paste,
		fyne.NewMenuItemSeparator(), fyne.NewMenuItem("Select all", do(&fyne.ShortcutSelectAll{})))
	widget.ShowPopUpMenuAtPosition(menu, c, ev.AbsolutePosition)
}

// Cursor shows the text cursor over the editor.
func (e *codeEditor) Cursor() desktop.Cursor { return desktop.TextCursor }

func (e *codeEditor) FocusGained() { e.focused = true; e.render() }
func (e *codeEditor) FocusLost()   { e.focused, e.shiftDown = false, false; e.render() }

// KeyDown notes Shift, as Fyne's Entry does: Shift with a movement key arrives as that key.
func (e *codeEditor) KeyDown(k *fyne.KeyEvent) {
	if k.Name == desktop.KeyShiftLeft || k.Name == desktop.KeyShiftRight {
		e.shiftDown = true
	}
}

// KeyUp notes Shift's release.
func (e *codeEditor) KeyUp(k *fyne.KeyEvent) {
	if k.Name == desktop.KeyShiftLeft || k.Name == desktop.KeyShiftRight {
		e.shiftDown = false
	}
}

// AcceptsTab keeps Tab in the editor (it indents) instead of moving the focus.
func (e *codeEditor) AcceptsTab() bool { return !e.readOnly }

// TypedRune inserts a character at the cursor, in place of the selection.
func (e *codeEditor) TypedRune(r rune) {
	if e.readOnly {
		return
	}
	e.edit(editTyping, func() bool { return e.insert(string(r)) })
}

// insert puts text at the cursor, in place of the selection; it reports whether the text
// changed.
func (e *codeEditor) insert(text string) bool {
	deleted := e.deleteSelection()
	if text == "" {
		return deleted
	}
	l := e.lines[e.row]
	before, after := string(l[:e.col]), string(l[e.col:])
	ins := splitLines(strings.ReplaceAll(text, "\r\n", "\n"))
	ins[0] = []rune(before + string(ins[0]))
	last := len(ins) - 1
	col := len(ins[last])
	ins[last] = []rune(string(ins[last]) + after)
	e.lines = append(e.lines[:e.row], append(ins, e.lines[e.row+1:]...)...)
	e.row += last
	e.col = col
	return true
}

func (e *codeEditor) state() editState {
	return editState{text: e.Text(), cursor: e.cursor(), anchor: e.anchor, selecting: e.selecting}
}

// edit applies change, which reports whether it changed the text, keeps the state before
// it for Undo (unless it goes on a run of the same kind) and reports the change.
func (e *codeEditor) edit(kind editKind, change func() bool) {
	before := e.state()
	_, _, hadSelection := e.selection()
	if !change() {
		return
	}
	if kind == editOther || kind != e.lastKind || before.cursor != e.lastEnd || hadSelection {
		e.undo = append(e.undo, before)
		if len(e.undo) > undoLimit {
			e.undo = append(e.undo[:0:0], e.undo[len(e.undo)-undoLimit:]...)
		}
	}
	e.redo = nil
	e.lastKind, e.lastEnd = kind, e.cursor()
	e.changed()
}

// step undoes (from undo to redo) or redoes (from redo to undo) one edit.
func (e *codeEditor) step(from, to *[]editState) {
	if e.readOnly || len(*from) == 0 {
		return
	}
	st := (*from)[len(*from)-1]
	*from = (*from)[:len(*from)-1]
	*to = append(*to, e.state())
	e.lines = splitLines(st.text)
	e.row, e.col, e.anchor, e.selecting = st.cursor.row, st.cursor.col, st.anchor, st.selecting
	e.lastKind = editOther
	e.changed()
}

func (e *codeEditor) changed() {
	e.types = nil
	e.render()
	e.showCursor()
	if e.OnChanged != nil {
		e.OnChanged(e.Text())
	}
}

// TypedKey handles editing and movement keys; with Shift held a movement extends the
// selection.
func (e *codeEditor) TypedKey(ev *fyne.KeyEvent) {
	shift := e.shiftHeld()
	if start, end, ok := e.selection(); ok && !shift {
		// As in a text field: Left and Right leave a selection at its start or end.
		switch ev.Name {
		case fyne.KeyLeft:
			e.moveTo(start, false)
			return
		case fyne.KeyRight:
			e.moveTo(end, false)
			return
		}
	}
	last := len(e.lines) - 1
	switch ev.Name {
	case fyne.KeyLeft:
		if e.col == 0 && e.row > 0 {
			e.moveTo(textPos{e.row - 1, len(e.lines[e.row-1])}, shift)
		} else {
			e.moveTo(textPos{e.row, e.col - 1}, shift)
		}
		return
	case fyne.KeyRight:
		if e.col >= len(e.lines[e.row]) && e.row < last {
			e.moveTo(textPos{e.row + 1, 0}, shift)
		} else {
			e.moveTo(textPos{e.row, e.col + 1}, shift)
		}
		return
	case fyne.KeyUp:
		if e.row == 0 {
			e.moveTo(textPos{0, 0}, shift)
		} else {
			e.moveRows(-1, shift)
		}
		return
	case fyne.KeyDown:
		if e.row == last {
			e.moveTo(textPos{last, len(e.lines[last])}, shift)
		} else {
			e.moveRows(1, shift)
		}
		return
	case fyne.KeyHome:
		e.moveTo(textPos{e.row, 0}, shift)
		return
	case fyne.KeyEnd:
		e.moveTo(textPos{e.row, len(e.lines[e.row])}, shift)
		return
	case fyne.KeyPageUp:
		e.moveRows(-e.pageRows(), shift)
		return
	case fyne.KeyPageDown:
		e.moveRows(e.pageRows(), shift)
		return
	}
	if e.readOnly {
		return
	}
	switch ev.Name {
	case fyne.KeyReturn, fyne.KeyEnter:
		e.edit(editOther, func() bool {
			e.deleteSelection()
			l := e.lines[e.row]
			indent := 0
			for indent < len(l) && l[indent] == '\t' {
				indent++
			}
			if e.col > 0 && l[e.col-1] == '{' {
				indent++
			}
			return e.insert("\n" + strings.Repeat("\t", indent))
		})
	case fyne.KeyTab:
		if !shift { // Shift+Tab inserts nothing, as in a text field
			e.edit(editTyping, func() bool { return e.insert("\t") })
		}
	case fyne.KeyBackspace:
		e.edit(editBackspace, e.backspace)
	case fyne.KeyDelete:
		e.edit(editDelete, e.deleteForward)
	}
}

// backspace removes the selection, or the rune before the cursor (joining the line to the
// one above at its start); it reports whether the text changed.
func (e *codeEditor) backspace() bool {
	switch {
	case e.deleteSelection():
	case e.col > 0:
		l := e.lines[e.row]
		e.lines[e.row] = append(l[:e.col-1:e.col-1], l[e.col:]...)
		e.col--
	case e.row > 0:
		prev := e.lines[e.row-1]
		e.col = len(prev)
		e.lines[e.row-1] = append(prev[:len(prev):len(prev)], e.lines[e.row]...)
		e.lines = append(e.lines[:e.row], e.lines[e.row+1:]...)
		e.row--
	default:
		return false
	}
	return true
}

// deleteForward removes the selection, or the rune after the cursor (joining the next line
// at a line's end); it reports whether the text changed.
func (e *codeEditor) deleteForward() bool {
	l := e.lines[e.row]
	switch {
	case e.deleteSelection():
	case e.col < len(l):
		e.lines[e.row] = append(l[:e.col:e.col], l[e.col+1:]...)
	case e.row < len(e.lines)-1:
		e.lines[e.row] = append(l[:len(l):len(l)], e.lines[e.row+1]...)
		e.lines = append(e.lines[:e.row+1], e.lines[e.row+2:]...)
	default:
		return false
	}
	return true
}

// TypedShortcut handles select all, copy, cut, paste, undo, redo (Ctrl+Y or Ctrl+Shift+Z),
// and Ctrl (Cmd on macOS) with Left, Right, Home and End, which move by word and to the
// start and end of the source (with Shift they extend the selection).
func (e *codeEditor) TypedShortcut(s fyne.Shortcut) {
	cb := fyne.CurrentApp().Clipboard()
	switch s := s.(type) {
	case *fyne.ShortcutSelectAll:
		e.selectAll()
	case *fyne.ShortcutCopy:
		cb.SetContent(e.copyText())
	case *fyne.ShortcutCut:
		if e.readOnly {
			return
		}
		e.edit(editOther, func() bool {
			cb.SetContent(e.copyText())
			if !e.deleteSelection() {
				e.deleteLine()
			}
			return true
		})
	case *fyne.ShortcutPaste:
		if !e.readOnly {
			e.edit(editOther, func() bool { return e.insert(cb.Content()) })
		}
	case *fyne.ShortcutUndo:
		e.step(&e.undo, &e.redo)
	case *fyne.ShortcutRedo:
		e.step(&e.redo, &e.undo)
	case *desktop.CustomShortcut:
		if s.Modifier&^fyne.KeyModifierShift != fyne.KeyModifierShortcutDefault {
			return
		}
		extend := s.Modifier&fyne.KeyModifierShift != 0
		last := len(e.lines) - 1
		switch s.KeyName {
		case fyne.KeyLeft:
			e.moveTo(e.wordLeft(), extend)
		case fyne.KeyRight:
			e.moveTo(e.wordRight(), extend)
		case fyne.KeyHome:
			e.moveTo(textPos{}, extend)
		case fyne.KeyEnd:
			e.moveTo(textPos{last, len(e.lines[last])}, extend)
		case fyne.KeyZ:
			if extend {
				e.step(&e.redo, &e.undo)
			}
		}
	}
}

// copyText is what Copy and Cut take: the selection, or without one the cursor's whole
// line with its line break, as code editors (VS Code, Sublime Text, GoLand) do.
func (e *codeEditor) copyText() string {
	if start, end, ok := e.selection(); ok {
		return e.textBetween(start, end)
	}
	return string(e.lines[e.row]) + "\n"
}

// deleteLine removes the cursor's line (Cut without a selection).
func (e *codeEditor) deleteLine() {
	if len(e.lines) == 1 {
		e.lines[0], e.col = []rune{}, 0
		return
	}
	e.lines = append(e.lines[:e.row], e.lines[e.row+1:]...)
	e.row = min(e.row, len(e.lines)-1)
	e.col = min(e.col, len(e.lines[e.row]))
}

// charClass sorts runes for word moves and double-click: spaces, word characters, symbols.
func charClass(r rune) int {
	switch {
	case unicode.IsSpace(r):
		return 0
	case r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
		return 1
	}
	return 2
}

// wordLeft is the start of the word before the cursor (the end of the line above at a
// line's start).
func (e *codeEditor) wordLeft() textPos {
	if e.col == 0 {
		if e.row == 0 {
			return textPos{}
		}
		return textPos{e.row - 1, len(e.lines[e.row-1])}
	}
	l, c := e.lines[e.row], e.col
	for c > 0 && charClass(l[c-1]) == 0 {
		c--
	}
	if c > 0 {
		class := charClass(l[c-1])
		for c > 0 && charClass(l[c-1]) == class {
			c--
		}
	}
	return textPos{e.row, c}
}

// wordRight is the end of the word after the cursor (the start of the next line at a
// line's end).
func (e *codeEditor) wordRight() textPos {
	l, c := e.lines[e.row], e.col
	if c == len(l) {
		if e.row == len(e.lines)-1 {
			return textPos{e.row, c}
		}
		return textPos{e.row + 1, 0}
	}
	for c < len(l) && charClass(l[c]) == 0 {
		c++
	}
	if c < len(l) {
		class := charClass(l[c])
		for c < len(l) && charClass(l[c]) == class {
			c++
		}
	}
	return textPos{e.row, c}
}

// moveRows moves the cursor n rows down (up when negative), keeping to the display column
// it had before the first of a run of such moves, as code editors do across tabs and
// shorter lines.
func (e *codeEditor) moveRows(n int, extend bool) {
	goal := e.goalCol
	if goal < 0 {
		goal = displayCol(e.lines[e.row], e.col)
	}
	row := min(max(e.row+n, 0), len(e.lines)-1)
	e.moveTo(textPos{row, runeAt(e.lines[row], float32(goal), true)}, extend)
	e.goalCol = goal
}

func (e *codeEditor) pageRows() int {
	h := e.scroll.Size().Height / e.cellSize().Height
	return max(int(h)-1, 1)
}

// showCursor scrolls so that the cursor is in view.
func (e *codeEditor) showCursor() {
	e.showRow(e.row)
	cs, view := e.cellSize(), e.scroll.Size().Width
	if view <= 0 {
		return
	}
	left := float32(e.gutter()+displayCol(e.lines[e.row], e.col)) * cs.Width
	off := e.scroll.Offset
	switch {
	case e.col == 0 && off.X > 0:
		off.X = 0 // the line numbers come back into view at a line's start
	case left < off.X:
		off.X = max(left-float32(e.gutter())*cs.Width, 0) // a little of what is before, too
	case left+cs.Width > off.X+view:
		off.X = left + cs.Width - view
	default:
		return
	}
	e.scroll.ScrollToOffset(off)
}

// showRow scrolls so that row is in view.
func (e *codeEditor) showRow(row int) {
	h := e.cellSize().Height
	top, view := float32(row)*h, e.scroll.Size().Height
	off := e.scroll.Offset
	switch {
	case view <= 0:
		return
	case top < off.Y:
		off.Y = top
	case top+h > off.Y+view:
		off.Y = top + h - view
	default:
		return
	}
	e.scroll.ScrollToOffset(off)
}
