# songsim: the two README commands. Both create .venv and install what they need themselves.
#   make demo   - dvc repro on the default synthetic world, then show metrics
#   make test   - the test suite (CI runs this)
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(BIN):$(PATH)
# Bytecode is compiled on first import, into the venv's own cache (no __pycache__ beside any source), not
# for every module at install: pip compiling all of torch & co was half of the install (bench/README.md)
export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/.pycache
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install browser demo test test-fast lint docs bench ablation ablation-small results robustness robustness-dev robustness-fresh robustness-unseen robustness-medium robustness-medium-tenth reader-medium-tenth learning-curve clean

$(STAMP): pyproject.toml
	@echo "songsim: creating $(VENV) and installing torch, DVC, faiss, ... (a few minutes the first time)"
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check --no-compile -e '.[dev]'
	$(PY) scripts/offline_plots_template.py
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@echo "songsim: dvc repro on the default synthetic world (about 4.5 minutes on 2 CPU cores)"
	dvc repro
	@echo
	@$(PY) scripts/results_table.py
	@echo
	@echo "metrics: metrics/<model>.json (compact; dvc metrics show / dvc exp show compare them)"
	@echo "reports: data/reports/<stage>.json (read / kept / quarantined / dropped), evaluate_<model>.json (all of it)"
	@echo "plots:   dvc plots show  ->  dvc_plots/index.html"
	@echo "songs like X: .venv/bin/songsim similar TRACK_ID [-k 10] [--model fused]  (docs/serving.md)"
	@echo "over HTTP:    .venv/bin/songsim serve  ->  http://127.0.0.1:8000/ (page), /docs (API)"

# the page test drives Debian's Chromium (Playwright's own browser download is not reachable here)
browser:
	@command -v chromium >/dev/null 2>&1 || { echo "songsim: installing Debian's chromium for the page test"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; } \
	  || echo "songsim: could not install chromium: the page test skips (and fails under CI=true)"

test: $(STAMP) browser
	$(PY) -m pytest -q

test-fast: $(STAMP) browser
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src stages tests bench scripts

# the documentation site (docs/, mkdocs.yml), offline, into site/; strict: a broken link or anchor fails
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: $(STAMP)
	$(PY) bench/bench_synth.py
	$(PY) bench/bench_medium.py
	$(PY) bench/bench_chunk_audio.py
	$(PY) bench/bench_memory.py
	$(PY) bench/bench_scale.py
	$(PY) bench/bench_dvc_tree.py
	$(PY) bench/bench_cli.py
	$(PY) bench/bench_train.py
	$(PY) bench/bench_lstm.py
	$(PY) bench/bench_parallel.py --models lyrics_regressor --epochs 2
	$(PY) bench/bench_large_batch.py
	$(PY) bench/bench_retrieval.py
	$(PY) bench/bench_lastfm_full.py
	$(PY) bench/bench_serve.py

# the published ablation grid of the lyrics regressor, every combination queued, each a BiLSTM training
ablation: $(STAMP)
	bash scripts/queue_ablation.sh

# three one-factor experiments on the demo's own encoder, each in a temporary copy
ablation-small: $(STAMP)
	bash scripts/queue_ablation.sh --small

# issue 17 harness: 5 world seeds x train seeds 0 and 1 as queued DVC experiments (about 50 minutes on 2 cores)
DEV_WORLDS := 3 11 19 23 31
robustness: $(STAMP)
	$(PY) scripts/robustness.py --worlds $(DEV_WORLDS) --train-seeds 0 1
	$(PY) scripts/results_table.py --write

# a harness run once per world (train seed 0) with its readers: $(call harness_with_readers,PREFIX,WORLDS,
# READER WORLDS,READER FILE under data/experiments)
define harness_with_readers
	$(PY) scripts/robustness.py --prefix $(1) --worlds $(2) --train-seeds 0
	$(PY) scripts/reader_reference.py --worlds $(3) --prefixes $(1) --out data/experiments/$(4)
	$(PY) scripts/results_table.py --write
endef

# the development worlds once each on today's code, with their readers (dev12-w<W>-s0, robustness_dev12.json;
# dev11-w<W>-s0: the lyrics regressor's dropout 0.2 / 0.3, before 2026-12-07's 0.1 / 0.1;
# dev10-w<W>-s0: one calibration map over every kind of pair, before 2026-12-07's maps per kind;
# dev9-w<W>-s0: the CNN audio encoder with dropout 0.3, before 2026-12-07;
# world 7's reader sits beside the committed run; dev8-w<W>-s0: before stopwords: style, 2026-12-06)
robustness-dev: $(STAMP)
	$(call harness_with_readers,dev12,$(DEV_WORLDS),$(DEV_WORLDS) 7,reader_reference_dev.json)

# held-out worlds: never run while the defaults were chosen; summarised apart, with their readers; on
# today's code as fresh6-w<W>-s0 (robustness_fresh6.json; fresh5-w<W>-s0: the lyrics regressor's dropout
# 0.2 / 0.3, before 2026-12-07's 0.1 / 0.1; fresh4-w<W>-s0: one calibration map over every kind
# of pair, before 2026-12-07's maps per kind; fresh3-w<W>-s0: the CNN audio encoder with dropout 0.3,
# before 2026-12-07; fresh2-w<W>-s0: before stopwords: style, 2026-12-06;
# fresh-w<W>-s0: the defaults of 2026-12-03)
FRESH_WORLDS := 41 43 47 53 59 61 67 71 73 79 83 89
robustness-fresh: $(STAMP)
	$(call harness_with_readers,fresh6,$(FRESH_WORLDS),$(FRESH_WORLDS),reader_reference_fresh.json)

# three world seeds never run while the defaults were chosen (the next primes after 89), with their readers;
# on today's code as unseen6-w<W>-s0 (unseen5-w<W>-s0: the lyrics regressor's dropout 0.2 / 0.3, before
# 2026-12-07's 0.1 / 0.1; unseen4-w<W>-s0: one calibration map over every kind of pair, before
# 2026-12-07's maps per kind; unseen3-w<W>-s0: the CNN audio encoder with dropout 0.3, before 2026-12-07;
# unseen2-w<W>-s0: before stopwords: style, 2026-12-06; unseen-w<W>-s0:
# the same worlds under the defaults of 2026-12-03)
UNSEEN_WORLDS := 97 101 103
robustness-unseen: $(STAMP)
	$(call harness_with_readers,unseen6,$(UNSEEN_WORLDS),$(UNSEEN_WORLDS),reader_reference_unseen.json)

# real-shaped medium worlds (published coverage: lyrics for 23.8% of tracks, audio for all) at the real data's
# pair density (all their pairs, about 62 a track; published: 56.5) with the settings docs/data.md gives for
# the real datasets (the audio model and fused's audio tower read frame statistics), every other param as in
# params.yaml: one world at a time, as realdense2-w<W>-s0 (data/experiments/, robustness_realdense2.json), its
# readers in reader_reference_dense.json; the time a world takes is in docs/robustness.md. A world at a time:
# make robustness-medium MEDIUM_WORLDS=13 READER_ADD=--add (the summary covers every run recorded under the
# prefix; --add keeps the readers of the worlds already measured: without it the reader file holds the given
# worlds alone). The runs before (realdense-w<W>-s0, robustness_realdense.json: pooled calibration, the
# dropouts of MEDIUM_DROPOUT) ran at the commits their records name, as
# make robustness-medium MEDIUM_PREFIX=realdense 'MEDIUM_EXTRA=$(MEDIUM_DROPOUT)'
MEDIUM_SHAPE := --size medium --set synth.coverage.lastfm=0.943 --set synth.coverage.lists=0.62 \
  --set synth.coverage.lyrics=0.238 --set synth.coverage.audio=1.0 --set synth.coverage.mxm_test=0.114
MEDIUM_REAL := --set splits.data_fraction=1.0 --set audio_siamese.model.encoder.kind=stats \
  --set fused.model.audio.kind=stats
# the dropouts of the medium runs recorded before 2026-12-07 (realdense, realstyle, the learning curve): the
# audio's 0.3 (the default before cnn_stats and 0.1) and the lyrics regressor's 0.2 / 0.3 (the defaults before
# 0.1 / 0.1); the readers do not read them
MEDIUM_DROPOUT := --set audio_siamese.model.encoder.dropout=0.3 --set audio_siamese.model.dropout=0.3 \
  --set fused.model.audio.dropout=0.3 --set lyrics_regressor.model.encoder.dropout=0.2 \
  --set lyrics_regressor.model.dropout=0.3
MEDIUM_WORLDS := 7 11 13
MEDIUM_PREFIX := realdense2
MEDIUM_EXTRA :=
READER_ADD :=
robustness-medium: $(STAMP)
	$(PY) scripts/robustness.py --prefix $(MEDIUM_PREFIX) --worlds $(MEDIUM_WORLDS) $(MEDIUM_SHAPE) $(MEDIUM_REAL) \
	  $(MEDIUM_EXTRA)
	$(PY) scripts/reader_reference.py --worlds $(MEDIUM_WORLDS) $(MEDIUM_SHAPE) $(MEDIUM_REAL) $(READER_ADD) \
	  --prefixes realdense realdense2 --out data/experiments/reader_reference_dense.json
	$(PY) scripts/results_table.py --write

# the same worlds under the demo's defaults at a tenth of their pairs (the medium harness until 2026-12-07,
# about 22 minutes a world; realstyle-w<W>-s0, robustness_realstyle.json; realep8-w<W>-s0: since the lyrics
# regressor's epoch cap of 8, before stopwords: style, 2026-12-06; realsteps-w<W>-s0: since
# train.min_epoch_steps; realshape-w<W>-s0: since fused starts its audio tower from audio_siamese;
# shaped-w<W>-s0: the runs before)
# the tenth: what these two targets set beside the shape
TENTH_SET := --set splits.data_fraction=0.1
# the audio encoder these runs and the learning curve's were recorded with (the defaults before 2026-12-07: the
# CNN, dropout 0.3); the readers do not read it
BEFORE_CNN_STATS := --set audio_siamese.model.encoder.kind=cnn --set fused.model.audio.kind=cnn $(MEDIUM_DROPOUT)
robustness-medium-tenth: $(STAMP)
	$(PY) scripts/robustness.py --prefix realstyle --worlds $(MEDIUM_WORLDS) $(MEDIUM_SHAPE) $(TENTH_SET) \
	  $(BEFORE_CNN_STATS)
	$(PY) scripts/results_table.py --write

# each model against the best reader of its inputs on robustness-medium-tenth's worlds, built as its runs
# were (data/experiments/reader_reference_medium.json)
reader-medium-tenth: $(STAMP)
	$(PY) scripts/reader_reference.py --worlds $(MEDIUM_WORLDS) $(MEDIUM_SHAPE) $(TENTH_SET) \
	  --prefixes realstyle --out data/experiments/reader_reference_medium.json
	$(PY) scripts/results_table.py --write

# what more training data buys on medium world 11: 1%, 3% and 30% of its training pairs (stcurve<P>-w11-s0,
# each with its readers in reader_reference_curve<P>.json) beside robustness-medium-tenth's run of that world at
# 10% (realstyle-w11-s0: run make robustness-medium-tenth first; plots/learning_curve.csv, dvc plots show draws it);
# curve1-w11-s0 and curve3-w11-s0: before stopwords: style, 2026-12-06. About 13, 14 and 50 minutes on 2
# cores, each reader a few more
CURVE_POINTS := 1 3 30
learning-curve: $(STAMP)
	for p in $(CURVE_POINTS); do f=$$(awk "BEGIN { print $$p / 100 }"); \
	  $(PY) scripts/robustness.py --prefix stcurve$$p --worlds 11 $(MEDIUM_SHAPE) --set splits.data_fraction=$$f \
	    $(BEFORE_CNN_STATS) && $(PY) scripts/reader_reference.py --worlds 11 $(MEDIUM_SHAPE) --set splits.data_fraction=$$f \
	    --prefixes stcurve$$p --out data/experiments/reader_reference_curve$$p.json || exit 1; done
	$(PY) scripts/learning_curve.py stcurve1-w11-s0 stcurve3-w11-s0 realstyle-w11-s0 stcurve30-w11-s0
	$(PY) scripts/results_table.py --write

# the generated blocks of README.md and docs/*.md: results tables (from the committed reports and the
# recorded experiments in data/experiments), the code map and the params reference (from the code)
results: $(STAMP)
	$(PY) scripts/results_table.py --write

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site
