# Thin targets; the first use of any of them creates .venv with the pinned versions.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test bench slides lecturer site glossary notebooks checkpoints lint clean

lab: $(STAMP)  ## open the course in JupyterLab
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/01_attention_and_memory.ipynb

test: $(STAMP)  ## unit tests, strict nbval of every notebook, browser test
	$(BIN)/python -m pytest

bench: $(STAMP)  ## per-notebook execution time and widget update time
	$(BIN)/python benchmarks/run_benchmarks.py

slides: $(STAMP)  ## offline reveal.js decks of every chapter in build/slides (no network needed)
	$(BIN)/python tools/build_decks.py

lecturer: $(STAMP)  ## the lecturer's copies of every chapter, with speaker notes, in build/lecturer (RISE: alt-r)
	$(BIN)/python tools/tag_slides.py --lecturer

site: $(STAMP)  ## the whole course as a static website in build/site (no network needed)
	$(BIN)/python tools/build_site.py

glossary: $(STAMP)  ## maintainers: rewrite docs/glossary.md from docs/glossary.yaml (after editing it)
	$(BIN)/python tools/glossary.py

notebooks: $(STAMP)  ## maintainers: re-execute every chapter and save its outputs
	$(BIN)/python tools/run_notebooks.py

checkpoints: $(STAMP)  ## maintainers: retrain the shipped checkpoints (~40 min)
	$(BIN)/python tools/train_seq2seq.py
	$(BIN)/python tools/train_chapter03.py
	$(BIN)/python tools/train_chapter08.py
	$(BIN)/python tools/train_chapter10.py

lint: $(STAMP)
	$(BIN)/ruff check course_utils tests benchmarks tools

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed: run make PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV)
