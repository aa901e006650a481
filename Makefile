# gradedpr — every target installs the virtualenv on first use (idempotent, near-instant afterwards).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export WANDB_SILENT := true

.PHONY: install train index evaluate export test test-fast lint sweep study study-quick bench data data-nfcorpus clean

install: $(STAMP)

# torch==2.13.0 first: it comes from local disk as a CPU build; anything else would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,bench]'
	touch $(STAMP)

data: $(STAMP)
	$(PY) scripts/build_builtin.py

# NFCorpus from its public downloads (data/README.md): make data-nfcorpus ARGS="--beir nfcorpus.zip --original nfcorpus/"
data-nfcorpus: $(STAMP)
	$(PY) scripts/prepare_nfcorpus.py $(ARGS)

train: $(STAMP)
	$(PY) scripts/train.py $(ARGS)

index: $(STAMP)
	$(PY) scripts/index.py $(ARGS)

evaluate: $(STAMP)
	$(PY) scripts/evaluate.py $(ARGS)

# make export ARGS="checkpoint=outputs/train/.../checkpoints/best output=outputs/export/my-retriever"
export: $(STAMP)
	$(PY) scripts/export.py $(ARGS)

sweep: $(STAMP)
	$(PY) scripts/sweep.py $(ARGS)

study: $(STAMP)
	$(PY) scripts/study.py study=nfcorpus $(ARGS)

study-quick: $(STAMP)
	$(PY) scripts/study.py study=quick $(ARGS)

bench: $(STAMP)
	$(PY) bench/run_all.py $(ARGS)

# the whole suite (CI)
test: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest tests $(ARGS)

# the inner loop: every test that starts no process and trains nothing for long (tests/slow_marker.py), spread
# over every core by pytest-xdist (WORKERS=1 for one process)
WORKERS ?= auto
test-fast: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest tests -m "not slow" -n $(WORKERS) $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts bench
	$(VENV)/bin/mypy

clean:
	rm -rf outputs multirun runs
