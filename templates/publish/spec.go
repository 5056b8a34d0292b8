package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"cloud.google.com/go/storage"

	"github.com/eventdelivery/eventdelivery/internal/objstore"
	"github.com/eventdelivery/eventdelivery/templates"
)

// Spec is a Flex Template spec file (Dataflow's ContainerSpec), the JSON that a launch's
// containerSpecGcsPath points to.
type Spec struct {
	// Image is the template image, by digest (repository@sha256:…), so that the spec keeps
	// naming the same image whatever later happens to the tag.
	Image   string             `json:"image"`
	SDKInfo SDKInfo            `json:"sdkInfo"`
	Meta    templates.Metadata `json:"metadata"`
	// DefaultEnvironment is the runtime environment a launch starts from (Dataflow's
	// FlexTemplateRuntimeEnvironment); a launch's own environment overrides it.
	DefaultEnvironment map[string]any `json:"defaultEnvironment"`
}

// SDKInfo names the SDK language of a template.
type SDKInfo struct {
	Language string `json:"language"`
}

// DefaultEnvironment is what every job of the template starts from: streaming on Streaming
// Engine, as the design runs it.
func DefaultEnvironment() map[string]any {
	return map[string]any{"enableStreamingEngine": true}
}

// NewSpec returns the spec of a template image with the checked-in metadata.json.
func NewSpec(image string, env map[string]any) (Spec, error) {
	m, err := templates.CheckedInMetadata()
	if err != nil {
		return Spec{}, err
	}
	if env == nil {
		env = map[string]any{}
	}
	return Spec{Image: image, SDKInfo: SDKInfo{Language: "GO"}, Meta: m, DefaultEnvironment: env}, nil
}

// Encode renders the spec: indented, no HTML escaping, map keys sorted, a final newline.
// The same spec always gives the same bytes, which is what "identical content" means.
func (s Spec) Encode() ([]byte, error) { return templates.Encode(s) }

// ParseSpec reads a spec file and checks that it is a Go Flex Template spec.
func ParseSpec(data []byte) (Spec, error) {
	var s Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return Spec{}, fmt.Errorf("not a Flex Template spec: %w", err)
	}
	switch {
	case s.Image == "":
		return Spec{}, errors.New("not a Flex Template spec: no image")
	case s.SDKInfo.Language != "GO":
		return Spec{}, fmt.Errorf("not a Go Flex Template spec: sdkInfo.language %q", s.SDKInfo.Language)
	}
	return s, nil
}

// ResolveSpec replaces {version} in a spec location and checks that the result is a gs:// URL.
func ResolveSpec(location, version string) (string, error) {
	if !strings.Contains(location, "{version}") {
		return "", fmt.Errorf("spec location %q has no {version} placeholder: every version needs its own spec", location)
	}
	p := strings.ReplaceAll(location, "{version}", version)
	if _, _, err := splitGCS(p); err != nil {
		return "", err
	}
	return p, nil
}

func splitGCS(url string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(url, "gs://")
	bucket, object, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || object == "" || strings.HasSuffix(object, "/") {
		return "", "", fmt.Errorf("spec location %q: want gs://BUCKET/PATH/spec.json", url)
	}
	return bucket, object, nil
}

// object is a spec file as read from Cloud Storage.
type object struct {
	data       []byte
	generation int64
}

// readSpec returns the object at a gs:// URL, or nil when there is none.
func readSpec(ctx context.Context, c *storage.Client, url string) (*object, error) {
	bucket, name, err := splitGCS(url)
	if err != nil {
		return nil, err
	}
	r, err := c.Bucket(bucket).Object(name).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	return &object{data: data, generation: r.Attrs.Generation}, nil
}

// writeSpec writes data to a gs:// URL: only if there is no object yet (prev nil), or only
// over the generation that was read (prev), so that two publishers never both win.
func writeSpec(ctx context.Context, c *storage.Client, url string, data []byte, prev *object) error {
	bucket, name, err := splitGCS(url)
	if err != nil {
		return err
	}
	cond := storage.Conditions{DoesNotExist: true}
	if prev != nil {
		cond = storage.Conditions{GenerationMatch: prev.generation}
	}
	w := c.Bucket(bucket).Object(name).If(cond).NewWriter(ctx)
	w.ContentType = "application/json"
	w.CacheControl = "no-cache"
	if err := objstore.WriteAndClose(w, data); err != nil {
		return fmt.Errorf("write %s: %w", url, err)
	}
	return nil
}
