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

.PHONY: all build test soak bench lint fmt vet provision demo clean fuzz

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./edge/cmd/serialine-edge ./central/cmd/serialine-central ./simulators/cmd/serialine-sim

# Provision (Debian packages, services, validators) then run every test.
test:
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

lint: vet
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
	rm -rf $(BIN)
