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
STOP_GRACE=100
. "$(dirname "$0")/lib.sh"
bench_init bench-soak "$MAX_SECONDS"

bench_need wrk nginx curl
ports_free "$PORT" $((PORT + 1))
build_release FaultyApp
APP=$BIN

start_bg http "$APP" --http "127.0.0.1:$PORT" --workers 1 --threads "$THREADS" --log-level warning
HTTP_PID=$LAST_PID
start_bg fcgi "$APP" --fastcgi "unix:$W/app.sock" --workers 1 --threads "$THREADS" --log-level warning
FCGI_PID=$LAST_PID
nginx_start "$(render "$BENCH/nginx/pass.server" "PORT=$((PORT + 1))" "SOCK=$W/app.sock")"
wait_hello "http://127.0.0.1:$PORT/" || { cat "$W/http.log"; exit 1; }
wait_hello "http://127.0.0.1:$((PORT + 1))/" || { cat "$W/fcgi.log"; exit 1; }
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
            read -r _ _ _ n e < <(parse_wrk "$W/$frontend.$mode.$round")
            done_requests=$((done_requests + n)); errors=$((errors + e))
        done
        if [ -z "$rss0" ] && [ "$done_requests" -ge "$WARMUP_REQUESTS" ]; then
            sleep 1   # closed connections finish closing on the server's side
            rss0=$(tree_kib "$runner" VmRSS); fds0=$(tree_fds "$runner")
            log "$frontend: warmed up after $done_requests requests: $((rss0 / 1024)) MiB, $fds0 descriptors"
        fi
        log "$frontend: $done_requests requests, $errors errors"
    done
    sleep 1
    rss1=$(tree_kib "$runner" VmRSS); fds1=$(tree_fds "$runner")
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
