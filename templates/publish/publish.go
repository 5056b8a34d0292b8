// Package publish publishes a pinned, immutable version of the eventdelivery pipeline as a
// Dataflow Flex Template, without a Docker daemon.
//
// # What Publish does
//
//  1. Cross-compiles the pipeline for linux/amd64 (CGO_ENABLED=0, -trimpath) with the
//     version stamped in ([Build]).
//  2. Builds the template image with go-containerregistry on top of the launcher base
//     image ([Image]): one layer with the binary at /template/eventdelivery,
//     FLEX_TEMPLATE_GO_BINARY set to it, the base's entrypoint kept.
//  3. Pushes it as REPOSITORY:VERSION with the Google keychain (then the Docker config).
//  4. Writes the Flex Template spec ([Spec]: the image by digest, SDK language GO, the
//     metadata of templates/metadata.json, the default environment) to the spec location,
//     gs://…/{version}/spec.json. The spec is written last: a spec that exists names an
//     image that exists.
//
// # Immutability
//
// A published version never changes. Publishing a version again is a no-op when the
// result is identical (same spec bytes, the tag on the same digest) and an error
// ([ErrPublished]) when it differs, unless Force. The image and its layer carry fixed
// timestamps (Options.Created) and a deterministic tar and gzip stream, and the binary is
// built reproducibly, so publishing the same source onto the same base gives the same
// digest: a rerun of a release is identical. A base image tag that moved makes it differ;
// pin the base by digest to rule that out.
//
// # Checking a fleet
//
// [CheckSpec] checks that the spec of a version a fleet pins exists, is a Go Flex
// Template, and declares every parameter the launcher passes. The launcher says which
// versions and parameters (launcher/fleet's CheckPins); this package knows no fleet file.
package publish

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/google"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/eventdelivery/eventdelivery/templates"
)

// ErrPublished is returned when a version is already published with different content.
var ErrPublished = errors.New("version already published with different content")

// Options of a publish.
type Options struct {
	// Version is the pipeline version: the image tag and the {version} of Spec. Required.
	Version string
	// Repository is the image repository, e.g. europe-docker.pkg.dev/PROJECT/REPO/eventdelivery;
	// the image is pushed as Repository:Version. Required.
	Repository string
	// BaseImage is the launcher base image; empty is templates.DefaultBaseImage.
	BaseImage string
	// Spec is the spec location with its {version} placeholder,
	// e.g. gs://BUCKET/eventdelivery/{version}/spec.json. Required.
	Spec string
	// Force overwrites a version published with different content.
	Force bool
	// AllowModified publishes a binary built from a working tree with uncommitted changes
	// (vcs.modified=true in its build info), which is refused otherwise: a published version
	// must be rebuildable from its commit.
	AllowModified bool

	// Binary is a pipeline binary already built with Build for Version; empty builds one
	// from ModuleDir.
	Binary string
	// ModuleDir is the module root to build from; empty is the current directory.
	ModuleDir string
	// Created is the time every timestamp of the image carries; zero is the Unix epoch.
	// Release builds may pass the commit time (SOURCE_DATE_EPOCH).
	Created time.Time
	// DefaultEnvironment goes into the spec; nil is DefaultEnvironment().
	DefaultEnvironment map[string]any

	// Keychain authenticates to registries; nil is the Google keychain, then the Docker
	// config (~/.docker/config.json).
	Keychain authn.Keychain
	// Transport carries registry calls; nil is the default.
	Transport http.RoundTripper
	// Storage reads and writes the spec; nil creates a client from Application Default
	// Credentials (or STORAGE_EMULATOR_HOST).
	Storage *storage.Client
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Outcome is what a publish did.
type Outcome string

const (
	// Published: the version did not exist and now does.
	Published Outcome = "published"
	// Unchanged: the version existed with identical content; nothing was written.
	Unchanged Outcome = "unchanged"
	// Overwritten: the version existed with different content and Force replaced it.
	Overwritten Outcome = "overwritten"
)

// Result of a publish.
type Result struct {
	Version string  `json:"version"`
	Outcome Outcome `json:"outcome"`
	// Image is the pushed image by digest, Tag the same image by tag.
	Image string `json:"image"`
	Tag   string `json:"tag"`
	// Digest is the image's manifest digest.
	Digest string `json:"digest"`
	// Base is the base image by digest.
	Base string `json:"base"`
	// Spec is where the spec file is.
	Spec string `json:"spec"`
	// Revision is the commit the binary was built from (its vcs.revision), when known.
	Revision string `json:"revision,omitempty"`
}

// versionRe is what a version may be: a valid image tag.
var versionRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// CheckVersion fails unless version can be published: a valid image tag, not a build of a
// modified working tree.
func CheckVersion(version string) error {
	switch {
	case version == "":
		return errors.New("a version is required (--version)")
	case !versionRe.MatchString(version):
		return fmt.Errorf("version %q is not a valid image tag ([A-Za-z0-9_][A-Za-z0-9_.-]*, at most 128 characters)", version)
	case strings.HasSuffix(version, "-dirty"):
		return fmt.Errorf("version %q is a build of a modified working tree; commit and tag first", version)
	}
	return nil
}

func (o *Options) validate() error {
	if err := CheckVersion(o.Version); err != nil {
		return err
	}
	if o.Repository == "" {
		return errors.New("an image repository is required (--image-repository)")
	}
	if _, err := name.NewRepository(o.Repository); err != nil {
		return fmt.Errorf("image repository %q: %w", o.Repository, err)
	}
	if o.Spec == "" {
		return errors.New("a spec location is required (--spec, or the fleet file's template)")
	}
	if o.BaseImage == "" {
		o.BaseImage = templates.DefaultBaseImage
	}
	if o.Keychain == nil {
		o.Keychain = authn.NewMultiKeychain(google.Keychain, authn.DefaultKeychain)
	}
	if o.DefaultEnvironment == nil {
		o.DefaultEnvironment = DefaultEnvironment()
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0)
	}
	o.Created = o.Created.UTC()
	return nil
}

func (o *Options) remote(ctx context.Context) []remote.Option {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(o.Keychain), remote.WithPlatform(Platform)}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	return opts
}

// Publish builds, pushes and records one version. See the package documentation.
func Publish(ctx context.Context, o Options) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	res, err := publish(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", o.Version, err)
	}
	return res, nil
}

func publish(ctx context.Context, o Options) (*Result, error) {
	specURL, err := ResolveSpec(o.Spec, o.Version)
	if err != nil {
		return nil, err
	}
	tag, err := name.NewTag(o.Repository + ":" + o.Version)
	if err != nil {
		return nil, fmt.Errorf("image tag: %w", err)
	}
	baseRef, err := name.ParseReference(o.BaseImage)
	if err != nil {
		return nil, fmt.Errorf("base image %q: %w", o.BaseImage, err)
	}
	gcs := o.Storage
	if gcs == nil {
		if gcs, err = storage.NewClient(ctx); err != nil {
			return nil, fmt.Errorf("storage client: %w", err)
		}
		defer gcs.Close()
	}

	binPath := o.Binary
	if binPath == "" {
		dir, err := os.MkdirTemp("", "eventdelivery-publish-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		binPath = filepath.Join(dir, templates.BinaryName)
		fmt.Fprintf(o.Log, "building %s for %s/%s, version %s\n", templates.PipelinePackage, Platform.OS, Platform.Architecture, o.Version)
		if err := Build(ctx, BuildOptions{Dir: o.ModuleDir, Version: o.Version, Out: binPath}); err != nil {
			return nil, err
		}
	} else if err := checkBinary(binPath); err != nil {
		return nil, err
	}
	revision, modified := vcsInfo(binPath)
	if modified && !o.AllowModified {
		return nil, fmt.Errorf("the pipeline binary was built from a working tree with uncommitted changes (vcs.modified=true, revision %s): commit, tag and publish from a clean checkout, or allow it explicitly (--allow-modified)", revision)
	}
	binary, err := os.ReadFile(binPath)
	if err != nil {
		return nil, err
	}

	fmt.Fprintf(o.Log, "reading base image %s\n", baseRef)
	base, err := remote.Image(baseRef, o.remote(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("base image %s: %w", baseRef, err)
	}
	baseDigest, err := base.Digest()
	if err != nil {
		return nil, fmt.Errorf("base image %s: %w", baseRef, err)
	}
	img, err := Image(base, binary, o.Version, o.Created)
	if err != nil {
		return nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	byDigest := tag.Context().Digest(digest.String())
	spec, err := NewSpec(byDigest.String(), o.DefaultEnvironment)
	if err != nil {
		return nil, err
	}
	specData, err := spec.Encode()
	if err != nil {
		return nil, err
	}
	res := &Result{
		Version:  o.Version,
		Image:    byDigest.String(),
		Tag:      tag.String(),
		Digest:   digest.String(),
		Base:     baseRef.Context().Digest(baseDigest.String()).String(),
		Spec:     specURL,
		Revision: revision,
	}

	// What is there already: the spec, and the tag.
	prev, err := readSpec(ctx, gcs, specURL)
	if err != nil {
		return nil, err
	}
	tagged, err := headDigest(tag, o.remote(ctx))
	if err != nil {
		return nil, err
	}
	var differs []string
	if prev != nil && string(prev.data) != string(specData) {
		was := "unreadable"
		if s, err := ParseSpec(prev.data); err == nil {
			was = s.Image
		}
		differs = append(differs, fmt.Sprintf("the spec %s names image %s, this build is %s", specURL, was, byDigest))
	}
	if tagged != nil && *tagged != digest {
		differs = append(differs, fmt.Sprintf("the tag %s is on %s, this build is %s", tag, tagged, digest))
	}
	switch {
	case len(differs) > 0 && !o.Force:
		return nil, fmt.Errorf("%w: %s; a published version is immutable: publish a new version, or pass --force to overwrite it", ErrPublished, strings.Join(differs, "; "))
	case len(differs) > 0:
		res.Outcome = Overwritten
		fmt.Fprintf(o.Log, "overwriting (--force): %s\n", strings.Join(differs, "; "))
	case prev != nil && tagged != nil:
		res.Outcome = Unchanged
		fmt.Fprintf(o.Log, "%s is already published with identical content: nothing to do\n", o.Version)
		return res, nil
	case prev != nil:
		// The same spec, its image tag gone: push the image again (same digest).
		res.Outcome = Unchanged
	default:
		res.Outcome = Published
	}

	if tagged == nil || *tagged != digest {
		fmt.Fprintf(o.Log, "pushing %s (%s)\n", tag, digest)
		if err := remote.Write(tag, img, o.remote(ctx)...); err != nil {
			return nil, fmt.Errorf("push %s: %w", tag, err)
		}
	}
	if prev == nil || string(prev.data) != string(specData) {
		fmt.Fprintf(o.Log, "writing %s\n", specURL)
		if err := writeSpec(ctx, gcs, specURL, specData, prev); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// vcsInfo reads the commit and the modified flag that the go command stamped into a binary.
func vcsInfo(path string) (revision string, modified bool) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", false
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return revision, modified
}

// headDigest returns the digest a tag points to, or nil when there is no such tag.
func headDigest(tag name.Tag, opts []remote.Option) (*v1.Hash, error) {
	d, err := remote.Head(tag, opts...)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", tag, err)
	}
	return &d.Digest, nil
}
