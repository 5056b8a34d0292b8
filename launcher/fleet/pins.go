package fleet

import (
	"fmt"
	"maps"
	"os"
	"slices"

	"gopkg.in/yaml.v3"
)

// Pin is a template version the fleet launches jobs of: where the fleet file pins it and
// the parameters the launcher passes to its jobs.
type Pin struct {
	Version string
	// Spec is the version's Flex Template spec path (Template resolved).
	Spec string
	// Params are the parameters passed to the version's jobs, run_id included, sorted.
	Params []string
	// Line and Field are where the fleet file pins the version: the top-level version, or
	// a canary's event_types[i].version.
	Line  int
	Field string
}

// Pins returns every version the fleet pins (its own and every canary's), by version.
func (f *Fleet) Pins() []Pin {
	lines := topLevelLines(f.Path)
	pins := map[string]*Pin{}
	params := map[string]map[string]bool{}
	for i, j := range f.Jobs() {
		p := pins[j.Version]
		if p == nil {
			p = &Pin{Version: j.Version, Spec: ResolveTemplate(f.Template, j.Version), Line: lines["version"], Field: "version"}
			if j.Version != f.Version {
				p.Line, p.Field = j.Line, fmt.Sprintf("event_types[%d].version", i)
			}
			pins[j.Version] = p
			params[j.Version] = map[string]bool{ParamRunID: true} // the deployer adds it to every launch
		}
		for k := range j.Parameters {
			params[j.Version][k] = true
		}
	}
	out := make([]Pin, 0, len(pins))
	for _, v := range slices.Sorted(maps.Keys(pins)) {
		p := pins[v]
		p.Params = slices.Sorted(maps.Keys(params[v]))
		out = append(out, *p)
	}
	return out
}

// CheckPins calls check for every pin and returns what it finds wrong as problems of the
// fleet file at the lines that pin the versions, in line order. check returns "" for a
// pin that is fine; its error stops the check. `launcher validate --templates` passes
// templates/publish.CheckSpec, which knows specs but not fleet files.
func (f *Fleet) CheckPins(check func(Pin) (string, error)) ([]Problem, error) {
	var problems []Problem
	for _, p := range f.Pins() {
		msg, err := check(p)
		if err != nil {
			return nil, fmt.Errorf("%s: version %s: %w", f.Path, p.Version, err)
		}
		if msg != "" {
			problems = append(problems, Problem{File: f.Path, Line: p.Line, Field: p.Field, Msg: msg})
		}
	}
	slices.SortStableFunc(problems, func(a, b Problem) int { return a.Line - b.Line })
	return problems, nil
}

// topLevelLines returns the line of every top-level key of a YAML file (empty when the
// file cannot be read: the problems then carry line 0).
func topLevelLines(path string) map[string]int {
	lines := map[string]int{}
	data, err := os.ReadFile(path)
	if err != nil {
		return lines
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return lines
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		lines[m.Content[i].Value] = m.Content[i].Line
	}
	return lines
}
