// Package publishtest holds what the tests of templates/publish and of `launcher template
// publish` publish from: a synthetic launcher base image.
package publishtest

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// LauncherEntrypoint is the entrypoint of Google's Flex Template launcher base images.
const LauncherEntrypoint = "/opt/google/dataflow/go_template_launcher"

// Base returns a linux/amd64 image of two random layers whose config has entrypoint and
// env: with [LauncherEntrypoint], a stand-in for a launcher base image; without an
// entrypoint, an image that is not one.
func Base(tb testing.TB, entrypoint []string, env ...string) v1.Image {
	tb.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		tb.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		tb.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = entrypoint
	cf.Config.Env = env
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		tb.Fatal(err)
	}
	return img
}
