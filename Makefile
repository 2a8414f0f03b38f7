# bluejay — see README.md. `make test` is the whole test suite (what CI runs).
GO ?= go

.PHONY: build test test-short vet bench demo clean

build:
	$(GO) build -o bin/bluejay ./cmd/bluejay
	$(GO) build -o bin/app ./examples/app

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)

test: vet
	$(GO) test -race -count=1 -timeout 25m ./...

test-short:
	$(GO) test -count=1 -short ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/proxy/

demo:
	$(GO) run ./cmd/bluejay demo

clean:
	rm -rf bin logs bluejay.db bluejay.db-*
