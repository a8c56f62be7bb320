# ResNet Course: the two set-up commands are `make demo` and `make test`.
# Both create .venv (Python 3.11) when it is missing and install the pinned dependencies.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON311 ?= $(shell command -v python3.11 || command -v python3)
STAMP := $(VENV)/.installed
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: venv demo grade-demo test test-fast release reference lab bench binder-check clean

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON311) -m venv $(VENV)
	@$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 11), "the course needs Python 3.11, found " + sys.version.split()[0]'
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m resnet_utils.kernelspec >/dev/null
	@touch $(STAMP)

## The course's JupyterLab settings (no news prompt, no update checks, the course kernel) are
## merged into the venv's overrides.json every time: an existing .venv gets them too.
venv: $(STAMP)
	@$(PY) -m resnet_utils.labsettings >/dev/null

## The course's main job: for each assignment, regenerate the release, autograde the bundled examples, check and print grades.
demo: venv
	$(PY) -m autograder demo

## Grade the bundled example class (hostile and broken submissions included) in parallel.
grade-demo: venv
	$(PY) -m autograder class-demo --jobs $(JOBS)

## The whole test suite (what CI runs): its files in TEST_JOBS processes (pytest-xdist; a file's
## tests stay in one process, so a class graded by a module's fixture is graded once).
TEST_JOBS ?= 2
test: venv
	$(PY) -m pytest tests -n $(TEST_JOBS) --dist loadfile

## The quick tier, for every change: every test that does not start a kernel or train (< 90 s).
test-fast: venv
	$(PY) -m pytest tests -m "not slow" -q -n $(TEST_JOBS) --dist loadfile

## Regenerate release/ from source/ with nbgrader, every assignment (commit the result).
release: venv
	$(PY) -m autograder release

## Recompute the stored reference outputs from the source notebooks' solutions (both assignments).
reference: venv
	$(PY) -m resnet_utils.reference
	$(PY) -m resnet_utils.reference resnet_cifar

lab: venv
	$(VENV)/bin/jupyter lab

bench: venv
	$(PY) bench/bench_notebook.py
	$(PY) bench/bench_notebook.py --assignment resnet_cifar
	$(PY) bench/bench_walkthroughs.py
	$(PY) bench/bench_grading.py --jobs 2
	$(PY) bench/bench_autograde.py
	$(PY) bench/bench_training_memory.py

## What mybinder.org serves: the student edition (publish), its binder/ environment built as repo2docker
## does (a fresh venv, postBuild), then the solved release notebook's full run and walkthrough 01 with the
## kernel in a 1.75 GB memory cgroup (as root), the page cache dropped first: bench/results/binder.json.
binder-check: venv
	$(PY) bench/binder_check.py

clean:
	rm -rf submitted autograded feedback gradebook.db grades.csv .pytest_cache .autograder
