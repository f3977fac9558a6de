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
# The console's chart library (Chart.js, from the npm registry): installed here, served
# by the process from supportlog/console/static/vendor (gitignored), never from a CDN.
# The tarball is checked against the registry's pinned sha512 before it is unpacked.
chartjs_version="4.6.1"
chartjs_sha512="hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g=="
vendor="$root/supportlog/console/static/vendor"
install_chartjs() {
  command -v npm >/dev/null || { echo "sl: npm is missing (apt-get install npm): the console will have no charts" >&2; return 0; }
  local pack got
  pack="$(mktemp -d)"
  if ! (cd "$pack" && npm pack "chart.js@$chartjs_version" --silent >/dev/null); then
    echo "sl: npm pack chart.js@$chartjs_version failed: the console will have no charts" >&2
    rm -rf "$pack"; return 0
  fi
  got="$(openssl dgst -sha512 -binary "$pack/chart.js-$chartjs_version.tgz" | base64 -w0)"
  if [ "$got" != "$chartjs_sha512" ]; then
    echo "sl: chart.js-$chartjs_version.tgz does not match its pinned sha512; not installed" >&2
    rm -rf "$pack"; return 0
  fi
  mkdir -p "$vendor"
  tar -xzf "$pack/chart.js-$chartjs_version.tgz" -C "$pack" package/dist/chart.umd.js package/LICENSE.md
  cp "$pack/package/dist/chart.umd.js" "$vendor/chart.umd.js"
  cp "$pack/package/LICENSE.md" "$vendor/chart.js.LICENSE.md"
  echo "$chartjs_version" > "$vendor/.chartjs"
  rm -rf "$pack"
}
if [ ! -s "$vendor/chart.umd.js" ] || [ "$(cat "$vendor/.chartjs" 2>/dev/null)" != "$chartjs_version" ]; then
  echo "sl: installing Chart.js $chartjs_version for the console" >&2
  install_chartjs
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
  # The console's browser tests (-m browser) drive Debian's Chromium.
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "sl: installing Debian's chromium for the browser tests" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -qq chromium >/dev/null 2>&1 || {
        apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; }
    else
      echo "sl: the browser tests need /usr/bin/chromium: sudo apt-get install chromium" >&2
      exit 1
    fi
  fi
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
