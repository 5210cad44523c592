# fastai_remedies: install / test / demo / bench. Every target installs what is missing first (and only that).
SHELL := /bin/bash
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# console scripts are called from the interpreter's own scripts folder, which need not be on PATH
BIN := $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_path('scripts'))")
# The torch/torchvision pair checked on these machines (see ../shared/DESIGN.md §2); installed only when torch is missing.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
export MPLBACKEND := Agg
export PYTHONWARNINGS := ignore::FutureWarning

.PHONY: install test test-fast demo bench gpu-check readme docs check-export check-clean check-readme

install:
	@$(PYTHON) -c "import torch, torchvision" 2>/dev/null || $(PIP) install $(TORCH_PINS)
	@if $(PYTHON) tests/check_install.py; then echo "make install: everything is already installed"; \
	 else $(PIP) install -e ".[dev]" && $(PYTHON) tests/check_install.py; fi

check-export: install
	$(PYTHON) tests/nochange.py fastai_remedies -- $(BIN)/nbdev-export
check-clean: install
	$(PYTHON) tests/nochange.py nbs -- $(BIN)/nbdev-clean
check-readme: install
	$(PYTHON) tests/nochange.py README.md -- $(MAKE) -s readme

readme:
	$(PYTHON) -m nbconvert --to markdown --log-level WARN --stdout nbs/index.ipynb > README.md

# The documentation without Quarto: every notebook executed (slow cells too, 2 at a time, one torch thread each) and
# rendered to a static site in _docs/ (open _docs/index.html). A notebook that fails stops the build, naming the notebook
# and the cell, and leaves the previous _docs/ as it was. Where Quarto is installed, `nbdev-docs` works as usual.
docs: install
	$(PYTHON) tools/build_docs.py --out _docs

# nbdev-test runs one notebook per core: one torch thread each, or the two notebooks' thread pools fight over 2 cores
NBTEST := OMP_NUM_THREADS=1 $(BIN)/nbdev-test

# everything: generated code and README up to date, clean notebooks, every notebook executed (slow cells too) by the
# docs build — which stops on any failing cell, naming notebook and cell, so nbdev-test would only run them twice —
# the docs opened in headless Chromium (tests/test_docs_browser.py installs it when missing), pytest
test: check-export check-clean check-readme
	$(PYTHON) tools/build_docs.py --out _docs
	$(PYTHON) -m pytest tests/ -q -p no:cacheprovider

# the edit loop: same checks, without the slow notebook cells
test-fast: check-export check-clean
	$(NBTEST) --timing
	$(PYTHON) -m pytest tests/ -q -p no:cacheprovider --ignore=tests/test_docs_browser.py

demo: install
	$(BIN)/fastai-remedies ladder --data digits --epochs 20 --out demo_out

# bench_mix times memory-bound kernels on 6 MB batches: glibc keeps freed memory (as it does in a training loop, where
# its mmap threshold has grown), so per-call page faults on fresh allocations do not drown the differences measured
# bench_fast: each private PyTorch internal of fastai_remedies.fast against its public fallback, where it is used
# These are CPU figures. The GPU figures (mixing at 256x3x224x224 and 1024x3x32x32 fp16 vs fastai and timm, GapMonitor on
# a CNN, a regularize()d resnet50's train step, ManifoldMixup, the ladder with one worker per GPU and several per GPU) come
# from `make gpu-check` on any CUDA machine, with the test matrix's CUDA columns and the notebooks: see gpu-check below.
bench: install
	MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=4000000000 $(PYTHON) tests/bench_mix.py
	MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=4000000000 $(PYTHON) tests/bench_fast.py
	$(PYTHON) tests/bench_gap.py
	# rung 1's interval calibration recomputed from LCDB 0.1.0 (fetched with pip when missing; ~10 min): it rewrites
	# fastai_remedies/data_value_calibration.json and its task table, byte-identical unless the method changed (git diff)
	$(PYTHON) tools/calibrate_data_value.py
	$(PYTHON) tests/bench_more_data.py
	$(PYTHON) tests/bench_awd.py
	$(PYTHON) tests/bench_arch.py
	$(PYTHON) tests/bench_manifold.py
	$(PYTHON) tests/bench_ladder.py
	$(PYTHON) tests/bench_own_data.py
	$(PYTHON) tests/bench_stability.py
	$(PYTHON) tests/bench_race.py
	$(PYTHON) tests/bench_race.py --folder
	$(PYTHON) tests/bench_halving.py
	OMP_NUM_THREADS=1 $(PYTHON) tests/bench_data.py
	# issue 28: the PNG-folder ladder's wall time with decode_once vs fastai's path (~3 min), identical trial results
	OMP_NUM_THREADS=1 $(PYTHON) tests/bench_decode_ladder.py
	# issue 28: the decoded items into a trial's worker: fork, the worker's own decoding, torch shared memory, a memory-mapped file (~1 min)
	OMP_NUM_THREADS=1 $(PYTHON) tests/bench_decode_share.py

# Everything only a GPU can show, on any CUDA machine: installs what is missing (make install), runs the whole test
# matrix with CUDA required (fp16, bf16, channels_last columns), the notebooks' fast cells and the GPU benchmarks, each
# step timed; one report in $(OUT) (report.md + report.json, logs/). Without CUDA: one line saying so, then a dry run of the
# script (tiny CPU sizes) and exit 0. `make gpu-check GPU_CHECK_ARGS=--quick` for rougher figures in minutes.
OUT ?= gpu_report
GPU_CHECK_ARGS ?=
gpu-check:
	$(PYTHON) tools/gpu_check.py --out $(OUT) $(GPU_CHECK_ARGS)
