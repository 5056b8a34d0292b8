// Package version holds the pipeline version stamped in at build time.
package version

import "runtime/debug"

// Version is set with -ldflags "-X github.com/eventdelivery/eventdelivery/internal/version.Version=v1.2.3".
var Version = ""

// String returns the stamped version, or the module version, or "dev".
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
