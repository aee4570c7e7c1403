# PocketBase v0.40.4 needs Go 1.27: the go command fetches this toolchain
# through the module proxy on first use.
export GOTOOLCHAIN := go1.27.3

BIN  := bin/pocketclerk
ADDR ?= 127.0.0.1:8090

.PHONY: run build test fmt vet lint bench bench-million soak fuzz

run: build
	./$(BIN) serve --http=$(ADDR) --dir=pb_data

build:
	go build -o $(BIN) .

test: vet
	go test -count=1 ./...

fmt:
	gofmt -w .

vet:
	go vet ./...

# staticcheck is pinned: v0.8.2 is the release that reads Go 1.27 code. The
# first run downloads and builds it (a few minutes on 2 cores).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Fails on unformatted files, go vet's findings and staticcheck's.
lint:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt -l: not formatted (run make fmt):"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go run $(STATICCHECK) ./...

# Load figures against PocketBase's own write path, as in docs/benchmarks.md (about 15 s).
bench:
	go run ./hooks/internal/bench

# The same, then again after seeding a million clients (about 30 s).
bench-million:
	go run ./hooks/internal/bench -grow 1000000

# 30 s of the bench load on an in-process server: goroutines and heap before and after.
soak:
	go run ./hooks/internal/bench -soak 30s

# Each fuzz target briefly. SQLite's instrumented code makes nearly every input
# look new, so minimising is capped to keep the time on fuzzing.
FUZZTIME ?= 20s
fuzz:
	go test ./hooks -run '^$$' -fuzz '^FuzzWebhookRequest$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10x
	go test ./hooks -run '^$$' -fuzz '^FuzzClientMapping$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10x
