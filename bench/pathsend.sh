#!/usr/bin/env bash
# pathsend.sh - http.response.pathsend over ASGIHTTPServer (sendfile through a NIO FileRegion)
# against "cat to a socket", in one run, on loopback:
#
#   pathsend   Tests/StreamingServer (release build) GET /file?PATH: http.response.start, then
#              http.response.pathsend of PATH; the server sends it with sendfile(2)
#   wsgi_file  the same through WSGIToASGI: a WSGI-style app returning wsgi.file_wrapper(PATH)
#   streamed   GET /download?mib=N: the same number of bytes sent as 64 KiB http.response.body
#              events (what an application without pathsend does)
#   cat        a one-shot server (python3) that writes an HTTP head and then runs `cat PATH` with
#              the accepted socket as its standard output: the copy loop `cat` does (read and
#              write through a user-space buffer), the bar pathsend must meet
#
# Every target is fetched by the same client, `curl -o /dev/null`, from a warm page cache. Each of
# REPS rounds runs every target once in turn (rotation spreads foreign load on a shared machine).
# Reported: median MB/s per target and its ratio to cat; and the server's peak resident memory
# (VmHWM) after serving a SMALL_MIB file and after the LARGE_MIB file, for pathsend and wsgi_file:
# the large file must cost no more memory than the small one.
#
# Env: LARGE_MIB (1024), SMALL_MIB (1), REPS (5), PORT (18450, the cat server), MAX_SECONDS (1200),
# KEEP_WORK=1 keeps the work directory. Installs curl via apt if missing. Every process it starts
# is stopped by PID; a watchdog ends the script after MAX_SECONDS.
set -u
LARGE_MIB=${LARGE_MIB:-1024}; SMALL_MIB=${SMALL_MIB:-1}; REPS=${REPS:-5}; PORT=${PORT:-18450}
MAX_SECONDS=${MAX_SECONDS:-1200}
. "$(dirname "$0")/lib.sh"
bench_init asgi-pathsend-bench "$MAX_SECONDS"

bench_need curl
command -v python3 >/dev/null || { echo "python3 is needed for the cat baseline"; exit 1; }
build_release StreamingServer
SERVER=$BIN

log "files: $SMALL_MIB MiB and $LARGE_MIB MiB"
head -c $((SMALL_MIB << 20)) /dev/urandom > "$W/small.bin"
head -c $((LARGE_MIB << 20)) /dev/urandom > "$W/large.bin"
cat "$W/large.bin" > /dev/null   # warm the page cache
LARGE_BYTES=$((LARGE_MIB << 20))

start_bg server "$SERVER" --event-loops; SPID=$LAST_PID
for i in $(seq 1 100); do grep -q '^listening ' "$W/server.log" && break; sleep 0.1; done
SPORT=$(awk '/^listening /{print $2; exit}' "$W/server.log")
[ -n "$SPORT" ] || { echo "StreamingServer did not start: $(cat "$W/server.log")"; exit 1; }
hwm() { awk '/^VmHWM:/{print $2}' "/proc/$SPID/status"; }

fetch() { # url -> seconds (curl's time_total); fails unless the whole file arrived
  local out
  out=$(curl -s -o /dev/null -w '%{size_download} %{time_total}' "$1") || return 1
  [ "${out%% *}" = "$LARGE_BYTES" ] || { echo "short download from $1: $out" >&2; return 1; }
  echo "${out#* }"
}
fetch_cat() {
  local cpid t
  start_bg cat python3 "$BENCH/programs/cat_server.py" "$W/large.bin" "$PORT"; cpid=$LAST_PID
  for i in $(seq 1 100); do grep -q ready "$W/cat.log" && break; sleep 0.05; done
  t=$(fetch "http://127.0.0.1:$PORT/")
  wait "$cpid" 2>/dev/null; BG_PIDS=$(echo " $BG_PIDS " | sed "s/ $cpid / /")
  echo "$t"
}

log "memory: small file first, then the large one (VmHWM of the server, KiB)"
curl -s -o /dev/null "http://127.0.0.1:$SPORT/file?$W/small.bin"
curl -s -o /dev/null "http://127.0.0.1:$SPORT/wsgi-file?$W/small.bin"
HWM_SMALL=$(hwm)
curl -s -o /dev/null "http://127.0.0.1:$SPORT/file?$W/large.bin"
curl -s -o /dev/null "http://127.0.0.1:$SPORT/wsgi-file?$W/large.bin"
HWM_LARGE=$(hwm)

log "$REPS rounds: pathsend, wsgi_file, streamed, cat ($LARGE_MIB MiB each)"
for r in $(seq 1 "$REPS"); do
  echo "pathsend $(fetch "http://127.0.0.1:$SPORT/file?$W/large.bin")" >> "$W/raw"
  echo "wsgi_file $(fetch "http://127.0.0.1:$SPORT/wsgi-file?$W/large.bin")" >> "$W/raw"
  echo "streamed $(fetch "http://127.0.0.1:$SPORT/download?mib=$LARGE_MIB")" >> "$W/raw"
  echo "cat $(fetch_cat)" >> "$W/raw"
done

CAT=$(awk '$1=="cat"{print $2}' "$W/raw" | median)
echo
printf '%-10s %10s %10s %10s\n' target "median s" "MB/s" "vs cat"
for t in pathsend wsgi_file streamed cat; do
  s=$(awk -v t=$t '$1==t{print $2}' "$W/raw" | median)
  awk -v t=$t -v s="$s" -v c="$CAT" -v b="$LARGE_BYTES" 'BEGIN { printf "%-10s %10.3f %10.0f %9.2fx\n", t, s, b / s / 1e6, c / s }'
done
echo
echo "server VmHWM after the $SMALL_MIB MiB files: $HWM_SMALL KiB; after the $LARGE_MIB MiB files: $HWM_LARGE KiB (growth $((HWM_LARGE - HWM_SMALL)) KiB)"
