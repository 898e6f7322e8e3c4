# Linesight — the commands a developer and a line engineer need.
SWIFT ?= swift
RELEASE_BIN = .build/release/linesight
EPOCHS ?= 10

.PHONY: deps build release test chaos check-architecture check-units deb demo fashion-mnist bench bench-engine bench-imaging bench-pipeline bench-stats bench-retrain bench-quality bench-rare bench-loop fuzz fixtures imaging-fixtures clean

deps:
	scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product linesight

## The whole test suite: installs what is missing, builds, runs every test, then the build
## again as a CPU without AVX under qemu-user (scripts/check-baseline.sh).
## A stuck test fails the run after TEST_TIMEOUT seconds instead of hanging CI.
TEST_TIMEOUT ?= 2400
test: deps
	scripts/install-deps.sh --test
	scripts/onnx-venv.sh >/dev/null
	$(SWIFT) build --build-tests
	timeout --kill-after=30 $(TEST_TIMEOUT) $(SWIFT) test --skip-build
	scripts/check-baseline.sh
	scripts/check-units.sh
	scripts/check-deploy.sh
	scripts/check-architecture.py

## The shipped daemon as a process under faults, with figures: kill -9 under load on one
## database, a V4L2 camera unplugged and replugged through an LD_PRELOAD fake, a full tmpfs
## (needs root to mount it). ROUNDS=100 rounds each; CHAOS_SEED picks the random points.
ROUNDS ?= 100
CHAOS_SEED ?= 20
chaos: deps
	LINESIGHT_CHAOS_ROUNDS=$(ROUNDS) LINESIGHT_CHAOS_SEED=$(CHAOS_SEED) timeout --kill-after=30 $(TEST_TIMEOUT) $(SWIFT) test --filter ChaosTests

## A Debian package (dpkg-deb) for line PCs without a Swift toolchain: dist/*.deb.
deb: deps
	scripts/make-deb.sh dist

## The layering of docs/architecture.md, checked against Package.swift and the imports.
check-architecture:
	scripts/check-architecture.py

## The systemd units, offline: verify with no stderr, security exposure <= 2.0.
check-units: build
	scripts/check-units.sh

## The main job: synthetic parts -> train both stages -> the daemon on the demo camera
## (live verdicts, HTTP API on localhost, statistics at the end). DURATION=60 seconds.
demo: release
	scripts/demo.sh

## The engine's proving ground: the small ResNet on Fashion-MNIST (EPOCHS=10).
fashion-mnist: release
	$(RELEASE_BIN) fashion-mnist --epochs $(EPOCHS)

## Side-by-side benchmarks against PyTorch, ONNX Runtime and OpenCV (not tests).
bench: bench-engine bench-imaging bench-pipeline bench-stats bench-retrain bench-quality bench-rare bench-loop

## The daemon's pipeline at line speed: sustained frames/s with zero drops, p50/p99, SQLite verdicts/s;
## then trigger to reject signal through the shipped binary, MQTT and Modbus (LINE_SECONDS=20).
bench-pipeline: deps
	Benchmarks/pipeline/run.sh

## Staged models on synthetic parts, Linesight vs PyTorch (same data, split, specs, recipe).
## DATA=DIR: any labelled tree with train/ val/ test/ instead, three columns side by side
## (Linesight's defaults, PyTorch with our recipe, torchvision ResNet18); EPOCHS=60 by default.
bench-quality: deps
	scripts/install-deps.sh --bench
	Benchmarks/quality/run.sh

## Fewer labels: the learning loop simulated on a labelled tree (DATA=, default surface-dev; or
## DATA=synth) with random, uncertainty-only and the daemon's review order, every round at least
## MIN_STEPS optimizer steps; AUC against labels, and a plot (about 80 minutes on surface-dev).
bench-loop: deps
	Benchmarks/loop/run.sh

## One incremental round for a rare defect: per-kind recall before and after `retrain`.
bench-rare: deps
	Benchmarks/rare/run.sh

## Wall time of train and retrain on 5,000 parts at 128x128 (target: retrain <= 15 min).
bench-retrain: deps
	Benchmarks/retrain/run.sh

## `linesight stats` over 10 million verdicts vs the same figures straight from the rows.
bench-stats: deps
	Benchmarks/stats/run.sh

bench-imaging: deps
	Benchmarks/imaging/run.sh

## Fuzz decode -> preprocess with libFuzzer + ASan (CI: 45 s; before a release: FUZZ_SECONDS=3600).
FUZZ_SECONDS ?= 60
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

bench-engine:
	scripts/install-deps.sh --bench
	$(SWIFT) build -c release --product linesight
	Benchmarks/engine/run.sh

## Regenerate the PyTorch golden fixtures (needs python3-torch; CI does not).
fixtures:
	/usr/bin/python3 scripts/make_fixtures.py

## Regenerate the OpenCV golden fixtures for the imaging tests (pip, in a venv).
imaging-fixtures:
	test -x .build/imaging-venv/bin/python || /usr/bin/python3 -m venv .build/imaging-venv
	.build/imaging-venv/bin/pip install -q opencv-python-headless pillow numpy
	.build/imaging-venv/bin/python scripts/make_imaging_fixtures.py

clean:
	rm -rf .build
