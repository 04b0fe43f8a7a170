#!/usr/bin/env bash
# bench/supervisor.sh: what the Gateway runner's supervised workers cost, in one run, on loopback.
#
# Targets: the Gateway runner serving FaultyApp's GET / hello (5 bytes, Content-Length; release
# build), a WSGI-style and an ASGI application (FAULTY_APP_KIND), each with --workers 0 (served in
# the runner's own process: the baseline), --workers 1 and --workers 2, every one with --threads
# THREADS and --log-level warning:
#   http_KIND_wN        over HTTP (wrk straight to the runner)
#   fcgi_KIND_wN/close  behind nginx over FastCGI on a unix socket, a new backend connection per request
#   fcgi_KIND_wN/keep   the same with fastcgi_keep_conn on and an upstream keepalive of THREADS
# All run at once (an idle one costs nothing); each round runs every target once in turn, so that
# drifting foreign load on a shared machine spreads over all of them alike. Reported: median req/s,
# p50, p99, errors (socket errors + non-2xx), the runner's CPU per request (all its processes:
# what supervision could add to the request path, and the figure least moved by foreign load), and
# each target's ratio to its --workers 0 baseline run in the same round (median over the rounds;
# goal at one worker: req/s >= 0.97).
#
# Then:
#   worker start  SIGHUP a --workers 1 runner STARTS times in a row, idle; each new worker's time
#                 from spawn to accepting, as the supervisor logs it (goal < 100 ms)
#   reload        wrk on http_wsgi_w2 and on fcgi_wsgi_w2/keep while the runner is sent SIGHUP
#                 RELOADS times, each after the previous one completed (its status page shows the
#                 new generation and only its two workers): errors must be 0
#
# Env: REPS (3) DURATION (8) WARMUP (2) THREADS (4) CONNS (32) WRK_THREADS (2) STARTS (10)
#      RELOADS (5) PORT (18500: PORT..PORT+29 on 127.0.0.1) MAX_SECONDS (2400) KEEP_WORK=1
#      ONLY (a regular expression: measure only the targets it matches, e.g. '_w[01]')
# Needs: swift, wrk, nginx, curl, python3 (apt-get install as root when missing). Every process
# it starts is stopped by its PID; the work directory is removed at the end.
set -u
REPS=${REPS:-3}; DURATION=${DURATION:-8}; WARMUP=${WARMUP:-2}; THREADS=${THREADS:-4}
CONNS=${CONNS:-32}; WRK_THREADS=${WRK_THREADS:-2}; STARTS=${STARTS:-10}; RELOADS=${RELOADS:-5}
PORT=${PORT:-18500}; MAX_SECONDS=${MAX_SECONDS:-2400}
STOP_GRACE=100; CLEANUP_GRACE=50
. "$(dirname "$0")/lib.sh"
bench_init bench-supervisor "$MAX_SECONDS"
RAW="$W/raw.tsv"

# ------------------------------------------------------------------ tools and build
bench_need wrk nginx curl python3
ports_free $(seq "$PORT" $((PORT + 29)))
build_release FaultyApp
APP=$BIN

# ------------------------------------------------------------------ servers
: > "$RAW"
NAMES=(); URLS=()
n=0
declare -A SUPERVISOR
for kind in wsgi asgi; do
    for workers in 0 1 2; do
        name="http_${kind}_w$workers"; port=$((PORT + n)); n=$((n + 1))
        start_bg "$name" env FAULTY_APP_KIND=$kind "$APP" --http "127.0.0.1:$port" --workers "$workers" --threads "$THREADS" --status /__status --log-level warning
        SUPERVISOR[$name]=$LAST_PID
        NAMES+=("$name"); URLS+=("http://127.0.0.1:$port/")
    done
done
NGINX_SERVERS=""
for kind in wsgi asgi; do
    for workers in 0 1 2; do
        name="fcgi_${kind}_w$workers"; sock="$W/$name.sock"
        start_bg "$name" env FAULTY_APP_KIND=$kind "$APP" --fastcgi "unix:$sock" --workers "$workers" --threads "$THREADS" --status /__status --log-level warning
        SUPERVISOR[$name]=$LAST_PID
        for mode in close keep; do
            port=$((PORT + n)); n=$((n + 1))
            if [ "$mode" = keep ]; then
                NGINX_SERVERS="$NGINX_SERVERS
$(render "$BENCH/nginx/keep.server" "NAME=$name" "SOCK=$sock" "KEEPALIVE=$THREADS" "PORT=$port")"
            else
                NGINX_SERVERS="$NGINX_SERVERS
$(render "$BENCH/nginx/pass.server" "SOCK=$sock" "PORT=$port")"
            fi
            NAMES+=("$name/$mode"); URLS+=("http://127.0.0.1:$port/")
        done
    done
done
nginx_start "$NGINX_SERVERS"
for i in "${!NAMES[@]}"; do wait_hello "${URLS[$i]}" || { cat "$W/${NAMES[$i]%%/*}.log"; exit 1; }; done
log "nproc=$(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# ------------------------------------------------------------------ throughput
RELOAD_HTTP=${URLS[2]}; RELOAD_FCGI=${URLS[11]}
if [ -n "${ONLY:-}" ]; then  # measure only the targets whose name matches this regular expression
    for i in "${!NAMES[@]}"; do
        if ! echo "${NAMES[$i]}" | grep -Eq "$ONLY"; then unset 'NAMES[i]' 'URLS[i]'; fi
    done
fi
for i in "${!NAMES[@]}"; do wrk -t"$WRK_THREADS" -c"$CONNS" -d"${WARMUP}s" "${URLS[$i]}" > /dev/null 2>&1; done
for rep in $(seq "$REPS"); do
    for i in "${!NAMES[@]}"; do
        out="$W/$(echo "${NAMES[$i]}" | tr / _).$rep.wrk"
        runner=${SUPERVISOR[${NAMES[$i]%%/*}]}
        t0=$(tree_ticks "$runner")
        wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "${URLS[$i]}" > "$out" 2>&1
        t1=$(tree_ticks "$runner")
        line=$(parse_wrk "$out")
        set -- $line
        # The runner's CPU per request (all its processes), in microseconds.
        cpu=$(awk -v t=$((t1 - t0)) -v tck="$TCK" -v rps="$1" -v d="$DURATION" 'BEGIN { printf "%.1f", (rps > 0 ? 1e6 * t / tck / (rps * d) : 0) }')
        echo -e "${NAMES[$i]}\t$rep\t$line\t$cpu" >> "$RAW"
        log "  ${NAMES[$i]} rep $rep: $1 req/s  p50 ${2}ms  p99 ${3}ms  errors $5  cpu ${cpu}us/req"
    done
done

# ------------------------------------------------------------------ reload under load
RELOAD_RESULTS=""
for target in "http_wsgi_w2 $RELOAD_HTTP" "fcgi_wsgi_w2/keep $RELOAD_FCGI"; do
    set -- $target
    name=$1; url=$2; supervisor=${SUPERVISOR[${name%%/*}]}; logfile="$W/${name%%/*}.log"
    out="$W/reload-$(echo "$name" | tr / _).wrk"
    wrk -t"$WRK_THREADS" -c"$CONNS" -d"$((RELOADS * 2 + 4))s" --latency "$url" > "$out" 2>&1 &
    WRK_PID=$!
    sleep 2
    done_reloads=0
    for r in $(seq "$RELOADS"); do
        kill -HUP "$supervisor"
        # Done when the status page shows generation r and nothing but its two workers.
        for i in $(seq 100); do
            curl -s --max-time 2 "${url}__status?json" | grep -q "\"generation\":$r,.*\"total_processes\":2," && break
            sleep 0.1
        done
        curl -s --max-time 2 "${url}__status?json" | grep -q "\"generation\":$r,.*\"total_processes\":2," && done_reloads=$((done_reloads + 1))
        sleep 1
    done
    wait "$WRK_PID"
    line=$(parse_wrk "$out"); set -- $line
    RELOAD_RESULTS="$RELOAD_RESULTS$name: $done_reloads/$RELOADS reloads completed under wrk -t$WRK_THREADS -c$CONNS; $1 req/s; errors $5
"
    log "reload $name: $done_reloads reloads, $1 req/s, errors $5"
done

# ------------------------------------------------------------------ worker start
start_bg startup env FAULTY_APP_KIND=wsgi "$APP" --http "127.0.0.1:$((PORT + 29))" --workers 1 --threads "$THREADS" --log-level info
STARTUP_PID=$LAST_PID
wait_hello "http://127.0.0.1:$((PORT + 29))/" || exit 1
for r in $(seq "$STARTS"); do
    before=$(grep -c "worker(s) ready (generation" "$W/startup.log")
    kill -HUP "$STARTUP_PID"
    for i in $(seq 100); do
        [ "$(grep -c "worker(s) ready (generation" "$W/startup.log")" -gt "$before" ] && break
        sleep 0.05
    done
done
# The first worker started with the runner; the reloads' workers follow.
STARTS_MS=$(grep "accepts connections (started in" "$W/startup.log" | tail -n "$STARTS" | sed 's/.*started in \([0-9]*\) ms.*/\1/' | tr '\n' ' ')
stop_pid "$STARTUP_PID"
for name in "${!SUPERVISOR[@]}"; do stop_pid "${SUPERVISOR[$name]}"; done
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# ------------------------------------------------------------------ summary
echo
echo "== median of $REPS x wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s --latency (after ${WARMUP}s warm-up); $(nproc) cores shared by wrk, nginx and the runners; --threads $THREADS"
echo "   nginx $(nginx -v 2>&1 | cut -d/ -f2), $(wrk -v 2>&1 | head -1 | cut -c1-20), $(swift --version 2>&1 | head -1)"
python3 "$BENCH/report.py" supervisor "$RAW"
echo
echo "worker start (spawn to accepting, ms, $STARTS reloads of an idle --workers 1 runner): $STARTS_MS"
echo "$STARTS_MS" | python3 "$BENCH/report.py" worker_start
echo "reload under load:"
printf "%s" "$RELOAD_RESULTS" | sed 's/^/  /'
