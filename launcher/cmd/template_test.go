package cmd_test

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/eventdelivery/eventdelivery/internal/gcsfake"
	"github.com/eventdelivery/eventdelivery/launcher/cmd"
	"github.com/eventdelivery/eventdelivery/launcher/launchertest"
	"github.com/eventdelivery/eventdelivery/templates/publish"
	"github.com/eventdelivery/eventdelivery/templates/publish/publishtest"
)

// TestTemplatePublishAndValidate publishes a version with `template publish` into an
// in-process registry and Cloud Storage, then checks it with `validate --templates`. The
// pipeline's own cross-compiled image is tested in templates/publish; here any linux/amd64
// executable will do, so the test binary stands in for the pipeline.
func TestTemplatePublishAndValidate(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	gcsfake.Start(t, "bucket")

	base := publishtest.Base(t, []string{publishtest.LauncherEntrypoint})
	baseRef, _ := name.ParseReference(host + "/base:latest")
	if err := remote.Write(baseRef, base); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	path := launchertest.File(t, dir, launchertest.Spec{EventTypes: 2})
	publishArgs := []string{"template", "publish", "-f", path, "--version", "v1.0.0",
		"--image-repository", host + "/eventdelivery", "--base-image", host + "/base:latest", "--binary", exe}

	gcs, err := storage.NewClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer gcs.Close()

	// Before publishing: validate alone makes no calls and passes; with --templates it
	// names the missing spec.
	t.Run("validate alone makes no calls and passes", func(t *testing.T) {
		if r := launcher(t, "", "validate", "-f", path); r.code != 0 {
			t.Errorf("validate: %+v", r)
		}
	})
	t.Run("validate --templates before publishing names the missing spec", func(t *testing.T) {
		r := launcher(t, "", "validate", "-f", path, "--templates")
		if r.code != 1 || !strings.Contains(r.stdout, path+":2: version: version v1.0.0 has no Flex Template spec at gs://bucket/eventdelivery/v1.0.0/spec.json; publish it first (launcher template publish --version v1.0.0)") {
			t.Errorf("validate --templates before publishing: %+v", r)
		}
	})

	// Publish, spec location from the fleet file. The steps after it need the published
	// version.
	if !t.Run("template publish writes the spec", func(t *testing.T) {
		r := launcher(t, "", publishArgs...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "v1.0.0 published\n") || !strings.Contains(r.stdout, "spec:  gs://bucket/eventdelivery/v1.0.0/spec.json") {
			t.Fatalf("template publish: %+v", r)
		}
		if !strings.Contains(r.stderr, "writing gs://bucket/eventdelivery/v1.0.0/spec.json") {
			t.Errorf("progress on stderr: %q", r.stderr)
		}
		if _, err := gcs.Bucket("bucket").Object("eventdelivery/v1.0.0/spec.json").Attrs(context.Background()); err != nil {
			t.Errorf("spec not written: %v", err)
		}
	}) {
		return
	}

	t.Run("publishing again is unchanged, as JSON", func(t *testing.T) {
		r := launcher(t, "", append(publishArgs, "-o", "json")...)
		var res publish.Result
		if err := json.Unmarshal([]byte(r.stdout), &res); r.code != 0 || err != nil || res.Outcome != publish.Unchanged || res.Spec != "gs://bucket/eventdelivery/v1.0.0/spec.json" {
			t.Errorf("template publish again: %+v (%v)", r, err)
		}
	})
	t.Run("the same version and content by --spec passes", func(t *testing.T) {
		r := launcher(t, "", append(publishArgs, "--spec", "gs://bucket/eventdelivery/{version}/spec.json")...)
		if r.code != 0 {
			t.Errorf("the same version and content by --spec: %+v", r)
		}
	})
	// Different content: refused, exit 1.
	env := []string{"SOURCE_DATE_EPOCH=1700000000"}
	t.Run("different content is refused with exit 1", func(t *testing.T) {
		r := launcherEnv(t, env, publishArgs...)
		if r.code != 1 || !strings.Contains(r.stderr, "version already published with different content") || !strings.Contains(r.stderr, "--force") {
			t.Errorf("publishing different content: %+v", r)
		}
	})
	t.Run("--force overwrites different content", func(t *testing.T) {
		if r := launcherEnv(t, env, append(publishArgs, "--force")...); r.code != 0 || !strings.HasPrefix(r.stdout, "v1.0.0 overwritten\n") {
			t.Errorf("--force: %+v", r)
		}
	})

	t.Run("validate --templates passes after publishing", func(t *testing.T) {
		if r := launcher(t, "", "validate", "-f", path, "--templates"); r.code != 0 || !strings.Contains(r.stdout, "valid") {
			t.Errorf("validate --templates after publishing: %+v", r)
		}
	})

	t.Run("flags are checked before anything runs", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"template", "publish", "--image-repository", "r"}, "a version is required"},
			{[]string{"template", "publish", "--version", "v1"}, "--image-repository is required"},
			{[]string{"template", "publish", "--version", "v1", "--image-repository", "r", "-f", dir + "/none.yaml"}, "no --spec, and the fleet file's template cannot be read"},
		} {
			if r := launcher(t, "", tc.args...); r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%v: %+v, want %q", tc.args, r, tc.want)
			}
		}
	})
}

// launcherEnv runs the launcher with environment variables (KEY=VALUE) that its Env's
// Getenv sees.
func launcherEnv(t *testing.T, vars []string, args ...string) run {
	t.Helper()
	m := map[string]string{}
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		if _, seen := m[k]; !seen { // the first KEY=VALUE of a key counts
			m[k] = v
		}
	}
	return execute(context.Background(), cmd.Env{}, m, args...)
}
