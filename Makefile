# The entry points people type. Every target works on a fresh machine with Go installed.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/eventdelivery/eventdelivery/internal/version.Version=$(VERSION)
# Prism leaves a file in $TMPDIR on every run: keep them in one place.
export TMPDIR := $(or $(EVENTDELIVERY_TMPDIR),/tmp/eventdelivery)

.PHONY: all build test demo demo-replay bench vet clean tmpdir fuzz

all: build test

tmpdir:
	@mkdir -p $(TMPDIR)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/eventdelivery ./pipelines/eventdelivery
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/launcher ./launcher

vet:
	$(GO) vet ./...

## test: the full test suite (needs the Cloud SDK's Pub/Sub emulator; .ci/run installs it)
test: tmpdir
	$(GO) test -count=1 -timeout 20m ./...

## fuzz: run each fuzz target for FUZZTIME, a duration or a count such as 100000x (a count
## avoids Go 1.26's spurious "context deadline exceeded" at a duration's end, golang/go#75804;
## plain `go test` runs their seeds in testdata/fuzz);
## what a run finds is written to testdata/fuzz/<target>/ and becomes a seed once fixed
FUZZTIME ?= 30s
FUZZ_TARGETS := FuzzDecode:./internal/codec FuzzDecodeRevisions:./internal/codec FuzzAttributes:./internal/codec \
	FuzzParse:./transforms/replay FuzzParse:./launcher/fleet FuzzParseManifest:./output
fuzz: tmpdir
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "== $${t%%:*} in $${t#*:} for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$${t%%:*}$$" -fuzztime $(FUZZTIME) "$${t#*:}"; \
	done

## demo: a live stream through the Pub/Sub emulator and the pipeline on Prism, 90 seconds
demo: tmpdir
	$(GO) run -ldflags "$(LDFLAGS)" ./examples/demo --out out/demo

## demo-replay: replay three past hours of play-track events through the pipeline on Prism
demo-replay: tmpdir
	$(GO) run -ldflags "$(LDFLAGS)" ./examples/demo --replay --out out/demo-replay

## bench: per-event Go benchmarks, the end-to-end replay benchmark and the live one on the
## Pub/Sub emulator, each with its baseline (docs/performance.md); the other packages'
## benchmarks run once each; then, for memory, 4 and 16 hours of a live stream and a replay of
## 1,000,000 events in one hour (about 2 GiB); then a replay of BENCH_REPLAY events over 10
## hours next to its first hour alone (docs/performance.md gives its duration).
BENCH_OUT := $(TMPDIR)/bench
## BENCH_REPLAY: events of the replay over 10 hours measured against its first hour alone
BENCH_REPLAY ?= 10000000
bench: tmpdir
	@rm -f $(BENCH_OUT)-*.txt
	$(GO) test -run '^$$' -bench . -benchmem -benchtime=1x -count=1 $$($(GO) list ./... | grep -v /internal/benchmark) | tee $(BENCH_OUT)-other.txt
	$(GO) test -run '^$$' -bench PerEvent -benchmem -benchtime=500ms -count=3 ./internal/benchmark | tee $(BENCH_OUT)-perevent.txt
	$(GO) test -run '^$$' -bench EndToEnd -benchmem -timeout 20m ./internal/benchmark | tee $(BENCH_OUT)-endtoend.txt
	$(GO) test -run '^$$' -bench LiveEmulator -timeout 10m ./internal/benchmark | tee $(BENCH_OUT)-live.txt
	EVENTDELIVERY_BENCH_HOURS=4,16 $(GO) test -run '^$$' -bench MemoryHours -benchtime 1x -timeout 10m ./internal/benchmark | tee $(BENCH_OUT)-hours.txt
	EVENTDELIVERY_BENCH_MEMORY=1000000 $(GO) test -run '^$$' -bench 'Memory$$' -benchtime 1x -timeout 10m ./internal/benchmark | tee $(BENCH_OUT)-memory.txt
	EVENTDELIVERY_BENCH_REPLAY=$(BENCH_REPLAY) $(GO) test -run '^$$' -bench ReplayHours -benchtime 1x -timeout 60m ./internal/benchmark | tee $(BENCH_OUT)-replayhours.txt
	$(GO) run ./internal/benchmark/benchreport $(BENCH_OUT)-other.txt $(BENCH_OUT)-perevent.txt $(BENCH_OUT)-endtoend.txt $(BENCH_OUT)-live.txt $(BENCH_OUT)-hours.txt $(BENCH_OUT)-memory.txt $(BENCH_OUT)-replayhours.txt

clean:
	rm -rf bin out

## template: publish the pipeline as the Flex Template of VERSION (docs/releasing.md), from a
## clean checkout of the tag. IMAGE_REPOSITORY is required; TEMPLATE_SPEC defaults to the
## fleet file's template (FLEET, default fleet.yaml); TEMPLATE_FLAGS adds flags (--force,
## --base-image …). Image timestamps are the commit's time, so a rerun gives the same digest.
##   make template VERSION=v1.4.2 IMAGE_REPOSITORY=europe-docker.pkg.dev/P/R/eventdelivery \
##        TEMPLATE_SPEC='gs://B/eventdelivery/{version}/spec.json'
.PHONY: template
template: tmpdir
	@if git rev-parse -q --verify 'refs/tags/$(VERSION)^{commit}' >/dev/null && \
	    [ "$$(git rev-parse 'refs/tags/$(VERSION)^{commit}')" != "$$(git rev-parse HEAD)" ]; then \
	  echo "make template: tag $(VERSION) is not the checked-out commit; git checkout $(VERSION) first" >&2; exit 1; fi
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || echo 0) \
	  $(GO) run ./launcher template publish --version '$(VERSION)' --image-repository '$(IMAGE_REPOSITORY)' \
	  $(if $(TEMPLATE_SPEC),--spec '$(TEMPLATE_SPEC)',-f '$(or $(FLEET),fleet.yaml)') $(TEMPLATE_FLAGS)
