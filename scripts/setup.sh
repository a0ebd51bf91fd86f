#!/usr/bin/env bash
# Create the project-local virtualenv .venv and install tiderec (editable) with its pinned PyTorch CPU
# build, the dev tools, Ray (the distributed engine; the tests run it on a local cluster) and psycopg
# (PostgreSQL, the server database option); Debian's chromium when missing (the dashboard test renders the
# served page in headless Chromium).
# Safe to re-run: does nothing when pyproject.toml has not changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "tiderec needs Python >= 3.11 (found $("$python" --version 2>&1)); set PYTHON=..." >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=.venv/.tiderec-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
    "${pip[@]}" install --upgrade pip
    # The pinned CPU build lies on this machine's disk; a bare "torch" would pull a multi-GB CUDA build.
    "${pip[@]}" install "torch==2.13.0"
    "${pip[@]}" install -e ".[dev,ray,postgres]"
    echo "$want" > "$stamp"
fi
if ! command -v chromium >/dev/null; then
    sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium; } \
        >/dev/null 2>&1 || echo "setup: could not install chromium (apt-get); the dashboard test will fail" >&2
fi
