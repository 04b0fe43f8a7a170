# swift-asgi: the two commands of the README.
#   make run   builds and serves the example legacy app (examples/HelloLegacy) on http://127.0.0.1:8080
#   make test  builds and runs the whole test suite
#   make fuzz        fuzzes every parser of Fuzz/ for FUZZ_SECONDS each (make fuzz-smoke: FUZZ_RUNS runs, for CI)
#   make docs        checks the README's and the articles' code and links (scripts/check_docs.py), then
#                    builds every module's DocC documentation; any DocC warning fails it
#   make format      rewrites every Swift file in place in the house style (.swift-format: the
#                    conventions of Hummingbird and SwiftNIO)
#   make lint        checks that style without changing a file; any violation fails it (CI runs it)
#   make benchmark-check       runs the benchmarks of Benchmarks/ and compares each p90 (wall clock,
#                              mallocs) with the thresholds checked in under Benchmarks/Thresholds/
#   make benchmark-thresholds  records new thresholds from a run (Benchmarks/README.md says when)
# Both install what a fresh machine of this kind lacks (see scripts/bootstrap.sh).

SWIFT ?= swift
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= 20000
# The modules with a DocC catalogue (Sources/<module>/Docs.docc).
DOC_TARGETS ?= AsyncBridge ASGI ASGITesting ASGIToolkit ASGIHTTPServer ASGIFastCGI Gateway
# swift-format ships with the toolchain (`swift format`); SWIFT_FORMAT names another binary.
SWIFT_FORMAT ?= $(SWIFT) format
# Every folder holding Swift code: the core package, its tests, the Hummingbird adapter, the examples,
# the fuzz targets, the benchmarks (and bench/hb_hello). Not Snippets/: the README and the articles
# show those files' code as it is laid out there, and scripts/check_docs.py checks that they match.
FORMAT_PATHS ?= Package.swift Sources Tests Integrations examples Fuzz Benchmarks bench

.PHONY: run tour run-hummingbird test bootstrap benchmark benchmark-check benchmark-thresholds fuzz fuzz-smoke docs format lint

bootstrap:
	@bash scripts/bootstrap.sh

run: bootstrap
	$(SWIFT) run HelloLegacy --http 127.0.0.1:8080

tour: bootstrap
	$(SWIFT) run BridgeTour

test: bootstrap
	$(SWIFT) build --build-tests
	# One target at a time, each under a watchdog; the memory bounds last, alone (scripts/test.sh).
	SWIFT=$(SWIFT) bash scripts/test.sh
	# The Hummingbird adapter is a package of its own, so the core's build never pays for Hummingbird.
	cd Integrations/ASGIHummingbird && $(SWIFT) build --build-tests
	SWIFT=$(SWIFT) TEST_PACKAGE_PATH=Integrations/ASGIHummingbird bash scripts/test.sh

run-hummingbird: bootstrap
	cd Integrations/ASGIHummingbird && $(SWIFT) run MountInHummingbird

benchmark: bootstrap
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark

# package-benchmark exits 2 on a regression and 4 when a figure beat its threshold by more than the
# tolerance: both fail, the second so that the thresholds are tightened (make benchmark-thresholds).
benchmark-check: bootstrap
	cd Benchmarks && $(SWIFT) package benchmark thresholds check --path Thresholds/ --no-progress; \
	rc=$$?; \
	if [ $$rc = 4 ]; then echo "Better than the thresholds: record them with make benchmark-thresholds."; fi; \
	exit $$rc

benchmark-thresholds: bootstrap
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark thresholds update \
		--path Thresholds/ --no-progress
	python3 scripts/trim_thresholds.py Benchmarks/Thresholds

fuzz: bootstrap
	Fuzz/fuzz.sh time $(FUZZ_SECONDS)

fuzz-smoke: bootstrap
	Fuzz/fuzz.sh runs $(FUZZ_RUNS)

docs:
	python3 scripts/check_docs.py
	$(SWIFT) package generate-documentation $(addprefix --target ,$(DOC_TARGETS)) --warnings-as-errors

format:
	$(SWIFT_FORMAT) format --in-place --recursive --parallel $(FORMAT_PATHS)

lint:
	$(SWIFT_FORMAT) lint --strict --recursive --parallel $(FORMAT_PATHS)
