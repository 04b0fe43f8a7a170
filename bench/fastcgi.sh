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
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/bench-fastcgi.XXXXXX)
RAW="$W/raw.tsv"
MAIN=$$
PIDS=""
log() { echo "[$(date +%H:%M:%S)] $*"; }

stop_pid() { # pid [grace tenths]: TERM, then KILL
    local p=$1 grace=${2:-30} i
    [ -z "$p" ] && return
    kill -TERM "$p" 2>/dev/null
    for i in $(seq "$grace"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    PIDS=$(echo " $PIDS " | sed "s/ $p / /")
}
cleanup() {
    local p
    for p in $PIDS; do stop_pid "$p" 5; done
    [ -n "${WATCHDOG:-}" ] && kill -TERM "$WATCHDOG" 2>/dev/null
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work directory kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'echo "$0: interrupted" >&2; exit 130' INT TERM
( trap 'kill "$S" 2>/dev/null; exit 0' TERM; sleep "$MAX_SECONDS" & S=$!; wait "$S" && kill -TERM "$MAIN" ) >/dev/null 2>&1 </dev/null &
WATCHDOG=$!

# ------------------------------------------------------------------ tools
missing=""
for tool in wrk nginx gcc curl python3; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
[ -f /usr/include/fcgiapp.h ] || missing="$missing libfcgi-dev"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        pkgs=$(echo "$missing" | sed 's/gcc/gcc libc6-dev/')
        log "apt-get install$pkgs"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $pkgs >/dev/null || { echo "apt-get failed"; exit 1; }
    else
        echo "missing:$missing (install them, or run as root)"; exit 1
    fi
fi
for p in $PORT; do
    if ss -Hltn "sport = :$p" | grep -q .; then echo "port $p is in use; set PORT"; exit 1; fi
done

# ------------------------------------------------------------------ builds
log "building FastCGIHello (release)"
(cd "$ROOT" && swift build -c release --product FastCGIHello 2>&1 | tail -1) || exit 1
SWIFT_BIN="$(cd "$ROOT" && swift build -c release --show-bin-path)/FastCGIHello"
[ -x "$SWIFT_BIN" ] || { echo "no $SWIFT_BIN"; exit 1; }

cat > "$W/c_hello.c" <<'EOF'
/* Threaded libfcgi hello, after libfcgi's examples/threaded.c (NO_LOCK=1: no accept mutex). */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
static int sock, use_lock = 1;
static pthread_mutex_t accept_mutex = PTHREAD_MUTEX_INITIALIZER;
static void *worker(void *arg) {
    (void)arg;
    FCGX_Request req;
    FCGX_InitRequest(&req, sock, 0);
    for (;;) {
        if (use_lock) pthread_mutex_lock(&accept_mutex);
        int rc = FCGX_Accept_r(&req);
        if (use_lock) pthread_mutex_unlock(&accept_mutex);
        if (rc < 0) break;
        FCGX_PutS("Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", req.out);
        FCGX_Finish_r(&req);
    }
    return NULL;
}
int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: c_hello PATH NTHREADS\n"); return 2; }
    use_lock = getenv("NO_LOCK") == NULL;
    FCGX_Init();
    sock = FCGX_OpenSocket(argv[1], 1024);
    if (sock < 0) { perror("FCGX_OpenSocket"); return 1; }
    chmod(argv[1], 0666);
    int n = atoi(argv[2]);
    pthread_t *t = calloc(n, sizeof *t);
    for (int i = 1; i < n; i++) pthread_create(&t[i], NULL, worker, NULL);
    worker(NULL);
    return 0;
}
EOF
gcc -O2 -pthread -o "$W/c_hello" "$W/c_hello.c" -lfcgi || { echo "gcc failed"; exit 1; }

# ------------------------------------------------------------------ nginx
mkdir -p "$W/tmp"
SOCK="$W/app.sock"
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
    upstream backend_keep { server unix:$SOCK; keepalive $KEEPALIVE; }
    server {
        listen 127.0.0.1:$PORT;
        location = /static { default_type text/plain; return 200 "hello"; }
        location /keep/ { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass backend_keep; }
        location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$SOCK; }
    }
}
EOF
nginx -p "$W" -c "$W/nginx.conf" -e "$W/nginx-error.log" -g 'daemon off; master_process off;' > "$W/nginx.out" 2>&1 < /dev/null &
NGINX_PID=$!
PIDS="$PIDS $NGINX_PID"
for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/static" && break; sleep 0.05; done

# ------------------------------------------------------------------ measuring
ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
TCK=$(getconf CLK_TCK)
parse_wrk() { # file -> "rps p50ms p99ms requests errors"
    awk 'function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
         /Requests\/sec:/ {rps=$2} /^ +50%/ {p50=ms($2)} /^ +99%/ {p99=ms($2)} / requests in / {req=$1}
         /Socket errors:/ {gsub(",",""); err+=$4+$6+$8+$10} /Non-2xx/ {err+=$NF}
         END {printf "%s %s %s %s %d\n", rps, p50, p99, req, err}' "$1"
}

# measure NAME URL BACKEND_PID(or -)
measure() {
    local name=$1 url=$2 bpid=$3 rep=$4 b0=0 b1=0 n0 n1 s0 s1 t0 t1 wcpu line
    local file="$W/${name//\//_}.$rep"
    timeout -k 2 $((WARMUP + 15)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${WARMUP}s" "$url" > /dev/null 2>&1
    [ "$bpid" != - ] && b0=$(ticks "$bpid")
    n0=$(ticks "$NGINX_PID"); s0=$(busy); t0=$(date +%s.%N)
    { TIMEFORMAT='%U %S'; time timeout -k 2 $((DURATION + 15)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" > "$file.wrk" 2>&1; } 2> "$file.time"
    t1=$(date +%s.%N); s1=$(busy); n1=$(ticks "$NGINX_PID")
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
    PIDS="$PIDS $BPID"
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
python3 - "$RAW" <<'EOF'
import sys, statistics as st
rows = {}
order = []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if len(f) < 9: continue
    name = f[0]
    if name not in order: order.append(name)
    rps, p50, p99, req, err = f[2].split()
    rows.setdefault(name, []).append(dict(rps=float(rps or 0), p50=float(p50 or 0), p99=float(p99 or 0), err=int(err),
        cpu=float(f[3]), rss=int(f[4] or 0), b=float(f[5]), n=float(f[6]), w=float(f[7]), s=float(f[8])))
med = lambda name, k: st.median(r[k] for r in rows[name])
print(f"{'target':22s} {'req/s':>8s} {'x c_hello':>9s} {'p50 ms':>7s} {'p99 ms':>8s} {'p99 x c':>7s} {'errors':>6s} {'us/req':>7s} {'RSS MiB':>7s}  cpu% be/ngx/wrk/all")
for name in order:
    mode = name.split("/")[-1] if "/" in name else None
    ref = f"c_hello/{mode}" if mode else None
    ratio = f"{med(name,'rps')/med(ref,'rps'):9.3f}" if ref in rows and name != ref else "        -"
    p99r = f"{med(name,'p99')/med(ref,'p99'):7.2f}" if ref in rows and name != ref and med(ref,'p99') > 0 else "      -"
    rss = max(r["rss"] for r in rows[name]) / 1024
    errs = sum(r["err"] for r in rows[name])
    print(f"{name:22s} {med(name,'rps'):8.0f} {ratio} {med(name,'p50'):7.2f} {med(name,'p99'):8.2f} {p99r} {errs:6d} {med(name,'cpu'):7.1f} {rss:7.1f}  "
          f"{med(name,'b'):.0f}/{med(name,'n'):.0f}/{med(name,'w'):.0f}/{med(name,'s'):.0f}")
print()
print("goals (same run, same mode):")
for mode in ("close", "keep"):
    ref = f"c_hello/{mode}"
    if ref not in rows: continue
    for name, floor in (("swift_wsgi", 0.95), ("swift_asgi", 0.85)):
        key = f"{name}/{mode}"
        if key not in rows: continue
        ratio = med(key, "rps") / med(ref, "rps")
        p99r = med(key, "p99") / med(ref, "p99") if med(ref, "p99") > 0 else float("inf")
        rss = max(r["rss"] for r in rows[key]) / 1024
        ok = lambda c: "met" if c else "NOT met"
        print(f"  {key:18s} req/s {ratio:.3f}x (goal >= {floor}: {ok(ratio >= floor)}), p99 {p99r:.2f}x (goal <= 1.3: {ok(p99r <= 1.3)}), "
              f"RSS {rss:.1f} MiB (goal < 20: {ok(rss < 20)}), errors {sum(r['err'] for r in rows[key])}")
print("us/req = backend CPU time per request; RSS = backend VmHWM; cpu% = percent of one core over the measured run; 'all' = the whole machine")
EOF
