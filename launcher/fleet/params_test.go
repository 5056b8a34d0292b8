package fleet_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/eventdelivery/eventdelivery/launcher/fleet"
)

// TestParametersArePipelineFlags checks every Flex Template parameter the launcher passes
// against the pipeline's own parameter table (pipelines/eventdelivery/delivery/params.go),
// read as source so that this test does not build the pipeline.
func TestParametersArePipelineFlags(t *testing.T) {
	const path = "../../pipelines/eventdelivery/delivery/params.go"
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the pipeline's parameter table moved? %v", err)
	}
	file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	ast.Inspect(file, func(n ast.Node) bool {
		kv, ok := n.(*ast.KeyValueExpr)
		if !ok {
			return true
		}
		if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "Name" {
			if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					names = append(names, s)
				}
			}
		}
		return true
	})
	if len(names) == 0 {
		t.Fatalf("found no parameter names in %s", path)
	}
	for _, p := range append(slices.Clone(fleet.PipelineParameters), fleet.BackfillParameters...) {
		if !slices.Contains(names, p) {
			t.Errorf("the launcher passes parameter %q, which the pipeline does not declare (it has %v)", p, names)
		}
	}
}
