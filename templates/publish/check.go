package publish

import (
	"context"
	"fmt"
	"slices"

	"cloud.google.com/go/storage"

	"github.com/eventdelivery/eventdelivery/templates"
)

// CheckSpec checks that the spec of a version at specPath exists, is a Go Flex Template,
// and declares every parameter the launcher passes to the version's jobs. It returns what
// is wrong, "" for a spec that is fine. An error is returned only when Cloud Storage cannot
// be asked; a missing spec is a message, not an error. The launcher calls it for every
// version a fleet pins (launcher/fleet's CheckPins); this package knows no fleet file.
func CheckSpec(ctx context.Context, c *storage.Client, version, specPath string, params []string) (string, error) {
	obj, err := readSpec(ctx, c, specPath)
	if err != nil {
		return "", err
	}
	if obj == nil {
		return fmt.Sprintf("version %s has no Flex Template spec at %s; publish it first (launcher template publish --version %s)", version, specPath, version), nil
	}
	s, err := ParseSpec(obj.data)
	if err != nil {
		return fmt.Sprintf("version %s: %s: %v", version, specPath, err), nil
	}
	var missing []string
	for _, k := range params {
		if !slices.ContainsFunc(s.Meta.Parameters, func(p templates.Parameter) bool { return p.Name == k }) {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return "", nil
	}
	slices.Sort(missing)
	return fmt.Sprintf("version %s: the spec %s does not declare parameters %v that the launcher passes; Dataflow would reject the launch", version, specPath, missing), nil
}
