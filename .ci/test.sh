#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine and runs it.
# Real servers (prometheus, promtool, alertmanager, amtool, docker-compose, postgresql for the SQL
# dataset tests, run as the postgres user the package creates), the browser for the
# status-page tests (chromium, driven by Playwright without its own browser download) and, where
# no node is present, node for the Kubernetes CRD validators come from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> the Debian package that provides it; only packages whose command is missing are
# asked for. node/npm are never asked of Debian when they already work: on the CI machines they
# come from elsewhere, and Debian's npm conflicts with that nodejs ("held broken packages").
declare -A pkg_of=(
  [prometheus]=prometheus [promtool]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager [amtool]=prometheus-alertmanager
  [docker-compose]=docker-compose [chromium]=chromium
)
need_pkgs=()
for bin in prometheus promtool prometheus-alertmanager amtool docker-compose chromium; do
  command -v "$bin" >/dev/null 2>&1 && continue
  p=${pkg_of[$bin]}
  [[ " ${need_pkgs[*]} " == *" $p "* ]] || need_pkgs+=("$p")
done
# Debian's node and npm only as a pair, and only where no working node is present at all
if ! { command -v node >/dev/null 2>&1 && node --version >/dev/null 2>&1; }; then
  need_pkgs+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  echo "node is present without npm: the Kubernetes CRD validator tests need npm" >&2
fi
# PostgreSQL's server binaries live in /usr/lib/postgresql/<version>/bin, not on PATH
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null && ! command -v postgres >/dev/null 2>&1; then
  need_pkgs+=(postgresql)
fi
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${need_pkgs[*]}"
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "not root: install them with 'sudo apt-get install -y ${need_pkgs[*]}'" >&2
  fi
fi

python3 -m venv .venv
if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' >.venv/pip.log 2>&1; then
  grep -v "^WARNING: Location" .venv/pip.log >&2; exit 1
fi
.venv/bin/python -c "import agent, detectors, dashboards, alerts" 
# the Prometheus Operator CRD validators the Kubernetes tests run (node, offline once installed)
if command -v npm >/dev/null 2>&1 && [ ! -d .venv/node/node_modules/@kubernetes-models/prometheus-operator ]; then
  npm install --prefix .venv/node --silent --no-audit --no-fund \
    @kubernetes-models/prometheus-operator@6.0.0 >.venv/npm.log 2>&1 || { cat .venv/npm.log >&2; exit 1; }
fi

echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== pytest"
# three workers on the two cores, a test file each: many files mostly wait on real servers
# (sidecar ticks, Prometheus evaluations, Alertmanager), so a third keeps the cores busy while
# the promtool-heavy files run; the slowest tests are printed for the next cut;
# files in collection order, which puts the ones holding a `slow` test first (tests/conftest.py),
# so no long file is handed out last while the other worker runs dry
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n 3 --dist loadfile --no-loadscope-reorder \
    --durations=30 "$@"
