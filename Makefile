# `make repro` and `make test` are all a fresh machine needs: both create .venv on first use.
VENV ?= .venv
BIN := $(VENV)/bin
SETUP_STAMP := $(VENV)/.setup-complete
export TF_CPP_MIN_LOG_LEVEL ?= 2
# Stage commands in dvc.yaml (python, horovodrun) resolve to the project environment.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup repro test lint format bench bench-input bench-train bench-seeds bench-all-seeds bench-fixed bench-precise-bn bench-repro-time bench-stall dag clean-venv

setup: $(SETUP_STAMP)

# Re-runs only when the pinned dependencies or the install script change.
$(SETUP_STAMP): pyproject.toml scripts/setup_env.sh
	VENV=$(VENV) bash scripts/setup_env.sh

# `make repro PROFILE=ucf101`: the overrides in profiles/ucf101.yaml as one `dvc exp run`.
repro: $(SETUP_STAMP)
ifdef PROFILE
	$(BIN)/python -m actionrec.profiles $(PROFILE) --run
else
	$(BIN)/dvc repro
endif

test: $(SETUP_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff, configured in pyproject.toml: formatting and lint, checked in CI; `make format` applies them.
lint: $(SETUP_STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(SETUP_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Dense store extraction: naive vs extract (2 workers) vs decode-only, per-phase breakdown, UCF101 store sizes (~2 min).
bench: $(SETUP_STAMP)
	$(BIN)/python bench/extract.py $(BENCH_ARGS)

# Input pipeline clips/s per CPU core at the ucf101 profile's sizes vs decode-only (~2 min; caches its store in $$TMPDIR).
bench-input: $(SETUP_STAMP)
	$(BIN)/python bench/input.py $(BENCH_ARGS)

# Input pipeline vs train step, peak memory at 1x/4x videos, horovod np 2 vs np 1, cost of bit-exact reruns (~10 min).
bench-train: $(SETUP_STAMP)
	$(BIN)/python bench/train.py $(BENCH_ARGS)

# Motion/appearance accuracy of the temporal models and vgg over seeds 1 and 2 (~20 min; needs `dvc repro flow`).
bench-seeds: $(SETUP_STAMP)
	$(BIN)/python bench/seeds.py $(BENCH_ARGS)

# All nine, the pretrain stage and the ensemble over seeds 1 2 3: mean and spread per architecture (~65 min; needs `dvc repro flow`).
bench-all-seeds: $(SETUP_STAMP)
	$(BIN)/python bench/seeds.py --all --seeds 1 2 3 $(BENCH_ARGS)

# Sampling at training time vs fixed frames: conv3d, cnn_lstm, two_stream, vgg over seeds 1-3 (24 trainings, ~50 min).
bench-fixed: $(SETUP_STAMP)
	$(BIN)/python bench/seeds.py --compare-fixed $(BENCH_ARGS)

# Precise batch-norm statistics on the trained from-scratch models: validation before/after (~3 min; needs `dvc repro`).
bench-precise-bn: $(SETUP_STAMP)
	$(BIN)/python bench/precise_bn.py $(BENCH_ARGS)

# A fresh clone's whole `dvc repro`: seconds per stage, and whether it repeats the committed metrics (~20-25 min).
bench-repro-time: $(SETUP_STAMP)
	$(BIN)/python bench/repro_time.py $(BENCH_ARGS)

# The idle time tf.data's autotuning thread costs Keras when it drops an iterator, on and off (~3 min).
bench-stall: $(SETUP_STAMP)
	$(BIN)/python bench/tfdata_stall.py $(BENCH_ARGS)

dag: $(SETUP_STAMP)
	$(BIN)/dvc dag

clean-venv:
	rm -rf $(VENV)
