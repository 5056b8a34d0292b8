// Command gen writes templates/metadata.json from the pipeline's parameter table
// (pipelines/eventdelivery/delivery.Params):
//
//	go generate ./templates        # or: go run ./templates/gen -o templates/metadata.json
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/eventdelivery/eventdelivery/templates/internal/fromparams"
)

func main() {
	out := flag.String("o", "templates/metadata.json", "file to write; - for stdout")
	flag.Parse()
	b, err := fromparams.Metadata()
	if err == nil {
		if *out == "-" {
			_, err = os.Stdout.Write(b)
		} else {
			err = os.WriteFile(*out, b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
