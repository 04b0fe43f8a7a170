#!/usr/bin/env bash
# run-local.sh: nginx and a swift-asgi FastCGI backend on loopback, for local trials and tests.
#
#   deploy/run-local.sh start    start both in the background, print the URL
#   deploy/run-local.sh stop     stop both (by the PIDs recorded at start)
#   deploy/run-local.sh status   show whether they run
#   deploy/run-local.sh run      start, wait for Ctrl-C, stop
#
# nginx serves deploy/nginx/swift-asgi-app.conf itself, with `listen` moved to 127.0.0.1:PORT and
# the socket moved into STATE_DIR. It runs as one non-daemon process with its own prefix, config,
# pid file, logs and temp paths in STATE_DIR, as the calling user.
#
# Environment:
#   PORT       HTTP port on 127.0.0.1 (default 8080)
#   STATE_DIR  where configs, sockets, logs and PIDs go (default ${TMPDIR:-/tmp}/swift-asgi-local-$(id -u))
#   BIN        the backend: any program whose main calls Gateway.run (default: build the
#              HelloLegacy example with swift build), started with the runner's options
#   THREADS    backend worker threads (default 8)
#   BACKEND_ARGS  extra runner options (e.g. "--log-level debug --slow-log 2")
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PORT=${PORT:-8080}
STATE_DIR=${STATE_DIR:-${TMPDIR:-/tmp}/swift-asgi-local-$(id -u)}
THREADS=${THREADS:-8}
BACKEND_ARGS=${BACKEND_ARGS:-}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

log() { echo "run-local: $*"; }

# pid_alive PIDFILE NAME: the recorded process runs and is the program we started (not a reused PID).
pid_alive() {
    local file=$1 name=$2 pid
    [ -f "$file" ] || return 1
    pid=$(cat "$file")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name"
}

# stop_pid PIDFILE NAME SIGNAL GRACE_SECONDS
stop_pid() {
    local file=$1 name=$2 signal=$3 grace=$4 pid i
    if ! pid_alive "$file" "$name"; then rm -f "$file"; return 0; fi
    pid=$(cat "$file")
    kill "-$signal" "$pid" 2>/dev/null || true
    for i in $(seq $((grace * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) still running after ${grace}s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

build_backend() {
    if [ -n "${BIN:-}" ]; then
        [ -x "$BIN" ] || { log "BIN=$BIN is not executable"; exit 1; }
        return
    fi
    log "building HelloLegacy (swift build)"
    (cd "$ROOT" && swift build --product HelloLegacy >&2)
    BIN="$(cd "$ROOT" && swift build --show-bin-path)/HelloLegacy"
}

# The backend's program name, as recorded at start (stop and status do not build).
backend_name() { cat "$STATE_DIR/backend.name" 2>/dev/null || echo HelloLegacy; }

write_nginx_config() {
    mkdir -p "$STATE_DIR/tmp"
    cp /etc/nginx/fastcgi_params "$STATE_DIR/fastcgi_params"
    sed -e "s|listen 80;|listen 127.0.0.1:$PORT;|" \
        -e "s|/run/swift-asgi/app.sock|$STATE_DIR/app.sock|" \
        "$HERE/nginx/swift-asgi-app.conf" > "$STATE_DIR/site.conf"
    cat > "$STATE_DIR/nginx.conf" <<EOF
worker_processes 1;
pid $STATE_DIR/nginx.pid;
error_log $STATE_DIR/nginx-error.log info;
events { worker_connections 512; }
http {
    access_log $STATE_DIR/nginx-access.log;
    client_body_temp_path $STATE_DIR/tmp/body;
    fastcgi_temp_path $STATE_DIR/tmp/fastcgi;
    proxy_temp_path $STATE_DIR/tmp/proxy;
    uwsgi_temp_path $STATE_DIR/tmp/uwsgi;
    scgi_temp_path $STATE_DIR/tmp/scgi;
    default_type application/octet-stream;
    include $STATE_DIR/site.conf;
}
EOF
}

start() {
    local i
    if pid_alive "$STATE_DIR/backend.pid" "$(backend_name)" || pid_alive "$STATE_DIR/nginx.pid.run" nginx; then
        log "already running (state in $STATE_DIR); stop first"
        exit 1
    fi
    [ -x "$NGINX" ] || { log "nginx is not installed (apt-get install nginx)"; exit 1; }
    build_backend
    mkdir -p "$STATE_DIR"
    basename "$BIN" > "$STATE_DIR/backend.name"
    write_nginx_config
    "$NGINX" -t -q -p "$STATE_DIR" -c "$STATE_DIR/nginx.conf" -e "$STATE_DIR/nginx-error.log"

    # nginx runs as this user here, so the socket's owner (mode 660) is enough; a root-run
    # backend behind a system nginx adds --socket-group www-data.
    # shellcheck disable=SC2086
    setsid "$BIN" --fastcgi "unix:$STATE_DIR/app.sock" --socket-mode 660 --threads "$THREADS" $BACKEND_ARGS \
        > "$STATE_DIR/backend.log" 2>&1 < /dev/null &
    echo $! > "$STATE_DIR/backend.pid"
    setsid "$NGINX" -p "$STATE_DIR" -c "$STATE_DIR/nginx.conf" -e "$STATE_DIR/nginx-error.log" \
        -g 'daemon off; master_process off;' > "$STATE_DIR/nginx.out" 2>&1 < /dev/null &
    echo $! > "$STATE_DIR/nginx.pid.run"

    for i in $(seq 200); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null; then
            log "ready: http://127.0.0.1:$PORT/ ($(backend_name); backend pid $(cat "$STATE_DIR/backend.pid"), nginx pid $(cat "$STATE_DIR/nginx.pid.run"); state in $STATE_DIR)"
            return 0
        fi
        if ! pid_alive "$STATE_DIR/backend.pid" "$(backend_name)" || ! pid_alive "$STATE_DIR/nginx.pid.run" nginx; then break; fi
        sleep 0.05
    done
    log "did not come up; backend log:"; tail -5 "$STATE_DIR/backend.log" || true
    log "nginx log:"; tail -5 "$STATE_DIR/nginx-error.log" || true
    stop
    exit 1
}

stop() {
    # The backend first (graceful: it finishes requests in flight), then nginx.
    stop_pid "$STATE_DIR/backend.pid" "$(backend_name)" TERM 35
    stop_pid "$STATE_DIR/nginx.pid.run" nginx QUIT 10
    log "stopped"
}

status() {
    local state=0
    if pid_alive "$STATE_DIR/backend.pid" "$(backend_name)"; then log "backend running (pid $(cat "$STATE_DIR/backend.pid"))"; else log "backend not running"; state=1; fi
    if pid_alive "$STATE_DIR/nginx.pid.run" nginx; then log "nginx running (pid $(cat "$STATE_DIR/nginx.pid.run")) on http://127.0.0.1:$PORT/"; else log "nginx not running"; state=1; fi
    return $state
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    run)
        start
        trap 'stop; exit 0' INT TERM
        log "Ctrl-C stops both"
        while pid_alive "$STATE_DIR/backend.pid" "$(backend_name)" && pid_alive "$STATE_DIR/nginx.pid.run" nginx; do sleep 1; done
        stop
        ;;
    *) sed -n '2,19p' "$0"; exit 2 ;;
esac
