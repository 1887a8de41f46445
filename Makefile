# edgebb: the targets a user and CI run. Every target bootstraps its own virtual environment in .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edgebb-installed
PYTEST_ARGS ?=

.PHONY: install demo test test-slow lint ci clean bench bench-zoo bench-convert bench-latency bench-harness bench-quant pi-smoke \
	bench-demo bench-ray

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[full,dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install edgebb with its TensorFlow side and test tools

# The main job on the built-in default: which backbone to ship? A small sweep (three mobile backbones and the
# ResNet-50 baseline at 64 px, trained briefly from random weights on a generated shapes set so that accuracy is
# measured, not invented; fp32 and int8; LiteRT and ONNX Runtime), its report, and a recommendation under a stated
# budget. ResNet-50 takes longest, so it is listed (and started) first. A re-run reuses what is finished.
DEMO_DIR      ?= demo
DEMO_TARGETS  ?= cpu:1
DEMO_BUDGET   ?= --target cpu:1 --max-latency-ms 2 --latency p90 --max-memory-mb 100 --min-accuracy 0.5
DEMO_BACKBONES = resnet50 mobilenet_v2@0.35 mobilenet_v3_small@0.75 shufflenet_v2@0.5
# 600 images for 6 epochs: measured against 240 for 4, the mobile models' float top-1 rose from 27-48% to 45-85%
# (4 classes, 25% chance) for ~40 s more; ResNet-50's training (~200 s on one core) is what bounds the demo.
DEMO_DATA      = $(DEMO_DIR)/shapes-4x150

demo: install  ## sweep 4 backbones x fp32/int8 x LiteRT/ONNX Runtime, write demo/report.html, recommend one
	@echo "make demo: a few minutes on 2 cores and up to a few GB of memory; work goes to $(DEMO_DIR)/ (a re-run reuses it)"
	test -d $(DEMO_DATA) || $(BIN)/edgebb data synth $(DEMO_DATA) --classes 4 --per-class 150 --size 64 -q
	$(BIN)/edgebb sweep $(DEMO_BACKBONES) --sizes 64 --epochs 6 --batch-size 8 --lr 0.002 --augment none \
		--recipes fp32,int8 --targets $(DEMO_TARGETS) --runtimes litert,onnxruntime --data $(DEMO_DATA) \
		-o $(DEMO_DIR)/sweep --jobs 2 --calib-samples 32 --runs 20 --min-seconds 0.3 --max-seconds 2 --warmup 2
	$(BIN)/edgebb report $(DEMO_DIR)/sweep -o $(DEMO_DIR)/report.html
	$(BIN)/edgebb recommend $(DEMO_DIR)/sweep $(DEMO_BUDGET)
	@echo "report: $(abspath $(DEMO_DIR)/report.html) (open it in a browser; it needs no network)"

# Most tests keep one core busy (a conversion, a subprocess importing TensorFlow), so the suite runs in TEST_JOBS
# processes (pytest-xdist), a test file per process at a time; TEST_JOBS=0 runs it in this one process.
TEST_JOBS ?= 2

test: install  ## the fast test suite (small inputs and widths)
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

test-slow: install  ## full-size tests only
	$(BIN)/python -m pytest -q -m slow -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check toolkit models tests benchmarks device android_demo/tools

ci: lint test

pi-smoke: install  ## edgebb bench on fp32/int8 .tflite in an emulated Raspberry Pi 4 (aarch64 under qemu, cortex-a72)
	HOST_PYTHON=$(abspath $(BIN))/python bash device/pi-smoke.sh

bench: bench-harness bench-convert bench-latency bench-quant  ## every benchmark script; JSON in benchmarks/results/

bench-zoo: install  ## build time and profile of every backbone at 224, as JSON
	$(BIN)/python benchmarks/zoo_build.py --out benchmarks/results/zoo_build.json

# The mobile zoo and ResNet-50 (the classic backbones have their own run and budget: convert_classic.json).
MOBILE_ZOO = 'mobilenet*,efficientnet*,shufflenet*,squeezenet*,resnet50'

# Each artifact in its own process; each (backbone, recipe) to TFLite + ONNX in one process as `edgebb convert NAME
# --recipe R --format tflite,onnx` does; each backbone to both recipes and formats in one process (`--recipe
# fp32,int8 --format tflite,onnx`). Goals (issue 15): every peak under 2.5 GB, the whole zoo under 6 min.
bench-convert: install  ## conversion time and peak memory, mobile zoo + ResNet-50 x fp32/int8 x TFLite/ONNX
	$(BIN)/python benchmarks/convert_zoo.py --out benchmarks/results/convert_zoo.json --only $(MOBILE_ZOO)
	$(BIN)/python benchmarks/convert_zoo.py --out benchmarks/results/convert_zoo_together.json --only $(MOBILE_ZOO) \
		--per recipe --goal-s 360 --max-peak-mb 2500
	$(BIN)/python benchmarks/convert_zoo.py --out benchmarks/results/convert_zoo_backbone.json --only $(MOBILE_ZOO) \
		--per backbone --goal-s 360 --max-peak-mb 2500

bench-latency: install  ## every backbone fp32/int8 on LiteRT, ONNX Runtime and OpenVINO, 1 and 2 threads, vs ResNet-50
	$(BIN)/python benchmarks/zoo_latency.py --out benchmarks/results/zoo_latency.json

bench-quant: install  ## float vs int8 PTQ (TFLite, ONNX) vs QAT accuracy on real scans, every backbone at 64 px
	$(BIN)/python benchmarks/quant_accuracy.py --dataset digits --only $(MOBILE_ZOO) --jobs 2 \
		--out benchmarks/results/quant_accuracy_digits.json

bench-ray: install  ## scheduling overhead per cell of sweep --executor ray against the local executor, as JSON
	$(BIN)/python benchmarks/ray_overhead.py --out benchmarks/results/ray_overhead.json

bench-demo: install  ## wall time of `make demo` from nothing (after installation), as JSON; goal: under 6 minutes
	$(BIN)/python benchmarks/demo_time.py --out benchmarks/results/demo_time.json

bench-harness: install  ## harness overhead vs a bare invoke loop, and run-to-run repeatability
	$(BIN)/python benchmarks/harness_overhead.py --out benchmarks/results/harness_overhead.json
	$(BIN)/python benchmarks/repeatability.py --out benchmarks/results/repeatability.json

.PHONY: android-test android-vectors android-assets

# The Android demo (android_demo/README.md). The app itself builds with Gradle in Android Studio; these targets need
# no Android SDK.
android-test:  ## the app's pure-Kotlin core and its tests on the JVM (kotlinc + JUnit 4, installed on first use)
	bash android_demo/tools/android-test.sh

android-vectors: install  ## rewrite the core's test vectors with the Python toolkit (after a preprocessing change)
	$(BIN)/python android_demo/tools/write_vectors.py

android-assets: install  ## convert BACKBONE (RECIPE, WIDTH, SIZE, WEIGHTS, DATA, IO_DTYPE, CALIB) into the app's assets
	$(BIN)/python android_demo/tools/make_assets.py --backbone '$(BACKBONE)' --recipe '$(RECIPE)' \
		--width '$(WIDTH)' --size '$(SIZE)' --weights '$(WEIGHTS)' --data '$(DATA)' --io-dtype '$(IO_DTYPE)' \
		--calib-samples '$(CALIB)'

clean:
	rm -rf $(VENV) demo build dist *.egg-info .ruff_cache .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	@echo "kept: converted backbones cached under $${EDGEBB_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/edgebb}; 'edgebb cache clear' empties it"
