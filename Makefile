# Subzero. `make run` starts a node on development defaults; `make test` runs every test.
GO       ?= go
FUZZTIME ?= 15s
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.7.0

.PHONY: run build test bench fuzz lint cover

run:
	$(GO) run ./cmd/subzero serve

build:
	$(GO) build -trimpath -o bin/subzero ./cmd/subzero

test:
	$(GO) test -race -timeout 15m ./...

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=10 -timeout 60m ./... | tee bench.txt

# Runs every fuzz target for FUZZTIME each.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

cover:
	$(GO) test -coverprofile=cover.out ./...
	$(GO) tool cover -func=cover.out | tail -1
