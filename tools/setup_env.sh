#!/usr/bin/env bash
# Create ./.venv with the tested stack (requirements/pinned.txt) and mmprompt
# installed in editable mode. Re-running is cheap: it reinstalls only when the
# requirement files or setup.py changed.
#   bash tools/setup_env.sh            # PYTHON=python3.11 to pick the interpreter
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup_env] creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.mmprompt-setup"
want=$(cat requirements/*.txt setup.py | sha1sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "[setup_env] installing requirements/pinned.txt and mmprompt (-e)"
    # torch's CUDA build fills ~6 GB; say so before pip fails half-way.
    free_kb=$(df -Pk "$VENV" | awk 'NR==2 {print $4}')
    if ! "$VENV/bin/python" -c 'import importlib.util as u, sys;
sys.exit(u.find_spec("torch") is None)' \
            && [ "${free_kb:-0}" -lt $((7 * 1024 * 1024)) ]; then
        echo "[setup_env] WARNING: only $((free_kb / 1024)) MB free for" \
             "$VENV; the environment needs about 7 GB. Free some space" \
             "or set VENV=/path/with/space." >&2
    fi
    "$VENV/bin/python" -m pip install -q 'setuptools>=65,<82' wheel
    "$VENV/bin/python" -m pip install -q -r requirements/pinned.txt
    # openmim without its dependencies: they are in pinned.txt, except
    # `opendatalab` (dataset downloads only), which would downgrade setuptools.
    "$VENV/bin/python" -m pip install -q --no-deps openmim==0.3.9
    "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
    if "$VENV/bin/python" -c 'import transformers' 2>/dev/null; then
        echo "[setup_env] WARNING: transformers is installed in $VENV;" \
             "it can break 'import mmpretrain.models'." >&2
    fi
    echo "$want" > "$stamp"
fi
"$VENV/bin/python" -c 'import mmprompt, torch, mmengine, mmpretrain, open_clip; print(f"[setup_env] mmprompt {mmprompt.__version__}, torch {torch.__version__}, mmengine {mmengine.__version__}, mmpretrain {mmpretrain.__version__}, open_clip {open_clip.__version__}")'
