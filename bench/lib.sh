# bench/lib.sh: what the bench/*.sh scripts share, sourced by each of them (not run on its own).
#
#   bench_init NAME MAX_SECONDS   a work directory W=/tmp/NAME.XXXXXX, removed at exit (KEEP_WORK=1
#                                 keeps it), every process started with start_bg stopped at exit,
#                                 and a watchdog that ends the script after MAX_SECONDS
#   bench_need SPEC...            installs what is missing with apt-get (as root); a SPEC is a
#                                 command (its Debian package has its name), COMMAND:PACKAGES or
#                                 /FILE:PACKAGES, several packages separated by commas
#   ports_free PORT...            fails when one of them is already listened on
#   build_release PRODUCT         a release build of one product of the package; BIN is its path
#   start_bg NAME COMMAND...      runs it in the background, output in $W/NAME.log; LAST_PID
#   stop_pid PID [TENTHS]         TERM, up to TENTHS tenths of a second (STOP_GRACE), then KILL;
#                                 with STOP_DESCENDANTS=1 what it started is killed too
#   wait_hello URL [TENTHS]       waits until URL answers "hello"
#   nginx_start SERVERS           nginx (one process, one event loop) with bench/nginx/base.conf
#                                 around the SERVERS block; NGINX_PID
#   render TEMPLATE NAME=VALUE... prints TEMPLATE with every @NAME@ replaced by VALUE
#   parse_wrk FILE                "req/s p50_ms p99_ms requests errors" of one wrk --latency run
#                                 (errors: socket errors and non-2xx answers)
#   ticks PID, tree_ticks PID     user+system clock ticks of a process (and its descendants)
#   busy_ticks                    the machine's busy clock ticks (/proc/stat); TCK ticks a second
#   tree_kib PID FIELD            a /proc/PID/status field (VmRSS, VmHWM) summed over the tree
#   tree_fds PID                  open descriptors of a process and its descendants
#   median                        the median of the numbers on standard input, one a line
#
# Every process is stopped by its PID, never by name.

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
BG_PIDS=""
STOP_GRACE=${STOP_GRACE:-50}
CLEANUP_GRACE=${CLEANUP_GRACE:-$STOP_GRACE}
STOP_DESCENDANTS=${STOP_DESCENDANTS:-0}
TCK=$(getconf CLK_TCK)

log() { echo "[$(date +%H:%M:%S)] $*"; }

descendants() {
    local c
    for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        echo "$c"
        descendants "$c"
    done
}

stop_pid() {
    local p=$1 grace=${2:-$STOP_GRACE} d="" i
    [ -z "$p" ] && return
    [ "$STOP_DESCENDANTS" = 1 ] && d=$(descendants "$p")
    kill -TERM "$p" 2>/dev/null
    for i in $(seq "$grace"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    for i in $d; do kill -KILL "$i" 2>/dev/null; done
    BG_PIDS=$(echo " $BG_PIDS " | sed "s/ $p / /")
}

bench_cleanup() {
    local p
    # A child stopped before it ran its command still has the script's traps: only the script cleans up.
    [ "$BASHPID" = "$MAIN" ] || return 0
    for p in $BG_PIDS; do stop_pid "$p" "$CLEANUP_GRACE"; done
    [ -n "${WATCHDOG:-}" ] && kill -TERM "$WATCHDOG" 2>/dev/null
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work directory kept: $W"; else rm -rf "$W"; fi
}

bench_init() {
    W=$(mktemp -d "/tmp/$1.XXXXXX")
    MAIN=$$
    trap bench_cleanup EXIT
    trap 'echo "$0: interrupted" >&2; exit 130' INT TERM
    # The watchdog: TERM to the script after MAX_SECONDS; cleanup stops the watchdog itself.
    (
        trap 'kill "$S" 2>/dev/null; exit 0' TERM
        sleep "$2" &
        S=$!
        wait "$S" && kill -TERM "$MAIN"
    ) > /dev/null 2>&1 < /dev/null &
    WATCHDOG=$!
}

bench_need() {
    local spec what packages missing=""
    for spec in "$@"; do
        what=${spec%%:*}
        packages=$what
        [ "$spec" != "$what" ] && packages=${spec#*:}
        if [ "${what:0:1}" = / ]; then
            [ -e "$what" ] && continue
        else
            command -v "$what" > /dev/null && continue
        fi
        missing="$missing ${packages//,/ }"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "missing:$missing (install them, or run as root)"
        exit 1
    fi
    log "apt-get install$missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing > /dev/null \
        || { echo "apt-get failed"; exit 1; }
}

ports_free() {
    local p
    for p in "$@"; do
        if ss -Hltn "sport = :$p" | grep -q .; then echo "port $p is in use; set PORT"; exit 1; fi
    done
}

build_release() {
    SWIFT=${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}
    log "building $1 (release)"
    "$SWIFT" build -c release --package-path "$ROOT" --product "$1" > "$W/build-$1.log" 2>&1 \
        || { tail -20 "$W/build-$1.log"; exit 1; }
    BIN="$("$SWIFT" build -c release --package-path "$ROOT" --show-bin-path)/$1"
    [ -x "$BIN" ] || { echo "no $BIN"; exit 1; }
}

start_bg() {
    local name=$1
    shift
    "$@" > "$W/$name.log" 2>&1 < /dev/null &
    LAST_PID=$!
    BG_PIDS="$BG_PIDS $LAST_PID"
}

wait_hello() {
    local i body=""
    for i in $(seq "${2:-300}"); do
        body=$(curl -s --max-time 2 "$1" 2> /dev/null)
        [ "$body" = hello ] && return 0
        sleep 0.1
    done
    echo "no hello from $1 (got: ${body:0:80})"
    return 1
}

render() {
    local text pair name value
    text=$(< "$1")
    shift
    for pair in "$@"; do
        name="@${pair%%=*}@"
        value=${pair#*=}
        text=${text//"$name"/"$value"}
    done
    printf '%s\n' "$text"
}

nginx_start() {
    mkdir -p "$W/tmp"
    render "$BENCH/nginx/base.conf" "WORK=$W" "SERVERS=$1" > "$W/nginx.conf"
    start_bg nginx nginx -p "$W" -c "$W/nginx.conf" -e "$W/nginx-error.log" -g 'daemon off; master_process off;'
    NGINX_PID=$LAST_PID
}

parse_wrk() {
    awk 'function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
        /Requests\/sec:/ {rps=$2} /^ +50%/ {p50=ms($2)} /^ +99%/ {p99=ms($2)} / requests in / {req=$1}
        /Socket errors:/ {gsub(",",""); err+=$4+$6+$8+$10} /Non-2xx/ {err+=$NF}
        END {printf "%s %s %s %d %d\n", (rps == "" ? 0 : rps), (p50 == "" ? 0 : p50), (p99 == "" ? 0 : p99), req, err}' "$1"
}

ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2> /dev/null || echo 0; }

tree_ticks() {
    local s=0 p v
    for p in $1 $(descendants "$1"); do v=$(awk '{print $14+$15}' "/proc/$p/stat" 2> /dev/null) && s=$((s + ${v:-0})); done
    echo $s
}

busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }

tree_kib() {
    local s=0 p v
    for p in $1 $(descendants "$1"); do
        v=$(awk -v f="$2:" '$1==f{print $2}' "/proc/$p/status" 2> /dev/null) && s=$((s + ${v:-0}))
    done
    echo $s
}

tree_fds() {
    local s=0 p
    for p in $1 $(descendants "$1"); do s=$((s + $(ls "/proc/$p/fd" 2> /dev/null | wc -l))); done
    echo $s
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
