package rules

import (
	"fmt"
	"go/ast"
	"go/token"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/traefik/yaegi/interp"
)

// maxDepth bounds nested rule function calls. yaegi runs interpreted calls on the Go stack,
// and endless recursion would exceed Go's stack limit, which is a fatal error for the whole
// process, not a panic, and comes well before the run's deadline. 5000 levels fit in 64 MB
// of stack, against Go's 1 GB limit; 1000 also keeps the unwinding of the guard's panic,
// which costs yaegi time quadratic in the depth, to tens of milliseconds.
const maxDepth = 1000

// guardPkg is the hidden package through which instrumented code reports its depth and
// line; rules cannot import it or name guardName (see check).
const (
	guardPkg  = "tandemguard"
	guardName = "__tandemGuard"
)

// ErrTooDeep is the panic value when a rule nests calls deeper than maxDepth.
var ErrTooDeep = fmt.Errorf("rule calls nested deeper than %d (endless recursion?)", maxDepth)

// guard follows a run of instrumented code: its call depth, and the line of the statement
// it last started, which is where a panic happened (yaegi itself reports only roughly
// where). Both are package variables of the interpreted rule (lineVar and depthVar), which
// instrumented code sets with plain assignments: a call into Go for every statement, as the
// guard first made, costs a reflective call each and was nearly half of a generated rule's
// run. line and depth are the interpreter's own storage of those variables, read and reset
// from Go. Runs of a program are serialized and rules have no goroutines, so one guard per
// program is exact.
type guard struct {
	line, depth reflect.Value
}

// Names of the variables instrumented code keeps its line and depth in; rules cannot name
// them (see check).
const (
	lineVar  = "__tandemLine"
	depthVar = "__tandemDepth"
)

// bind finds the rule's guard variables in the compiled package pkg.
func (g *guard) bind(in *interp.Interpreter, pkg string) error {
	for _, v := range []struct {
		name string
		to   *reflect.Value
	}{{lineVar, &g.line}, {depthVar, &g.depth}} {
		val, err := in.Eval(pkg + "." + v.name)
		if err != nil {
			return err
		}
		if !val.CanSet() || val.Kind() != reflect.Int {
			return fmt.Errorf("rule guard variable %s is not a settable int", v.name)
		}
		*v.to = val
	}
	return nil
}

func (g *guard) reset() {
	g.depth.SetInt(0)
	g.line.SetInt(0)
}

// lastLine is the line of the statement the run last started.
func (g *guard) lastLine() int64 { return g.line.Int() }

// guardSymbols is the Go side of the guard: only what instrumented code calls when a rule
// nests too deep.
func guardSymbols() map[string]reflect.Value {
	return map[string]reflect.Value{
		"TooDeep": reflect.ValueOf(func() { panic(ErrTooDeep) }),
	}
}

// insertion is text added to a line of the rule; none holds a newline, so line numbers
// never change and only columns on the line need mapping back.
type insertion struct {
	off, line, col int // where, in the original source
	text           string
}

// instrumented is a rule's source with the guard's calls added, and the means to map
// positions in it back to the rule writer's source.
type instrumented struct {
	src     string
	name    string
	perLine map[int][]insertion // sorted by col
}

// instrument adds the hidden import on the package line, a depth guard at the start of every
// function body that rule code can call (see callable), a line marker before every
// statement, and the guard's variables on a line of their own after the last.
func instrument(fset *token.FileSet, f *ast.File, name, src string) *instrumented {
	called := callable(f)
	var ins []insertion
	add := func(pos token.Pos, shift int, text string) {
		p := fset.Position(pos)
		ins = append(ins, insertion{off: p.Offset + shift, line: p.Line, col: p.Column + shift, text: text})
	}
	add(f.Name.End(), 0, fmt.Sprintf("; import %s %q", guardName, guardPkg))
	enter := fmt.Sprintf(" %[1]s++; if %[1]s > %[2]d { %[3]s.TooDeep() }; defer func() { %[1]s-- }();", depthVar, maxDepth, guardName)
	mark := func(list []ast.Stmt) {
		for _, s := range list {
			add(s.Pos(), 0, fmt.Sprintf("%s = %d; ", lineVar, fset.Position(s.Pos()).Line))
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncDecl:
			if n.Body != nil && (n.Recv != nil || called[n.Name.Name]) {
				add(n.Body.Lbrace, 1, enter)
			}
		case *ast.FuncLit:
			add(n.Body.Lbrace, 1, enter)
		case *ast.BlockStmt:
			mark(n.List)
		case *ast.CaseClause:
			mark(n.Body)
		}
		return true
	})
	sort.SliceStable(ins, func(i, j int) bool { return ins[i].off < ins[j].off })
	out := &instrumented{name: name, perLine: map[int][]insertion{}}
	var b strings.Builder
	last := 0
	for _, in := range ins {
		b.WriteString(src[last:in.off])
		b.WriteString(in.text)
		last = in.off
		out.perLine[in.line] = append(out.perLine[in.line], in)
	}
	b.WriteString(src[last:])
	fmt.Fprintf(&b, "\nvar %s, %s int\n", lineVar, depthVar)
	out.src = b.String()
	return out
}

// callable returns the names of the file's functions that rule code may call: those whose
// name appears anywhere but in their own declaration. Only those need the depth guard:
// recursion is a cycle of calls made by rule code, and a function nobody names (Outgoing
// and Incoming, in a generated rule and in most scripts) is called from Go alone, once per
// run. Methods and function literals are always guarded. A name shadowed by a local
// variable counts as a use, which only guards more than needed.
func callable(f *ast.File) map[string]bool {
	decls := map[*ast.Ident]bool{}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok {
			decls[fd.Name] = true
		}
	}
	used := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && !decls[id] {
			used[id.Name] = true
		}
		return true
	})
	return used
}

// column maps a column of the instrumented line back to the original line.
func (s *instrumented) column(line, col int) int {
	shift := 0
	for _, in := range s.perLine[line] {
		start := in.col + shift // where the insertion begins in the instrumented line
		if col < start {
			break
		}
		if col < start+len(in.text) {
			return in.col // inside our own text: point at what follows it
		}
		shift += len(in.text)
	}
	return col - shift
}

var positionRE = regexp.MustCompile(`(^|[\s(])([^\s:()]+):(\d+):(\d+)`)

// fix rewrites every "name:line:col" of s that names the rule to the original column.
func (s *instrumented) fix(msg string) string {
	return positionRE.ReplaceAllStringFunc(msg, func(m string) string {
		sub := positionRE.FindStringSubmatch(m)
		if sub[2] != s.name {
			return m
		}
		line, _ := strconv.Atoi(sub[3])
		col, _ := strconv.Atoi(sub[4])
		return fmt.Sprintf("%s%s:%d:%d", sub[1], sub[2], line, s.column(line, col))
	})
}
