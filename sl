#!/usr/bin/env bash
# One-command set-up and entry point: makes .venv on first use, reinstalls the
# project only when pyproject.toml changed, then runs `supportlog ARGS`.
# `./sl test` runs ruff and pytest instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"
venv="$root/.venv"
stamp="$venv/.pyproject.sha256"
if [ ! -x "$venv/bin/python" ]; then
  echo "sl: creating $venv" >&2
  python3 -m venv "$venv"
fi
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
  echo "sl: installing supportlog and its dependencies (pyproject.toml changed)" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev]"
  echo "$want" > "$stamp"
fi
if [ "${1:-}" = "test" ]; then
  shift
  "$venv/bin/ruff" check .
  # Each run gets a temporary folder of its own: pytest's shared /tmp/pytest-of-$USER
  # keeps only the newest three runs, so a run started beside this one would delete the
  # folder that holds this run's embedded servers.
  tmp="$root/.pytest-tmp/run-$$"
  mkdir -p "$root/.pytest-tmp"
  status=0
  "$venv/bin/python" -m pytest --basetemp="$tmp" "$@" || status=$?
  rm -rf "$tmp"
  exit "$status"
fi
exec "$venv/bin/supportlog" "$@"
