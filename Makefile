# swift-asgi: the two commands of the README.
#   make run   builds and runs the example (today: the AsyncBridge tour)
#   make test  builds and runs the whole test suite
# Both install what a fresh machine of this kind lacks (see scripts/bootstrap.sh).

SWIFT ?= swift

.PHONY: run test bootstrap benchmark

bootstrap:
	@bash scripts/bootstrap.sh

run: bootstrap
	$(SWIFT) run BridgeTour

# The HTTP server's end-to-end tests (real sockets, client processes, many servers at once) run in
# a test process of their own: the in-process memory assertions of ASGITests (process RSS growth)
# must not count their allocations.
test: bootstrap
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip ASGIHTTPServerTests
	$(SWIFT) test --skip-build --filter ASGIHTTPServerTests

benchmark: bootstrap
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark
