package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/eventdelivery/eventdelivery/pipelines/eventdelivery/delivery"
)

// The README's flag table lists every pipeline parameter, in the order of delivery.Params,
// with its default; every flag it names exists.
func TestReadmeFlagTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ name, def string }
	var rows []row
	in := false
	for _, line := range strings.Split(string(readme), "\n") {
		switch {
		case strings.HasPrefix(line, "| flag | default |"):
			in = true
		case in && !strings.HasPrefix(line, "|"):
			in = false
		case in && strings.HasPrefix(line, "| `--"):
			cells := strings.Split(line, "|")
			rows = append(rows, row{strings.Trim(strings.TrimSpace(cells[1]), "`-"), strings.TrimSpace(cells[2])})
		}
	}
	if len(rows) == 0 {
		t.Fatal("no flag table in the README")
	}
	var params []string
	byName := map[string]row{}
	for _, r := range rows {
		if flag.Lookup(r.name) == nil {
			t.Errorf("README lists --%s, which the pipeline does not have", r.name)
		}
		byName[r.name] = r
	}
	var listed []string
	for _, r := range rows {
		for _, p := range delivery.Params {
			if p.Name == r.name {
				listed = append(listed, r.name)
			}
		}
	}
	for _, p := range delivery.Params {
		params = append(params, p.Name)
		r, ok := byName[p.Name]
		switch {
		case !ok:
			t.Errorf("README has no row for --%s", p.Name)
		case p.Default != "" && r.def != "`"+p.Default+"`":
			t.Errorf("README gives --%s the default %s, delivery.Params %q", p.Name, r.def, p.Default)
		case p.Default == "" && strings.HasPrefix(r.def, "`"):
			t.Errorf("README gives --%s the default %s; it has none", p.Name, r.def)
		}
	}
	if strings.Join(listed, " ") != strings.Join(params, " ") {
		t.Errorf("README lists the parameters in the order\n%v\nwant delivery.Params' order\n%v", listed, params)
	}
}
