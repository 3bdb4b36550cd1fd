#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine and runs it.
# Real servers (prometheus, promtool, alertmanager, amtool, docker-compose), the browser for the
# status-page tests (chromium, driven by Playwright without its own browser download) and node
# for the Kubernetes CRD validators come from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for bin in prometheus promtool prometheus-alertmanager amtool docker-compose chromium node npm; do
  command -v "$bin" >/dev/null 2>&1 || need_apt+=("$bin")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "installing Debian packages for: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager docker-compose \
      chromium nodejs npm >/dev/null
  else
    echo "not root: install them with 'sudo apt-get install -y prometheus prometheus-alertmanager docker-compose chromium nodejs npm'" >&2
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
# two workers, a test file each: the promtool-heavy files overlap the ones that wait on servers
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile "$@"
