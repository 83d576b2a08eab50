# Serialine — build, test and benchmark. `make test` provisions what it needs.
SHELL     := bash
GO        ?= go
BIN       := bin
PROGRAMS  := serialine-edge serialine-central serialine-sim
PKGS      := ./...
# The system tests run the whole installation (central, agents, simulated
# lines, a broker, PostgreSQL) at line speed: they run after the others,
# alone, so that no other test competes with the lines' timing.
SYSTEM_PKG := github.com/serialine/serialine/simulators/wholeline
# The tests start real servers and ptys; one package at a time per core.
TESTFLAGS ?= -count=1 -timeout 30m
BENCHTIME ?= 1s
INGEST_PKG := github.com/serialine/serialine/central/ingest
INGEST_BENCHTIME ?= 5s
STATICCHECK_VERSION := v0.8.2

.PHONY: all build test soak bench lint fmt vet provision demo clean fuzz windows release

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./edge/cmd/serialine-edge ./central/cmd/serialine-central ./simulators/cmd/serialine-sim

# Provision (Debian packages, services, validators) then run every test.
test: windows
	@set -e; env_lines=$$(bash .ci/provision); \
	for kv in $$env_lines; do export "$$kv"; done; \
	if [ -z "$$SERIALINE_VALIDATORS_BIN" ]; then \
	  echo "NOTE: ../shared/validators is absent: the conformance tests against the independent validators are SKIPPED."; \
	fi; \
	$(GO) vet $(PKGS); \
	$(GO) test $(TESTFLAGS) $$($(GO) list $(PKGS) | grep -v $(SYSTEM_PKG)); \
	$(GO) test $(TESTFLAGS) -v $(SYSTEM_PKG)

# The long scenarios at the sizes their issues name (10,000 units on one
# line under faults; two lines of 20,000 through a crash, a broker restart
# and central's absence). `make test` runs the same steps on fewer units.
SOAK_TESTS ?= TestLineUnderFaults|TestWholeSystemUnderFaults
soak:
	@set -e; env_lines=$$(bash .ci/provision); \
	for kv in $$env_lines; do export "$$kv"; done; \
	SERIALINE_SOAK=1 $(GO) test -count=1 -timeout 60m -v -run '^($(SOAK_TESTS))$$' $(SYSTEM_PKG)

# One package's benchmarks at a time (-p 1): on two cores, two benchmark
# binaries running at once would each measure half a machine. Ingest and its
# COPY ceiling are sustained rates: they run for INGEST_BENCHTIME each, so
# that filling and draining the lines' windows (8 batches) is a small part
# of what is measured.
bench:
	@set -e; env_lines=$$(bash .ci/provision); \
	for kv in $$env_lines; do export "$$kv"; done; \
	set -o pipefail; { \
	  rc=0; \
	  $(GO) test -p 1 -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $$($(GO) list $(PKGS) | grep -v $(INGEST_PKG)) || rc=1; \
	  $(GO) test -run '^$$' -bench . -benchmem -benchtime $(INGEST_BENCHTIME) $(INGEST_PKG) || rc=1; \
	  exit $$rc; \
	} | bash .ci/bench-report

lint: vet windows
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@out=$$($(GO) mod tidy -diff 2>&1) || { echo "go.mod/go.sum are not tidy (run go mod tidy):"; echo "$$out"; exit 1; }
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

# One simulated line, central and the edge agent, wired, on free loopback
# ports (data in data/demo; running it again continues with the same data).
demo: build
	./$(BIN)/serialine-sim demo

clean:
	rm -rf $(BIN) $(DIST)

# The edge runs on Windows line PCs (as a Windows service, edge/service):
# cross-compile it, vet the packages whose tests build there (the others'
# tests drive the simulators' ptys, Linux only) and compile, without
# running, the Windows-only tests. A few seconds; make test and make lint run it.
WINDOWS_VET_PKGS := ./edge/service ./edge/dbcheck ./edge/cmd/... ./drivers/transport
windows:
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./edge/...
	GOOS=windows GOARCH=amd64 $(GO) vet $(WINDOWS_VET_PKGS)
	GOOS=windows GOARCH=amd64 $(GO) test -c -o /dev/null ./edge/service
	GOOS=windows GOARCH=amd64 $(GO) test -c -o /dev/null ./drivers/transport

# The three programs for each platform into dist/, stripped, with their
# version (VERSION=v1.2.3 make release; default: git describe) and
# dist/SHA256SUMS (check with: cd dist && sha256sum -c SHA256SUMS).
# CGO_ENABLED=0: everything is pure Go (SQLite is modernc.org/sqlite), so the
# binaries are static and cross-compile without a C toolchain.
# serialine-sim is built for Linux only: its devices are ptys.
DIST              := dist
RELEASE_PLATFORMS := linux/amd64 linux/arm64 windows/amd64
VERSION           ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
VERSION_PKG       := github.com/serialine/serialine/shared/version
release:
	@set -euo pipefail; rm -rf $(DIST); mkdir -p $(DIST); \
	for plat in $(RELEASE_PLATFORMS); do \
	  os=$${plat%/*}; arch=$${plat#*/}; ext=; [ "$$os" = windows ] && ext=.exe; \
	  for prog in $(PROGRAMS); do \
	    case $$prog in \
	      serialine-edge) pkg=./edge/cmd/serialine-edge ;; \
	      serialine-central) pkg=./central/cmd/serialine-central ;; \
	      serialine-sim) pkg=./simulators/cmd/serialine-sim; [ "$$os" = linux ] || continue ;; \
	    esac; \
	    out=$(DIST)/$$prog-$$os-$$arch$$ext; echo "$$out"; \
	    CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath \
	      -ldflags "-s -w -X $(VERSION_PKG).Version=$(VERSION)" -o "$$out" $$pkg; \
	  done; \
	done; \
	cd $(DIST) && sha256sum $$(ls | grep -v '^SHA256SUMS$$') > SHA256SUMS; \
	echo "$(DIST)/SHA256SUMS:"; cat SHA256SUMS
