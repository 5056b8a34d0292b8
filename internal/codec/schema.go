package codec

import (
	"encoding/json"
	"fmt"
	"strings"
)

// step is one field on the way to a value in a record; union says the field's value is a
// union that goavro wraps in a one-entry map.
type step struct {
	name  string
	union bool
}

// fieldPath resolves a dotted field path (user.id) against an Avro record schema.
func fieldPath(schema, path string) ([]step, error) {
	var root any
	if err := json.Unmarshal([]byte(schema), &root); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	named := map[string]any{}
	collectNamed(root, named)
	var steps []step
	node := root
	for _, name := range strings.Split(path, ".") {
		rec := record(node, named)
		if rec == nil {
			return nil, fmt.Errorf("field %q: %s is not a record", path, strings.Join(names(steps), "."))
		}
		var found any
		ok := false
		for _, f := range rec["fields"].([]any) {
			if fm, _ := f.(map[string]any); fm != nil && fm["name"] == name {
				found, ok = fm["type"], true
				break
			}
		}
		if !ok {
			return nil, fmt.Errorf("schema has no field %q", path)
		}
		_, union := found.([]any)
		steps = append(steps, step{name: name, union: union})
		node = found
	}
	return steps, nil
}

func names(steps []step) []string {
	out := []string{"the schema"}
	for _, s := range steps {
		out = append(out, s.name)
	}
	return out
}

// record returns the record schema that node is, refers to, or holds as a union branch.
func record(node any, named map[string]any) map[string]any {
	switch n := node.(type) {
	case string:
		if r, ok := named[n]; ok {
			return record(r, named)
		}
	case map[string]any:
		if n["type"] == "record" {
			return n
		}
	case []any:
		for _, b := range n {
			if r := record(b, named); r != nil {
				return r
			}
		}
	}
	return nil
}

func collectNamed(node any, named map[string]any) {
	switch n := node.(type) {
	case map[string]any:
		if name, ok := n["name"].(string); ok && (n["type"] == "record" || n["type"] == "enum" || n["type"] == "fixed") {
			named[name] = n
			if ns, ok := n["namespace"].(string); ok && ns != "" {
				named[ns+"."+name] = n
			}
		}
		for _, v := range n {
			collectNamed(v, named)
		}
	case []any:
		for _, v := range n {
			collectNamed(v, named)
		}
	}
}
