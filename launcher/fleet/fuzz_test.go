package fleet

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds the fleet file loader arbitrary files: none may panic; a file it refuses
// says why.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../examples/fleet/fleet.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("fleet: [[[[\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse(filepath.Join(dir, "fleet.yaml"), data)
		var v *ValidationError
		if err != nil && errors.As(err, &v) && len(v.Problems) == 0 {
			t.Fatalf("refused without a problem: %v", err)
		}
	})
}

func TestParseRefusesAbsurdFiles(t *testing.T) {
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"size":    {[]byte("# " + strings.Repeat("x", MaxFileBytes)), "more than the 4194304 a fleet file may have"},
		"nesting": {[]byte("fleet: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000)), "exceeded max depth of 10000"},
	} {
		_, err := Parse("fleet.yaml", tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse = %v, want an error saying %q", name, err, tc.want)
		}
	}
}
