# Every target sets up what it needs first (idempotent), so a fresh clone needs only
# `make dev` or `make test`.
SHELL := bash
.DEFAULT_GOAL := help
RUN := source scripts/env.sh &&
PORT ?= 8787

.PHONY: help setup build dev test check unit wasm-test integration e2e dry-run contract fuzz openapi bench bench-quick bench-cold profile profile-perf migrate-local migrate-turso clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install the pinned toolchain (Rust target, worker-build, wasm-bindgen, npm tools, sqld, redis-server, chromium)
	@bash scripts/setup.sh

build: setup ## Build the release Worker into build/
	@bash scripts/build.sh

dev: setup ## Serve the API on 127.0.0.1:$(PORT) with local KV, D1 and Durable Objects
	@test -f .dev.vars || cp .dev.vars.example .dev.vars
	@$(RUN) wrangler d1 migrations apply DB --local
	@$(RUN) wrangler dev --ip 127.0.0.1 --port $(PORT)

test: setup ## Run every check and test (fmt, clippy, unit, wasm, REST front, integration, browser, contract, dry-run deploy)
	@bash scripts/test.sh

check: setup ## Formatting and lints, host and wasm32
	@bash scripts/test.sh check

unit: setup ## Native unit tests
	@$(RUN) cargo test --lib

wasm-test: setup ## Tests compiled to wasm32 and run under node
	@$(RUN) cargo test --target wasm32-unknown-unknown --test wasm

integration: build ## Integration tests against the Worker in workerd (Miniflare)
	@$(RUN) cargo test --test api

e2e: build ## The browser page end to end in Chromium: passkeys, e-mail link, notes, cookie, CORS/CSRF; screenshots in target/screenshots
	@bash scripts/test.sh browser

contract: build ## The API document validated, typed (tsc) and contract-fuzzed (schemathesis, fixed seed)
	@bash scripts/test.sh contract

fuzz: build ## Contract fuzzing with a larger budget and a random seed (SEED=n to replay)
	@$(RUN) node tests/contract/fuzz.mjs --examples 400 --seed $${SEED:-$$RANDOM$$RANDOM} --min-requests 5000

openapi: setup ## Regenerate openapi.json from the route table and the features' declarations
	@$(RUN) OPENAPI_WRITE=1 cargo test --lib openapi:: -- --quiet

dry-run: build ## Bundle as `wrangler deploy` would, without uploading; prints the size
	@bash scripts/test.sh dry-run

# A new isolate on each workload (bench/cold.mjs).
COLD = node bench/cold.mjs && node bench/cold.mjs --workload health --rounds 6 --requests 1000 \
  && node bench/cold.mjs --workload read --rounds 6 --requests 1000

bench: build ## Benchmarks in workerd vs Hono and the bare ceiling, limiter, login CPU, cache layers, new isolates (bench/results/)
	@bash scripts/bench-setup.sh
	@$(RUN) node bench/run.mjs $(if $(BASELINE),--baseline $(BASELINE)) && node bench/limiter.mjs && node bench/login-cpu.mjs && node bench/cache.mjs \
	  && $(COLD) \
	  && echo "pipeline only, CPU per call inside workerd (no HTTP), relative to this template:" \
	  && node bench/isolate-workerd.mjs --rounds 10 --calls 20000 build/index.js build/bench/hono/index.js bench/peers/runtime-calls/index.js

bench-cold: build ## A new isolate vs Hono and bare: start-up, the first request, CPU per request over its first thousands, memory (bench/results/cold-*.json)
	@bash scripts/bench-setup.sh
	@$(RUN) $(COLD)

profile: build ## V8 CPU profile of the Worker under load, by category (target/profile/*.cpuprofile)
	@bash scripts/bench-setup.sh
	@$(RUN) node bench/profile.mjs

profile-perf: build ## CPU per pipeline-only call by layer (Wasm, glue, V8, workerd, allocator) from Linux perf, beside Hono and two floors
	@bash scripts/bench-setup.sh
	@$(RUN) node bench/perf-profile.mjs

bench-quick: build ## One round of health and the authenticated read vs Hono, no memory phase (BASELINE=dir to compare builds)
	@bash scripts/bench-setup.sh
	@$(RUN) node bench/run.mjs --rounds 1 --only "GET /v1/health,authenticated" --no-memory $(if $(BASELINE),--baseline $(BASELINE))

migrate-local: setup ## Apply migrations/ to the local D1 used by `make dev`
	@$(RUN) wrangler d1 migrations apply DB --local

migrate-turso: setup ## Apply migrations/ to the Turso database at TURSO_URL (token: TURSO_AUTH_TOKEN)
	@$(RUN) node scripts/migrate-turso.mjs

clean: ## Remove build outputs and local state (keeps installed tools)
	rm -rf build target .wrangler
