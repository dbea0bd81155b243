#!/usr/bin/env bash
# `make run`: uses the NATS at NATS_URL when it answers; without NATS_URL, the one on
# 127.0.0.1:4222 when one answers there, otherwise a nats-server it starts from nats.conf.
# A NATS_URL that does not answer is an error, never a quiet switch to another server
# (REGISTRY_LOCAL_NATS=1 asks for the local one instead). Then it runs the registry in the
# foreground; Ctrl-C drains the registry, then stops the nats-server this script started.
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
  if [ -n "${NATS_URL:-}" ] && [ "${REGISTRY_LOCAL_NATS:-}" != "1" ]; then
    echo "NATS_URL=$NATS_URL does not answer: start that server, or unset NATS_URL for a local one, or set REGISTRY_LOCAL_NATS=1 to start nats-server from nats.conf instead" >&2
    exit 1
  fi
  if answers 127.0.0.1 4222; then
    echo "another server already listens on 127.0.0.1:4222, where nats.conf would start the local one; stop it, or set NATS_URL=nats://127.0.0.1:4222 to use it" >&2
    exit 1
  fi
  [ -n "${NATS_URL:-}" ] && echo "NATS_URL=$NATS_URL does not answer; starting a local nats-server from nats.conf as REGISTRY_LOCAL_NATS=1 asks" >&2
  mkdir -p data
  # Its own session, so that Ctrl-C reaches the registry only and the registry can drain first.
  setsid nats-server -c nats.conf -l data/nats-server.log &
  nats_pid=$!
  for _ in $(seq 1 100); do
    # Ours only if it is still running once the port answers (it exits when the port is taken).
    answers 127.0.0.1 4222 && sleep 0.2 && kill -0 "$nats_pid" 2>/dev/null && break
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
node dist/bundle/registry.js "$@"
