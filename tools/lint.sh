#!/usr/bin/env bash
# Check the style of every tracked file with the hooks of
# .pre-commit-config.yaml (flake8, isort, yapf with setup.cfg's settings,
# codespell, no trailing whitespace); what CI runs. isort and yapf rewrite
# the files they would change, so a failed run leaves the fix in the work
# tree (review it with git diff). The linters are pinned in
# requirements/lint.txt; tools/setup_env.sh installs them into .venv.
#   bash tools/lint.sh
#   .venv/bin/pre-commit install      # the same checks on every commit
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
for tool in pre-commit flake8 isort yapf codespell; do
    if [ ! -x "$BIN/$tool" ]; then
        echo "[lint] $BIN/$tool is missing; run bash tools/setup_env.sh" >&2
        exit 2
    fi
done
exec "$BIN/pre-commit" run --all-files --show-diff-on-failure "$@"
