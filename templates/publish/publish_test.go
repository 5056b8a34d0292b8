package publish_test

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/dataflow/apiv1beta3/dataflowpb"
	"cloud.google.com/go/storage"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/eventdelivery/eventdelivery/internal/gcsfake"
	"github.com/eventdelivery/eventdelivery/templates"
	"github.com/eventdelivery/eventdelivery/templates/publish"
	"github.com/eventdelivery/eventdelivery/templates/publish/publishtest"
)

// The pipeline is cross-compiled once per test binary, for this version.
const builtVersion = "v1.0.0"

var (
	binary    string
	buildTime time.Duration
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "publish-test-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, templates.BinaryName)
	start := time.Now()
	err = publish.Build(context.Background(), publish.BuildOptions{Dir: "../..", Version: builtVersion, Out: binary, Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	buildTime = time.Since(start)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a registry and a Cloud Storage, in-process, with a synthetic launcher base image.
type env struct {
	host string // registry host:port
	base string // base image reference
	gcs  *storage.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	gcsfake.Start(t, "bucket")
	gcs, err := storage.NewClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gcs.Close() })
	e := &env{host: strings.TrimPrefix(srv.URL, "http://"), gcs: gcs}
	e.base = e.pushBase(t, "base", types.DockerManifestSchema2)
	return e
}

// pushBase pushes a small synthetic launcher base image (random layers, the launcher's
// entrypoint, a PATH) and returns its reference.
func (e *env) pushBase(t *testing.T, repo string, mt types.MediaType) string {
	t.Helper()
	img := publishtest.Base(t, []string{publishtest.LauncherEntrypoint}, "PATH=/usr/local/bin:/usr/bin:/bin", templates.BinaryEnv+"=/somewhere/else")
	img = mutate.MediaType(img, mt)
	ref := e.host + "/" + repo + ":latest"
	if err := remote.Write(mustRef(t, ref), img); err != nil {
		t.Fatal(err)
	}
	return ref
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *env) options(version string) publish.Options {
	return publish.Options{
		Version:    version,
		Repository: e.host + "/templates/eventdelivery",
		BaseImage:  e.base,
		Spec:       "gs://bucket/eventdelivery/{version}/spec.json",
		Binary:     binary,
	}
}

func (e *env) readObject(t *testing.T, object string) ([]byte, int64) {
	t.Helper()
	r, err := e.gcs.Bucket("bucket").Object(object).NewReader(context.Background())
	if err != nil {
		t.Fatalf("read gs://bucket/%s: %v", object, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b, r.Attrs.Generation
}

func TestPublish(t *testing.T) {
	e := newEnv(t)
	var log bytes.Buffer
	o := e.options(builtVersion)
	o.Log = &log
	res, err := publish.Publish(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != publish.Published || res.Spec != "gs://bucket/eventdelivery/v1.0.0/spec.json" ||
		res.Tag != e.host+"/templates/eventdelivery:v1.0.0" || res.Image != e.host+"/templates/eventdelivery@"+res.Digest {
		t.Errorf("result %+v", res)
	}
	t.Logf("pipeline built for linux/amd64 in %v; publish log:\n%s", buildTime.Round(time.Second), log.String())

	// The image, by tag.
	img, err := remote.Image(mustRef(t, res.Tag))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d.String() != res.Digest {
		t.Errorf("tag is on %s, result says %s", d, res.Digest)
	}
	base, err := remote.Image(mustRef(t, e.base))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{publishtest.LauncherEntrypoint}) {
		t.Errorf("entrypoint %q, want the base's %q", cf.Config.Entrypoint, publishtest.LauncherEntrypoint)
	}
	wantEnv := []string{"PATH=/usr/local/bin:/usr/bin:/bin", templates.BinaryEnv + "=" + templates.BinaryPath}
	if !slices.Equal(cf.Config.Env, wantEnv) {
		t.Errorf("env %q, want %q", cf.Config.Env, wantEnv)
	}
	if cf.Config.Labels[templates.VersionLabel] != builtVersion {
		t.Errorf("labels %v", cf.Config.Labels)
	}
	if !cf.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("created %v, want the epoch", cf.Created)
	}

	// The layers: the base's, then one with the binary.
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	baseLayers, _ := base.Layers()
	if len(layers) != len(baseLayers)+1 {
		t.Fatalf("%d layers, want the base's %d plus one", len(layers), len(baseLayers))
	}
	for i, bl := range baseLayers {
		bd, _ := bl.Digest()
		ld, _ := layers[i].Digest()
		if bd != ld {
			t.Errorf("layer %d is %s, the base's is %s", i, ld, bd)
		}
	}
	top := layers[len(layers)-1]
	if mt, _ := top.MediaType(); mt != types.DockerLayer {
		t.Errorf("layer media type %s", mt)
	}
	files := readLayer(t, top)
	if h := files["template/"]; h == nil || h.header.Typeflag != tar.TypeDir {
		t.Errorf("layer has no template/ folder: %v", slices.Sorted(maps.Keys(files)))
	}
	bin := files[strings.TrimPrefix(templates.BinaryPath, "/")]
	if bin == nil {
		t.Fatalf("layer has no %s: %v", templates.BinaryPath, slices.Sorted(maps.Keys(files)))
	}
	if len(files) != 2 {
		t.Errorf("layer holds %v, want the folder and the binary only", slices.Sorted(maps.Keys(files)))
	}
	for n, f := range files {
		h := f.header
		if h.Mode&0o777 != 0o755 || h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mode %o uid %d gid %d mtime %v; want 755, root, the epoch", n, h.Mode, h.Uid, h.Gid, h.ModTime)
		}
	}
	ef, err := elf.NewFile(bytes.NewReader(bin.data))
	if err != nil {
		t.Fatalf("%s is not an ELF file: %v", templates.BinaryPath, err)
	}
	if ef.Machine != elf.EM_X86_64 || ef.Class != elf.ELFCLASS64 || ef.Type != elf.ET_EXEC {
		t.Errorf("%s is %s %s %s, want a 64-bit x86-64 executable", templates.BinaryPath, ef.Class, ef.Machine, ef.Type)
	}
	if ef.Section(".interp") != nil {
		t.Errorf("%s is dynamically linked; want a static (CGO_ENABLED=0) binary", templates.BinaryPath)
	}
	ef.Close()
	// This machine is linux/amd64 too: the binary says which version it is.
	exe := filepath.Join(t.TempDir(), "eventdelivery")
	if err := os.WriteFile(exe, bin.data, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(exe, "--version").Output(); err != nil || strings.TrimSpace(string(out)) != builtVersion {
		t.Errorf("%s --version: %q %v, want %s", templates.BinaryPath, out, err, builtVersion)
	}

	// The spec: Dataflow's ContainerSpec, naming the image by digest.
	data, _ := e.readObject(t, "eventdelivery/v1.0.0/spec.json")
	var cs dataflowpb.ContainerSpec
	if err := protojson.Unmarshal(data, &cs); err != nil {
		t.Fatalf("spec is not a Dataflow ContainerSpec: %v\n%s", err, data)
	}
	if cs.GetImage() != res.Image || cs.GetSdkInfo().GetLanguage() != dataflowpb.SDKInfo_GO {
		t.Errorf("spec image %q language %v; want %q GO", cs.GetImage(), cs.GetSdkInfo().GetLanguage(), res.Image)
	}
	want, _ := templates.CheckedInMetadata()
	if cs.GetMetadata().GetName() != want.Name || len(cs.GetMetadata().GetParameters()) != len(want.Parameters) {
		t.Errorf("spec metadata %v", cs.GetMetadata())
	}
	if !cs.GetDefaultEnvironment().GetEnableStreamingEngine() {
		t.Errorf("default environment %v, want Streaming Engine", cs.GetDefaultEnvironment())
	}
	if _, err := remote.Image(mustRef(t, cs.GetImage())); err != nil {
		t.Errorf("the spec's image %s cannot be pulled: %v", cs.GetImage(), err)
	}
}

func TestPublishIsImmutable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const object = "eventdelivery/v1.0.0/spec.json"
	first, err := publish.Publish(ctx, e.options(builtVersion))
	if err != nil {
		t.Fatal(err)
	}
	data, gen := e.readObject(t, object)

	// Again, identical: a no-op.
	again, err := publish.Publish(ctx, e.options(builtVersion))
	if err != nil {
		t.Fatalf("publishing the same content again: %v", err)
	}
	if again.Outcome != publish.Unchanged || again.Digest != first.Digest {
		t.Errorf("second publish %+v, want unchanged %s", again, first.Digest)
	}
	if d2, gen2 := e.readObject(t, object); gen2 != gen || !bytes.Equal(d2, data) {
		t.Errorf("the spec was rewritten by an identical publish (generation %d, then %d)", gen, gen2)
	}

	// Different content (another base image): refused, nothing changed.
	other := e.options(builtVersion)
	other.BaseImage = e.pushBase(t, "other-base", types.OCIManifestSchema1)
	_, err = publish.Publish(ctx, other)
	if !errors.Is(err, publish.ErrPublished) || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), first.Image) {
		t.Fatalf("publishing different content: %v; want ErrPublished naming the published image and --force", err)
	}
	if d2, gen2 := e.readObject(t, object); gen2 != gen || !bytes.Equal(d2, data) {
		t.Errorf("a refused publish changed the spec")
	}
	if d, err := remote.Head(mustRef(t, first.Tag)); err != nil || d.Digest.String() != first.Digest {
		t.Errorf("a refused publish moved the tag: %v %v", d, err)
	}

	// --force: overwritten, tag and spec on the new image.
	other.Force = true
	forced, err := publish.Publish(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if forced.Outcome != publish.Overwritten || forced.Digest == first.Digest {
		t.Errorf("forced publish %+v", forced)
	}
	d2, _ := e.readObject(t, object)
	s, err := publish.ParseSpec(d2)
	if err != nil || s.Image != forced.Image {
		t.Errorf("after --force the spec names %q (%v), want %s", s.Image, err, forced.Image)
	}
	img, err := remote.Image(mustRef(t, forced.Tag))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d.String() != forced.Digest {
		t.Errorf("after --force the tag is on %s, want %s", d, forced.Digest)
	}
	// An OCI base gives OCI layers.
	layers, _ := img.Layers()
	if mt, _ := layers[len(layers)-1].MediaType(); mt != types.OCILayer {
		t.Errorf("binary layer on an OCI base is %s", mt)
	}
}

// A spec whose image tag was deleted: publishing the same content pushes the image again
// and leaves the spec alone.
func TestPublishRestoresADeletedTag(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first, err := publish.Publish(ctx, e.options(builtVersion))
	if err != nil {
		t.Fatal(err)
	}
	_, gen := e.readObject(t, "eventdelivery/v1.0.0/spec.json")
	if err := remote.Delete(mustRef(t, first.Tag)); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Head(mustRef(t, first.Tag)); err == nil {
		t.Fatal("the tag survived its deletion")
	}
	again, err := publish.Publish(ctx, e.options(builtVersion))
	if err != nil {
		t.Fatal(err)
	}
	if again.Outcome != publish.Unchanged || again.Digest != first.Digest {
		t.Errorf("republish %+v", again)
	}
	if d, err := remote.Head(mustRef(t, first.Tag)); err != nil || d.Digest.String() != first.Digest {
		t.Errorf("the tag was not pushed again: %v %v", d, err)
	}
	if _, gen2 := e.readObject(t, "eventdelivery/v1.0.0/spec.json"); gen2 != gen {
		t.Errorf("the spec was rewritten")
	}
}

// A tag that moved without the spec (someone pushed over it) is a difference too.
func TestPublishRefusesAMovedTag(t *testing.T) {
	e := newEnv(t)
	o := e.options(builtVersion)
	other, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustRef(t, o.Repository+":"+o.Version), other); err != nil {
		t.Fatal(err)
	}
	_, err = publish.Publish(context.Background(), o)
	if !errors.Is(err, publish.ErrPublished) || !strings.Contains(err.Error(), "the tag") {
		t.Fatalf("publish over a foreign tag: %v", err)
	}
	if _, err := e.gcs.Bucket("bucket").Object("eventdelivery/v1.0.0/spec.json").Attrs(context.Background()); !errors.Is(err, storage.ErrObjectNotExist) {
		t.Errorf("a refused publish wrote the spec: %v", err)
	}
}

func TestPublishRejectsBadOptions(t *testing.T) {
	e := newEnv(t)
	plain := publishtest.Base(t, nil)
	noEntrypoint := e.host + "/plain:latest"
	if err := remote.Write(mustRef(t, noEntrypoint), plain); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*publish.Options)
		want string
	}{
		{"no version", func(o *publish.Options) { o.Version = "" }, "version is required"},
		{"dirty", func(o *publish.Options) { o.Version = "v1.0.0-3-gabc-dirty" }, "modified working tree"},
		{"bad tag", func(o *publish.Options) { o.Version = "v1/0" }, "not a valid image tag"},
		{"no repository", func(o *publish.Options) { o.Repository = "" }, "image repository is required"},
		{"no placeholder", func(o *publish.Options) { o.Spec = "gs://bucket/spec.json" }, "no {version} placeholder"},
		{"not gcs", func(o *publish.Options) { o.Spec = "/tmp/{version}/spec.json" }, "want gs://BUCKET/PATH/spec.json"},
		{"not a binary", func(o *publish.Options) { o.Binary = "publish_test.go" }, "not an ELF file"},
		{"no base", func(o *publish.Options) { o.BaseImage = e.host + "/nothing:latest" }, "base image"},
		{"not a launcher base", func(o *publish.Options) { o.BaseImage = noEntrypoint }, "base image has no entrypoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := e.options(builtVersion)
			tc.edit(&o)
			if _, err := publish.Publish(context.Background(), o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// The same base, binary and time give the same digest; another time gives another.
func TestImageIsReproducible(t *testing.T) {
	base := publishtest.Base(t, []string{publishtest.LauncherEntrypoint})
	bin := bytes.Repeat([]byte("\x7fELF not really"), 1000)
	digest := func(created time.Time) v1.Hash {
		img, err := publish.Image(base, bin, "v1", created)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	t0 := time.Unix(1700000000, 0)
	if a, b := digest(t0), digest(t0); a != b {
		t.Errorf("two builds of the same image: %s and %s", a, b)
	}
	if a, b := digest(t0), digest(t0.Add(time.Second)); a == b {
		t.Errorf("the creation time does not reach the digest")
	}
}

type file struct {
	header *tar.Header
	data   []byte
}

func readLayer(t *testing.T, l v1.Layer) map[string]*file {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = &file{h, data}
	}
}

// A binary built from a working tree with uncommitted changes is refused, unless allowed.
func TestPublishRefusesAModifiedTree(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"go.mod":  "module example.com/m\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() {}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(env []string, name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	git := []string{"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t"}
	run(git, "git", "init", "-q")
	run(git, "git", "add", ".")
	run(git, "git", "commit", "-q", "-m", "m")
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { println() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "exe")
	run(append(publish.BuildEnv, "GOFLAGS=-buildvcs=true"), "go", "build", "-o", exe, ".")

	e := newEnv(t)
	o := e.options("v0.0.1")
	o.Binary = exe
	if _, err := publish.Publish(context.Background(), o); err == nil || !strings.Contains(err.Error(), "uncommitted changes") || !strings.Contains(err.Error(), "--allow-modified") {
		t.Fatalf("publishing a binary of a modified tree: %v", err)
	}
	o.AllowModified = true
	res, err := publish.Publish(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Revision) != 40 {
		t.Errorf("revision %q, want the commit", res.Revision)
	}
}
