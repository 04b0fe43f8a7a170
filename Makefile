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

test: bootstrap
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip MemoryTests
	# Memory bounds are measured in a process of their own: parallel tests would move its RSS.
	$(SWIFT) test --skip-build --filter MemoryTests

benchmark: bootstrap
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark
