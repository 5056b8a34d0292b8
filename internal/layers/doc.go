// Package layers holds no code: its test keeps the module's imports pointing down the
// layers that docs/architecture.md draws (foundations, transforms, pipeline, test tools
// and benchmarks; the launcher beside the pipeline, on the foundations only, in layers of
// its own: leaves, clients, domain, views, CLI, and its test tools).
package layers
