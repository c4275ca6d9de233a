package rules

import (
	"image/color"
	"strings"

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

// codeEditor is a small Go source editor: line numbers, syntax highlighting by chroma, the
// line of a compile error marked, and the keys a code editor needs (arrows, Home/End, Page
// Up/Down, Tab, Return with indentation, Backspace/Delete, select all, copy, cut, paste). It
// is read-only while the rule is visual. Widget state changes only on the Fyne goroutine.
type codeEditor struct {
	widget.BaseWidget
	grid   *widget.TextGrid
	scroll *container.Scroll

	lines    [][]rune
	row, col int  // the cursor, in runes
	all      bool // everything is selected (select all); typing replaces it
	readOnly bool
	focused  bool
	errLine  int // 1-based line of the compile error, 0 for none

	// OnChanged is called after every edit with the new source.
	OnChanged func(src string)
}

func newCodeEditor() *codeEditor {
	e := &codeEditor{grid: widget.NewTextGrid(), lines: [][]rune{{}}}
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
	e.row, e.col, e.all = 0, 0, false
	e.render()
	e.scroll.ScrollToTop()
}

// Text returns the source.
func (e *codeEditor) Text() string {
	parts := make([]string, len(e.lines))
	for i, l := range e.lines {
		parts[i] = string(l)
	}
	return strings.Join(parts, "\n")
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

// render draws the source with its highlighting, the error line, the selection and the cursor.
func (e *codeEditor) render() {
	types := highlight(e.lines, e.Text())
	errBG := withAlpha(theme.Color(theme.ColorNameError), 0x40)
	selBG := theme.Color(theme.ColorNameSelection)
	cursor := &widget.CustomTextGridStyle{FGColor: theme.Color(theme.ColorNameBackground), BGColor: theme.Color(theme.ColorNamePrimary)}
	rows := make([]widget.TextGridRow, len(e.lines))
	for i, l := range e.lines {
		var cells []widget.TextGridCell
		for j, r := range l {
			st := tokenStyle(types[i][j])
			if e.all {
				st = withBackground(st, selBG)
			}
			if e.focused && !e.readOnly && i == e.row && j == e.col {
				st = cursor
			}
			if r == '\t' {
				w := tabWidth - len(cells)%tabWidth
				cells = append(cells, widget.TextGridCell{Rune: ' ', Style: st})
				for k := 1; k < w; k++ {
					cells = append(cells, widget.TextGridCell{Rune: ' ', Style: withBackground(nil, bgOf(st, e.all, selBG))})
				}
				continue
			}
			cells = append(cells, widget.TextGridCell{Rune: r, Style: st})
		}
		// Every row ends with a blank cell: the cursor's place at the end of the line, and a
		// guard for Fyne 2.7's TextGrid, which indexes past its cells when line numbers are
		// shown and no row has any.
		var end widget.TextGridStyle
		if e.focused && !e.readOnly && i == e.row && e.col >= len(l) {
			end = cursor
		}
		cells = append(cells, widget.TextGridCell{Rune: ' ', Style: end})
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

// cellSize is the size of one character cell.
func (e *codeEditor) cellSize() fyne.Size {
	p := e.grid.PositionForCursorLocation(1, 1)
	if p.X <= 0 || p.Y <= 0 {
		return fyne.MeasureText("M", theme.TextSize(), fyne.TextStyle{Monospace: true})
	}
	return fyne.NewSize(p.X, p.Y)
}

// gutter is the width of the line numbers, in cells.
func (e *codeEditor) gutter() int {
	n, d := len(e.lines), 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d + 1
}

// runeAt maps a display column of a line to the rune index under it.
func runeAt(l []rune, display int) int {
	x := 0
	for i, r := range l {
		w := 1
		if r == '\t' {
			w = tabWidth - x%tabWidth
		}
		if display < x+w {
			return i
		}
		x += w
	}
	return len(l)
}

// Tapped places the cursor under the pointer and takes the keyboard.
func (e *codeEditor) Tapped(ev *fyne.PointEvent) {
	if c := fyne.CurrentApp().Driver().CanvasForObject(e); c != nil {
		c.Focus(e)
	}
	cs := e.cellSize()
	row := int((ev.Position.Y + e.scroll.Offset.Y) / cs.Height)
	col := int((ev.Position.X+e.scroll.Offset.X)/cs.Width) - e.gutter()
	e.row = min(max(row, 0), len(e.lines)-1)
	e.col = runeAt(e.lines[e.row], max(col, 0))
	e.all = false
	e.render()
}

// Cursor shows the text cursor over the editor.
func (e *codeEditor) Cursor() desktop.Cursor { return desktop.TextCursor }

func (e *codeEditor) FocusGained() { e.focused = true; e.render() }
func (e *codeEditor) FocusLost()   { e.focused = false; e.render() }

// AcceptsTab keeps Tab in the editor (it indents) instead of moving the focus.
func (e *codeEditor) AcceptsTab() bool { return !e.readOnly }

// TypedRune inserts a character at the cursor.
func (e *codeEditor) TypedRune(r rune) {
	if e.readOnly {
		return
	}
	e.insert(string(r))
}

// insert puts text at the cursor (replacing everything when all is selected).
func (e *codeEditor) insert(text string) {
	if e.all {
		e.lines, e.row, e.col, e.all = [][]rune{{}}, 0, 0, false
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
	e.changed()
}

func (e *codeEditor) changed() {
	e.render()
	e.showRow(e.row)
	if e.OnChanged != nil {
		e.OnChanged(e.Text())
	}
}

// TypedKey handles editing and movement keys.
func (e *codeEditor) TypedKey(ev *fyne.KeyEvent) {
	move := func(row, col int) {
		e.row = min(max(row, 0), len(e.lines)-1)
		e.col = min(max(col, 0), len(e.lines[e.row]))
		e.all = false
		e.render()
		e.showRow(e.row)
	}
	switch ev.Name {
	case fyne.KeyLeft:
		if e.col == 0 && e.row > 0 {
			move(e.row-1, len(e.lines[e.row-1]))
		} else {
			move(e.row, e.col-1)
		}
		return
	case fyne.KeyRight:
		if e.col >= len(e.lines[e.row]) && e.row < len(e.lines)-1 {
			move(e.row+1, 0)
		} else {
			move(e.row, e.col+1)
		}
		return
	case fyne.KeyUp:
		move(e.row-1, e.col)
		return
	case fyne.KeyDown:
		move(e.row+1, e.col)
		return
	case fyne.KeyHome:
		move(e.row, 0)
		return
	case fyne.KeyEnd:
		move(e.row, len(e.lines[e.row]))
		return
	case fyne.KeyPageUp:
		move(e.row-e.pageRows(), e.col)
		return
	case fyne.KeyPageDown:
		move(e.row+e.pageRows(), e.col)
		return
	}
	if e.readOnly {
		return
	}
	switch ev.Name {
	case fyne.KeyReturn, fyne.KeyEnter:
		l := e.lines[e.row]
		indent := 0
		for indent < len(l) && l[indent] == '\t' {
			indent++
		}
		if e.col > 0 && l[e.col-1] == '{' {
			indent++
		}
		e.insert("\n" + strings.Repeat("\t", indent))
	case fyne.KeyTab:
		e.insert("\t")
	case fyne.KeyBackspace:
		if e.all {
			e.insert("")
			return
		}
		switch {
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
			return
		}
		e.changed()
	case fyne.KeyDelete:
		if e.all {
			e.insert("")
			return
		}
		l := e.lines[e.row]
		switch {
		case e.col < len(l):
			e.lines[e.row] = append(l[:e.col:e.col], l[e.col+1:]...)
		case e.row < len(e.lines)-1:
			e.lines[e.row] = append(l[:len(l):len(l)], e.lines[e.row+1]...)
			e.lines = append(e.lines[:e.row+1], e.lines[e.row+2:]...)
		default:
			return
		}
		e.changed()
	}
}

// TypedShortcut handles select all, copy, cut and paste.
func (e *codeEditor) TypedShortcut(s fyne.Shortcut) {
	cb := fyne.CurrentApp().Clipboard()
	switch s.(type) {
	case *fyne.ShortcutSelectAll:
		e.all = true
		e.render()
	case *fyne.ShortcutCopy:
		cb.SetContent(e.copyText())
	case *fyne.ShortcutCut:
		cb.SetContent(e.copyText())
		if !e.readOnly && e.all {
			e.insert("")
		}
	case *fyne.ShortcutPaste:
		if !e.readOnly {
			e.insert(cb.Content())
		}
	}
}

// copyText is the selection: everything when all is selected, else the cursor's line.
func (e *codeEditor) copyText() string {
	if e.all {
		return e.Text()
	}
	return string(e.lines[e.row]) + "\n"
}

func (e *codeEditor) pageRows() int {
	h := e.scroll.Size().Height / e.cellSize().Height
	return max(int(h)-1, 1)
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
