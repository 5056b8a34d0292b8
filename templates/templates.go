// Package templates describes the Dataflow Flex Template of the eventdelivery pipeline: its
// parameter metadata (metadata.json, generated from the pipeline's parameter table
// pipelines/eventdelivery/delivery.Params), the image layout shared by the image that
// templates/publish builds and by templates/Dockerfile, and the spec file written per version.
//
// # Regenerating metadata.json
//
//	go generate ./templates
//
// runs ./templates/gen, which writes metadata.json from delivery.Params. A test fails when
// the two disagree. This package embeds the file and does not import the pipeline, so the
// launcher does not link Beam.
package templates

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
)

//go:generate go run ./gen -o metadata.json

// Image layout: what the template image adds to Google's Go launcher base image. The
// Dockerfile in this folder says the same; a test keeps the two in step.
const (
	// DefaultBaseImage is Google's Flex Template launcher base image for Go. Its entrypoint
	// (/opt/google/dataflow/go_template_launcher) runs the binary named by
	// FLEX_TEMPLATE_GO_BINARY with the template's parameters as flags.
	DefaultBaseImage = "gcr.io/dataflow-templates-base/go-template-launcher-base:latest"
	// BinaryDir is the folder of the image that holds the pipeline binary.
	BinaryDir = "/template"
	// BinaryName is the pipeline binary's file name.
	BinaryName = "eventdelivery"
	// BinaryPath is where the pipeline binary lives in the image.
	BinaryPath = BinaryDir + "/" + BinaryName
	// BinaryEnv is the variable the Go launcher reads the binary's path from.
	BinaryEnv = "FLEX_TEMPLATE_GO_BINARY"
	// VersionLabel is the image label that holds the pipeline version.
	VersionLabel = "org.opencontainers.image.version"
	// PipelinePackage is the Go package of the pipeline binary, relative to the module root.
	PipelinePackage = "./pipelines/eventdelivery"
	// VersionSymbol is the variable -ldflags -X stamps the version into.
	VersionSymbol = "github.com/eventdelivery/eventdelivery/internal/version.Version"
)

// Metadata is a Flex Template's metadata (the "metadata" of a spec file, and metadata.json),
// in the field names of Dataflow's TemplateMetadata.
type Metadata struct {
	Name                string      `json:"name"`
	Description         string      `json:"description"`
	Streaming           bool        `json:"streaming"`
	SupportsAtLeastOnce bool        `json:"supportsAtLeastOnce"`
	SupportsExactlyOnce bool        `json:"supportsExactlyOnce"`
	Parameters          []Parameter `json:"parameters"`
}

// Parameter is one template parameter, in the field names of Dataflow's ParameterMetadata.
type Parameter struct {
	Name         string   `json:"name"`
	Label        string   `json:"label"`
	HelpText     string   `json:"helpText"`
	IsOptional   bool     `json:"isOptional"`
	Regexes      []string `json:"regexes,omitempty"`
	ParamType    string   `json:"paramType"`
	DefaultValue string   `json:"defaultValue,omitempty"`
}

// Template-level metadata; the parameters come from the pipeline's table.
const (
	MetadataName        = "eventdelivery"
	MetadataDescription = "One event type's delivery: Pub/Sub messages into hourly, deduplicated, immutable Avro buckets on Cloud Storage, each closed by a _SUCCESS manifest."
)

// NewMetadata returns the template metadata for the given parameters. A parameter without
// a type is TEXT.
func NewMetadata(params []Parameter) Metadata {
	ps := make([]Parameter, len(params))
	for i, p := range params {
		if p.ParamType == "" {
			p.ParamType = "TEXT"
		}
		ps[i] = p
	}
	return Metadata{
		Name:                MetadataName,
		Description:         MetadataDescription,
		Streaming:           true,
		SupportsAtLeastOnce: false,
		SupportsExactlyOnce: true,
		Parameters:          ps,
	}
}

// Encode renders metadata, or a spec that holds it, the way the template files are
// written: indented by two spaces, no HTML escaping, map keys sorted, a final newline.
func Encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

//go:embed metadata.json
var metadataJSON []byte

// MetadataJSON returns the checked-in metadata.json.
func MetadataJSON() []byte { return bytes.Clone(metadataJSON) }

// CheckedInMetadata parses the checked-in metadata.json.
func CheckedInMetadata() (Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(metadataJSON, &m); err != nil {
		return Metadata{}, fmt.Errorf("templates: metadata.json: %w", err)
	}
	return m, nil
}
