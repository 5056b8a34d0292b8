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
		{"internal/inprocess", "foundation"},
		{"internal/progress", "foundation"},
		{"internal/inflight", "foundation"},
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
		// The launcher, bottom up: leaves (dialing, retries and limits; the fleet file),
		// the clients over Google's APIs, the domain packages, the renderers, the CLI.
		{"launcher/internal/", "launcher-leaf"}, // gcpclient: no fixtures in here
		{"launcher/fleet", "launcher-leaf"},
		{"launcher/dataflow", "launcher-client"},
		{"launcher/monitoring", "launcher-client"},
		{"launcher/", "launcher-domain"},
		{"launcher/view", "launcher-view"},
		{"launcher/cmd", "launcher-cmd"},
		{"launcher", "launcher-cmd"}, // the main package; launcher/… match longer prefixes
		{"launcher/launchertest", "launcher-testtool"},
		{"launcher/fakegcp", "launcher-testtool"},
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
// other: they meet through the elements (transforms/message) and the output contract; nor
// may the launcher's clients (Dataflow, Monitoring): what they share is in gcpclient.
var may = map[string][]string{
	"foundation": {"foundation"},
	"elements":   {"foundation"},
	"transform":  {"foundation", "elements"},
	"pipeline":   {"foundation", "elements", "transform"},
	"binary":     {"foundation", "elements", "transform", "pipeline"},
	"testtool":   {"foundation", "elements", "transform", "pipeline", "testtool"},
	"benchmark":  {"foundation", "elements", "transform", "pipeline", "testtool", "benchmark"},
	"templates":  {"foundation", "pipeline"},

	"launcher-leaf":     {"foundation"},
	"launcher-client":   {"foundation", "launcher-leaf"},
	"launcher-domain":   {"foundation", "launcher-leaf", "launcher-client"},
	"launcher-view":     {"foundation", "launcher-leaf", "launcher-client", "launcher-domain", "templates"},
	"launcher-cmd":      {"foundation", "launcher-leaf", "launcher-client", "launcher-domain", "launcher-view", "templates"},
	"launcher-testtool": {"foundation", "launcher-leaf", "launcher-client", "launcher-testtool"},
}

// sideways lists the layers whose packages may not import each other.
var sideways = map[string]string{
	"transform":       "transforms meet only through transforms/message and output",
	"launcher-client": "the launcher's clients share only launcher/internal/gcpclient",
}

func TestImportsPointDown(t *testing.T) {
	for _, fields := range goList(t, `{{.ImportPath}} {{join .Imports " "}}`) {
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
			case lf == lt && sideways[lf] != "":
				t.Errorf("%s imports %s: %s", from, to, sideways[lf])
			case lf != lt && !slices.Contains(may[lf], lt):
				t.Errorf("%s (%s) imports %s (%s): a layer imports only the layers below it", from, lf, to, lt)
			}
		}
	}
}

// TestTestsDoNotImportSideways: a package's tests may use the test tools above it, but a
// transform's tests do not reach into another transform (nor a client's into another
// client): each is tested on its own.
func TestTestsDoNotImportSideways(t *testing.T) {
	for _, fields := range goList(t, `{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}`) {
		from := strings.TrimPrefix(fields[0], module)
		lf := layer(from)
		if sideways[lf] == "" {
			continue
		}
		for _, imp := range fields[1:] {
			if to, ok := strings.CutPrefix(imp, module); ok && to != from && layer(to) == lf {
				t.Errorf("tests of %s import %s: %s", from, to, sideways[lf])
			}
		}
	}
}

// goList returns the fields of `go list -f format` for every package of the module, a
// package a row.
func goList(t *testing.T, format string) [][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", format, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}
