#!/usr/bin/env bash
# http_hello.sh - hello-world HTTP servers under wrk on loopback, in one run:
#
#   asgi         ASGIHTTPServer + a plain ASGI hello            (examples/HTTPHello, release build)
#   wsgi         ASGIHTTPServer + WSGIToASGI(a WSGI-style hello) (examples/HTTPHello --wsgi)
#   asgi_pool,   the same two with runsOnEventLoops = false (connection tasks on Swift's
#   wsgi_pool    cooperative pool instead of the NIO event loops, as Hummingbird); POOL=0 skips them
#   uvicorn      uvicorn --loop uvloop --http httptools, plain ASGI hello (venv under /tmp)
#   a2wsgi       uvicorn (uvloop + httptools) + a2wsgi WSGIMiddleware around a WSGI hello
#   hummingbird  Hummingbird 2.28.1 native hello: router.get("/") { _, _ in "hello" }, built in a
#                throwaway package under /tmp (HB_DIR; never committed); HB=0 skips it
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
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/asgi-http-bench.XXXXXX)
RAW="$W/raw.tsv"
MAIN=$$
BG_PIDS=""
log() { echo "[$(date +%H:%M:%S)] $*"; }

descendants() { local c; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done; }
stop_pid() { # pid: TERM, wait up to 5 s, then KILL it and what it started
  local p=$1 d i
  [ -z "$p" ] && return
  d=$(descendants "$p")
  kill -TERM "$p" 2>/dev/null
  for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  for i in $d; do kill -KILL "$i" 2>/dev/null; done
  BG_PIDS=$(echo " $BG_PIDS " | sed "s/ $p / /")
}
cleanup() {
  local p
  for p in $BG_PIDS; do stop_pid "$p"; done
  [ -n "${WD:-}" ] && kill -TERM "$WD" 2>/dev/null
  [ "${KEEP_WORK:-0}" = 1 ] && echo "work dir kept: $W" || rm -rf "$W"
}
trap cleanup EXIT
trap 'echo "$0: interrupted" >&2; exit 130' INT TERM
( trap 'kill "$SP" 2>/dev/null; exit 0' TERM; sleep "$MAX_SECONDS" & SP=$!; wait "$SP" && kill -TERM "$MAIN" ) >/dev/null 2>&1 </dev/null & WD=$!

# ---------------------------------------------------------------- install and build
need_apt=""
command -v wrk >/dev/null || need_apt="$need_apt wrk"
command -v curl >/dev/null || need_apt="$need_apt curl"
if [ -n "$need_apt" ]; then
  log "apt-get install$need_apt"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need_apt >/dev/null || { echo "apt failed"; exit 1; }
fi
SWIFT=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
if [ ! -x "$VENV/bin/uvicorn" ] || ! "$VENV/bin/python" -c "import uvloop, httptools, a2wsgi" 2>/dev/null; then
  log "venv $VENV: uvicorn uvloop httptools a2wsgi"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet uvicorn uvloop httptools a2wsgi || { echo "pip failed"; exit 1; }
fi
log "swift build -c release --product HTTPHello"
"$SWIFT" build -c release --package-path "$ROOT" --product HTTPHello > "$W/build.log" 2>&1 || { tail -20 "$W/build.log"; exit 1; }
HELLO="$ROOT/.build/release/HTTPHello"

if [ "$HB" = 1 ]; then
  mkdir -p "$HB_DIR/Sources/HBHello"
  cat > "$HB_DIR/Package.swift" <<'EOF'
// swift-tools-version:6.0
import PackageDescription
let package = Package(
  name: "HBHello",
  platforms: [.macOS(.v14)],
  dependencies: [
    .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
    .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
  ],
  targets: [
    .executableTarget(name: "HBHello",
      dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
      path: "Sources/HBHello")
  ]
)
EOF
  cat > "$HB_DIR/Sources/HBHello/main.swift" <<'EOF'
// Minimal Hummingbird 2 app: GET / -> "hello" (text/plain; charset=utf-8, 5 bytes) on 127.0.0.1:PORT.
import Hummingbird

let port = Int(CommandLine.arguments.dropFirst().first ?? "18281") ?? 18281
let router = Router()
router.get("/") { _, _ -> String in "hello" }
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
EOF
  log "swift build -c release in $HB_DIR (the first build takes minutes)"
  t0=$(date +%s)
  "$SWIFT" build -c release --package-path "$HB_DIR" > "$W/hb-build.log" 2>&1 || { tail -20 "$W/hb-build.log"; exit 1; }
  log "hummingbird build: $(( $(date +%s) - t0 )) s"
fi

cat > "$W/apps.py" <<'EOF'
async def hello(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})

def wsgi_hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "5")])
    return [b"hello"]

from a2wsgi import WSGIMiddleware
a2wsgi_hello = WSGIMiddleware(wsgi_hello)
EOF

# ---------------------------------------------------------------- helpers
start_bg() { local name=$1; shift; "$@" > "$W/$name.log" 2>&1 < /dev/null & LAST_PID=$!; BG_PIDS="$BG_PIDS $LAST_PID"; }
wait_http() {
  local i body
  for i in $(seq 1 100); do
    body=$(curl -s --max-time 2 "$1" 2>/dev/null)
    [ "$body" = hello ] && return 0
    sleep 0.1
  done
  echo "  no 'hello' from $1 (got: ${body:0:80})"; return 1
}
tree_kib() { local s=0 p v; for p in $1 $(descendants "$1"); do v=$(awk -v f="$2:" '$1==f{print $2}' "/proc/$p/status" 2>/dev/null) && s=$((s + ${v:-0})); done; echo $s; }
tree_ticks() { local s=0 p v; for p in $1 $(descendants "$1"); do v=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null) && s=$((s + v)); done; echo $s; }
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
TCK=$(getconf CLK_TCK)
parse_wrk() { # -> "rps p50_ms p99_ms errors"
  awk 'function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /Requests\/sec:/ {rps=$2} /^ +50%/ {p50=ms($2)} /^ +99%/ {p99=ms($2)}
    /Socket errors:/ {gsub(",",""); err+=$4+$6+$8+$10} /Non-2xx/ {err+=$NF}
    END {printf "%s %s %s %d\n", rps, p50, p99, err}' "$1"
}
measure() { # name url pid rep: one timed wrk run
  local name=$1 url=$2 pid=$3 rep=$4 b0 b1 s0 s1 t0 t1 line bc sc
  b0=$(tree_ticks "$pid"); s0=$(busy_ticks); t0=$(date +%s.%N)
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" > "$W/$name.$rep.wrk" 2>&1
  t1=$(date +%s.%N); s1=$(busy_ticks); b1=$(tree_ticks "$pid")
  line=$(parse_wrk "$W/$name.$rep.wrk")
  read -r bc sc <<< "$(awk -v b=$((b1-b0)) -v s=$((s1-s0)) -v t0="$t0" -v t1="$t1" -v tck="$TCK" 'BEGIN{d=t1-t0; printf "%.0f %.0f", 100*b/tck/d, 100*s/tck/d}')"
  echo -e "$name\t$rep\t$line\t$bc\t$sc" >> "$RAW"
  set -- $line
  log "  $name rep $rep: $1 req/s  p50 ${2}ms  p99 ${3}ms  errors $4  cpu% server $bc machine $sc"
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
for i in "${!NAMES[@]}"; do wait_http "${URLS[$i]}" || { echo "${NAMES[$i]} did not start"; cat "$W/${NAMES[$i]}.log"; exit 1; }; done
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
python3 - "$RAW" "$KA_OK" "$KA_BAD" "$KA_CONNECTS" <<'EOF'
import sys, statistics as st
runs, rss, order = {}, {}, []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if len(f) < 2: continue
    if f[0] not in order: order.append(f[0])
    if f[1] == "RSS": rss[f[0]] = int(f[2]); continue
    if f[1] == "FAILED": runs[f[0]] = None; continue
    rps, p50, p99, err = f[2].split()
    runs.setdefault(f[0], []).append(dict(rps=float(rps), p50=float(p50), p99=float(p99), err=int(err), cpu=float(f[3]), machine=float(f[4])))
med = {n: {k: st.median(r[k] for r in rs) for k in ("rps", "p50", "p99", "cpu", "machine")} for n, rs in runs.items() if rs}
hb, uv = med.get("hummingbird"), med.get("uvicorn")
print(f"{'target':<12} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7} {'RSS MiB':>8} {'cpu%':>5} {'x HB':>6} {'x uvicorn':>9} {'x a2wsgi':>8}   (cpu%: the server's share of one core)")
for n in order:
    if runs.get(n) is None: print(f"{n:<12} FAILED"); continue
    m = med[n]; errs = sum(r["err"] for r in runs[n])
    xhb = f"{m['rps']/hb['rps']:.2f}" if hb else "-"
    xuv = f"{m['rps']/uv['rps']:.2f}" if uv else "-"
    xa2 = f"{m['rps']/med['a2wsgi']['rps']:.1f}" if "a2wsgi" in med else "-"
    print(f"{n:<12} {m['rps']:>9,.0f} {m['p50']:>7.2f} {m['p99']:>7.2f} {errs:>7} {rss.get(n, 0)/1024:>8.1f} {m['cpu']:>5.0f} {xhb:>6} {xuv:>9} {xa2:>8}")
print("runs (req/s):", "; ".join(f"{n} " + " ".join(f"{r['rps']:,.0f}" for r in runs[n]) for n in order if runs.get(n)))
print("p99 vs hummingbird: " + ", ".join(f"{n} {med[n]['p99']/hb['p99']:.2f}x" for n in ("asgi", "wsgi", "asgi_pool", "wsgi_pool") if n in med) if hb else "")
print(f"10,000 keep-alive requests through WSGIToASGI on one connection: {sys.argv[2]} x 200, {sys.argv[3]} other, {sys.argv[4]} connection(s)")
EOF
