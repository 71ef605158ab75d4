# Two entry points for a fresh machine with Python 3.11 and make:
#   make run   - set up .venv from pinned versions, run the default pipeline, write the report
#   make test  - set up .venv (with test tools) and run the test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
CORES  ?= all

.PHONY: run sweeps compare runs verify report test test-cluster setup-slurm lint docs benchmark benchmark-large lock clean

# The stamp file reinstalls whenever a pin changes.
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(BIN)/python -m pip install --quiet -r requirements-test.txt
	touch $@

# Only for SLURM: the executor plugin probes the cluster each time snakemake starts.
$(VENV)/.installed-slurm: $(VENV)/.installed requirements-slurm.txt
	$(BIN)/python -m pip install --quiet -r requirements-slurm.txt
	touch $@

setup-slurm: $(VENV)/.installed-slurm

run: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.html

# The worked sweep examples of sweeps.yaml, in their own folder (sweep-run/results/). The
# report holds the sweeps' tables and figures; each point's own figures stay on disk.
sweeps: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES) --configfile $(CURDIR)/sweeps.yaml --directory sweep-run
	$(BIN)/snakemake --configfile $(CURDIR)/sweeps.yaml --directory sweep-run --report results/report.html sweep_summaries

# What differs between two results folders: make compare A=results B=old/results
compare: $(VENV)/.installed
	$(BIN)/python scripts/compare_runs.py $(A) $(B)

# The run history of results/: every recorded run (scripts/runs.py also shows, compares,
# restores and removes them).
runs: $(VENV)/.installed
	$(BIN)/python scripts/runs.py list

# Check every artifact under results/ against its provenance record and the manifest.
verify: $(VENV)/.installed
	$(BIN)/python scripts/verify_results.py --results results

# One pytest worker per CPU (TEST_WORKERS=0: one process); the tests of one file stay on
# one worker, so a file's shared workflow run is made once.
TEST_WORKERS ?= auto
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope

# Start a real single-node SLURM cluster on this machine (needs root; installs slurm-wlm and
# munge) and run the workflow through it.
test-cluster: $(VENV)/.installed-test $(VENV)/.installed-slurm
	bash tests/cluster/start_slurm.sh
	$(BIN)/python -m pytest -m cluster

# The workflow's own checks, then the pinned formatters and linter (they come with the tests).
lint: $(VENV)/.installed-test
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/Snakefile workflow/rules
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The documentation site (docs/, mkdocs.yml) into site/; a broken link or a page left out
# of the navigation fails the build.
docs: $(VENV)/.installed-test
	$(BIN)/mkdocs build --strict --quiet

# Orchestration cost against the single-process floor, DAG size, EM throughput (minutes).
benchmark: $(VENV)/.installed
	$(BIN)/python scripts/benchmark.py

# The same, plus 1,000,000 x 2 and 200,000 x 20 rows through every step (longer).
benchmark-large: $(VENV)/.installed
	$(BIN)/python scripts/benchmark.py --large

# Re-resolve the pins from requirements*.in in a throwaway environment.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -r requirements.in
	.lock-venv/bin/python -m pip freeze --exclude pip --exclude setuptools > requirements.txt
	.lock-venv/bin/python -m pip install --quiet -r requirements-test.in
	.lock-venv/bin/python -m pip freeze --exclude pip --exclude setuptools \
	  | grep -vxFf requirements.txt > requirements-test.txt
	.lock-venv/bin/python -m pip install --quiet -r requirements-slurm.in
	.lock-venv/bin/python -m pip freeze --exclude pip --exclude setuptools \
	  | grep -vxFf requirements.txt | grep -vxFf requirements-test.txt > requirements-slurm.txt
	rm -rf .lock-venv

clean:
	rm -rf results .snakemake sweep-run site
