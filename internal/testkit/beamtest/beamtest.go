// Package beamtest holds what every transform test does the same way: run on Prism, and
// assert a PCollection's contents whatever its windowing.
package beamtest

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism" // the default runner
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

// Main runs a package's tests on Prism unless --runner says otherwise; call it from
// TestMain: os.Exit(beamtest.Main(m)).
func Main(m *testing.M) int {
	return ptest.MainRetWithDefault(m, "prism")
}

// Equals asserts that col holds exactly want, in any order and window: col is moved into
// the global window first, since passert's side inputs need it.
func Equals(s beam.Scope, col beam.PCollection, want ...any) {
	passert.Equals(s, beam.WindowInto(s, window.NewGlobalWindows(), col), want...)
}

// Run runs the pipeline and fails the test if it fails or an assertion does not hold.
func Run(t *testing.T, p *beam.Pipeline) {
	t.Helper()
	ptest.RunAndValidate(t, p)
}
