#!/usr/bin/env bash
# `make run`: uses the NATS at NATS_URL (default nats://127.0.0.1:4222) when it answers,
# otherwise starts a local nats-server from nats.conf; then runs the registry in the
# foreground. Ctrl-C drains the registry, then stops the nats-server this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"

url="${NATS_URL:-nats://127.0.0.1:4222}"
first="${url%%,*}"
hostport="${first#*://}"
hostport="${hostport##*@}"
host="${hostport%:*}"
port="${hostport##*:}"

answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

nats_pid=""
stop_nats() {
  if [ -n "$nats_pid" ]; then
    kill -TERM "$nats_pid" 2>/dev/null || true
    wait "$nats_pid" 2>/dev/null || true
  fi
}
trap stop_nats EXIT

if answers "$host" "$port"; then
  echo "using the NATS server at $url" >&2
else
  if [ -n "${NATS_URL:-}" ]; then
    echo "NATS_URL=$NATS_URL does not answer; starting a local nats-server from nats.conf instead" >&2
  fi
  mkdir -p data
  # Its own session, so that Ctrl-C reaches the registry only and the registry can drain first.
  setsid nats-server -c nats.conf -l data/nats-server.log &
  nats_pid=$!
  for _ in $(seq 1 100); do
    answers 127.0.0.1 4222 && break
    if ! kill -0 "$nats_pid" 2>/dev/null; then
      echo "nats-server failed to start; see data/nats-server.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  answers 127.0.0.1 4222 || { echo "nats-server did not answer on 127.0.0.1:4222 within 10 s; see data/nats-server.log" >&2; exit 1; }
  echo "started nats-server from nats.conf (pid $nats_pid, store data/nats)" >&2
  export NATS_URL="nats://127.0.0.1:4222"
fi

# In the foreground: Ctrl-C reaches it (not the nats-server, in its own session), it
# drains and exits, and the EXIT trap then stops the nats-server started above.
node --import tsx src/main.ts "$@"
