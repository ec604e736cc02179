#!/usr/bin/env bash
# cluster.sh measures redirect throughput through NGINX in front of 1, 2
# and 3 linkbolt shards on this machine, in one run, for the cluster
# section of docs/benchmarks.md. Each step starts the shards on 127.0.0.1
# with the same --peers list, imports CLUSTER_LINKS links through NGINX,
# writes the NGINX configuration with "linkbolt nginx-conf", and runs
# wrk -t2 -c64 against NGINX with uniformly random codes.
#
#   bench/cluster.sh                     # about 1.5 minutes with the defaults
#
# Traffic goes to 127.0.0.1 only, and every wrk run is bounded by
# timeout(1). Every process the script starts is stopped when it exits.
# Needs nginx (/usr/sbin/nginx) and wrk. Results go to
# bench/results/cluster-<UTC time>/, or to RESULTS_DIR/cluster-<UTC time>/
# when RESULTS_DIR is set.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

WRK_DURATION=${WRK_DURATION:-10}      # seconds per wrk run
CLUSTER_LINKS=${CLUSTER_LINKS:-10000} # links, spread over the shards
SHARD_COUNTS=${SHARD_COUNTS:-"1 2 3"}
BASE_PORT=${BASE_PORT:-27100}         # shards on BASE_PORT+1.., NGINX on BASE_PORT
NGINX=${NGINX:-/usr/sbin/nginx}
RESULTS_DIR=${RESULTS_DIR:-$root/bench/results} # parent of each run's folder

stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=$RESULTS_DIR/cluster-$stamp
work=$(mktemp -d)
mkdir -p "$results"
pids=()

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

stop_all() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

# wait_port waits up to 10 s for 127.0.0.1:PORT to accept connections.
wait_port() {
  local i
  for ((i = 0; i < 100; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  log "nothing listens on 127.0.0.1:$1"
  return 1
}

log "building linkbolt"
CGO_ENABLED=0 go build -o "$work/linkbolt" .
lb=$work/linkbolt

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "go: $(go version)"
  echo "nginx: $("$NGINX" -v 2>&1)"
  echo "wrk: wrk -t2 -c64 -d${WRK_DURATION}s -s bench/uniform.lua (UNIFORM_N=$CLUSTER_LINKS)"
  echo "links: $CLUSTER_LINKS"
  echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$results/settings.txt"

# The shards of each size share one cluster secret.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/cluster_secret"

# The links: codes u1..uN, imported through NGINX so that each lands on
# its owner.
{
  echo "id,user_id,short_code,original_url,title,is_active,created_at"
  for ((i = 1; i <= CLUSTER_LINKS; i++)); do
    echo "$i,,u$i,https://example.com/landing/$i,,True,2025-01-01 00:00:00"
  done
} >"$work/links.csv"

for n in $SHARD_COUNTS; do
  peers=""
  for ((i = 1; i <= n; i++)); do
    peers+="${peers:+,}127.0.0.1:$((BASE_PORT + i))"
  done
  dir=$work/shards-$n
  mkdir -p "$dir"
  log "$n shard(s): $peers"
  for ((i = 1; i <= n; i++)); do
    self=127.0.0.1:$((BASE_PORT + i))
    "$lb" serve --addr "$self" --db "$dir/shard$i.db" --peers "$peers" --self "$self" \
      --cluster-secret-file "$work/cluster_secret" --log-level warn 2>>"$results/shards-$n.log" &
    pids+=($!)
    wait_port $((BASE_PORT + i))
  done
  "$lb" nginx-conf --peers "$peers" --listen "127.0.0.1:$BASE_PORT" --temp-dir "$dir" \
    --access-log off >"$dir/nginx.conf"
  cp "$dir/nginx.conf" "$results/nginx-$n.conf"
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
    -g "daemon off; pid $dir/nginx.pid;$( [ "$(id -u)" = 0 ] && echo ' user root;')" &
  pids+=($!)
  wait_port "$BASE_PORT"

  curl -sf -X POST "http://127.0.0.1:$BASE_PORT/urls/bulk" -H 'Content-Type: text/csv' \
    --data-binary @"$work/links.csv" >/dev/null
  status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BASE_PORT/u1")
  [ "$status" = 302 ] || { log "GET /u1 through NGINX answered $status, not 302"; exit 1; }

  # A short warm-up fills the caches and NGINX's keep-alive pools.
  UNIFORM_N=$CLUSTER_LINKS timeout 20 wrk -t2 -c64 -d2s -s bench/uniform.lua \
    "http://127.0.0.1:$BASE_PORT" >/dev/null
  UNIFORM_N=$CLUSTER_LINKS timeout $((WRK_DURATION + 30)) wrk -t2 -c64 -d"${WRK_DURATION}s" \
    --latency -s bench/uniform.lua "http://127.0.0.1:$BASE_PORT" >"$results/wrk-$n.txt"
  rps=$(awk '/^Requests\/sec/ {print $2}' "$results/wrk-$n.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$results/wrk-$n.txt")
  errors=$(grep -E 'Non-2xx|Socket errors' "$results/wrk-$n.txt" | tr '\n' ' ' || true)
  echo "$n $rps $p99 ${errors:-none}" | tee -a "$results/summary.txt"
  stop_all
done

echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$results/settings.txt"
log "results in $results"
awk 'NR == 1 {base = $2} {printf "%s shard(s): %s requests/s, p99 %s, %.2fx of 1 shard, errors: %s\n", $1, $2, $3, $2 / base, $4}' \
  "$results/summary.txt"
