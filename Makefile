# The two commands that do everything on a fresh Debian machine: `make demo` and `make test`.
.PHONY: all deps build demo test test-release test-asan bench install format clean

JOBS ?= $(shell nproc)
PREFIX ?= /usr/local

all: build

deps:
	scripts/install-deps

build: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)

# The demo needs only the binary: building the test and example targets first would make a
# newcomer wait minutes for nothing.
demo: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS) --target sockit_cli
	build/release/apps/sockit/sockit demo

test: deps test-release test-asan

test-release: build
	ctest --preset release

test-asan: deps
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan

bench: build
	scripts/bench-compare all

install: build
	cmake --install build/release --prefix $(PREFIX)

format:
	find include src apps tests bench fuzz examples -name '*.[ch]pp' -print0 | xargs -0 clang-format -i

clean:
	rm -rf build
