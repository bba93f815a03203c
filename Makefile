# docline: `make run` and `make test` are all a newcomer needs; both set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Debian packages the project needs: Tesseract with its language packs (OCR), fonts (sample generation),
# redis-server and postgresql (state-store tests), chromium (review-page tests).
DEB_PACKAGES := python3-venv tesseract-ocr tesseract-ocr-osd tesseract-ocr-eng tesseract-ocr-deu \
	tesseract-ocr-fra tesseract-ocr-spa tesseract-ocr-ita tesseract-ocr-por tesseract-ocr-nld \
	tesseract-ocr-jpn tesseract-ocr-chi-sim fonts-dejavu-core fonts-noto-cjk fonts-urw-base35 fonts-dkg-handwriting \
	redis-server postgresql chromium curl jq

.PHONY: setup run test lint bench clean .deb-packages

setup: $(VENV)/.installed

# Installs only the Debian packages that are missing, so a second `make setup` is a no-op.
.deb-packages:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml | .deb-packages
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

run: setup
	$(BIN)/docline serve --feed-samples

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: setup lint
	$(BIN)/pytest

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .docline .pytest_cache .mypy_cache .ruff_cache
