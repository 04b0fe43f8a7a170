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
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/bench-supervisor.XXXXXX)
RAW="$W/raw.tsv"
MAIN=$$
PIDS=""
log() { echo "[$(date +%H:%M:%S)] $*"; }

stop_pid() { # pid [grace tenths]: TERM (the supervisor stops its workers), then KILL
    local p=$1 grace=${2:-100} i
    [ -z "$p" ] && return
    kill -TERM "$p" 2>/dev/null
    for i in $(seq "$grace"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    PIDS=$(echo " $PIDS " | sed "s/ $p / /")
}
cleanup() {
    local p
    for p in $PIDS; do stop_pid "$p" 50; done
    [ -n "${WATCHDOG:-}" ] && kill -TERM "$WATCHDOG" 2>/dev/null
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work directory kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'echo "$0: interrupted" >&2; exit 130' INT TERM
( trap 'kill "$S" 2>/dev/null; exit 0' TERM; sleep "$MAX_SECONDS" & S=$!; wait "$S" && kill -TERM "$MAIN" ) >/dev/null 2>&1 </dev/null &
WATCHDOG=$!

# ------------------------------------------------------------------ tools and build
missing=""
for tool in wrk nginx curl python3; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        log "apt-get install$missing"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null || { echo "apt-get failed"; exit 1; }
    else
        echo "missing:$missing (install them, or run as root)"; exit 1
    fi
fi
for p in $(seq "$PORT" $((PORT + 29))); do
    if ss -Hltn "sport = :$p" | grep -q .; then echo "port $p is in use; set PORT"; exit 1; fi
done
log "building FaultyApp (release)"
(cd "$ROOT" && swift build -c release --product FaultyApp 2>&1 | tail -1) || exit 1
APP="$(cd "$ROOT" && swift build -c release --show-bin-path)/FaultyApp"
[ -x "$APP" ] || { echo "no $APP"; exit 1; }

start_bg() { # name command...: in the background, output in $W/name.log
    local name=$1; shift
    "$@" > "$W/$name.log" 2>&1 < /dev/null &
    LAST_PID=$!
    PIDS="$PIDS $LAST_PID"
}
wait_ok() { # url: up to 30 s for "hello"
    local i
    for i in $(seq 300); do
        [ "$(curl -s --max-time 2 "$1" 2>/dev/null)" = hello ] && return 0
        sleep 0.1
    done
    echo "no hello from $1"; return 1
}
descendants() { local c; for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do echo "$c"; descendants "$c"; done; }
tree_ticks() { # user+system clock ticks of a process and its descendants (the runner's workers)
    local s=0 p v
    for p in $1 $(descendants "$1"); do v=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null) && s=$((s + v)); done
    echo $s
}
TCK=$(getconf CLK_TCK)
parse_wrk() { # -> "rps p50_ms p99_ms errors"
    awk 'function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
        /Requests\/sec:/ {rps=$2} /^ +50%/ {p50=ms($2)} /^ +99%/ {p99=ms($2)}
        /Socket errors:/ {gsub(",",""); err+=$4+$6+$8+$10} /Non-2xx/ {err+=$NF}
        END {printf "%s %s %s %d\n", rps, p50, p99, err}' "$1"
}

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
    upstream up_$name { server unix:$sock; keepalive $THREADS; }
    server { listen 127.0.0.1:$port; location / { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass up_$name; } }"
            else
                NGINX_SERVERS="$NGINX_SERVERS
    server { listen 127.0.0.1:$port; location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$sock; } }"
            fi
            NAMES+=("$name/$mode"); URLS+=("http://127.0.0.1:$port/")
        done
    done
done
mkdir -p "$W/tmp"
cat > "$W/nginx.conf" <<EOF
worker_processes 1;
pid $W/nginx.pid;
error_log $W/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $W/tmp/body; fastcgi_temp_path $W/tmp/fastcgi; proxy_temp_path $W/tmp/proxy;
    uwsgi_temp_path $W/tmp/uwsgi; scgi_temp_path $W/tmp/scgi;
$NGINX_SERVERS
}
EOF
start_bg nginx nginx -p "$W" -c "$W/nginx.conf" -e "$W/nginx-error.log" -g 'daemon off; master_process off;'
for i in "${!NAMES[@]}"; do wait_ok "${URLS[$i]}" || { cat "$W/${NAMES[$i]%%/*}.log"; exit 1; }; done
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
        log "  ${NAMES[$i]} rep $rep: $1 req/s  p50 ${2}ms  p99 ${3}ms  errors $4  cpu ${cpu}us/req"
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
    RELOAD_RESULTS="$RELOAD_RESULTS$name: $done_reloads/$RELOADS reloads completed under wrk -t$WRK_THREADS -c$CONNS; $1 req/s; errors $4
"
    log "reload $name: $done_reloads reloads, $1 req/s, errors $4"
done

# ------------------------------------------------------------------ worker start
start_bg startup env FAULTY_APP_KIND=wsgi "$APP" --http "127.0.0.1:$((PORT + 29))" --workers 1 --threads "$THREADS" --log-level info
STARTUP_PID=$LAST_PID
wait_ok "http://127.0.0.1:$((PORT + 29))/" || exit 1
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
python3 - "$RAW" <<'EOF'
import sys, statistics as st
runs, order = {}, []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    name = f[0]
    if name not in order: order.append(name)
    rps, p50, p99, err = f[2].split()
    runs.setdefault(name, []).append(dict(rps=float(rps), p50=float(p50), p99=float(p99), err=int(err), cpu=float(f[3])))
med = {n: {k: st.median(r[k] for r in rs) for k in ("rps", "p50", "p99", "cpu")} for n, rs in runs.items()}
print(f"{'target':<20} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7} {'cpu us/req':>10} {'req/s x w0':>10} {'cpu x w0':>8}")
for n in order:
    m = med[n]
    base = n.replace("_w1", "_w0").replace("_w2", "_w0")
    if base in runs and base != n:
        # Each round runs w0, w1, w2 back to back: the ratio within a round, then its median.
        rps_ratio = f"{st.median(r['rps'] / b['rps'] for r, b in zip(runs[n], runs[base])):.3f}"
        cpu_ratio = f"{st.median(r['cpu'] / b['cpu'] for r, b in zip(runs[n], runs[base]) if b['cpu'] > 0):.3f}"
    else:
        rps_ratio = cpu_ratio = "-"
    print(f"{n:<20} {m['rps']:>9,.0f} {m['p50']:>7.2f} {m['p99']:>7.2f} {sum(r['err'] for r in runs[n]):>7} {m['cpu']:>10.1f} {rps_ratio:>10} {cpu_ratio:>8}")
print("runs (req/s):", "; ".join(f"{n} " + " ".join(f"{r['rps']:,.0f}" for r in runs[n]) for n in order))
EOF
echo
echo "worker start (spawn to accepting, ms, $STARTS reloads of an idle --workers 1 runner): $STARTS_MS"
echo "$STARTS_MS" | python3 -c "import sys, statistics as st; v=[int(x) for x in sys.stdin.read().split()]; print(f'  median {st.median(v)} ms, max {max(v)} ms') if v else print('  none')"
echo "reload under load:"
printf "%s" "$RELOAD_RESULTS" | sed 's/^/  /'
