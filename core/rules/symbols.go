package rules

import (
	"reflect"
	"sort"
	"strings"

	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"

	"github.com/tandemsync/tandem/core/item"
)

// apiPath is the import path of the rule API inside the interpreter.
const apiPath = "tandem"

// allowedStd lists the standard packages a rule may import. Only those yaegi extracts for
// this Go version are offered; Allowed reports the final list.
var allowedStd = []string{
	"bytes", "errors", "fmt", "math", "regexp", "sort", "strconv", "strings", "time",
	"unicode", "unicode/utf8",
}

// unavailable explains standard packages that look harmless but are not offered. yaegi
// v0.16.1 has no binary symbols for slices, maps and cmp; it compiles them from generic
// source, and most of their functions then fail to compile (slices.Clone, slices.Reverse,
// slices.DeleteFunc, maps.Clone: "undefined type for E"). Half a package is a trap.
var unavailable = map[string]string{
	"slices": "yaegi v0.16.1 cannot compile most of its generic functions; use a loop, sort, or ctx.HasLabel",
	"maps":   "yaegi v0.16.1 cannot compile most of its generic functions; use a loop",
	"cmp":    "yaegi v0.16.1 supports it only partly; use the comparison operators",
}

// withheld are symbols of allowed packages that rules may not use: they block or start
// goroutines the deadline cannot stop.
var withheld = map[string][]string{
	"time": {"After", "AfterFunc", "NewTicker", "NewTimer", "Sleep", "Tick"},
}

// symbols is the explicit symbol map handed to every interpreter: the allowed standard
// packages and the rule API, nothing else.
var symbols, allowed = buildSymbols()

func buildSymbols() (interp.Exports, map[string]bool) {
	ex := interp.Exports{}
	ok := map[string]bool{apiPath: true}
	for _, pkg := range allowedStd {
		key := pkg + "/" + pkg[strings.LastIndex(pkg, "/")+1:]
		src, found := stdlib.Symbols[key]
		if !found {
			continue
		}
		m := make(map[string]reflect.Value, len(src))
		for name, v := range src {
			m[name] = v
		}
		for _, name := range withheld[pkg] {
			delete(m, name)
		}
		ex[key] = m
		ok[pkg] = true
	}
	// fmt's special handling of values that implement Stringer or error.
	ex["."] = stdlib.Symbols["."]
	ex[apiPath+"/"+apiPath] = map[string]reflect.Value{
		"Item":       reflect.ValueOf((*item.Item)(nil)),
		"Replica":    reflect.ValueOf((*item.Replica)(nil)),
		"Comment":    reflect.ValueOf((*item.Comment)(nil)),
		"User":       reflect.ValueOf((*item.User)(nil)),
		"Attachment": reflect.ValueOf((*item.Attachment)(nil)),
		"Context":    reflect.ValueOf((*Context)(nil)),
		"ValueMap":   reflect.ValueOf((*ValueMap)(nil)),
		"UserMap":    reflect.ValueOf((*UserMap)(nil)),
	}
	return ex, ok
}

// Allowed returns the import paths a rule may use, sorted.
func Allowed() []string {
	out := make([]string, 0, len(allowed))
	for p := range allowed {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
