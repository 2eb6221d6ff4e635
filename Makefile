# Giveathon. `make help` lists the targets.
#
# The machine's Go may be older than go.mod asks for and does not switch toolchains by itself:
# every target uses Go 1.27.3, which the go command fetches once through the module proxy.
export GOTOOLCHAIN := go1.27.3

BIN := bin/giveathon
GENERATED := graph/generated graph/model/models_gen.go graph/schema.resolvers.go graph/partners.resolvers.go

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## Install what the project needs on this machine (PostgreSQL's server binaries).
	@scripts/ensure-postgres.sh

.PHONY: deps-ha
deps-ha: deps ## Install pg_auto_failover (pg_autoctl and the monitor's extension) for make chaos-ha and the failover tests.
	@scripts/ensure-pg-auto-failover.sh

.PHONY: web
web: ## Build the donor web app into web/dist/app (npm ci, codegen, type check, Vite).
	@scripts/build-web.sh

.PHONY: build
build: web ## Build bin/giveathon, with the web app embedded.
	go build -o $(BIN) ./cmd/giveathon

.PHONY: run
run: deps build ## Run Giveathon on http://localhost:8080 (embedded database in ./.data, Stripe sandbox, Mailpit inbox on :8025).
	@scripts/run.sh

# The failover tests run alone, after the others: the monitor's health checks (a second each)
# take a standby that a saturated machine holds back for a failed one, and the primary then
# writes without its synchronous standby (wait_primary), which a 2-node formation allows.
FAILOVER_TESTS := ^(TestChaosHASmallProfile|TestWritesRideThroughSwitchoverAndFailover)$$

.PHONY: test
test: deps verify lint ## Run every check and test (what CI runs): Go tests, then the browser tests.
	@scripts/ensure-pg-auto-failover.sh || { [ -z "$$CI" ] && echo "pg_auto_failover could not be installed: the failover tests will be skipped" >&2; } || exit 1
	go test -count=1 -timeout 10m -skip '$(FAILOVER_TESTS)' ./...
	go test -count=1 -timeout 10m -p 1 -run '$(FAILOVER_TESTS)' ./internal/pgaf/ ./cmd/chaos/
	@$(MAKE) --no-print-directory e2e

.PHONY: e2e
e2e: deps build ## Browser tests: Playwright drives Debian's Chromium through the donor journey on a real server.
	@scripts/ensure-chromium.sh
	cd web && GIVEATHON_BIN=$(CURDIR)/$(BIN) node e2e/run.mjs

.PHONY: unit
unit: deps ## Run the Go tests only.
	@scripts/ensure-pg-auto-failover.sh || echo "pg_auto_failover could not be installed: the failover tests will be skipped" >&2
	go test -count=1 -timeout 10m ./...

.PHONY: chaos
chaos: deps build ## Prove it: 10,000 donations under provider faults, server kills and a database restart (CHAOS_FLAGS=... to change).
	go build -o bin/chaos ./cmd/chaos
	./bin/chaos -bin $(BIN) $(CHAOS_FLAGS)

.PHONY: chaos-ha
chaos-ha: deps-ha build ## Prove failover: 5,000 donations under provider faults on a pg_auto_failover pair, a switchover and the primary killed (CHAOS_FLAGS=... to change).
	go build -o bin/chaos ./cmd/chaos
	./bin/chaos -ha -bin $(BIN) $(CHAOS_FLAGS)

FUZZTIME ?= 30s
.PHONY: fuzz
fuzz: ## Fuzz input validation, e-mails, cursors and the webhook parser, FUZZTIME each (their seeds run in make test).
	go test -run '^$$' -fuzz '^FuzzSubmitDonationInput$$' -fuzztime $(FUZZTIME) .
	go test -run '^$$' -fuzz '^FuzzNormalizeEmail$$' -fuzztime $(FUZZTIME) .
	go test -run '^$$' -fuzz '^FuzzDecodeCursor$$' -fuzztime $(FUZZTIME) ./db/
	go test -run '^$$' -fuzz '^FuzzWebhook$$' -fuzztime $(FUZZTIME) ./payments/

.PHONY: bench
bench: deps build ## Measure against pgbench in one run: submit and settle throughput, latency at 100/s (results in bench/results/).
	go build -o bin/loadgen ./cmd/loadgen
	go build -o bin/bench ./cmd/bench
	./bin/bench -bin $(BIN) -loadgen bin/loadgen

EVENT_DONATIONS ?= 3000000
.PHONY: bench-event
bench-event: deps build ## Replay the whole event, EVENT_DONATIONS donations (3,000,000), and check nothing is lost or charged twice.
	go build -o bin/chaos ./cmd/chaos
	./bin/chaos -bin $(BIN) -donations $(EVENT_DONATIONS) -donors 2000 -concurrency 64 -mail=false \
		-err500 0 -err429-burst 0 -timeout-before 0 -timeout-after 0 -webhook-dup 0 -webhook-delay 0 -latency 0 \
		-decline 0.03 -auth 0 -double-send 0 -server-kills 0 -db-restarts 0 -refunds 0 -webhook-fail 0 -day -payment-workers 200 -drain 2h -v \
		-out bench/results/event-$$(date -u +%Y-%m-%dT%H%M)-$(EVENT_DONATIONS).md

.PHONY: bench-history
bench-history: deps ## A donor's history page with 3,000,000 donations, partitioned by donor against not (results in bench/results/).
	go run ./cmd/historybench -out bench/results/history-$$(date -u +%Y-%m-%dT%H%M)-3000000.md

EXPORT_DONATIONS ?= 100000
.PHONY: bench-export
bench-export: deps ## The admins' CSV export of EXPORT_DONATIONS donations (100,000) and ten times as many through the real server: rows, bytes, seconds, server RSS (results in bench/results/).
	go run ./cmd/exportbench -donations $(EXPORT_DONATIONS) -scale 10 -out bench/results/export-$$(date -u +%Y-%m-%dT%H%M)-$(EXPORT_DONATIONS).md

.PHONY: generate
generate: ## Regenerate the GraphQL code from schema.graphqls.
	go tool gqlgen generate

.PHONY: verify
verify: generate ## Check that the committed generated code is fresh.
	@git diff --exit-code -- $(GENERATED) >/dev/null && test -z "$$(git status --porcelain -- $(GENERATED))" \
		|| { git status --short -- $(GENERATED); echo "generated code is stale: run 'make generate' and commit the result" >&2; exit 1; }

.PHONY: lint
lint: ## gofmt, go vet, staticcheck and govulncheck (with an offline database in .cache/).
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt would change: $$out" >&2; exit 1; }
	go vet ./...
	go tool staticcheck ./...
	@scripts/vulndb.sh .cache/vulndb
	go tool govulncheck -db file://$(CURDIR)/.cache/vulndb ./...

.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: clean
clean: ## Remove the build output and caches (not the data in ./.data).
	rm -rf bin .cache web/dist/app web/node_modules web/src/gql
