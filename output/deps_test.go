package output

import (
	"os/exec"
	"strings"
	"testing"
)

// The contract is for any reader: it links the standard library and goavro (for a data
// file's header) only, never Beam or a storage client (doc.go says so).
func TestDependsOnStandardLibraryAndGoavroOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	allowed := map[string]bool{
		"github.com/eventdelivery/eventdelivery/output": true,
		"github.com/linkedin/goavro/v2":                 true,
		"github.com/golang/snappy":                      true, // goavro's
	}
	for _, p := range strings.Fields(string(out)) {
		if !allowed[p] {
			t.Errorf("package output links %s; it may link the standard library and goavro only", p)
		}
	}
}
