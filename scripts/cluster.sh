#!/usr/bin/env bash
# `make cluster`: a three-node nats-server cluster on loopback (cluster/n1..n3.conf: clients on
# 4231-4233) and two registry processes on it with R3 streams and buckets, to try failures:
# stop one server (its pid is printed) and watch the registry keep answering. Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT INT TERM

mkdir -p data/cluster
for n in 1 2 3; do
  if answers "423$n"; then echo "127.0.0.1:423$n is taken; stop what listens there first" >&2; exit 1; fi
  setsid nats-server -c "cluster/n$n.conf" -l "data/cluster/n$n.log" &
  pids+=($!)
  echo "nats-server n$n: pid $!, nats://127.0.0.1:423$n, log data/cluster/n$n.log" >&2
done
for n in 1 2 3; do
  for _ in $(seq 1 100); do answers "423$n" && break; sleep 0.1; done
  answers "423$n" || { echo "nats-server n$n did not answer on 127.0.0.1:423$n within 10 s; see data/cluster/n$n.log" >&2; exit 1; }
done

export NATS_URL="nats://127.0.0.1:4231,nats://127.0.0.1:4232,nats://127.0.0.1:4233"
export REGISTRY_REPLICAS=3
for r in 1 2; do
  OB_NODE_ID="cluster-$r" OB_SELF_URL="http://127.0.0.1:1133$((7 + r))" REGISTRY_HTTP_ADDR="127.0.0.1:1133$((7 + r))" \
    REGISTRY_DATA_DIR="data/cluster/registry-$r" setsid node --import tsx src/main.ts &
  pids+=($!)
  echo "registry $r: pid $!, HTTP http://127.0.0.1:1133$((7 + r))" >&2
done
echo "cluster up: NATS_URL=$NATS_URL; try npx registry i ls, stop a server with kill <pid>; Ctrl-C stops everything" >&2
wait
