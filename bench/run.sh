#!/usr/bin/env bash
# run.sh measures every figure of docs/benchmarks.md on this machine: wrk
# against the ceiling server and linkbolt in the same run, `linkbolt bench`
# mixes, a latency sweep plotted to latency.png, a large Zipf set and the
# Go benchmarks. Raw results and the plot go to bench/results/<UTC time>/,
# or to RESULTS_DIR/<UTC time>/ when RESULTS_DIR is set.
#
#   bench/run.sh                         # about 5 minutes with the defaults
#   BENCH_LINKS=1000000 bench/run.sh     # the 1,000,000-link set of the
#                                        # targets; about 6 minutes
#   UPDATE_DOCS_PLOT=1 bench/run.sh      # also copy the plot over
#                                        # docs/img/latency.png, the image
#                                        # of docs/benchmarks.md
#
# Traffic goes to 127.0.0.1 only. Every load run is bounded by timeout(1),
# and every process that the script starts is stopped when it exits, also
# on an error or Ctrl-C. Settings below may be overridden from the
# environment; results/settings.txt records the values used.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

WRK_DURATION=${WRK_DURATION:-8}         # seconds per wrk run, at least 4
WRK_ROUNDS=${WRK_ROUNDS:-3}             # ceiling/linkbolt pairs, alternated
ZIPF_ROUNDS=${ZIPF_ROUNDS:-2}           # pairs on the large set
MIX_DURATION=${MIX_DURATION:-8s}        # each linkbolt bench mix
MIX_RATE=${MIX_RATE:-5000}              # offered rate of the redirect and hackathon mixes
CREATE_WORKERS=${CREATE_WORKERS:-64}    # concurrent clients of the create mix
SEED_LINKS=${SEED_LINKS:-10000}         # links of the mixes and the sweep
HOLD_CONNECTIONS=${HOLD_CONNECTIONS:-10000} # keep-alive connections held by the held mix
HOLD_RATE=${HOLD_RATE:-5000}            # offered rate of the held mix
HOLD_DURATION=${HOLD_DURATION:-60s}     # duration of the held mix
SWEEP_RATES=${SWEEP_RATES:-"1000 2000 4000 6000 8000 10000 12000 14000 16000"}
SWEEP_DURATION=${SWEEP_DURATION:-4s}
BENCH_LINKS=${BENCH_LINKS:-100000}      # links of the large set
ZIPF_S=${ZIPF_S:-1.1}                   # Zipf exponent on the large set
GO_BENCHTIME=${GO_BENCHTIME:-1s}
GO_BENCHCOUNT=${GO_BENCHCOUNT:-3}
UPDATE_DOCS_PLOT=${UPDATE_DOCS_PLOT:-0} # 1 copies latency.png to docs/img/
RESULTS_DIR=${RESULTS_DIR:-$root/bench/results} # parent of each run's folder

# Every setting is checked before the build, so that a typo does not stop
# the run after minutes of measuring.
settings_error() {
  echo "run.sh: $1" >&2
  exit 2
}
for name in WRK_DURATION WRK_ROUNDS ZIPF_ROUNDS MIX_RATE CREATE_WORKERS SEED_LINKS HOLD_CONNECTIONS HOLD_RATE BENCH_LINKS GO_BENCHCOUNT; do
  [[ ${!name} =~ ^[1-9][0-9]{0,8}$ ]] || settings_error "$name=${!name} is not a positive whole number"
done
((WRK_DURATION >= 4)) || settings_error "WRK_DURATION=$WRK_DURATION is below 4 seconds, too short for the CPU profile taken during one wrk run"
for name in MIX_DURATION HOLD_DURATION SWEEP_DURATION; do
  [[ ${!name} =~ ^[1-9][0-9]*(ms|s|m)$ ]] || settings_error "$name=${!name} is not a duration such as 8s, 500ms or 1m"
done
for rate in $SWEEP_RATES; do
  [[ $rate =~ ^[1-9][0-9]{0,8}$ ]] || settings_error "SWEEP_RATES has $rate, which is not a positive whole number"
done
[ -n "${SWEEP_RATES// /}" ] || settings_error "SWEEP_RATES is empty"
[[ $ZIPF_S =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v s="$ZIPF_S" 'BEGIN { exit !(s > 1) }' ||
  settings_error "ZIPF_S=$ZIPF_S is not a number above 1"
[[ $GO_BENCHTIME =~ ^[1-9][0-9]*(x|ms|s|m)$ ]] || settings_error "GO_BENCHTIME=$GO_BENCHTIME is not a count such as 100x or a duration such as 1s"
[[ $UPDATE_DOCS_PLOT =~ ^[01]$ ]] || settings_error "UPDATE_DOCS_PLOT=$UPDATE_DOCS_PLOT is not 0 or 1"

# The limits of linkbolt bench, so that it does not reject a setting
# minutes into the run.
at_most() {
  ((${!1} <= $2)) || settings_error "$1=${!1} is above $2, the most that linkbolt bench takes"
}
at_most MIX_RATE 1000000
at_most HOLD_RATE 1000000
at_most CREATE_WORKERS 10000
at_most SEED_LINKS 2000000
at_most HOLD_CONNECTIONS 65535
awk -v s="$ZIPF_S" 'BEGIN { exit !(s <= 100) }' || settings_error "ZIPF_S=$ZIPF_S is above 100, the most that linkbolt bench takes"
for rate in $SWEEP_RATES; do
  ((rate <= 1000000)) || settings_error "SWEEP_RATES has $rate, above 1000000, the most that linkbolt bench takes"
done
# duration_ms prints a duration such as 8s, 500ms or 1m in milliseconds.
duration_ms() {
  case $1 in
  *ms) echo "${1%ms}" ;;
  *s) echo $((${1%s} * 1000)) ;;
  *m) echo $((${1%m} * 60000)) ;;
  esac
}
# long_enough NAME RATE: the duration NAME must be at most an hour and
# leave room for two requests at RATE per second.
long_enough() {
  local ms
  ms=$(duration_ms "${!1}")
  ((ms <= 3600000)) || settings_error "$1=${!1} is longer than 1h, the most that linkbolt bench takes"
  ((ms * $2 >= 2000)) || settings_error "$1=${!1} is too short for two requests at $2 per second"
}
long_enough MIX_DURATION "$MIX_RATE"
long_enough HOLD_DURATION "$HOLD_RATE"
for rate in $SWEEP_RATES; do
  long_enough SWEEP_DURATION "$rate"
done

# slack is added to the timeout of every bounded command, for its start
# and its last responses.
slack=30

stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=$RESULTS_DIR/$stamp
work=$(mktemp -d)
mkdir -p "$results"
pids=()

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# stop_process sends SIGTERM to a child and waits up to 20 s for it to
# exit, then kills it.
stop_process() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  log "process $pid did not stop within 20 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# forget_process removes a child that has exited and was waited for from
# the list that cleanup stops, because the system may give its id to
# another process.
forget_process() {
  local pid kept=()
  for pid in "${pids[@]}"; do
    [ "$pid" = "$1" ] || kept+=("$pid")
  done
  pids=("${kept[@]}")
}

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    stop_process "$pid"
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bounded SECONDS COMMAND... runs COMMAND under timeout(1) and returns its
# status. timeout(1) gives the command a process group of its own, which
# Ctrl-C at a terminal does not reach, and bash runs a trap only once the
# command in the foreground ends. So the command runs in the background,
# where a signal ends the wait at once and cleanup stops the command.
bounded() {
  local seconds=$1 pid status=0
  shift
  timeout "$seconds" "$@" &
  pid=$!
  pids+=("$pid")
  wait "$pid" || status=$?
  forget_process "$pid"
  return "$status"
}

# need_tool installs the Debian package that provides a missing command.
need_tool() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null && return 0
  log "installing $pkg for $cmd"
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "run.sh: $cmd is missing; install the Debian package $pkg" >&2
    exit 1
  fi
  bounded 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive bounded 600 apt-get install -y -qq "$pkg" >/dev/null
}

# rss_mb prints the resident set size of a process in MiB, and its parts:
# anonymous memory (the Go heap and stacks) and file pages (the mapped
# database file).
rss_mb() {
  awk '/^(VmRSS|RssAnon|RssFile):/ { v[$1] = $2 / 1024 }
    END { printf "%.1f (anon %.1f, file %.1f)", v["VmRSS:"], v["RssAnon:"], v["RssFile:"] }' "/proc/$1/status"
}

# start_ceiling starts the ceiling server and sets ceiling_url.
start_ceiling() {
  # The file exists before the child opens it, so the first read finds it.
  : >"$work/ceiling.addr"
  "$work/ceiling" >"$work/ceiling.addr" 2>"$results/ceiling.log" &
  pids+=($!)
  local i
  for ((i = 0; i < 500; i++)); do
    ceiling_url=$(head -n 1 "$work/ceiling.addr")
    [ -n "$ceiling_url" ] && return 0
    sleep 0.02
  done
  echo "run.sh: the ceiling server did not start within 10 s" >&2
  exit 1
}

# start_linkbolt NAME DB [FLAGS...] starts `linkbolt serve` on DB at a free
# port and waits for /ready. It sets lb_url, lb_pid and lb_ready_ms, the
# time from the start of the process to the first 200 from /ready.
start_linkbolt() {
  local name=$1 db=$2
  shift 2
  local logfile=$results/$name.log start addr="" i
  : >"$logfile"
  start=$(date +%s%N)
  "$work/linkbolt" serve --addr 127.0.0.1:0 --db "$db" --log-format text "$@" 2>"$logfile" &
  lb_pid=$!
  pids+=("$lb_pid")
  for ((i = 0; i < 3000; i++)); do
    addr=$(sed -n 's/.*msg="linkbolt started".* addr=\([0-9.]*:[0-9]*\).*/\1/p' "$logfile")
    [ -n "$addr" ] && break
    sleep 0.01
  done
  [ -n "$addr" ] || { echo "run.sh: linkbolt $name did not start within 30 s; see $logfile" >&2; exit 1; }
  lb_url=http://$addr
  for ((i = 0; i < 3000; i++)); do
    if curl -sf -o /dev/null --max-time 1 "$lb_url/ready"; then
      lb_ready_ms=$((($(date +%s%N) - start) / 1000000))
      return 0
    fi
    sleep 0.01
  done
  echo "run.sh: linkbolt $name was not ready within 30 s; see $logfile" >&2
  exit 1
}

# run_wrk NAME URL [ARGS...] runs wrk with 2 threads and 64 connections,
# saves its output as NAME.txt and sets wrk_rps to its requests per second.
# It runs in the script's shell, not in $(...), so that cleanup can stop its
# process.
run_wrk() {
  local name=$1 url=$2
  shift 2
  bounded $((WRK_DURATION + slack)) wrk -t2 -c64 -d"${WRK_DURATION}s" --latency "$@" "$url" >"$results/$name.txt"
  wrk_rps=$(awk '/^Requests\/sec:/ { print $2 }' "$results/$name.txt")
}

# wrk_line NAME prints the requests per second, the latency percentiles
# and the error lines of the wrk output NAME.txt on one line.
wrk_line() {
  awk -v name="$1" '
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "90%" { p90 = $2 }
    $1 == "99%" { p99 = $2 }
    /Non-2xx or 3xx responses|Socket errors/ { errors = errors "; " $0 }
    END { printf "%s\t%s\t%s\t%s\t%s\t%s\n", name, rps, p50, p90, p99, (errors == "" ? "none" : substr(errors, 3)) }
  ' "$results/$1.txt"
}

# wrk_pairs PREFIX ROUNDS CEILING_URL LINKBOLT_URL [ARGS...] warms both
# servers up for 2 s each, then alternates wrk runs against the ceiling and
# linkbolt. It sets pair_ceiling and pair_linkbolt to the mean requests per
# second of each, pair_ratio to the ratio of the means and pair_rounds to
# the ratio of each round.
wrk_pairs() {
  local prefix=$1 rounds=$2 ceil_url=$3 lb=$4 r c l
  shift 4
  WRK_DURATION=2 run_wrk "$prefix-warmup-ceiling" "$ceil_url" "$@"
  WRK_DURATION=2 run_wrk "$prefix-warmup-linkbolt" "$lb" "$@"
  local ceil_sum=0 lb_sum=0
  pair_rounds=""
  for ((r = 1; r <= rounds; r++)); do
    run_wrk "$prefix-ceiling-$r" "$ceil_url" "$@"
    c=$wrk_rps
    run_wrk "$prefix-linkbolt-$r" "$lb" "$@"
    l=$wrk_rps
    log "  round $r: ceiling $c req/s, linkbolt $l req/s"
    ceil_sum=$(awk -v a="$ceil_sum" -v b="$c" 'BEGIN { print a + b }')
    lb_sum=$(awk -v a="$lb_sum" -v b="$l" 'BEGIN { print a + b }')
    pair_rounds="$pair_rounds $(awk -v c="$c" -v l="$l" 'BEGIN { printf "%.3f", l / c }')"
  done
  pair_ceiling=$(awk -v c="$ceil_sum" -v n="$rounds" 'BEGIN { printf "%.0f", c / n }')
  pair_linkbolt=$(awk -v l="$lb_sum" -v n="$rounds" 'BEGIN { printf "%.0f", l / n }')
  pair_ratio=$(awk -v c="$ceil_sum" -v l="$lb_sum" 'BEGIN { printf "%.3f", l / c }')
}

# run_bench NAME ARGS... runs `linkbolt bench --output json` and saves the
# report as NAME.json. The bench command stops by itself after --duration;
# the timeout also bounds its seeding. A non-zero exit, such as 5 when a
# request got no response, stops the script.
run_bench() {
  local name=$1 status=0
  shift
  bounded 300 "$work/linkbolt" bench --output json "$@" >"$results/$name.json" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "run.sh: linkbolt bench $name exited with $status; its report, if any, is in $results/$name.json" >&2
    exit "$status"
  fi
}

# metric URL NAME prints the value of a metric of a linkbolt server.
metric() {
  curl -sf --max-time 5 "$1/metrics" | awk -v m="$2" '$1 == m { v = $2 } END { print v }'
}

need_tool curl curl
need_tool wrk wrk
need_tool gnuplot gnuplot-nox
need_tool jq jq
need_tool column bsdextrautils
need_tool python3 python3

# --- Machine and settings -------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "nproc: $(nproc)"
  echo "memory: $(free -m | awk '/^Mem:/ { print $2 " MiB" }')"
  echo "kernel: $(uname -sr)"
  echo "go: $(go version)"
  echo "wrk: $(wrk --version 2>&1 | head -n 1 || true)"
  echo "commit: $(git describe --always --dirty 2>/dev/null || echo none)"
  echo "load average at the start (1, 5, 15 min; includes earlier runs): $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$results/machine.txt"
for v in WRK_DURATION WRK_ROUNDS ZIPF_ROUNDS MIX_DURATION MIX_RATE CREATE_WORKERS SEED_LINKS \
  HOLD_CONNECTIONS HOLD_RATE HOLD_DURATION SWEEP_RATES SWEEP_DURATION BENCH_LINKS ZIPF_S GO_BENCHTIME GO_BENCHCOUNT \
  UPDATE_DOCS_PLOT RESULTS_DIR; do
  echo "$v=${!v}"
done >"$results/settings.txt"
log "results in $results"
cat "$results/machine.txt" >&2

# --- Build -----------------------------------------------------------------
log "building linkbolt and the ceiling"
CGO_ENABLED=0 go build -trimpath -o "$work/linkbolt" .
CGO_ENABLED=0 go build -trimpath -o "$work/ceiling" ./bench/ceiling

start_ceiling
start_linkbolt main "$work/main.db"
main_url=$lb_url
main_pid=$lb_pid
idle_rss=$(rss_mb "$main_pid")
empty_ready_ms=$lb_ready_ms
log "ceiling at $ceiling_url, linkbolt at $main_url (ready after ${empty_ready_ms} ms, RSS ${idle_rss} MiB idle)"

# --- Target 1: a cached redirect, wrk against both servers -----------------
curl -sf --max-time 5 -o /dev/null -X POST "$main_url/urls" -H 'Content-Type: application/json' \
  -d '{"original_url": "https://example.com/docs?a=1&a=2#intro", "short_code": "docs"}'
# One redirect fills the cache before the load.
curl -s --max-time 5 -o /dev/null "$main_url/docs"
log "wrk: ceiling and linkbolt /docs, $WRK_ROUNDS rounds of ${WRK_DURATION}s each"
wrk_pairs cached "$WRK_ROUNDS" "$ceiling_url/docs" "$main_url/docs"
cached_ceiling=$pair_ceiling cached_linkbolt=$pair_linkbolt cached_ratio=$pair_ratio cached_rounds=$pair_rounds
clicks_flushed=$(metric "$main_url" linkbolt_clicks_flushed_total)
clicks_dropped=$(metric "$main_url" linkbolt_clicks_dropped_total)

# --- linkbolt bench mixes ------------------------------------------------------
log "bench: redirect mix at $MIX_RATE/s over $SEED_LINKS seeded links"
run_bench mix-redirect --server "$main_url" --mix redirect --links "$SEED_LINKS" --rate "$MIX_RATE" --duration "$MIX_DURATION"
log "bench: hackathon mix at $MIX_RATE/s"
run_bench mix-hackathon --server "$main_url" --mix hackathon --reuse --links "$SEED_LINKS" --rate "$MIX_RATE" --duration "$MIX_DURATION"
log "bench: create mix, $CREATE_WORKERS workers as fast as they go"
run_bench mix-create --server "$main_url" --mix create --rate 0 --workers "$CREATE_WORKERS" --duration "$MIX_DURATION"
log "bench: redirect mix at $HOLD_RATE/s over $HOLD_CONNECTIONS held keep-alive connections for $HOLD_DURATION"
# Each held connection takes a file descriptor in bench and in linkbolt.
ulimit -n "$(ulimit -Hn)"
run_bench mix-held --server "$main_url" --mix redirect --reuse --links "$SEED_LINKS" --rate "$HOLD_RATE" \
  --duration "$HOLD_DURATION" --hold-connections "$HOLD_CONNECTIONS"
held_rss=$(rss_mb "$main_pid")

# --- Latency against offered load -----------------------------------------------
log "sweep: redirect mix at $SWEEP_RATES requests/s"
echo "offered_rate,sent_rate,throughput,p50_ms,p95_ms,p99_ms,max_ms,error_rate" >"$results/sweep.csv"
for rate in $SWEEP_RATES; do
  run_bench "sweep-$rate" --server "$main_url" --mix redirect --reuse --links "$SEED_LINKS" --rate "$rate" --duration "$SWEEP_DURATION"
  jq -r '[.offered_rate, (.sent_rate | round), (.throughput | round), (.latency_ms | .p50, .p95, .p99, .max | . * 1000 | round / 1000), .error_rate] | @csv' \
    "$results/sweep-$rate.json" >>"$results/sweep.csv"
done
machine_line="$(awk -F': ' '/^cpu/ { c = $2 } /^nproc/ { n = $2 } END { print c ", " n " cores" }' "$results/machine.txt"), $(date -u +%Y-%m-%d)"
bounded 60 gnuplot -e "csv='$results/sweep.csv'; out='$results/latency.png'; machine='$machine_line'" bench/latency.gp
# The committed image belongs to the run that docs/benchmarks.md
# describes, so a run replaces it only on request.
if [ "$UPDATE_DOCS_PLOT" = 1 ]; then
  mkdir -p "$root/docs/img"
  cp "$results/latency.png" "$root/docs/img/latency.png"
  log "copied the plot to docs/img/latency.png"
fi

# --- Target 2 and the large set: Zipf codes over links the cache cannot hold ---
cache_size=$((BENCH_LINKS / 10))
log "large set: importing $BENCH_LINKS links, cache of $cache_size"
awk -v n="$BENCH_LINKS" 'BEGIN {
  print "id,user_id,short_code,original_url,title,is_active,created_at,updated_at"
  for (i = 1; i <= n; i++)
    printf "%d,,z%d,https://example.com/docs/%d?a=1&a=2#intro,,True,2025-01-01 00:00:00,\n", i, i, i
}' >"$work/large.csv"
import_start=$(date +%s%N)
bounded 1800 "$work/linkbolt" import --db "$work/large.db" --urls "$work/large.csv" >"$results/large-import.txt"
import_s=$(awk -v ns=$(($(date +%s%N) - import_start)) 'BEGIN { printf "%.1f", ns / 1e9 }')
start_linkbolt large "$work/large.db" --cache-size "$cache_size" --pprof-addr 127.0.0.1:0
large_url=$lb_url
large_pid=$lb_pid
large_ready_ms=$lb_ready_ms
large_rss_idle=$(rss_mb "$large_pid")
log "wrk: Zipf s=$ZIPF_S over $BENCH_LINKS codes, $ZIPF_ROUNDS rounds"
export ZIPF_N=$BENCH_LINKS ZIPF_S
wrk_pairs zipf "$ZIPF_ROUNDS" "$ceiling_url/" "$large_url/" -s bench/zipf.lua
zipf_ceiling=$pair_ceiling zipf_linkbolt=$pair_linkbolt zipf_ratio=$pair_ratio zipf_rounds=$pair_rounds
large_rss_loaded=$(rss_mb "$large_pid")
# Which buckets the mapped pages of the database file belong to, once
# the server has indexed the clicks of the load and stopped writing.
for ((i = 0; i < 300; i++)); do
  [ "$(metric "$large_url" linkbolt_clicks_unindexed)" = 0 ] && break
  sleep 0.1
done
bounded 300 python3 bench/residency.py "$large_pid" "$work/large.db" >"$results/residency.txt" 2>&1 || log "residency.py failed; see residency.txt"

# One more Zipf run, not counted, with a CPU profile of linkbolt taken
# meanwhile, because profiling slows the server down.
log "profiling linkbolt during a Zipf wrk run"
pprof_addr=$(sed -n 's/.*msg="serving profiles" pprof_addr=\([0-9.]*:[0-9]*\).*/\1/p' "$results/large.log")
timeout $((WRK_DURATION + slack)) wrk -t2 -c64 -d"${WRK_DURATION}s" -s bench/zipf.lua "$large_url/" >"$results/profile-wrk.txt" &
wrk_pid=$!
pids+=("$wrk_pid")
sleep 1
bounded $((WRK_DURATION + slack)) curl -sf -o "$results/profile-cpu.prof" \
  "http://$pprof_addr/debug/pprof/profile?seconds=$((WRK_DURATION - 2))"
wait "$wrk_pid"
forget_process "$wrk_pid"
go tool pprof -top -cum "$work/linkbolt" "$results/profile-cpu.prof" >"$results/profile-cpu-top.txt" 2>/dev/null
zipf_hits=$(metric "$large_url" linkbolt_cache_hits_total)
zipf_misses=$(metric "$large_url" linkbolt_cache_misses_total)
zipf_hit_ratio=$(awk -v h="$zipf_hits" -v m="$zipf_misses" 'BEGIN { printf "%.3f", h / (h + m) }')

# --- Go benchmarks -----------------------------------------------------------------
log "go benchmarks: -benchtime $GO_BENCHTIME -count $GO_BENCHCOUNT"
bounded 600 go test -run '^$' -bench . -benchmem -benchtime "$GO_BENCHTIME" -count "$GO_BENCHCOUNT" \
  ./store ./cache ./server >"$results/gobench.txt"

# --- Summary ---------------------------------------------------------------------
# kinds_line NAME prints the requests and successful responses of each
# request kind of the bench report NAME.json, in the order of the mix.
kinds_line() {
  jq -r '[("redirect", "list", "create", "health") as $k | select(.kinds[$k])
    | "\($k) \(.kinds[$k].requests)/\(.kinds[$k].successful)"] | join(", ")' "$results/$1.json"
}
plot_note() {
  [ "$UPDATE_DOCS_PLOT" = 1 ] && echo ", copied to docs/img/latency.png"
  return 0
}
mix_line() {
  jq -r '[.mix, .offered_rate, (.sent_rate | round), (.throughput | round), (.latency_ms | .p50, .p95, .p99, .max | . * 1000 | round / 1000), .error_rate] | @tsv' "$results/$1.json"
}
{
  cat "$results/machine.txt"
  echo
  echo "wrk -t2 -c64 -d${WRK_DURATION}s, mean of $WRK_ROUNDS alternated rounds (req/s):"
  echo "  cached redirect: ceiling $cached_ceiling, linkbolt $cached_linkbolt, ratio $cached_ratio (rounds:$cached_rounds)"
  echo "    clicks flushed $clicks_flushed, dropped $clicks_dropped"
  echo "  zipf s=$ZIPF_S over $BENCH_LINKS links, cache $cache_size ($ZIPF_ROUNDS rounds):"
  echo "    ceiling $zipf_ceiling, linkbolt $zipf_linkbolt, ratio $zipf_ratio (rounds:$zipf_rounds), cache hit ratio $zipf_hit_ratio"
  echo
  echo "wrk runs (latency percentiles as wrk prints them):"
  {
    printf 'run\treq/s\tp50\tp90\tp99\terrors\n'
    for f in "$results"/cached-*.txt "$results"/zipf-*.txt; do
      wrk_line "$(basename "$f" .txt)"
    done
  } | column -t -s $'\t' | sed 's/^/  /'
  echo
  echo "linkbolt bench (latencies in ms; rate 0 = as fast as $CREATE_WORKERS workers go):"
  {
    printf 'mix\toffered\tsent/s\tok/s\tp50\tp95\tp99\tmax\terror_rate\n'
    mix_line mix-redirect
    mix_line mix-hackathon
    mix_line mix-create
    mix_line mix-held
  } | column -t -s $'\t' | sed 's/^/  /'
  echo "  the last redirect line: $(jq -r '"\(.held_connections) connections held, \(.reconnects // 0) reopened"' "$results/mix-held.json"), linkbolt RSS ${held_rss} MiB after it"
  echo "  hackathon requests by kind (requests/successful): $(kinds_line mix-hackathon)"
  echo
  echo "latency against offered load (redirect mix, $SWEEP_DURATION each): sweep.csv, latency.png$(plot_note)"
  column -t -s, "$results/sweep.csv" | sed 's/^/  /'
  echo
  echo "memory and start-up:"
  echo "  empty database: ready after ${empty_ready_ms} ms; RSS ${idle_rss} MiB idle"
  echo "  $BENCH_LINKS links: import ${import_s} s; ready after ${large_ready_ms} ms"
  echo "    RSS ${large_rss_idle} MiB idle"
  echo "    RSS ${large_rss_loaded} MiB after the Zipf load"
  echo "    database file $(du -m "$work/large.db" | cut -f1) MiB after the Zipf load"
  echo "    pages of the database file in RSS after the Zipf load, by bucket (residency.txt):"
  sed 's/^/      /' "$results/residency.txt"
  echo
  echo "CPU profile of linkbolt during a Zipf run (profile-cpu-top.txt; flat, flat%, sum%, cum, cum%):"
  grep -E 'net/http.\(\*conn\).serve$|store.\(\*Store\).commitLoop$|commitIndex$|RecordClicks|bbolt.\(\*Tx\).Commit$|server.\(\*Server\).redirect$|server.\(\*Server\).lookup$|runtime.gcBgMarkWorker$' \
    "$results/profile-cpu-top.txt" | sed 's/^ */  /'
  echo
  echo "go benchmarks: gobench.txt"
  grep -E '^Benchmark' "$results/gobench.txt" | sed 's/^/  /'
} >"$results/summary.txt"
cat "$results/summary.txt"
log "done: $results"
