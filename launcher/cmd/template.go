package cmd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"cloud.google.com/go/storage"
	"github.com/spf13/cobra"

	"github.com/eventdelivery/eventdelivery/launcher/fleet"
	"github.com/eventdelivery/eventdelivery/launcher/view"
	"github.com/eventdelivery/eventdelivery/templates"
	"github.com/eventdelivery/eventdelivery/templates/publish"
)

// addTemplate adds `template` and its subcommands. All the work is in templates/publish.
func addTemplate(root *cobra.Command, g *globalOptions, env Env) {
	tmpl := &cobra.Command{
		Use:   "template",
		Short: "Publish the pipeline as a Dataflow Flex Template",
		Long: `template publishes pinned, immutable versions of the pipeline as Dataflow Flex
Templates, without a Docker daemon. See docs/releasing.md.`,
		Args: cobra.NoArgs,
	}
	addTemplatePublish(tmpl, g, env)
	root.AddCommand(tmpl)
}

// templatePublishOptions are the flags of `template publish`: the publish's options; an
// empty Spec is the fleet file's template.
type templatePublishOptions struct {
	publish.Options
}

func (o *templatePublishOptions) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.Version, "version", "", "the version to publish: the image tag and the {version} of the spec location (required)")
	cmd.Flags().StringVar(&o.Repository, "image-repository", "", "image repository, e.g. europe-docker.pkg.dev/PROJECT/REPO/eventdelivery (required)")
	cmd.Flags().StringVar(&o.BaseImage, "base-image", templates.DefaultBaseImage, "the Flex Template launcher base image for Go")
	cmd.Flags().StringVar(&o.Spec, "spec", "", "spec location with {version}, e.g. gs://BUCKET/eventdelivery/{version}/spec.json (default: the fleet file's template)")
	cmd.Flags().BoolVar(&o.Force, "force", false, "overwrite a version already published with different content")
	cmd.Flags().BoolVar(&o.AllowModified, "allow-modified", false, "publish a binary built from a working tree with uncommitted changes")
	cmd.Flags().StringVar(&o.Binary, "binary", "", "a pipeline binary already built for linux/amd64 with this version stamped in (default: build it)")
	cmd.Flags().StringVar(&o.ModuleDir, "module-dir", ".", "the eventdelivery module to build the pipeline from")
}

func (o *templatePublishOptions) Validate() error {
	if err := publish.CheckVersion(o.Version); err != nil {
		return err
	}
	if o.Repository == "" {
		return errors.New("--image-repository is required")
	}
	return nil
}

func addTemplatePublish(parent *cobra.Command, g *globalOptions, env Env) {
	o := &templatePublishOptions{}
	cmd := &cobra.Command{
		Use:   "publish --version V --image-repository REPO",
		Short: "Build, push and record one pipeline version as a Flex Template",
		Long: `publish cross-compiles the pipeline for linux/amd64 with the version stamped in, builds
the template image on the Go launcher base image (the binary at ` + templates.BinaryPath + `,
` + templates.BinaryEnv + ` pointing at it, the base's entrypoint kept), pushes it as
REPO:VERSION and writes the Flex Template spec (the image by digest, SDK language GO, the
metadata of templates/metadata.json, the default environment) to the spec location, by
default the fleet file's template with {version} replaced.

A published version is immutable: publishing it again is a no-op when the result is
identical and fails when it differs, unless --force. Image timestamps are fixed (the Unix
epoch, or SOURCE_DATE_EPOCH), so the same source on the same base gives the same digest.

Registry credentials: the Google keychain (Application Default Credentials, gcloud), then
~/.docker/config.json. Cloud Storage: Application Default Credentials, or
STORAGE_EMULATOR_HOST.

Exit codes: 0 published or unchanged, 1 an error or a version published with different content.`,
		Example: `  launcher template publish --version v1.4.2 \
      --image-repository europe-docker.pkg.dev/my-project/dataflow/eventdelivery \
      --spec 'gs://my-bucket/eventdelivery/{version}/spec.json'
  launcher template publish -f fleet.yaml --version v1.4.2 --image-repository REPO -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), g, env) },
	}
	o.bind(cmd)
	parent.AddCommand(cmd)
}

// run is `launcher template publish`.
func (o *templatePublishOptions) run(ctx context.Context, g *globalOptions, env Env) error {
	if err := o.Validate(); err != nil {
		return err
	}
	opts := o.Options
	if opts.Spec == "" {
		f, err := fleet.Load(g.Fleet)
		if err != nil {
			return fmt.Errorf("template publish: no --spec, and the fleet file's template cannot be read: %w", err)
		}
		opts.Spec = f.Template
	}
	created, err := sourceDateEpoch(env)
	if err != nil {
		return err
	}
	opts.Created, opts.Log = created, env.Stderr
	res, err := publish.Publish(ctx, opts)
	if err != nil {
		return err
	}
	return view.Publish(env.Stdout, g.format, res)
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH (seconds since the epoch), the reproducible-builds
// convention for a build's timestamps; unset is the epoch itself.
func sourceDateEpoch(env Env) (time.Time, error) {
	s := env.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since the Unix epoch", s)
	}
	return time.Unix(n, 0), nil
}

// checkTemplates is `validate --templates`: every version the fleet pins must have a Flex
// Template spec that declares the parameters the launcher passes. Missing or unusable specs
// come back as a *fleet.ValidationError, rendered like any other problem of the file.
func checkTemplates(ctx context.Context, f *fleet.Fleet) error {
	c, err := storage.NewClient(ctx)
	if err != nil {
		return fmt.Errorf("validate: storage client: %w", err)
	}
	defer c.Close()
	problems, err := f.CheckPins(func(p fleet.Pin) (string, error) {
		return publish.CheckSpec(ctx, c, p.Version, p.Spec, p.Params)
	})
	if err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	if len(problems) > 0 {
		return &fleet.ValidationError{Problems: problems}
	}
	return nil
}
