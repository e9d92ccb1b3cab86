# The two commands a newcomer needs: `make demo` and `make test`. Each installs what is missing itself.
SHELL := /bin/bash
export TOTE_TOOLS_CACHE ?= /var/cache/tote-tools
JEST := node --experimental-vm-modules node_modules/jest/bin/jest.js

.PHONY: demo test setup deps build check unit e2e compat-containerd1 faults-ci clean

## demo: set everything up, then run the local embedded sandbox
demo: setup build
	node bin/tote.js demo

## test: set everything up, then run every check and the whole test suite
test: setup build check unit e2e compat-containerd1 faults-ci

## setup: install the tools (containerd 2.x and 1.6, runc, kubelet, kube-apiserver, kube-controller-manager,
## kube-scheduler, etcd, registry, skopeo, helm, temporal, busybox) and npm packages
setup: deps
	bash hack/setup-tools.sh

deps:
	@if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi

build: deps
	npm run build

## check: types, lint, formatting, and the workflow bundle (catches Node imports in workflow code)
check: deps
	npm run typecheck
	npm run lint
	node hack/check-workflow-bundle.mjs

unit: deps
	$(JEST) --selectProjects unit

e2e: deps
	$(JEST) --selectProjects e2e --runInBand

## compat-containerd1: the compatibility target, containerd 1.6 (Debian's) on every node: the agent suites and the
## real-kubelet salvage stories (the e2e suites above run on containerd 2.x; the mixed-cluster suite runs both)
COMPAT_SUITES := test/e2e/agent-transfer.test.ts test/e2e/agent-resume.test.ts test/e2e/agent-security.test.ts \
  test/e2e/agent-push.test.ts test/e2e/agent-store-contract.test.ts test/e2e/bad-input-grpc.test.ts \
  test/e2e/kubelet-salvage.test.ts
compat-containerd1: deps
	TOTE_CONTAINERD=1 $(JEST) --selectProjects e2e --runInBand $(COMPAT_SUITES)

## faults-ci: the seeded subset of the fault suite (first 5 salvages: every component killed once, ~1-2 min);
## `npm run test:faults` runs all 20 (~4-5 min), TOTE_FAULT_SEED=<n> replays another plan
faults-ci: deps
	TOTE_FAULT_SALVAGES=5 $(JEST) -c jest.faults.config.js --runInBand

clean:
	[ -f dist/test/harness/run.js ] && node -e "import('./dist/test/harness/run.js').then(m => m.killLeftovers())" || true
	rm -rf dist .tote-runs coverage
