# pertitle: `make run` starts the whole stack locally, `make test` runs every test.
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/bin
SERVICES := ingest encoder-dispatch webhook-receiver catalog issuer
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X github.com/pertitle/pertitle/pkg/svc.Version=$(VERSION)

.PHONY: all build run test test-short fuzz bench bench-ladder bench-pershot bench-chunked lint fmt proto proto-check deps goaws web clean help

all: build

help:
	@echo "make run          install what is missing, start goaws + the four services, print URLs"
	@echo "make test         every test of every module, as CI (installs ffmpeg, protoc, chromium if missing)"
	@echo "make fuzz         every Go fuzz target, FUZZTIME each (default 10m; FUZZ=regexp picks targets), then a table"
	@echo "make build        binaries into bin/ (the catalog embeds the web app: npm ci + npm run build in web/)"
	@echo "make bench        benchmarks, printed as tables"
	@echo "make bench-ladder per-title vs static ladder on ../shared/media (VMAF, BD-rate, cost)"
	@echo "make bench-pershot per-shot vs per-title and static on titles built from ../shared/media, against the exhaustive per-shot optimum (VMAF, BD-rate, cost)"
	@echo "make bench-chunked chunked encoding: 1 vs 2 workers on a 10-minute 1080p title, CPU overhead, a kill (about an hour)"
	@echo "make proto        regenerate Go from proto/ ; make proto-check fails on drift"
	@echo "make lint fmt     go vet + gofmt check ; gofmt -w"

deps:
	@./scripts/deps.sh

build: goaws web
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./services/,$(SERVICES)) ./cmd/pertitle ./cmd/fakebitmovin
	$(GO) build -trimpath -o $(BIN)/s3server ./internal/tools/s3server

web:
	@./scripts/web.sh

goaws:
	@./scripts/goaws.sh $(BIN)

run: deps build
	@./scripts/run.sh

test:
	@./scripts/test.sh

test-short:
	@./scripts/test.sh -short

# FUZZTIME, FUZZ, FUZZJOBS, FUZZPARALLEL: see scripts/fuzz.sh.
export FUZZTIME FUZZ FUZZJOBS FUZZPARALLEL
fuzz:
	@./scripts/fuzz.sh

bench: deps build
	@./scripts/bench.sh

bench-ladder: deps
	@./scripts/bench-ladder.sh

bench-pershot: deps
	@./scripts/bench-pershot.sh

bench-chunked: deps
	@./scripts/bench-chunked.sh

proto:
	@./scripts/proto.sh

proto-check:
	@./scripts/proto.sh --check

lint:
	@./scripts/modules.sh go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed: make fmt"; exit 1; }

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) var
