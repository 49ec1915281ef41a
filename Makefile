# mk8s — build, test, demo, testenv, bench.
# Every target works on a fresh machine of the project's kind, as root, once
# .ci/run (or `make deps`) has installed the Debian packages the tests need.

SHELL      := /usr/bin/env bash
GO         ?= go
export GOTOOLCHAIN := local
export GOFLAGS     := -mod=mod

BIN        := bin/mk8s
LDFLAGS    := -X github.com/metalk8s/mk8s/internal/version.Commit=$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# The real kube-apiserver, kubectl and etcd, built once into a cache outside the repository.
TESTENV     = $(shell hack/testenv.sh)
FUZZTIME   ?= 20s
# -count=1: the e2e tests run the mk8s binary they build, which go test's cache does not
# see; a cached "ok" could hide a change of cmd/mk8s.
TESTFLAGS  ?= -timeout 45m -count=1

.PHONY: all build test unit fuzz testenv bench demo deps clean vet

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/mk8s

vet:
	$(GO) vet ./...

## deps: the Debian packages the tests and the demo use (needs root).
deps:
	hack/install-deps.sh

## testenv: build kube-apiserver, kubectl and etcd into the cache (a no-op when present).
testenv:
	@hack/testenv.sh

## test: every test, against real components (apiserver, sshd hosts, git servers).
test: build
	KUBEBUILDER_ASSETS="$(TESTENV)" $(GO) test $(TESTFLAGS) ./...
	$(MAKE) fuzz

## fuzz: the loader fuzz test, for a short time.
fuzz:
	$(GO) test ./schema -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME)

## bench: Go benchmarks plus the side-by-side comparisons recorded in BENCHMARKS.md.
bench: build
	KUBEBUILDER_ASSETS="$(TESTENV)" hack/bench.sh

## demo: the whole loop on a local sandbox (see README).
demo: build
	hack/demo.sh

clean:
	rm -rf bin
