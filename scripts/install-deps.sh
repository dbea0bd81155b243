#!/usr/bin/env bash
# Installs what the registry needs and does not find: npm packages, and nats-server and
# jq from the distribution's packages (Debian/Ubuntu apt-get). `install-deps.sh run` stops
# there (make run); without it, also the programs the tests run (make test, CI).
set -euo pipefail
for_run=false
[ "${1:-}" = run ] && for_run=true
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

# nats-server runs the registry's JetStream; jq is what the seed's scripts (and the
# CLI tests that run them) pipe --json output through.
missing=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
command -v jq >/dev/null 2>&1 || missing+=(jq)
if ! $for_run; then
# Debian's chromium: the dashboard's end-to-end tests drive it with playwright-core.
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Programs not ours that find services through the registry, which its tests run: dig and HAProxy
# (the DNS face), Prometheus (its HTTP service discovery).
command -v dig >/dev/null 2>&1 || missing+=(bind9-dnsutils)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
# examples/go, a service in Go, built offline from Debian's NATS Go client.
command -v go >/dev/null 2>&1 || missing+=(golang-go)
[ -d /usr/share/gocode/src/github.com/nats-io/nats.go ] || missing+=(golang-github-nats-io-go-nats-dev)
fi
if ((${#missing[@]})); then
  echo "installing ${missing[*]} with apt-get" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
