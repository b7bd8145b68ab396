# distkv — one Makefile that CI and people call.
GO        ?= go
PKGS      ?= ./...
BIN       ?= bin/distkv
TESTFLAGS ?=

.PHONY: build test test-short lint bench docker clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/distkv

# The full suite, with the race detector (it needs cgo).
test:
	CGO_ENABLED=1 $(GO) test -race -timeout 25m $(TESTFLAGS) $(PKGS)

test-short:
	$(GO) test -short $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@if command -v staticcheck >/dev/null; then staticcheck $(PKGS); fi

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3s ./internal/replication/multiraft/ ./internal/kv/

docker: build
	docker build -t distkv:latest .

clean:
	rm -rf bin
