#!/usr/bin/env bash
# http_hello.sh - hello-world HTTP servers under wrk on loopback, in one run:
#
#   asgi         ASGIHTTPServer + a plain ASGI hello            (examples/HTTPHello, release build)
#   wsgi         ASGIHTTPServer + WSGIToASGI(a WSGI-style hello) (examples/HTTPHello --wsgi)
#   asgi_pool,   the same two with runsOnEventLoops = false (connection tasks on Swift's
#   wsgi_pool    cooperative pool instead of the NIO event loops, as Hummingbird); POOL=0 skips them
#   uvicorn      uvicorn --loop uvloop --http httptools, plain ASGI hello (venv under /tmp)
#   a2wsgi       uvicorn (uvloop + httptools) + a2wsgi WSGIMiddleware around a WSGI hello
#   hummingbird  Hummingbird 2.28.1 native hello (bench/hb_hello: router.get("/") { _, _ in "hello" }),
#                copied to and built in HB_DIR under /tmp; HB=0 skips it
#
# Every target answers GET / with 200 "hello" (5 bytes, Content-Length). Load: one warm-up
# `wrk -t2 -c32 -d3s` per target, then REPS rounds of `wrk -t2 -c32 -d10s --latency`, each round
# running every target once in turn (the wrk settings of ../shared/reference/baselines.md §3 and
# §6; rotating rather than target by target spreads drifting foreign load on a shared machine over
# all targets alike). Reported: median req/s, median p50/p99, errors (socket errors + non-2xx),
# peak RSS (VmHWM of the server's process tree), the server's CPU share, and each target's ratio
# to hummingbird, uvicorn and a2wsgi. Then 10,000 keep-alive requests on ONE connection through
# WSGIToASGI (curl reusing one connection): every status must be 200 and curl must connect once.
# Client and servers share the machine's cores; other sessions' builds show as "foreign" load.
#
# Installs what it needs (wrk, curl via apt; uvicorn, uvloop, httptools, a2wsgi in a venv under
# /tmp). Ports 18400-18406 on 127.0.0.1. Every process it starts is stopped by PID; a watchdog
# (MAX_SECONDS) ends the script. Env: REPS (3), DURATION (10), WARMUP (3), THREADS (2), CONNS (32),
# HB (1), POOL (1), HB_DIR (/tmp/asgi-http-bench-hb), VENV (/tmp/asgi-http-bench-venv), MAX_SECONDS (2400),
# KEEP_WORK=1 keeps the raw wrk output.
set -u
REPS=${REPS:-3}; DURATION=${DURATION:-10}; WARMUP=${WARMUP:-3}
THREADS=${THREADS:-2}; CONNS=${CONNS:-32}; HB=${HB:-1}; POOL=${POOL:-1}; MAX_SECONDS=${MAX_SECONDS:-2400}
HB_DIR=${HB_DIR:-/tmp/asgi-http-bench-hb}; VENV=${VENV:-/tmp/asgi-http-bench-venv}
STOP_DESCENDANTS=1
. "$(dirname "$0")/lib.sh"
bench_init asgi-http-bench "$MAX_SECONDS"
RAW="$W/raw.tsv"

# ---------------------------------------------------------------- install and build
bench_need wrk curl
SWIFT=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
if [ ! -x "$VENV/bin/uvicorn" ] || ! "$VENV/bin/python" -c "import uvloop, httptools, a2wsgi" 2>/dev/null; then
  log "venv $VENV: uvicorn uvloop httptools a2wsgi"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet uvicorn uvloop httptools a2wsgi || { echo "pip failed"; exit 1; }
fi
build_release HTTPHello
HELLO=$BIN

if [ "$HB" = 1 ]; then
  # The package is bench/hb_hello; it is built in HB_DIR, out of the repository.
  mkdir -p "$HB_DIR"
  cp -R "$BENCH/hb_hello/." "$HB_DIR/"
  log "swift build -c release in $HB_DIR (the first build takes minutes)"
  t0=$(date +%s)
  "$SWIFT" build -c release --package-path "$HB_DIR" > "$W/hb-build.log" 2>&1 || { tail -20 "$W/hb-build.log"; exit 1; }
  log "hummingbird build: $(( $(date +%s) - t0 )) s"
fi

cp "$BENCH/programs/apps.py" "$W/apps.py"

# ---------------------------------------------------------------- helpers
measure() { # name url pid rep: one timed wrk run
  local name=$1 url=$2 pid=$3 rep=$4 b0 b1 s0 s1 t0 t1 line bc sc
  b0=$(tree_ticks "$pid"); s0=$(busy_ticks); t0=$(date +%s.%N)
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" > "$W/$name.$rep.wrk" 2>&1
  t1=$(date +%s.%N); s1=$(busy_ticks); b1=$(tree_ticks "$pid")
  line=$(parse_wrk "$W/$name.$rep.wrk")
  read -r bc sc <<< "$(awk -v b=$((b1-b0)) -v s=$((s1-s0)) -v t0="$t0" -v t1="$t1" -v tck="$TCK" 'BEGIN{d=t1-t0; printf "%.0f %.0f", 100*b/tck/d, 100*s/tck/d}')"
  echo -e "$name\t$rep\t$line\t$bc\t$sc" >> "$RAW"
  set -- $line
  log "  $name rep $rep: $1 req/s  p50 ${2}ms  p99 ${3}ms  errors $5  cpu% server $bc machine $sc"
}

# ---------------------------------------------------------------- run
# All servers run at once (an idle one costs nothing) and the timed runs rotate through the
# targets, so drifting foreign load on this shared machine spreads over all of them alike.
: > "$RAW"
NAMES=(asgi wsgi uvicorn a2wsgi)
start_bg asgi "$HELLO" --port 18400; PIDS[0]=$LAST_PID; URLS[0]=http://127.0.0.1:18400/
start_bg wsgi "$HELLO" --port 18401 --wsgi; PIDS[1]=$LAST_PID; URLS[1]=http://127.0.0.1:18401/
start_bg uvicorn "$VENV/bin/uvicorn" --app-dir "$W" apps:hello --host 127.0.0.1 --port 18402 --loop uvloop --http httptools --no-access-log --lifespan off --log-level warning
PIDS[2]=$LAST_PID; URLS[2]=http://127.0.0.1:18402/
start_bg a2wsgi "$VENV/bin/uvicorn" --app-dir "$W" apps:a2wsgi_hello --host 127.0.0.1 --port 18403 --loop uvloop --http httptools --no-access-log --lifespan off --log-level warning
PIDS[3]=$LAST_PID; URLS[3]=http://127.0.0.1:18403/
if [ "$HB" = 1 ]; then
  NAMES+=(hummingbird)
  start_bg hummingbird "$HB_DIR/.build/release/HBHello" 18404; PIDS[4]=$LAST_PID; URLS[4]=http://127.0.0.1:18404/
fi
if [ "$POOL" = 1 ]; then
  NAMES[5]=asgi_pool; start_bg asgi_pool "$HELLO" --port 18405 --cooperative-pool; PIDS[5]=$LAST_PID; URLS[5]=http://127.0.0.1:18405/
  NAMES[6]=wsgi_pool; start_bg wsgi_pool "$HELLO" --port 18406 --wsgi --cooperative-pool; PIDS[6]=$LAST_PID; URLS[6]=http://127.0.0.1:18406/
fi
for i in "${!NAMES[@]}"; do wait_hello "${URLS[$i]}" 100 || { echo "${NAMES[$i]} did not start"; cat "$W/${NAMES[$i]}.log"; exit 1; }; done
log "nproc=$(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in "${!NAMES[@]}"; do log "warm-up ${NAMES[$i]}"; wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" "${URLS[$i]}" > "$W/${NAMES[$i]}.warm" 2>&1; done
for rep in $(seq 1 "$REPS"); do
  for i in "${!NAMES[@]}"; do measure "${NAMES[$i]}" "${URLS[$i]}" "${PIDS[$i]}" "$rep"; done
done
for i in "${!NAMES[@]}"; do echo -e "${NAMES[$i]}\tRSS\t$(tree_kib "${PIDS[$i]}" VmHWM)" >> "$RAW"; done

log "wsgi: 10,000 keep-alive requests on one connection"
for i in $(seq 1 10000); do printf 'url = "http://127.0.0.1:18401/r%d"\noutput = "/dev/null"\n' "$i"; done > "$W/10k.curl"
curl -s --config "$W/10k.curl" -w '%{http_code} %{num_connects}\n' > "$W/10k.out" 2> "$W/10k.err"
KA_OK=$(grep -c '^200 ' "$W/10k.out"); KA_BAD=$(grep -vc '^200 ' "$W/10k.out"); KA_CONNECTS=$(awk '{s+=$2} END {print s}' "$W/10k.out")
log "  $KA_OK x 200, $KA_BAD other, $KA_CONNECTS connection(s) opened, curl errors: $(wc -l < "$W/10k.err")"
for i in "${!NAMES[@]}"; do stop_pid "${PIDS[$i]}"; done
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- summary
echo
echo "== median of $REPS x wrk -t$THREADS -c$CONNS -d${DURATION}s --latency (after a ${WARMUP}s warm-up); $(nproc) cores shared by wrk and the servers"
echo "   $(wrk -v 2>&1 | head -1 | cut -c1-40); $("$SWIFT" --version 2>&1 | head -1); uvicorn $("$VENV/bin/python" -c 'import uvicorn, a2wsgi; print(uvicorn.__version__, "a2wsgi", a2wsgi.__version__ if hasattr(a2wsgi, "__version__") else "")')"
python3 "$BENCH/report.py" http_hello "$RAW" "$KA_OK" "$KA_BAD" "$KA_CONNECTS"
