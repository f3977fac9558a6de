#!/usr/bin/env bash
# One-command set-up and entry point: makes .venv on first use, reinstalls the
# project only when pyproject.toml changed, then runs `supportlog ARGS`.
# `./sl test [--broker tansu|apache-kafka] [PYTEST ARGS]` runs ruff and pytest instead:
# everything on Tansu (the default), or the tests marked `broker` (every test that uses
# the servers: integration, crash, refill, consumer groups, scenarios) on an embedded
# Apache Kafka (needs java and mvn; see README).
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
  broker=tansu
  args=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --broker) broker="${2:-}"; shift; [ $# -gt 0 ] && shift ;;
      --broker=*) broker="${1#--broker=}"; shift ;;
      *) args+=("$1"); shift ;;
    esac
  done
  case "$broker" in
    tansu) select=() ;;
    apache-kafka) select=(-m broker) ;;
    *) echo "sl: --broker must be tansu or apache-kafka, got '$broker'" >&2; exit 2 ;;
  esac
  "$venv/bin/ruff" check .
  # Each run gets a temporary folder of its own: pytest's shared /tmp/pytest-of-$USER
  # keeps only the newest three runs, so a run started beside this one would delete the
  # folder that holds this run's embedded servers.
  tmp="$root/.pytest-tmp/run-$$"
  mkdir -p "$root/.pytest-tmp"
  status=0
  SUPPORTLOG_TEST_BROKER="$broker" "$venv/bin/python" -m pytest --basetemp="$tmp" \
    ${select[@]+"${select[@]}"} ${args[@]+"${args[@]}"} || status=$?
  rm -rf "$tmp"
  exit "$status"
fi
exec "$venv/bin/supportlog" "$@"
