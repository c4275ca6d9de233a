package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/tandemsync/tandem/core/agent"
	"github.com/tandemsync/tandem/core/item"
	"github.com/tandemsync/tandem/core/rules/model"
)

// The transform kinds and conflict policies as the operator reads them.
var (
	kindLabels = map[string]string{
		model.Copy:       "copy",
		model.Map:        "value map",
		model.Mask:       "mask",
		model.Regex:      "replace (regular expression)",
		model.Fixed:      "fixed value",
		model.Affix:      "prefix / suffix",
		model.Truncate:   "truncate",
		model.Tokenize:   "tokenize (the value stays here)",
		model.Detokenize: "detokenize (tokens back to values)",
		model.MapUsers:   "user map",
		model.Drop:       "drop (do not sync)",
	}
	conflictLabels = []string{"the partner's change wins", "a local change wins", "the partner always wins"}
	conflictValues = []string{model.ConflictPartner, model.ConflictLocal, model.ConflictOverwrite}
	includeLabels  = []string{"none", "public comments only", "all, internal notes included"}
	includeValues  = []string{model.CommentsNone, model.CommentsPublic, model.CommentsAll}
	authorLabels   = []string{"as the partner names them", "through the user map"}
	authorValues   = []string{model.AuthorPartner, model.AuthorMapped}
)

func kindOfLabel(label string) string {
	for k, l := range kindLabels {
		if l == label {
			return k
		}
	}
	return label
}

// valueOf maps a label to its value in parallel lists.
func valueOf(labels, values []string, label string) string {
	if i := slices.Index(labels, label); i >= 0 {
		return values[i]
	}
	return ""
}

func labelOf(labels, values []string, value string) string {
	if i := slices.Index(values, value); i >= 0 {
		return labels[i]
	}
	return ""
}

// visualEditor is the Visual tab: trigger, mappings, user map and comments of the draft's
// model. It rebuilds its rows from the model when mappings or conditions are added, removed
// or moved, and writes every other change straight into the model.
type visualEditor struct {
	s       *Screen
	filling bool // widgets are being filled from the model: their callbacks change nothing

	scriptNote *fyne.Container // shown instead of the editor while the rule is a script
	editor     *fyne.Container
	problem    *widget.Label

	match        *widget.Select
	conds        *fyne.Container
	condRows     []*conditionRow
	addCondition *widget.Button
	maps         *fyne.Container
	rows         []*mappingRow
	addMapping   *widget.Button

	people      *fyne.Container
	personRows  []*personRow
	addPerson   *widget.Button
	defaultID   *widget.Entry
	defaultName *widget.Entry
	keepUnknown *widget.Check

	include       *widget.RadioGroup
	maskEmails    *widget.Check
	author        *widget.RadioGroup
	followEdits   *widget.Check
	followDeletes *widget.Check
	incomingOnly  *fyne.Container
	outgoingOnly  *fyne.Container
	triggerHelp   *widget.Label
}

// hint is a line that explains a control in plain words: readable, set apart in italics.
func hint(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	l.TextStyle = fyne.TextStyle{Italic: true}
	return l
}

func section(title string) *widget.Label {
	return widget.NewLabelWithStyle(title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
}

func (v *visualEditor) build(s *Screen) fyne.CanvasObject {
	v.s = s
	v.problem = widget.NewLabel("")
	v.problem.Wrapping = fyne.TextWrapWord
	v.problem.Importance = widget.DangerImportance
	v.problem.Hide()

	v.match = widget.NewSelect([]string{"all", "any"}, func(string) { v.changed() })
	v.triggerHelp = hint("")
	v.conds = container.NewVBox()
	v.addCondition = widget.NewButtonWithIcon("Add condition", theme.ContentAddIcon(), func() {
		m := v.model()
		m.Trigger.Conditions = append(m.Trigger.Conditions, model.Condition{Field: item.FieldStatus, Op: model.OpIs})
		v.fill()
		v.changed()
	})

	v.maps = container.NewVBox()
	v.addMapping = widget.NewButtonWithIcon("Add mapping", theme.ContentAddIcon(), func() {
		m := v.model()
		m.Mappings = append(m.Mappings, model.Mapping{Source: item.FieldTitle, Target: freeTarget(m), Transform: model.Transform{Kind: model.Copy}})
		v.fill()
		v.changed()
	})

	v.people = container.NewVBox()
	v.addPerson = widget.NewButtonWithIcon("Add person", theme.ContentAddIcon(), func() {
		m := v.model()
		m.Users.Entries = append(m.Users.Entries, model.UserEntry{})
		v.fill()
		v.changed()
	})
	v.defaultID = widget.NewEntry()
	v.defaultID.SetPlaceHolder("id, e.g. desk")
	v.defaultName = widget.NewEntry()
	v.defaultName.SetPlaceHolder("name, e.g. Service desk")
	setDefault := edit(v, func(string) {
		v.model().Users.Default = model.User{ID: strings.TrimSpace(v.defaultID.Text), Name: strings.TrimSpace(v.defaultName.Text)}
	})
	v.defaultID.OnChanged, v.defaultName.OnChanged = setDefault, setDefault
	v.keepUnknown = widget.NewCheck("Keep people the map does not know as they are (instead of the default)", edit(v, func(on bool) {
		v.model().Users.KeepUnknown = on
	}))

	v.include = widget.NewRadioGroup(includeLabels, choose(v, func(label string) {
		v.model().Comments.Include = valueOf(includeLabels, includeValues, label)
	}))
	v.include.Horizontal = true
	v.include.Required = true
	v.maskEmails = widget.NewCheck("Mask e-mail addresses in comments", edit(v, func(on bool) {
		v.model().Comments.MaskEmails = on
	}))
	v.author = widget.NewRadioGroup(authorLabels, choose(v, func(label string) {
		v.model().Comments.Author = valueOf(authorLabels, authorValues, label)
	}))
	v.author.Horizontal = true
	v.author.Required = true
	v.followEdits = widget.NewCheck("Edits of synced comments follow (in place here, or as a follow-up comment in Request Tracker)", edit(v, func(on bool) {
		v.model().Comments.IgnoreEdits = !on
	}))
	v.followDeletes = widget.NewCheck("Deletions of synced comments follow (or leave a short note where comments cannot be deleted)", edit(v, func(on bool) {
		v.model().Comments.IgnoreDeletions = !on
	}))
	v.incomingOnly = container.NewVBox(
		widget.NewLabel("Authors of the partner's comments are shown:"), v.author, v.followEdits, v.followDeletes)
	v.outgoingOnly = container.NewVBox(v.maskEmails)

	back := widget.NewButtonWithIcon("Back to visual…", theme.NavigateBackIcon(), func() { v.s.script.backToVisual() })
	v.scriptNote = container.NewVBox(
		hint("This rule is a script now, so the visual editor does not change it. Edit it in the Script tab, "+
			"or go back to the visual rule it started from: you will see what the script's changes would lose first."),
		container.NewHBox(back),
	)
	v.scriptNote.Hide()

	v.editor = container.NewVBox(
		v.problem,
		section("Trigger"),
		v.triggerHelp,
		container.NewHBox(widget.NewLabel("Take items that match"), v.match, widget.NewLabel("of these conditions (none: every item):")),
		v.conds,
		container.NewHBox(v.addCondition),
		widget.NewSeparator(),
		section("Field mappings"),
		hint("Each mapping fills one field on the other side from one field on this side, through one transform. "+
			"Fields not mapped are not synced. Custom fields are named custom.NAME, e.g. custom.Queue."),
		v.maps,
		container.NewHBox(v.addMapping),
		widget.NewSeparator(),
		section("User map"),
		hint("People on the other side (by e-mail, name or id) and who they are here; used by mappings of kind \"user map\" "+
			"and, if chosen below, for comment authors."),
		v.people,
		container.NewHBox(v.addPerson),
		container.NewBorder(nil, nil, widget.NewLabel("Anyone else becomes:"), nil, container.NewGridWithColumns(2, v.defaultID, v.defaultName)),
		v.keepUnknown,
		widget.NewSeparator(),
		section("Comments"),
		container.NewHBox(widget.NewLabel("Comments that travel:"), v.include),
		v.outgoingOnly,
		v.incomingOnly,
	)
	return container.NewVScroll(container.NewVBox(v.scriptNote, v.editor))
}

// model is the draft's model.
func (v *visualEditor) model() *model.Rule { return v.s.cur.model }

// show fills the tab from the draft.
func (v *visualEditor) show() {
	d := v.s.cur
	if d == nil {
		return
	}
	if d.mode == agent.RuleScript {
		v.scriptNote.Show()
		v.editor.Hide()
		return
	}
	v.scriptNote.Hide()
	v.editor.Show()
	v.fill()
	v.showProblem()
}

// fill rebuilds the rows and sets every control from the model.
func (v *visualEditor) fill() {
	m := v.model()
	in := m.Direction == model.Incoming
	v.filling = true
	defer func() { v.filling = false }()
	if in {
		v.triggerHelp.SetText("Which of the partner's items are accepted here. An item outside the trigger is not applied.")
		v.incomingOnly.Show()
		v.outgoingOnly.Hide()
	} else {
		v.triggerHelp.SetText("Which local items are sent to the partner. An item that leaves the trigger stops syncing; the partner's copy is not deleted.")
		v.incomingOnly.Hide()
		v.outgoingOnly.Show()
	}
	match := m.Trigger.Match
	if match == "" {
		match = model.MatchAll
	}
	v.match.SetSelected(match)

	v.condRows = v.condRows[:0]
	var conds []fyne.CanvasObject
	for i := range m.Trigger.Conditions {
		r := newConditionRow(v, i)
		v.condRows = append(v.condRows, r)
		conds = append(conds, r.box)
	}
	v.conds.Objects = conds
	v.conds.Refresh()

	v.rows = v.rows[:0]
	var rows []fyne.CanvasObject
	for i := range m.Mappings {
		r := newMappingRow(v, i)
		v.rows = append(v.rows, r)
		rows = append(rows, r.box)
	}
	if len(rows) == 0 {
		rows = append(rows, hint("No mappings: nothing but the comments chosen below is synced."))
	}
	v.maps.Objects = rows
	v.maps.Refresh()

	v.personRows = v.personRows[:0]
	var people []fyne.CanvasObject
	for i := range m.Users.Entries {
		r := newPersonRow(v, i)
		v.personRows = append(v.personRows, r)
		people = append(people, r.box)
	}
	v.people.Objects = people
	v.people.Refresh()
	v.defaultID.SetText(m.Users.Default.ID)
	v.defaultName.SetText(m.Users.Default.Name)
	v.keepUnknown.SetChecked(m.Users.KeepUnknown)

	v.include.SetSelected(labelOf(includeLabels, includeValues, m.Comments.Include))
	v.maskEmails.SetChecked(m.Comments.MaskEmails)
	author := m.Comments.Author
	if author == "" {
		author = model.AuthorPartner
	}
	v.author.SetSelected(labelOf(authorLabels, authorValues, author))
	v.followEdits.SetChecked(!m.Comments.IgnoreEdits)
	v.followDeletes.SetChecked(!m.Comments.IgnoreDeletions)
}

// edit makes a control's callback: set applies the operator's input to the rule, then the
// change is recorded; while the form is being filled from the rule, nothing happens.
func edit[T any](v *visualEditor, set func(T)) func(T) {
	return func(x T) {
		if v.filling {
			return
		}
		set(x)
		v.changed()
	}
}

// choose is edit for a radio group or select, which also calls back with "" when it is cleared:
// a required choice ignores that.
func choose(v *visualEditor, set func(label string)) func(string) {
	return edit(v, func(label string) {
		if label != "" {
			set(label)
		}
	})
}

// changed records an edit of the model.
func (v *visualEditor) changed() {
	if v.filling || v.s.cur == nil {
		return
	}
	if m := v.model(); v.match.Selected != "" {
		m.Trigger.Match = v.match.Selected
	}
	for _, r := range v.rows {
		r.describe()
	}
	v.showProblem()
	v.s.edited()
}

// showProblem says what keeps the rule from generating, naming the mapping.
func (v *visualEditor) showProblem() {
	if err := v.model().Validate(); err != nil {
		v.problem.SetText("This rule cannot be saved yet: " + err.Error())
		v.problem.Show()
		return
	}
	v.problem.Hide()
}

// freeTarget is a core field no mapping fills yet, for a new mapping.
func freeTarget(m *model.Rule) string {
	for _, f := range item.CoreFields() {
		if _, used := m.Mapping(f); !used {
			return f
		}
	}
	return item.CustomPrefix + "field" + strconv.Itoa(len(m.Mappings)+1)
}

// fieldChoices are the fields offered for a source or target; custom fields are typed.
func fieldChoices(d model.Direction, source bool) []string {
	out := item.CoreFields()
	if source && d == model.Outgoing {
		out = append(out, model.FieldKey)
	}
	return append(out, item.CustomPrefix+"NAME")
}

// conditionRow edits one trigger condition.
type conditionRow struct {
	field  *widget.SelectEntry
	op     *widget.Select
	value  *widget.Entry
	remove *widget.Button
	box    fyne.CanvasObject
}

func newConditionRow(v *visualEditor, i int) *conditionRow {
	m := v.model()
	c := m.Trigger.Conditions[i]
	r := &conditionRow{}
	cond := func() *model.Condition { return &v.model().Trigger.Conditions[i] }
	r.field = widget.NewSelectEntry(fieldChoices(m.Direction, false))
	r.field.SetText(c.Field)
	r.field.OnChanged = edit(v, func(f string) {
		cond().Field = strings.TrimSpace(f)
	})
	r.value = widget.NewEntry()
	r.op = widget.NewSelect(model.Ops, edit(v, func(op string) {
		cond().Op = op
		r.showValue(op)
		r.value.SetText(r.value.Text) // re-store the value in the form the operator needs
	}))
	r.op.SetSelected(c.Op)
	if c.Op == model.OpOneOf || c.Op == model.OpNotOneOf {
		r.value.SetText(strings.Join(c.Values, ", "))
	} else {
		r.value.SetText(c.Value)
	}
	r.value.OnChanged = edit(v, func(text string) {
		cd := cond()
		if cd.Op == model.OpOneOf || cd.Op == model.OpNotOneOf {
			cd.Value, cd.Values = "", splitList(text)
		} else {
			cd.Value, cd.Values = text, nil
		}
	})
	r.showValue(c.Op)
	r.remove = widget.NewButtonWithIcon("", theme.DeleteIcon(), func() {
		cs := &v.model().Trigger.Conditions
		*cs = slices.Delete(*cs, i, i+1)
		v.fill()
		v.changed()
	})
	r.box = container.NewBorder(nil, nil, container.NewHBox(container.NewGridWrap(fyne.NewSize(170, r.field.MinSize().Height), r.field), r.op), r.remove, r.value)
	return r
}

func (r *conditionRow) showValue(op string) {
	switch op {
	case model.OpEmpty, model.OpNotEmpty:
		r.value.Hide()
	case model.OpOneOf, model.OpNotOneOf:
		r.value.SetPlaceHolder("values, separated by commas")
		r.value.Show()
	case model.OpMatches:
		r.value.SetPlaceHolder(`a regular expression, e.g. ^\[EXT\]`)
		r.value.Show()
	default:
		r.value.SetPlaceHolder("value (case does not matter)")
		r.value.Show()
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// personRow edits one user map entry.
type personRow struct {
	match, id, name *widget.Entry
	box             fyne.CanvasObject
}

func newPersonRow(v *visualEditor, i int) *personRow {
	e := v.model().Users.Entries[i]
	r := &personRow{match: widget.NewEntry(), id: widget.NewEntry(), name: widget.NewEntry()}
	r.match.SetPlaceHolder("their e-mail, name or id")
	r.id.SetPlaceHolder("local id")
	r.name.SetPlaceHolder("local name")
	r.match.SetText(e.Match)
	r.id.SetText(e.User.ID)
	r.name.SetText(e.User.Name)
	set := edit(v, func(string) {
		ent := &v.model().Users.Entries[i]
		ent.Match = strings.TrimSpace(r.match.Text)
		ent.User.ID, ent.User.Name = strings.TrimSpace(r.id.Text), strings.TrimSpace(r.name.Text)
	})
	r.match.OnChanged, r.id.OnChanged, r.name.OnChanged = set, set, set
	remove := widget.NewButtonWithIcon("", theme.DeleteIcon(), func() {
		es := &v.model().Users.Entries
		*es = slices.Delete(*es, i, i+1)
		v.fill()
		v.changed()
	})
	r.box = container.NewBorder(nil, nil, nil, remove, container.NewGridWithColumns(2, r.match,
		container.NewBorder(nil, nil, widget.NewLabel("→"), nil, container.NewGridWithColumns(2, r.id, r.name))))
	return r
}

// mappingRow edits one mapping: source, target, transform and its details, first sync only,
// conflict policy, and its place in the list.
type mappingRow struct {
	v        *visualEditor
	i        int
	source   *widget.SelectEntry
	target   *widget.SelectEntry
	kind     *widget.Select
	words    *widget.Label // what the mapping does, in plain words
	first    *widget.Check
	conflict *widget.Select
	details  *fyne.Container
	up, down *widget.Button
	remove   *widget.Button
	box      fyne.CanvasObject

	// the value map's rows, for the value-map editor
	pairs    []*pairRow
	addValue *widget.Button
	other    *widget.RadioGroup
	def      *widget.Entry
	// other details' entries by name ("keep", "char", "pattern", ...)
	entries map[string]*widget.Entry
}

type pairRow struct {
	from, to *widget.Entry
}

func (r *mappingRow) m() *model.Mapping { return &r.v.model().Mappings[r.i] }

func newMappingRow(v *visualEditor, i int) *mappingRow {
	mdl := v.model()
	mp := mdl.Mappings[i]
	r := &mappingRow{v: v, i: i, entries: map[string]*widget.Entry{}}
	r.source = widget.NewSelectEntry(fieldChoices(mdl.Direction, true))
	r.source.SetPlaceHolder("source field")
	r.source.SetText(mp.Source)
	r.source.OnChanged = edit(v, func(f string) {
		r.m().Source = strings.TrimSpace(f)
	})
	r.target = widget.NewSelectEntry(fieldChoices(mdl.Direction, false))
	r.target.SetPlaceHolder("target field")
	r.target.SetText(mp.Target)
	r.kind = widget.NewSelect(nil, func(label string) {
		if v.filling || label == "" {
			return
		}
		k := kindOfLabel(label)
		if r.m().Transform.Kind == k {
			return
		}
		r.m().Transform = model.Transform{Kind: k}
		if k == model.Fixed || k == model.Drop {
			r.m().Source = ""
			r.source.SetText("")
		}
		r.showDetails()
		v.changed()
	})
	r.setKinds()
	r.target.OnChanged = edit(v, func(f string) {
		r.m().Target = strings.TrimSpace(f)
		r.setKinds()
	})
	r.words = widget.NewLabel("")
	r.words.Wrapping = fyne.TextWrapWord
	r.words.TextStyle = fyne.TextStyle{Italic: true}
	r.first = widget.NewCheck("first sync only", edit(v, func(on bool) {
		r.m().FirstSyncOnly = on
	}))
	r.first.SetChecked(mp.FirstSyncOnly)
	r.conflict = widget.NewSelect(conflictLabels, edit(v, func(label string) {
		r.m().Conflict = valueOf(conflictLabels, conflictValues, label)
		if r.m().Conflict == model.ConflictPartner {
			r.m().Conflict = ""
		}
	}))
	conflict := mp.Conflict
	if conflict == "" {
		conflict = model.ConflictPartner
	}
	r.conflict.SetSelected(labelOf(conflictLabels, conflictValues, conflict))
	r.up = widget.NewButtonWithIcon("", theme.MoveUpIcon(), func() { r.move(-1) })
	r.down = widget.NewButtonWithIcon("", theme.MoveDownIcon(), func() { r.move(1) })
	r.remove = widget.NewButtonWithIcon("", theme.DeleteIcon(), func() {
		ms := &v.model().Mappings
		*ms = slices.Delete(*ms, i, i+1)
		v.fill()
		v.changed()
	})
	if i == 0 {
		r.up.Disable()
	}
	if i == len(mdl.Mappings)-1 {
		r.down.Disable()
	}
	r.details = container.NewVBox()
	r.showDetails()
	r.describe()

	fieldBox := func(e *widget.SelectEntry) fyne.CanvasObject {
		return container.NewGridWrap(fyne.NewSize(170, e.MinSize().Height), e)
	}
	line := container.NewBorder(nil, nil,
		container.NewHBox(widget.NewLabel(fmt.Sprintf("%d.", i+1)), fieldBox(r.source), widget.NewLabel("→"), fieldBox(r.target), r.kind, r.first),
		container.NewHBox(r.up, r.down, r.remove), layout.NewSpacer())
	words := fyne.CanvasObject(r.words)
	if mdl.Direction == model.Incoming {
		words = container.NewBorder(nil, nil, nil, container.NewHBox(widget.NewLabel("if both sides changed it:"), r.conflict), r.words)
	}
	r.box = container.NewVBox(line, container.NewPadded(container.NewVBox(words, r.details)), widget.NewSeparator())
	return r
}

// setKinds offers the transforms that fit the target field.
func (r *mappingRow) setKinds() {
	d := r.v.model().Direction
	kinds := model.KindsFor(d, r.m().Target)
	if len(kinds) == 0 {
		kinds = model.Kinds
	}
	labels := make([]string, len(kinds))
	for i, k := range kinds {
		labels[i] = kindLabels[k]
	}
	was := r.v.filling
	r.v.filling = true
	r.kind.SetOptions(labels)
	r.kind.SetSelected(kindLabels[r.m().Transform.Kind])
	r.v.filling = was
}

func (r *mappingRow) move(by int) {
	ms := r.v.model().Mappings
	j := r.i + by
	if j < 0 || j >= len(ms) {
		return
	}
	ms[r.i], ms[j] = ms[j], ms[r.i]
	r.v.fill()
	r.v.changed()
}

// describe says what the mapping does now.
func (r *mappingRow) describe() {
	mp := *r.m()
	if mp.Transform.Kind == "" {
		r.words.SetText("Choose a transform.")
		return
	}
	r.words.SetText(model.Describe(mp, r.v.model().Direction) + ".")
}

// entry makes a detail entry bound to a transform setting.
func (r *mappingRow) entry(name, placeholder, value string, set func(t *model.Transform, text string)) *widget.Entry {
	e := widget.NewEntry()
	e.SetPlaceHolder(placeholder)
	e.SetText(value)
	e.OnChanged = func(text string) {
		if r.v.filling {
			return
		}
		set(&r.m().Transform, text)
		r.v.changed()
	}
	r.entries[name] = e
	return e
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

// showDetails shows the controls of the mapping's transform.
func (r *mappingRow) showDetails() {
	was := r.v.filling
	r.v.filling = true
	defer func() { r.v.filling = was }()
	t := r.m().Transform
	r.pairs, r.entries = nil, map[string]*widget.Entry{}
	var objs []fyne.CanvasObject
	labels := r.m().Target == item.FieldLabels
	switch t.Kind {
	case model.Map:
		objs = append(objs, hint("Each value on the left becomes the value on the right (case and surrounding spaces do not matter); the first match wins."))
		for j, p := range t.Values {
			pr := &pairRow{}
			pr.from = r.entry(fmt.Sprintf("from%d", j), "this value", p.From, func(t *model.Transform, s string) { t.Values[j].From = s })
			pr.to = r.entry(fmt.Sprintf("to%d", j), "becomes", p.To, func(t *model.Transform, s string) { t.Values[j].To = s })
			rm := widget.NewButtonWithIcon("", theme.ContentRemoveIcon(), func() {
				tr := &r.m().Transform
				tr.Values = slices.Delete(tr.Values, j, j+1)
				r.showDetails()
				r.v.changed()
			})
			r.pairs = append(r.pairs, pr)
			objs = append(objs, container.NewBorder(nil, nil, nil, rm,
				container.NewGridWithColumns(2, pr.from, container.NewBorder(nil, nil, widget.NewLabel("→"), nil, pr.to))))
		}
		r.addValue = widget.NewButtonWithIcon("Add value", theme.ContentAddIcon(), func() {
			tr := &r.m().Transform
			tr.Values = append(tr.Values, model.Pair{})
			r.showDetails()
			r.v.changed()
		})
		objs = append(objs, container.NewHBox(r.addValue))
		if labels {
			keep := widget.NewCheck("Keep labels not in the map (else they are dropped; map a label to nothing to drop it)", func(on bool) {
				if r.v.filling {
					return
				}
				r.m().Transform.KeepUnmapped = on
				r.v.changed()
			})
			keep.SetChecked(t.KeepUnmapped)
			objs = append(objs, keep)
			break
		}
		r.def = r.entry("default", "the default value", t.Default, func(t *model.Transform, s string) { t.Default = s })
		r.other = widget.NewRadioGroup([]string{"becomes the default:", "stays as it is"}, func(choice string) {
			if r.v.filling || choice == "" {
				return
			}
			r.m().Transform.KeepUnmapped = choice == "stays as it is"
			r.v.changed()
		})
		r.other.Required = true
		if t.KeepUnmapped {
			r.other.SetSelected("stays as it is")
		} else {
			r.other.SetSelected("becomes the default:")
		}
		objs = append(objs, container.NewBorder(nil, nil, container.NewHBox(widget.NewLabel("Anything else"), r.other), nil, r.def))
	case model.Mask:
		emails := widget.NewCheck("Hide only the e-mail addresses in the text (j***@acme.com)", nil)
		keep := r.entry("keep", "characters kept at the end, e.g. 4", strconv.Itoa(t.KeepLast), func(t *model.Transform, s string) { t.KeepLast = atoi(s) })
		char := r.entry("char", "mask character, default *", t.MaskChar, func(t *model.Transform, s string) { t.MaskChar = s })
		rest := container.NewBorder(nil, nil, widget.NewLabel("Keep the last"), nil, container.NewGridWithColumns(2, keep, char))
		emails.OnChanged = func(on bool) {
			if on {
				rest.Hide()
			} else {
				rest.Show()
			}
			if r.v.filling {
				return
			}
			tr := &r.m().Transform
			tr.Emails = on
			if on {
				tr.KeepLast, tr.MaskChar = 0, ""
			}
			r.v.changed()
		}
		emails.SetChecked(t.Emails)
		if t.Emails {
			rest.Hide()
		}
		objs = append(objs, emails, rest)
	case model.Regex:
		objs = append(objs,
			container.NewBorder(nil, nil, widget.NewLabel("Replace every match of"), nil,
				r.entry("pattern", `a regular expression, e.g. \d{4}-\d{4}`, t.Pattern, func(t *model.Transform, s string) { t.Pattern = s })),
			container.NewBorder(nil, nil, widget.NewLabel("with"), nil,
				r.entry("replace", "replacement; $1 is the first group", t.Replace, func(t *model.Transform, s string) { t.Replace = s })))
	case model.Fixed:
		switch r.m().Target {
		case item.FieldAssignee, item.FieldReporter:
			u := model.User{}
			if t.User != nil {
				u = *t.User
			}
			setUser := func(f func(u *model.User, s string)) func(t *model.Transform, s string) {
				return func(t *model.Transform, s string) {
					if t.User == nil {
						t.User = &model.User{}
					}
					f(t.User, strings.TrimSpace(s))
				}
			}
			objs = append(objs, container.NewGridWithColumns(3,
				r.entry("userID", "id", u.ID, setUser(func(u *model.User, s string) { u.ID = s })),
				r.entry("userName", "name", u.Name, setUser(func(u *model.User, s string) { u.Name = s })),
				r.entry("userEmail", "e-mail", u.Email, setUser(func(u *model.User, s string) { u.Email = s }))))
		default:
			ph := "the value"
			if labels {
				ph = "labels, separated by commas"
			}
			objs = append(objs, container.NewBorder(nil, nil, widget.NewLabel("Always"), nil,
				r.entry("value", ph, t.Value, func(t *model.Transform, s string) { t.Value = s })))
		}
	case model.Affix:
		objs = append(objs, container.NewGridWithColumns(2,
			r.entry("prefix", "text before, e.g. [Blue] ", t.Prefix, func(t *model.Transform, s string) { t.Prefix = s }),
			r.entry("suffix", "text after", t.Suffix, func(t *model.Transform, s string) { t.Suffix = s })))
	case model.Truncate:
		objs = append(objs, container.NewBorder(nil, nil, widget.NewLabel("At most"), widget.NewLabel("characters"),
			r.entry("max", "e.g. 120", strconv.Itoa(t.Max), func(t *model.Transform, s string) { t.Max = atoi(s) })))
	case model.Tokenize:
		objs = append(objs, hint("The partner receives a token such as tok_3fk…; the value stays in this agent's vault, encrypted with a key in the OS keychain. When the token comes back, an incoming detokenize mapping turns it into the value again."))
	case model.Detokenize:
		objs = append(objs, hint("Tokens this agent issued (in the partner's replica) become their original values again; any other text stays as it is."))
	case model.MapUsers:
		objs = append(objs, hint("People are mapped through the user map below."))
	}
	r.details.Objects = objs
	r.details.Refresh()
}
