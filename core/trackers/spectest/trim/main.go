// Command trim cuts a vendor's OpenAPI description down to the operations a connector uses,
// with every component they reference, so the contract tests read a small committed copy of
// the vendor's own text instead of the network. Run by each connector's testdata/regen.sh.
//
//	go run ./core/trackers/spectest/trim -in api.github.com.json -out testdata/github.json \
//	    -op 'GET /repos/{owner}/{repo}/issues' ... [-webhook issues-opened ...]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ", ") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	in := flag.String("in", "", "the vendor's full description (JSON)")
	out := flag.String("out", "", "where to write the trimmed copy")
	var ops, hooks list
	flag.Var(&ops, "op", `an operation to keep, "METHOD /path" (repeatable)`)
	flag.Var(&hooks, "webhook", "a webhook (x-webhooks key) to keep (repeatable)")
	flag.Parse()
	if err := run(*in, *out, ops, hooks); err != nil {
		fmt.Fprintln(os.Stderr, "trim:", err)
		os.Exit(1)
	}
}

func run(in, out string, ops, hooks []string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	paths, _ := doc["paths"].(map[string]any)
	kept := map[string]any{}
	for _, op := range ops {
		method, path, ok := strings.Cut(op, " ")
		if !ok {
			return fmt.Errorf("operation %q is not METHOD /path", op)
		}
		item, _ := paths[path].(map[string]any)
		m := strings.ToLower(method)
		if item == nil || item[m] == nil {
			return fmt.Errorf("the description has no operation %s", op)
		}
		dst, _ := kept[path].(map[string]any)
		if dst == nil {
			dst = map[string]any{}
			if p, ok := item["parameters"]; ok {
				dst["parameters"] = p
			}
			kept[path] = dst
		}
		dst[m] = item[m]
	}
	res := map[string]any{}
	for _, k := range []string{"openapi", "info", "servers", "security"} {
		if v, ok := doc[k]; ok {
			res[k] = v
		}
	}
	res["paths"] = kept
	if len(hooks) > 0 {
		all, _ := doc["x-webhooks"].(map[string]any)
		wh := map[string]any{}
		for _, h := range hooks {
			if all[h] == nil {
				return fmt.Errorf("the description has no webhook %q", h)
			}
			wh[h] = all[h]
		}
		res["x-webhooks"] = wh
	}
	// Copy every component reachable from what is kept, following $refs until none is new.
	comps, _ := doc["components"].(map[string]any)
	outComps := map[string]any{}
	seen := map[string]bool{}
	var queue []string
	collect := func(v any) { queue = append(queue, refs(v)...) }
	collect(kept)
	collect(res["x-webhooks"])
	if ss, ok := comps["securitySchemes"]; ok {
		outComps["securitySchemes"] = ss
	}
	for len(queue) > 0 {
		ref := queue[0]
		queue = queue[1:]
		if seen[ref] {
			continue
		}
		seen[ref] = true
		parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
		if len(parts) != 2 {
			return fmt.Errorf("unsupported reference %q", ref)
		}
		group, _ := comps[parts[0]].(map[string]any)
		v, ok := group[unescape(parts[1])]
		if !ok {
			return fmt.Errorf("dangling reference %q", ref)
		}
		g, _ := outComps[parts[0]].(map[string]any)
		if g == nil {
			g = map[string]any{}
			outComps[parts[0]] = g
		}
		g[unescape(parts[1])] = v
		collect(v)
	}
	res["components"] = outComps
	b, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

// refs returns the component references in v, in a stable order.
func refs(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if s, ok := x[k].(string); ok && k == "$ref" && strings.HasPrefix(s, "#/components/") {
					out = append(out, s)
					continue
				}
				walk(x[k])
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

func unescape(s string) string { return strings.NewReplacer("~1", "/", "~0", "~").Replace(s) }
