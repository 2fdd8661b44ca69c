# paxsync — the two set-up commands of the README live here.
#   make demo   installs missing system packages (as root), then starts the
#               Ebiten demo: you plus 3 bot peers on this machine.
#   make test   installs missing system packages (as root), then runs vet,
#               staticcheck, the race-enabled test suite, the scripted
#               cheat-match scenarios, the 2,000-seed Byzantine simulation,
#               a short fuzz pass and every Go benchmark once.
GO ?= go
STATICCHECK = honnef.co/go/tools/cmd/staticcheck@v0.8.2
DEMO_ARGS ?=

.PHONY: demo test deps-demo deps-test vet staticcheck unit e2e sim fuzz build benchsmoke

demo: deps-demo
	@if [ -z "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
	  echo "make demo: no display (DISPLAY is unset). Run it on a desktop, or headless:"; \
	  echo "  xvfb-run -a go run ./cmd/paxsync-demo --ticks 900 --screenshot out.png"; exit 1; fi
	$(GO) run ./cmd/paxsync-demo $(DEMO_ARGS)

test: deps-test vet staticcheck build unit e2e sim fuzz benchsmoke
	@echo "make test: all checks passed"

deps-demo:
	@scripts/deps.sh demo

deps-test:
	@scripts/deps.sh test

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

build:
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/paxsync
	$(GO) build -o /dev/null ./cmd/paxsync-demo

unit:
	$(GO) test -race -p 1 -timeout 25m ./...

# The scenario suite runs many OS processes in real time; under -race it
# would only measure the race detector, so it runs here without it (and
# so does the 70 s long-match memory test, which skips itself under -race).
e2e:
	$(GO) test -count=1 -timeout 20m ./tests -run 'TestMatch'
	$(GO) test -count=1 -timeout 10m . -run 'TestLongMatchMemoryBounded'
	$(GO) test -count=1 -timeout 5m ./tests -run 'TestSessionEarlyOrdering'

sim:
	$(GO) test -timeout 15m ./bft -run 'TestSim' -seeds=92
	$(GO) test -timeout 10m ./bft -run 'TestSim' -seeds=2 -realsig
	$(GO) test -timeout 10m ./internal/lockstep -run 'TestFairSim' -fairseeds=30

fuzz:
	@scripts/fuzz.sh

# Every Go benchmark runs once (one iteration), so none of them can rot;
# the figures come from `paxsync bench` and the commands in
# docs/BENCHMARKS.md, not from here.
benchsmoke:
	$(GO) test -p 1 -count=1 -run '^$$' -bench . -benchtime 1x ./...
