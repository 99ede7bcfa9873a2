#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run every test.
# Used by the README quickstart and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements-dev.txt
# The browser test drives Debian's chromium headless; install it when we can (root + apt).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "note: chromium/chromedriver missing and not root: the browser test will skip" >&2
  fi
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# numba's compiled UMAP kernels are cached here so only the first process pays the compile.
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/.cache/numba}"
# Lint (errors, import order, bug patterns) and type-check the library before any test runs.
python -m ruff check .
python -m mypy univar_core
exec python -m pytest "$@"
