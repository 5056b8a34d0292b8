package templates_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/dataflow/apiv1beta3/dataflowpb"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/eventdelivery/eventdelivery/pipelines/eventdelivery/delivery"
	"github.com/eventdelivery/eventdelivery/templates"
	"github.com/eventdelivery/eventdelivery/templates/internal/fromparams"
)

const regenerate = "metadata.json is generated from pipelines/eventdelivery/delivery/params.go; regenerate it with `go generate ./templates` (or `go run ./templates/gen`) and commit the result"

// TestMetadataMatchesParams fails when metadata.json and the pipeline's parameter table
// disagree.
func TestMetadataMatchesParams(t *testing.T) {
	want, err := fromparams.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	got := templates.MetadataJSON()
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s.\nFirst difference at line %d:\n  metadata.json: %s\n  generated:     %s", regenerate, i+1, g, w)
		}
	}
	t.Fatal(regenerate)
}

// TestMetadataIsEveryFlag checks the parameters against the flags the pipeline actually
// registers, one for one (-version is the binary's own and no template parameter).
func TestMetadataIsEveryFlag(t *testing.T) {
	fs := flag.NewFlagSet("eventdelivery", flag.ContinueOnError)
	delivery.RegisterFlags(fs)
	var flags []string
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f.Name) })
	m, err := templates.CheckedInMetadata()
	if err != nil {
		t.Fatal(err)
	}
	var params []string
	for _, p := range m.Parameters {
		params = append(params, p.Name)
		f := fs.Lookup(p.Name)
		if f == nil {
			continue
		}
		if f.DefValue != p.DefaultValue {
			t.Errorf("parameter %s: default %q, flag default %q; %s", p.Name, p.DefaultValue, f.DefValue, regenerate)
		}
		if !p.IsOptional && p.DefaultValue != "" {
			t.Errorf("parameter %s is required but has a default %q", p.Name, p.DefaultValue)
		}
	}
	slices.Sort(flags)
	slices.Sort(params)
	if !slices.Equal(flags, params) {
		t.Errorf("template parameters %v, pipeline flags %v; %s", params, flags, regenerate)
	}
}

// TestMetadataIsDataflowTemplateMetadata reads metadata.json as Dataflow's own
// TemplateMetadata message: an unknown field, a misspelt one or an unknown paramType fails.
func TestMetadataIsDataflowTemplateMetadata(t *testing.T) {
	var pb dataflowpb.TemplateMetadata
	if err := protojson.Unmarshal(templates.MetadataJSON(), &pb); err != nil {
		t.Fatalf("metadata.json is not a Dataflow TemplateMetadata: %v", err)
	}
	if pb.GetName() != templates.MetadataName || len(pb.GetParameters()) != len(delivery.Params) {
		t.Errorf("name %q, %d parameters; want %q, %d", pb.GetName(), len(pb.GetParameters()), templates.MetadataName, len(delivery.Params))
	}
	for _, p := range pb.GetParameters() {
		if p.GetLabel() == "" || p.GetHelpText() == "" {
			t.Errorf("parameter %s has no label or help text", p.GetName())
		}
	}
	// The encoding is stable: decoding and encoding again gives the same bytes.
	var m templates.Metadata
	if err := json.Unmarshal(templates.MetadataJSON(), &m); err != nil {
		t.Fatal(err)
	}
	again, err := templates.Encode(m)
	if err != nil || !bytes.Equal(again, templates.MetadataJSON()) {
		t.Errorf("metadata.json does not round-trip (%v)", err)
	}
}
