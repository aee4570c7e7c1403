# PocketBase v0.40.4 needs Go 1.27: the go command fetches this toolchain
# through the module proxy on first use.
export GOTOOLCHAIN := go1.27.3

# At the root, as PocketBase's own ./pocketbase: every command, with or
# without --dir, then uses ./pb_data next to it, and the commands its
# start-up banner prints work as printed.
BIN  := pocketclerk
ADDR ?= 127.0.0.1:8090

# "pocketclerk --version" prints these: the release tag (or "source", which
# it prints as a build from source) and the commit, "-dirty" with uncommitted changes.
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null || echo source)
COMMIT  := $(shell git describe --always --dirty --abbrev=12 --exclude='*' 2>/dev/null)

.PHONY: run build release test race fmt vet lint bench bench-million soak fuzz

run: build
	./$(BIN) serve --http=$(ADDR)

build:
	go build -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o $(BIN) .

# Archives for linux, macOS and Windows on amd64 and arm64, and their
# checksums, in dist/ (VERSION=v1.2.0 make release; PLATFORMS=linux/amd64 for one).
release:
	VERSION=$(VERSION) scripts/release.sh

# Without Chromium the browser tests skip themselves, and without Node.js
# the test against Clerk's own has(); say so, rather than let "ok" hide it
# (CI=true makes them fail instead).
test: vet
	go test -count=1 ./...
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || \
		echo "NOTE: no Chromium found: the browser tests (the profile page, the dashboard's Clerk page) were SKIPPED. apt-get install -y chromium, then make test again."
	@command -v node >/dev/null && command -v npm >/dev/null || \
		echo "NOTE: no Node.js found: the entitlements view was not checked against Clerk's has() (TestEntitlementsAgreeWithClerksHas was SKIPPED). apt-get install -y nodejs npm, then make test again."

# The concurrent code under the race detector: the realtime index and its
# detach (its package's tests, and those of hooks with Clerk), the session's
# headers in subscriptions, the webhook's batcher, the statement cache, the
# checkpointer, first sight's shared fetches, the background listing of
# billing plans, replication, and the collector's tuning.
RACE_TESTS := Realtime|FanOut|SessionClaims|ProfilePages|Batcher|Batch|StatementCache|Checkpoint|EndedSessions|FirstSight|Replica|Restore|PlanFirstNamedByAnItem
# The store-down test compares the webhook's pace with and without a
# replica: the race detector's slowdown is not the replica's.
RACE_SKIP := TestS3ReplicaDownNeitherBlocksTheWebhookNorGoesUnseen
race:
	go test -race -count=1 -run '$(RACE_TESTS)' -skip '$(RACE_SKIP)' ./hooks
	go test -race -count=1 ./hooks/internal/realtimeindex ./hooks/gcheadroom

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

# Load figures against the stack's limit and PocketBase's own write path, and with replication on and off, as in docs/benchmarks.md (about 1.5 min).
bench:
	go run ./hooks/internal/bench

# The same, then again after seeding a million clients (about 3 min, 10 GB of disk).
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
