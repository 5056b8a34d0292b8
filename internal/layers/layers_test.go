package layers

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/eventdelivery/eventdelivery/"

// layer names the layer of a package of the module (its path without the module), by the
// longest matching prefix.
func layer(pkg string) string {
	prefixes := []struct{ prefix, layer string }{
		{"output", "foundation"},
		{"internal/acks", "foundation"},
		{"internal/avrofile", "foundation"},
		{"internal/codec", "foundation"},
		{"internal/objstore", "foundation"},
		{"internal/revisions", "foundation"},
		{"internal/stop", "foundation"},
		{"internal/version", "foundation"},
		{"transforms/message", "elements"},
		{"transforms/", "transform"},
		{"pipelines/eventdelivery/delivery", "pipeline"},
		{"pipelines/", "binary"},
		{"internal/testkit/", "testtool"},
		{"internal/gcsfake", "testtool"},
		{"internal/pubsubemu", "testtool"},
		{"internal/benchmark", "benchmark"},
		{"internal/layers", "benchmark"},
		{"examples/", "benchmark"},
		{"launcher", "launcher"},
		{"templates", "templates"},
	}
	best, name := -1, "unknown"
	for _, p := range prefixes {
		if strings.HasPrefix(pkg, p.prefix) && len(p.prefix) > best {
			best, name = len(p.prefix), p.layer
		}
	}
	return name
}

// may lists what each layer may import besides itself. Transforms may not import each
// other: they meet through the elements (transforms/message) and the output contract.
var may = map[string][]string{
	"foundation": {"foundation"},
	"elements":   {"foundation"},
	"transform":  {"foundation", "elements"},
	"pipeline":   {"foundation", "elements", "transform"},
	"binary":     {"foundation", "elements", "transform", "pipeline"},
	"testtool":   {"foundation", "elements", "transform", "pipeline", "testtool"},
	"benchmark":  {"foundation", "elements", "transform", "pipeline", "testtool", "benchmark"},
	"launcher":   {"foundation", "launcher", "templates"},
	"templates":  {"foundation", "launcher", "templates", "pipeline"},
}

func TestImportsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		from := strings.TrimPrefix(fields[0], module)
		lf := layer(from)
		if _, ok := may[lf]; !ok {
			t.Errorf("%s: no layer; add it to layer() and docs/architecture.md", from)
			continue
		}
		for _, imp := range fields[1:] {
			to, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			lt := layer(to)
			switch {
			case lf == "transform" && lt == "transform":
				t.Errorf("%s imports %s: transforms meet only through transforms/message and output", from, to)
			case lf != lt && !slices.Contains(may[lf], lt):
				t.Errorf("%s (%s) imports %s (%s): a layer imports only the layers below it", from, lf, to, lt)
			}
		}
	}
}
