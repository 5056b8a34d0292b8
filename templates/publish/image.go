package publish

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/eventdelivery/eventdelivery/templates"
)

// Platform is the only platform the template image is built for: Dataflow's launcher VMs.
var Platform = v1.Platform{OS: "linux", Architecture: "amd64"}

// Image returns the template image: base plus one layer holding the pipeline binary at
// templates.BinaryPath, FLEX_TEMPLATE_GO_BINARY pointing at it, the version label, and the
// base's entrypoint kept. Every timestamp (files, history, config) is created, so the same
// base and binary always give the same digest.
func Image(base v1.Image, binary []byte, version string, created time.Time) (v1.Image, error) {
	cfg, err := base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: base config: %w", err)
	}
	if cfg.OS != Platform.OS || cfg.Architecture != Platform.Architecture {
		return nil, fmt.Errorf("image: base image is %s/%s, want %s/%s", cfg.OS, cfg.Architecture, Platform.OS, Platform.Architecture)
	}
	if len(cfg.Config.Entrypoint) == 0 {
		return nil, fmt.Errorf("image: base image has no entrypoint; the base must be a Flex Template launcher image such as %s", templates.DefaultBaseImage)
	}
	mt, err := base.MediaType()
	if err != nil {
		return nil, fmt.Errorf("image: base media type: %w", err)
	}
	layerType := types.DockerLayer
	if mt == types.OCIManifestSchema1 {
		layerType = types.OCILayer
	}
	layer, err := BinaryLayer(binary, created, layerType)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: layerType,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: fmt.Sprintf("COPY %s %s # eventdelivery templates/publish", templates.BinaryName, templates.BinaryPath),
			Comment:   "eventdelivery " + version,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("image: add layer: %w", err)
	}
	c := *cfg.Config.DeepCopy()
	c.Env = setEnv(c.Env, templates.BinaryEnv, templates.BinaryPath)
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.Labels[templates.VersionLabel] = version
	if img, err = mutate.Config(img, c); err != nil {
		return nil, fmt.Errorf("image: config: %w", err)
	}
	if img, err = mutate.CreatedAt(img, v1.Time{Time: created}); err != nil {
		return nil, fmt.Errorf("image: created: %w", err)
	}
	return img, nil
}

// setEnv sets k=v in env, replacing an earlier value of k, keeping the order otherwise.
func setEnv(env []string, k, v string) []string {
	env = slices.DeleteFunc(slices.Clone(env), func(e string) bool { return strings.HasPrefix(e, k+"=") })
	return append(env, k+"="+v)
}

// BinaryLayer returns a gzipped layer with the folder templates.BinaryDir and the binary in
// it (mode 0755, owned by root), every timestamp set to created. The tar and the gzip stream
// are deterministic: same binary and time, same digest.
func BinaryLayer(binary []byte, created time.Time, mediaType types.MediaType) (v1.Layer, error) {
	var gz bytes.Buffer
	// The gzip header carries no name and no time (zero), so the stream depends on the
	// tar alone.
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	created = created.UTC().Truncate(time.Second)
	dir := strings.TrimPrefix(templates.BinaryDir, "/")
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: created, Format: tar.FormatUSTAR},
		{Typeflag: tar.TypeReg, Name: path.Join(dir, templates.BinaryName), Mode: 0o755, Size: int64(len(binary)), ModTime: created, Format: tar.FormatUSTAR},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(binary); err != nil {
				return nil, fmt.Errorf("layer: %w", err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	data := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(mediaType))
}
