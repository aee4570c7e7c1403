# PocketBase v0.40.4 needs Go 1.27: the go command fetches this toolchain
# through the module proxy on first use.
export GOTOOLCHAIN := go1.27.3

BIN  := bin/pocketclerk
ADDR ?= 127.0.0.1:8090

.PHONY: run build test fmt vet bench

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
