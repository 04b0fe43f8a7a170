#!/usr/bin/env bash
# bench/fastcgi.sh: the FastCGI frontend against its floor, in one go, on loopback.
#
# Targets, all behind one nginx (one process: `master_process off`, so exactly one event loop):
#   nginx_static   nginx `return 200 "hello"`                              (the limit)
#   c_hello        C libfcgi threaded hello: THREADS threads around a mutex-serialised
#                  FCGX_Accept_r, as libfcgi's examples/threaded.c          (the floor on libfcgi)
#   swift_wsgi     FastCGIHello (FASTCGI_HELLO_KIND=wsgi): a WSGI-style hello on the worker threads
#   swift_asgi     FastCGIHello (FASTCGI_HELLO_KIND=asgi): an ASGI hello, the worker thread as its
#                  sync parent; both served by the Gateway runner in its own process (--workers 0)
# each FastCGI target twice:
#   .../close      nginx opens a new backend connection per request (no fastcgi_keep_conn)
#   .../keep       fastcgi_keep_conn on + upstream keepalive KEEPALIVE
# and, with keep-conn, c_hello_nolock: the C hello without its accept mutex (threaded.c's mutex is
# held while FCGX_Accept_r waits on a kept connection, which stalls the other threads).
#
# Load: wrk -tWRK_THREADS -cCONNS, WARMUP seconds of warm-up after each backend starts, then
# DURATION seconds measured; REPS rounds, the targets interleaved in each round so that drift on a
# shared machine spreads over all of them. Reported: median req/s, p50, p99, errors (socket errors
# and non-2xx), the ratio to c_hello in the same mode, backend CPU per request, backend peak RSS
# (VmHWM), CPU split backend/nginx/wrk/machine. Goals checked at the end: swift_wsgi >= 0.95x and
# swift_asgi >= 0.85x c_hello req/s, p99 <= 1.3x c_hello's, backend RSS < 20 MiB.
#
# Env: REPS (3) DURATION (10) WARMUP (2) THREADS (4) KEEPALIVE (=THREADS) CONNS (32)
#      WRK_THREADS (2) PORT (18480) MAX_SECONDS (1500) KEEP_WORK=1 (keep the work directory)
# Needs: swift (release build of FastCGIHello), gcc, libfcgi-dev, nginx, wrk, curl, python3.
# Every process it starts is stopped by its PID; the work directory is removed at the end.
set -u
REPS=${REPS:-3}; DURATION=${DURATION:-10}; WARMUP=${WARMUP:-2}
THREADS=${THREADS:-4}; KEEPALIVE=${KEEPALIVE:-$THREADS}; CONNS=${CONNS:-32}; WRK_THREADS=${WRK_THREADS:-2}
PORT=${PORT:-18480}; MAX_SECONDS=${MAX_SECONDS:-1500}
STOP_GRACE=30; CLEANUP_GRACE=5
. "$(dirname "$0")/lib.sh"
bench_init bench-fastcgi "$MAX_SECONDS"
RAW="$W/raw.tsv"

# ------------------------------------------------------------------ tools
bench_need wrk nginx gcc:gcc,libc6-dev curl python3 /usr/include/fcgiapp.h:libfcgi-dev
ports_free "$PORT"

# ------------------------------------------------------------------ builds
build_release FastCGIHello
SWIFT_BIN=$BIN

gcc -O2 -pthread -o "$W/c_hello" "$BENCH/programs/c_hello.c" -lfcgi || { echo "gcc failed"; exit 1; }

# ------------------------------------------------------------------ nginx
SOCK="$W/app.sock"
nginx_start "$(render "$BENCH/nginx/fastcgi.servers" "SOCK=$SOCK" "KEEPALIVE=$KEEPALIVE" "PORT=$PORT")"
for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/static" && break; sleep 0.05; done

# ------------------------------------------------------------------ measuring
# measure NAME URL BACKEND_PID(or -)
measure() {
    local name=$1 url=$2 bpid=$3 rep=$4 b0=0 b1=0 n0 n1 s0 s1 t0 t1 wcpu line
    local file="$W/${name//\//_}.$rep"
    timeout -k 2 $((WARMUP + 15)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${WARMUP}s" "$url" > /dev/null 2>&1
    [ "$bpid" != - ] && b0=$(ticks "$bpid")
    n0=$(ticks "$NGINX_PID"); s0=$(busy_ticks); t0=$(date +%s.%N)
    { TIMEFORMAT='%U %S'; time timeout -k 2 $((DURATION + 15)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" > "$file.wrk" 2>&1; } 2> "$file.time"
    t1=$(date +%s.%N); s1=$(busy_ticks); n1=$(ticks "$NGINX_PID")
    [ "$bpid" != - ] && b1=$(ticks "$bpid")
    wcpu=$(awk '{print $1+$2}' "$file.time")
    line=$(parse_wrk "$file.wrk")
    read -r bc nc wc sc <<< "$(awk -v b=$((b1 - b0)) -v n=$((n1 - n0)) -v w="$wcpu" -v s=$((s1 - s0)) -v t0="$t0" -v t1="$t1" -v tck="$TCK" \
        'BEGIN{d=t1-t0; printf "%.0f %.0f %.0f %.0f", 100*b/tck/d, 100*n/tck/d, 100*w/d, 100*s/tck/d}')"
    local hwm=0
    [ "$bpid" != - ] && hwm=$(awk '/^VmHWM/{print $2}' "/proc/$bpid/status" 2>/dev/null)
    local cpureq
    cpureq=$(awk -v b=$((b1 - b0)) -v tck="$TCK" -v line="$line" 'BEGIN{split(line,f," "); if (f[4]>0) printf "%.1f", 1e6*b/tck/f[4]; else print 0}')
    echo -e "$name\t$rep\t$line\t$cpureq\t${hwm:-0}\t$bc\t$nc\t$wc\t$sc" >> "$RAW"
    set -- $line
    log "  $name: $1 req/s  p50 ${2}ms  p99 ${3}ms  errors $5  backend ${cpureq}us/req  RSS ${hwm:-0}KiB  cpu% be/ngx/wrk/all $bc/$nc/$wc/$sc"
}

start_backend() { # kind -> sets BPID
    rm -f "$SOCK"
    case "$1" in
        c_hello) "$W/c_hello" "$SOCK" "$THREADS" > "$W/backend.log" 2>&1 < /dev/null & ;;
        c_hello_nolock) NO_LOCK=1 "$W/c_hello" "$SOCK" "$THREADS" > "$W/backend.log" 2>&1 < /dev/null & ;;
        swift_wsgi) FASTCGI_HELLO_KIND=wsgi "$SWIFT_BIN" --fastcgi "unix:$SOCK" --socket-mode 666 --threads "$THREADS" --workers 0 --no-access-log --log-level warning > "$W/backend.log" 2>&1 < /dev/null & ;;
        swift_asgi) FASTCGI_HELLO_KIND=asgi "$SWIFT_BIN" --fastcgi "unix:$SOCK" --socket-mode 666 --threads "$THREADS" --workers 0 --no-access-log --log-level warning > "$W/backend.log" 2>&1 < /dev/null & ;;
    esac
    BPID=$!
    BG_PIDS="$BG_PIDS $BPID"
    local i
    for i in $(seq 200); do [ -S "$SOCK" ] && curl -s -o /dev/null "http://127.0.0.1:$PORT/" && return 0; sleep 0.05; done
    echo "backend $1 did not start: $(tail -3 "$W/backend.log")"; return 1
}

{
    echo "cores: $(nproc)  kernel: $(uname -r)  cpu:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
    echo "nginx $(nginx -v 2>&1 | cut -d/ -f2), wrk $(dpkg-query -W -f='${Version}' wrk 2>/dev/null), libfcgi $(dpkg-query -W -f='${Version}' libfcgi-dev 2>/dev/null), $(swift --version 2>&1 | head -1)"
    echo "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s after ${WARMUP}s warm-up; $REPS rounds; backends: $THREADS threads, unix socket; keep-conn: keepalive $KEEPALIVE"
} | tee "$W/versions.txt"
log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$RAW"
BASE="http://127.0.0.1:$PORT"
for rep in $(seq "$REPS"); do
    log "round $rep of $REPS"
    measure nginx_static "$BASE/static" - "$rep"
    for kind in c_hello swift_wsgi swift_asgi c_hello_nolock; do
        start_backend "$kind" || continue
        if [ "$kind" != c_hello_nolock ]; then measure "$kind/close" "$BASE/hello" "$BPID" "$rep"; fi
        measure "$kind/keep" "$BASE/keep/hello" "$BPID" "$rep"
        stop_pid "$BPID" 30
    done
done
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "== summary: medians of $REPS rounds; ratio and p99 ratio against c_hello in the same mode"
python3 "$BENCH/report.py" fastcgi "$RAW"
