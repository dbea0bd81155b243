#!/usr/bin/env bash
# `make cluster`: a three-node nats-server cluster on loopback (cluster/n1..n3.conf: clients on
# 4231-4233) and two registry processes on it with R3 streams and buckets, to try failures:
# stop one server (its pid is printed) and watch the registry keep answering. Ctrl-C stops all.
# Other ports (a second cluster, or 4231 taken) come from the environment, three per list:
#   CLUSTER_CLIENT_PORTS="4231 4232 4233" CLUSTER_ROUTE_PORTS="6231 6232 6233"
#   CLUSTER_HTTP_PORTS="8231 8232 8233" CLUSTER_REGISTRY_PORTS="11338 11339"
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

read -r -a client_ports <<<"${CLUSTER_CLIENT_PORTS:-4231 4232 4233}"
read -r -a route_ports <<<"${CLUSTER_ROUTE_PORTS:-6231 6232 6233}"
read -r -a http_ports <<<"${CLUSTER_HTTP_PORTS:-8231 8232 8233}"
read -r -a registry_ports <<<"${CLUSTER_REGISTRY_PORTS:-11338 11339}"
for list in client_ports route_ports http_ports; do
  declare -n ports="$list"
  [ "${#ports[@]}" -eq 3 ] || { echo "CLUSTER_${list%_ports}_PORTS must list three ports" | tr '[:lower:]' '[:upper:]' >&2; exit 1; }
done
[ "${#registry_ports[@]}" -eq 2 ] || { echo "CLUSTER_REGISTRY_PORTS must list two ports" >&2; exit 1; }

mkdir -p data/cluster
for n in 1 2 3; do
  port="${client_ports[$((n - 1))]}"
  if answers "$port"; then echo "127.0.0.1:$port is taken; stop what listens there first, or set CLUSTER_CLIENT_PORTS" >&2; exit 1; fi
  routes=""
  for m in 1 2 3; do [ "$m" -ne "$n" ] && routes="${routes:+$routes,}nats-route://127.0.0.1:${route_ports[$((m - 1))]}"; done
  # The command line overrides the ports of cluster/n$n.conf (their defaults).
  setsid nats-server -c "cluster/n$n.conf" -l "data/cluster/n$n.log" -p "$port" -m "${http_ports[$((n - 1))]}" \
    --cluster "nats://127.0.0.1:${route_ports[$((n - 1))]}" --routes "$routes" &
  pids+=($!)
  echo "nats-server n$n: pid $!, nats://127.0.0.1:$port, log data/cluster/n$n.log" >&2
done
for port in "${client_ports[@]}"; do
  for _ in $(seq 1 100); do answers "$port" && break; sleep 0.1; done
  answers "$port" || { echo "nats-server did not answer on 127.0.0.1:$port within 10 s; see data/cluster/n*.log" >&2; exit 1; }
done

NATS_URL="$(printf 'nats://127.0.0.1:%s,' "${client_ports[@]}")"
export NATS_URL="${NATS_URL%,}"
export REGISTRY_REPLICAS=3
for r in 1 2; do
  port="${registry_ports[$((r - 1))]}"
  OB_NODE_ID="cluster-$r" OB_SELF_URL="http://127.0.0.1:$port" REGISTRY_HTTP_ADDR="127.0.0.1:$port" REGISTRY_DNS_ADDR="127.0.0.1:$((8600 + r))" \
    REGISTRY_DATA_DIR="data/cluster/registry-$r" setsid node --import tsx src/main.ts &
  pids+=($!)
  echo "registry $r: pid $!, HTTP http://127.0.0.1:$port, DNS 127.0.0.1:$((8600 + r))" >&2
done
echo "cluster up: NATS_URL=$NATS_URL; try npx registry i ls, stop a server with kill <pid>; Ctrl-C stops everything" >&2
wait
