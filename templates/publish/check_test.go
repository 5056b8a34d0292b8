package publish_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/storage"

	"github.com/eventdelivery/eventdelivery/internal/gcsfake"
	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/templates/publish"
)

const checkFleet = `fleet: events
version: v1.0.0
template: gs://bucket/eventdelivery/{version}/spec.json
defaults:
  project: my-project
  region: europe-west1
  output: gs://bucket/raw
  temp_location: gs://bucket/tmp
  skew_tolerance: 30m
event_types:
  - name: play-track
    subscription: projects/my-project/subscriptions/play-track
    schema: s.avsc
  - name: page-view
    subscription: projects/my-project/subscriptions/page-view
    schema: s.avsc
    version: v2.0.0-rc.1
`

const checkSchema = `{"type": "record", "name": "E", "fields": [{"name": "event_id", "type": "string"}]}`

func writeFleet(t *testing.T) *fleet.Fleet {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.avsc"), []byte(checkSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "fleet.yaml")
	if err := os.WriteFile(path, []byte(checkFleet), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := fleet.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func putSpec(t *testing.T, gcs *storage.Client, object string, s publish.Spec) {
	t.Helper()
	data, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	w := gcs.Bucket("bucket").Object(object).NewWriter(context.Background())
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckSpecs(t *testing.T) {
	gcsfake.Start(t, "bucket")
	ctx := context.Background()
	gcs, err := storage.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer gcs.Close()
	f := writeFleet(t)
	spec, err := publish.NewSpec("registry.example/eventdelivery@sha256:0123", nil)
	if err != nil {
		t.Fatal(err)
	}

	// Nothing published: both pinned versions are missing, at the lines that pin them.
	problems, err := checkPins(ctx, gcs, f)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		f.Path + ":2: version: version v1.0.0 has no Flex Template spec at gs://bucket/eventdelivery/v1.0.0/spec.json; publish it first (launcher template publish --version v1.0.0)",
		f.Path + ":14: event_types[1].version: version v2.0.0-rc.1 has no Flex Template spec at gs://bucket/eventdelivery/v2.0.0-rc.1/spec.json; publish it first (launcher template publish --version v2.0.0-rc.1)",
	}
	if got := strings.Join(problemStrings(problems), "\n"); got != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}

	// The pinned version published; the canary's spec predates a parameter the launcher
	// passes; a third file is not a spec at all.
	putSpec(t, gcs, "eventdelivery/v1.0.0/spec.json", spec)
	old := spec
	old.Meta.Parameters = nil
	for _, p := range spec.Meta.Parameters {
		if p.Name != fleet.ParamSkewTolerance {
			old.Meta.Parameters = append(old.Meta.Parameters, p)
		}
	}
	putSpec(t, gcs, "eventdelivery/v2.0.0-rc.1/spec.json", old)
	problems, err = checkPins(ctx, gcs, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || problems[0].Line != 14 || !strings.Contains(problems[0].Msg, "does not declare parameters [skew_tolerance]") {
		t.Errorf("problems %v, want the canary's missing skew_tolerance", problemStrings(problems))
	}

	putSpec(t, gcs, "eventdelivery/v2.0.0-rc.1/spec.json", spec)
	if problems, err = checkPins(ctx, gcs, f); err != nil || len(problems) != 0 {
		t.Errorf("every version published: %v %v", problemStrings(problems), err)
	}

	w := gcs.Bucket("bucket").Object("eventdelivery/v1.0.0/spec.json").NewWriter(ctx)
	w.Write([]byte(`{"image": "x", "sdkInfo": {"language": "JAVA"}}`))
	w.Close()
	problems, _ = checkPins(ctx, gcs, f)
	if len(problems) != 1 || !strings.Contains(problems[0].Msg, `not a Go Flex Template spec: sdkInfo.language "JAVA"`) {
		t.Errorf("problems %v, want a Java spec reported", problemStrings(problems))
	}
}

// checkPins checks the specs of every version f pins, as launcher validate --templates
// does.
func checkPins(ctx context.Context, gcs *storage.Client, f *fleet.Fleet) ([]fleet.Problem, error) {
	return f.CheckPins(func(p fleet.Pin) (string, error) { return publish.CheckSpec(ctx, gcs, p.Version, p.Spec, p.Params) })
}

func problemStrings(ps []fleet.Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}
