// Package layers holds no code: its test keeps the module's imports pointing down the
// layers that docs/architecture.md draws (foundations, transforms, pipeline, test tools
// and benchmarks; the launcher beside the pipeline, on the foundations only).
package layers
