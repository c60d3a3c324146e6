# Enclave: the two commands are `make run` and `make test`; each installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DDB_HOME := .local/dynamodb
DDB_READY := $(DDB_HOME)/classes/LoopbackDynamoDBLocal.class
STRIPE_MOCK := .local/bin/stripe-mock
GOFAKES3 := .local/bin/gofakes3
PORT ?= 8000
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 18,20

.PHONY: run job test lint bench synth setup dynamodb-local clean stripe-mock s3-server stripe-event

## run: the local stack (DynamoDB Local, demo tenant, API on 127.0.0.1:$(PORT)); it also
## fires the app's schedules (SCHEDULE_INTERVAL=N: each at least every N seconds; 0: never).
## No reloader: restart it after editing code. Ctrl-C or SIGTERM (to make) stops everything.
## DYNAMODB_PORT=N (8123) for DynamoDB Local; a free port is used when it is taken.
run: setup
	$(PY) -m devstack run --port $(PORT)

## job: run one schedule or lambda function now against the running `make run` stack,
## e.g. `make job NAME=nightly`, `make job NAME=run_job PAYLOAD='{"job_id": "..."}'`
job: setup
	@test -n "$(NAME)" || { echo "usage: make job NAME=nightly|job_sweeper|run_job [PAYLOAD='{...}']" >&2; exit 2; }
	$(PY) -m devstack job "$(NAME)" --payload="$$PAYLOAD"

## test: lint first (fails fast), then the TypeScript client (`make clients`), then the whole suite
## against DynamoDB Local (in memory, free ports), on TEST_WORKERS processes (pytest-xdist, a
## file's tests stay together; each worker starts its own local servers). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: lint clients
	$(PY) -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile) --durations=15 $(PYTEST_ARGS)

## lint: ruff (rules in pyproject.toml), mypy (chalicelib/, app.py and cli/; strict on core/) and
## the import contracts (.importlinter: layering, public surfaces, no cycles)
lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

TS_CLIENT := clients/typescript

## clients: regenerate the TypeScript client (clients/typescript) from the app's OpenAPI document,
## without a server, and type-check it and its example with `tsc --strict`; commit what changed
.PHONY: clients
clients: setup $(TS_CLIENT)/node_modules/.package-lock.json
	$(PY) clients/dump_openapi.py $(TS_CLIENT)/openapi.json
	cd $(TS_CLIENT) && npm run --silent generate && npm run --silent typecheck

# the pinned generator and compiler (package-lock.json); npm writes this file last
$(TS_CLIENT)/node_modules/.package-lock.json: $(TS_CLIENT)/package-lock.json
	cd $(TS_CLIENT) && npm ci --no-audit --no-fund

## bench: print speed and capacity ratios (not a timed test)
bench: setup
	$(PY) -m bench

## routes: regenerate chalicelib/routes.json, the route manifest app.py registers blueprints from
## without importing them (ADR 0020); tests/unit/test_cold_start.py fails while it is stale
.PHONY: routes
routes: setup
	$(PY) -m chalicelib.core.routemap

## synth: the CloudFormation template of infra/ (CDK)
synth: setup
	cd infra && AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} ../$(PY) cdk_app.py

setup: $(VENV)/.installed $(DDB_READY) $(STRIPE_MOCK) $(GOFAKES3)

# the venv, with the `enclave` CLI (cli/) installed editable: its console script runs this checkout
$(VENV)/.installed: requirements.txt requirements-dev.txt cli/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<26.3"
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e cli
	touch $@

dynamodb-local: $(DDB_READY)

# DynamoDB Local (AWS's engine) and its libraries from Maven Central, pinned in the pom,
# plus a tiny launcher that binds it to 127.0.0.1 only.
$(DDB_READY): devstack/dynamodb/pom.xml devstack/dynamodb/LoopbackDynamoDBLocal.java
	mkdir -p $(DDB_HOME)/lib $(DDB_HOME)/classes
	mvn -q -B -f devstack/dynamodb/pom.xml dependency:copy-dependencies -DoutputDirectory=$(abspath $(DDB_HOME)/lib)
	javac -d $(DDB_HOME)/classes -cp "$(DDB_HOME)/lib/*" devstack/dynamodb/LoopbackDynamoDBLocal.java

clean:
	rm -rf $(VENV) .local chalice.out cdk.out infra/cdk.out .pytest_cache

stripe-mock: $(STRIPE_MOCK)

# stripe-mock (Stripe's official mock server), `go install`ed at a pinned version
$(STRIPE_MOCK): $(VENV)/.installed devstack/stripe_mock.py
	$(PY) -m devstack.stripe_mock install

s3-server: $(GOFAKES3)

# gofakes3 (an S3-compatible server in Go) for imports/exports, `go install`ed at a pinned version
$(GOFAKES3): $(VENV)/.installed devstack/s3_server.py
	$(PY) -m devstack.s3_server install

## stripe-event: signed Stripe events to the running stack, e.g.
## `make stripe-event TYPE=invoice.payment_failed MEMBER=01...` (PLAN=... for checkout.session.completed)
stripe-event: setup
	@test -n "$(TYPE)" -a -n "$(MEMBER)" || { echo "usage: make stripe-event TYPE=... MEMBER=... [PLAN=...] [ARGS=--cancel-at-period-end]" >&2; exit 2; }
	$(PY) -m devstack.stripe_event "$(TYPE)" "$(MEMBER)" $(if $(PLAN),--plan "$(PLAN)") $(ARGS)
