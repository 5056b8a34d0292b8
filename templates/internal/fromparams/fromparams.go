// Package fromparams turns the pipeline's parameter table into template parameters. It is
// the one place that imports the pipeline (and so Beam): the generator and the test use it,
// the launcher does not.
package fromparams

import (
	"slices"

	"github.com/eventdelivery/eventdelivery/pipelines/eventdelivery/delivery"
	"github.com/eventdelivery/eventdelivery/templates"
)

// Parameters converts delivery.Params, in order.
func Parameters(params []delivery.Param) []templates.Parameter {
	out := make([]templates.Parameter, len(params))
	for i, p := range params {
		out[i] = templates.Parameter{
			Name:         p.Name,
			Label:        p.Label,
			HelpText:     p.Help,
			IsOptional:   p.Optional,
			Regexes:      slices.Clone(p.Regexes),
			ParamType:    p.ParamType,
			DefaultValue: p.Default,
		}
	}
	return out
}

// Metadata returns the metadata generated from delivery.Params, encoded as metadata.json.
func Metadata() ([]byte, error) {
	return templates.Encode(templates.NewMetadata(Parameters(delivery.Params)))
}
