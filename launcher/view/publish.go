package view

import (
	"fmt"
	"io"

	"github.com/eventdelivery/eventdelivery/templates/publish"
)

// Publish renders the result of template publish: the version, its outcome and where the
// image and the spec are.
func Publish(w io.Writer, f Format, r *publish.Result) error {
	if f == JSON {
		return WriteJSON(w, r)
	}
	_, err := fmt.Fprintf(w, "%s %s\n  image: %s\n  tag:   %s\n  base:  %s\n  spec:  %s\n", r.Version, r.Outcome, r.Image, r.Tag, r.Base, r.Spec)
	if err == nil && r.Revision != "" {
		_, err = fmt.Fprintf(w, "  commit: %s\n", r.Revision)
	}
	return err
}
