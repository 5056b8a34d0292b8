package publish

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"

	"cloud.google.com/go/storage"
	"gopkg.in/yaml.v3"

	"github.com/eventdelivery/eventdelivery/launcher/fleet"
)

// CheckFleet resolves every version the fleet pins (the fleet's own and every canary's) to
// its spec and checks that the spec exists, is a Go Flex Template, and declares every
// parameter the launcher passes to that version's jobs. Each problem names the fleet file
// line that pins the version. An error is returned only when Cloud Storage cannot be
// asked; a missing spec is a problem, not an error.
func CheckFleet(ctx context.Context, c *storage.Client, f *fleet.Fleet) ([]fleet.Problem, error) {
	type pin struct {
		line   int
		field  string
		params map[string]bool
	}
	pins := map[string]*pin{} // by version
	lines := topLevelLines(f.Path)
	for i, j := range f.Jobs() {
		p := pins[j.Version]
		if p == nil {
			p = &pin{line: lines["version"], field: "version", params: map[string]bool{}}
			if j.Version != f.Version {
				p.line, p.field = j.Line, fmt.Sprintf("event_types[%d].version", i)
			}
			pins[j.Version] = p
		}
		for k := range j.Parameters {
			p.params[k] = true
		}
		p.params[fleet.ParamRunID] = true // the deployer adds it to every launch
	}
	versions := make([]string, 0, len(pins))
	for v := range pins {
		versions = append(versions, v)
	}
	sort.Strings(versions)
	var problems []fleet.Problem
	for _, v := range versions {
		p := pins[v]
		add := func(format string, args ...any) {
			problems = append(problems, fleet.Problem{File: f.Path, Line: p.line, Field: p.field, Msg: fmt.Sprintf(format, args...)})
		}
		url := fleet.ResolveTemplate(f.Template, v)
		obj, err := readSpec(ctx, c, url)
		if err != nil {
			return nil, err
		}
		if obj == nil {
			add("version %s has no Flex Template spec at %s; publish it first (launcher template publish --version %s)", v, url, v)
			continue
		}
		s, err := ParseSpec(obj.data)
		if err != nil {
			add("version %s: %s: %v", v, url, err)
			continue
		}
		var declared []string
		for _, mp := range s.Meta.Parameters {
			declared = append(declared, mp.Name)
		}
		var missing []string
		for k := range p.params {
			if !slices.Contains(declared, k) {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			add("version %s: the spec %s does not declare parameters %v that the launcher passes; Dataflow would reject the launch", v, url, missing)
		}
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
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
