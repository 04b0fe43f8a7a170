#!/usr/bin/env bash
# bench/soak.sh: a million requests through each frontend, keep-alive and new connections mixed,
# and whether the server's memory and descriptors stay flat.
#
# The Gateway runner serves FaultyApp's WSGI-style GET / hello (release build, --workers 1,
# --threads THREADS, the runner's default --request-timeout) over HTTP, and behind nginx over
# FastCGI on a unix socket. For each frontend, two wrk run at once until TOTAL requests are done:
# one on CONNS keep-alive connections, one with `Connection: close` (a new connection per request).
# The resident memory (VmRSS, summed over the runner's process tree) and the open descriptors (of
# every process of the tree) are read after WARMUP_REQUESTS requests and at the end; growth past
# the warm-up must stay under 5 MiB, descriptors must not grow, and there must be no error (socket
# errors or non-2xx).
#
# Env: TOTAL (1000000) WARMUP_REQUESTS (100000) CONNS (32) CLOSE_CONNS (8) WRK_THREADS (2)
#      THREADS (4) CHUNK (10: seconds per wrk run) PORT (18560: PORT..PORT+1) MAX_SECONDS (3600)
#      KEEP_WORK=1
# Needs: swift, wrk, nginx, curl (apt-get install as root when missing). Binds 127.0.0.1 only;
# every process it starts is stopped by its PID; the work directory is removed at the end.
set -u
TOTAL=${TOTAL:-1000000}; WARMUP_REQUESTS=${WARMUP_REQUESTS:-100000}; CONNS=${CONNS:-32}
CLOSE_CONNS=${CLOSE_CONNS:-8}; WRK_THREADS=${WRK_THREADS:-2}; THREADS=${THREADS:-4}; CHUNK=${CHUNK:-10}
PORT=${PORT:-18560}; MAX_SECONDS=${MAX_SECONDS:-3600}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/bench-soak.XXXXXX)
MAIN=$$
PIDS=""
log() { echo "[$(date +%H:%M:%S)] $*"; }

stop_pid() { # pid: TERM (the supervisor stops its workers), then KILL after 10 s
    local p=$1 i
    [ -z "$p" ] && return
    kill -TERM "$p" 2>/dev/null
    for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    PIDS=$(echo " $PIDS " | sed "s/ $p / /")
}
cleanup() {
    local p
    for p in $PIDS; do stop_pid "$p"; done
    [ -n "${WATCHDOG:-}" ] && kill -TERM "$WATCHDOG" 2>/dev/null
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work directory kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'echo "$0: interrupted" >&2; exit 130' INT TERM
( trap 'kill "$S" 2>/dev/null; exit 0' TERM; sleep "$MAX_SECONDS" & S=$!; wait "$S" && kill -TERM "$MAIN" ) >/dev/null 2>&1 </dev/null &
WATCHDOG=$!

missing=""
for tool in wrk nginx curl; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        log "apt-get install$missing"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null || { echo "apt-get failed"; exit 1; }
    else
        echo "missing:$missing (install them, or run as root)"; exit 1
    fi
fi
for p in "$PORT" $((PORT + 1)); do
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
tree_rss_kib() { # VmRSS of a process and its descendants
    local s=0 p v
    for p in $1 $(descendants "$1"); do v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) && s=$((s + ${v:-0})); done
    echo $s
}
tree_fds() { # open descriptors of a process and its descendants
    local s=0 p
    for p in $1 $(descendants "$1"); do s=$((s + $(ls "/proc/$p/fd" 2>/dev/null | wc -l))); done
    echo $s
}
parse_wrk() { # -> "requests errors"
    awk '/requests in/ {n=$1} /Socket errors:/ {gsub(",",""); err+=$4+$6+$8+$10} /Non-2xx/ {err+=$NF}
        END {printf "%d %d\n", n, err}' "$1"
}

start_bg http "$APP" --http "127.0.0.1:$PORT" --workers 1 --threads "$THREADS" --log-level warning
HTTP_PID=$LAST_PID
start_bg fcgi "$APP" --fastcgi "unix:$W/app.sock" --workers 1 --threads "$THREADS" --log-level warning
FCGI_PID=$LAST_PID
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
    server { listen 127.0.0.1:$((PORT + 1)); location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$W/app.sock; } }
}
EOF
start_bg nginx nginx -p "$W" -c "$W/nginx.conf" -e "$W/nginx-error.log" -g 'daemon off; master_process off;'
wait_ok "http://127.0.0.1:$PORT/" || { cat "$W/http.log"; exit 1; }
wait_ok "http://127.0.0.1:$((PORT + 1))/" || { cat "$W/fcgi.log"; exit 1; }
log "nproc=$(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg)"

printf '%-8s %10s %7s %9s %9s %9s %6s %6s %8s\n' frontend requests errors "rss0 MiB" "rss1 MiB" "growth" fds0 fds1 seconds > "$W/summary"
status=0
for frontend in http fcgi; do
    if [ "$frontend" = http ]; then url="http://127.0.0.1:$PORT/"; runner=$HTTP_PID; else url="http://127.0.0.1:$((PORT + 1))/"; runner=$FCGI_PID; fi
    done_requests=0; errors=0; rss0=""; fds0=""; started=$SECONDS; round=0
    while [ "$done_requests" -lt "$TOTAL" ]; do
        round=$((round + 1))
        wrk -t"$WRK_THREADS" -c"$CONNS" -d"${CHUNK}s" "$url" > "$W/$frontend.keep.$round" 2>&1 &
        keep=$!
        wrk -t1 -c"$CLOSE_CONNS" -d"${CHUNK}s" -H "Connection: close" "$url" > "$W/$frontend.close.$round" 2>&1
        wait "$keep"
        for mode in keep close; do
            read -r n e < <(parse_wrk "$W/$frontend.$mode.$round")
            done_requests=$((done_requests + n)); errors=$((errors + e))
        done
        if [ -z "$rss0" ] && [ "$done_requests" -ge "$WARMUP_REQUESTS" ]; then
            sleep 1   # closed connections finish closing on the server's side
            rss0=$(tree_rss_kib "$runner"); fds0=$(tree_fds "$runner")
            log "$frontend: warmed up after $done_requests requests: $((rss0 / 1024)) MiB, $fds0 descriptors"
        fi
        log "$frontend: $done_requests requests, $errors errors"
    done
    sleep 1
    rss1=$(tree_rss_kib "$runner"); fds1=$(tree_fds "$runner")
    growth=$(( (rss1 - rss0) / 1024 ))
    printf '%-8s %10d %7d %9.1f %9.1f %9d %6d %6d %8d\n' "$frontend" "$done_requests" "$errors" \
        "$(awk "BEGIN {print $rss0 / 1024}")" "$(awk "BEGIN {print $rss1 / 1024}")" "$growth" "$fds0" "$fds1" $((SECONDS - started)) >> "$W/summary"
    if [ "$errors" -ne 0 ] || [ "$growth" -ge 5 ] || [ "$fds1" -gt "$fds0" ]; then status=1; fi
done
echo
echo "== soak: $TOTAL requests per frontend, keep-alive (-c$CONNS) and Connection: close (-c$CLOSE_CONNS) at once; growth after $WARMUP_REQUESTS"
cat "$W/summary"
echo "goal: 0 errors, resident memory growth under 5 MiB after warm-up, no descriptor growth: $([ $status = 0 ] && echo met || echo NOT met)"
exit $status
