package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The launcher reads the pipeline's output through package output and internal/objstore,
// never through the transforms: it must not link Beam (templates/templates.go says so too).
// Every package under launcher/ is held to it, fakegcp and the test tools too, with the
// packages their tests link.
func TestLauncherDoesNotLinkBeam(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "./...").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var beam []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "github.com/apache/beam/") || strings.Contains(p, "/eventdelivery/transforms/") {
			beam = append(beam, p)
		}
	}
	if len(beam) > 0 {
		t.Errorf("the launcher links %d packages of Beam or of the transforms, first %v", len(beam), beam[0])
	}
}
