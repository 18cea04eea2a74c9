# nascore: two commands, `make reproduce` and `make test`, on a fresh clone.
SHELL := /bin/bash
PROFILE ?= default
# DATA: segmentation data of the notebooks that take a `data` parameter (03, 04): auto, lgg,
# msd_brain, synthetic or a prepared folder (made absolute here, as papermill runs in notebooks/).
DATA ?=
DATA_NOTEBOOKS := 03_search 04_segmentation_finetune
DATA_ARG := $(if $(DATA),$(if $(wildcard $(DATA)/.),$(abspath $(DATA)),$(DATA)))
# JOBS: parallel training processes of notebook 04's full profile (its checkpoints are filled by
# python -m nascore.experiments.seg_prefill first; the notebook then only evaluates).
JOBS ?= 2
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-install
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
PROFILES := smoke default full

.PHONY: install reproduce summary test test-portable lab clean-reports check-profile

install: $(STAMP)

# torch is pinned first: a CPU build from local disk here; an unpinned torch pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --no-compile -q --upgrade pip
	$(BIN)/pip install --no-compile -q torch==2.13.0
	$(BIN)/pip install --no-compile -q -e ".[dev,dask]"
	$(BIN)/python -m ipykernel install --sys-prefix --name nascore --display-name "Python (nascore)" >/dev/null
	touch $(STAMP)

check-profile:
	@case " $(PROFILES) " in *" $(PROFILE) "*) ;; *) echo "PROFILE must be one of: $(PROFILES) (got '$(PROFILE)')"; exit 2;; esac

# Executes every notebook in order with papermill (--log-output: every cell's output and progress
# bars stream to the terminal); outputs go to reports/$(PROFILE)/<stem>/.
# `make reproduce DATA=path/to/prepared` runs 03 and 04 on your own data.
reproduce: install check-profile
	@set -e; for nb in $(NOTEBOOKS); do \
	  stem=$$(basename $$nb .ipynb); out=reports/$(PROFILE)/$$stem; mkdir -p $$out; \
	  params=notebooks/params/$(PROFILE)/$$stem.yaml; \
	  args="-p profile $(PROFILE)"; [ -f $$params ] && args="-f $$params $$args"; \
	  case " $(DATA_NOTEBOOKS) " in *" $$stem "*) [ -n "$(DATA_ARG)" ] && args="$$args -p data $(DATA_ARG)";; esac; \
	  echo "== $$stem ($(PROFILE))"; \
	  if [ "$$stem" = 04_segmentation_finetune ] && [ "$(PROFILE)" = full ]; then \
	    $(BIN)/python -m nascore.experiments.seg_prefill $$params --profile $(PROFILE) --jobs $(JOBS) \
	      $(if $(DATA_ARG),--data $(DATA_ARG)) --no-progress; \
	  fi; \
	  $(BIN)/papermill $$nb $$out/$$stem.ipynb -k nascore --cwd notebooks --log-output $$args; \
	done
	$(MAKE) --no-print-directory summary PROFILE=$(PROFILE)

# The key numbers of every notebook on one page, from the metrics.json files: reports/README.md
# for the full profile, reports/<profile>/README.md for the others.
summary: check-profile
	$(BIN)/python -m nascore.experiments.report_summary reports/$(PROFILE)

test: install
	$(BIN)/python -m pytest tests --nbval-lax notebooks -p no:cacheprovider

# The numeric pins again under scalar kernels (ATen's and oneDNN's), as a CPU without AVX would
# run them: a pin too tight for another machine's SIMD kernels fails here, not on a user's laptop.
test-portable: install
	ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 \
	  $(BIN)/python -m pytest tests -m numeric_pin -p no:cacheprovider -q

# Jupyter refuses to run as root (Docker-style setups) unless told --allow-root.
lab: install
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

clean-reports: check-profile
	rm -rf reports/$(PROFILE)
