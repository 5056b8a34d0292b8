package cmd_test

import (
	"strings"
	"testing"

	"github.com/eventdelivery/eventdelivery/launcher/cmd"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
)

// The call-shaping flags refuse values that would stall or unbound the calls, before any
// call is made (no Dataflow is reachable here).
func TestAPIFlagsRefused(t *testing.T) {
	path := launchertest.File(t, t.TempDir(), launchertest.Spec{EventTypes: 1})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy", "--rate", "0"}, "--rate must be positive, got 0"},
		{[]string{"deploy", "--rate", "-1"}, "--rate must be positive, got -1"},
		{[]string{"drain", "--all", "--yes", "--rate", "0"}, "--rate must be positive, got 0"},
		{[]string{"plan", "--read-rate", "0"}, "--read-rate must be positive, got 0"},
		{[]string{"deploy", "--parallelism", "0"}, "--parallelism must be at least 1"},
	} {
		r := launcher(t, "127.0.0.1:1", append(c.args, "-f", path)...)
		if r.code != cmd.ExitFailure || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, r.code, r.stderr, cmd.ExitFailure, c.want)
		}
	}
}
