#!/usr/bin/env bash
# bench/notes_page.sh: the LegacyMigration notes page (GET /legacy/notes) from four servers, on the
# same SQLite file, in one run, for 200 and 50 notes.
#
#   swift_http   LegacyMigration (release) serving HTTP itself (ASGIHTTPServer)
#   swift_fcgi   LegacyMigration --fastcgi behind nginx (unix socket)
#   php_fpm      bench/notes_page/notes.php on Debian's PHP-FPM 8.2, opcache on, pm static 4, behind nginx
#   gunicorn     bench/notes_page/notes_flask.py: Flask under gunicorn, 4 sync workers, HTTP direct
#
# The database is made by bench/notes_page/make_db.py (NoteStore's schema). Before measuring, the
# script fetches the page from every server and stops unless the bodies are byte-identical.
# Load: per size, every backend started once; a WARMUP s wrk warm-up each; then REPS rounds of
# wrk -tWRK_THREADS -cCONNS -dDURATION s --latency, the targets interleaved in each round. Reported:
# median req/s, p50, p99, errors (socket errors + non-2xx), backend peak RSS (sum of VmHWM over its
# process tree; nginx not counted), backend CPU per request, backend context switches per request
# (voluntary + involuntary, all threads: a count of thread hand-offs), the machine's load from
# other processes during each run ("foreign", percent of one core), and the goals against
# php_fpm / gunicorn of the same size in the same run.
#
# Env: REPS (3) DURATION (10) WARMUP (3) CONNS (32) WRK_THREADS (2) SIZES ("200 50")
#      SWIFT_THREADS (FastCGI worker threads; default: the server's) PORT (18520; uses PORT..PORT+3)
#      VENV (/tmp/asgi-notes-bench-venv) MAX_SECONDS (2400) KEEP_WORK=1 (keep the work directory)
#      The Swift servers inherit the environment: ASGI_WSGI_INLINE=0 puts the legacy page on the
#      blocking pool instead of the FastCGI worker thread that serves it.
# Needs (installed when missing and root): wrk nginx curl php8.2-fpm php8.2-sqlite3 php8.2-opcache
# python3-venv; Flask and gunicorn in VENV. Binds 127.0.0.1 only; every process it starts is
# stopped by its PID; the work directory is removed at the end.
set -u
REPS=${REPS:-3}; DURATION=${DURATION:-10}; WARMUP=${WARMUP:-3}; CONNS=${CONNS:-32}; WRK_THREADS=${WRK_THREADS:-2}
SIZES=${SIZES:-"200 50"}; SWIFT_THREADS=${SWIFT_THREADS:-}; PORT=${PORT:-18520}; MAX_SECONDS=${MAX_SECONDS:-2400}
VENV=${VENV:-/tmp/asgi-notes-bench-venv}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERE="$ROOT/bench/notes_page"
W=$(mktemp -d /tmp/bench-notes.XXXXXX)
RAW="$W/raw.tsv"
MAIN=$$
PIDS=""
log() { echo "[$(date +%H:%M:%S)] $*"; }

descendants() { local c; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done; }
stop_pid() { # pid: TERM, wait up to 5 s, then KILL it and what it started
    local p=$1 d i
    [ -z "$p" ] && return
    d=$(descendants "$p")
    kill -TERM "$p" 2>/dev/null
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    for i in $d; do kill -KILL "$i" 2>/dev/null; done
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

# ------------------------------------------------------------------ tools
PHP_FPM=$(command -v php-fpm8.2 || ls /usr/sbin/php-fpm8.2 2>/dev/null)
NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null)
missing=""
for tool in wrk curl python3; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
[ -n "$NGINX" ] || missing="$missing nginx"
[ -n "$PHP_FPM" ] || missing="$missing php8.2-fpm"
dpkg -s php8.2-sqlite3 >/dev/null 2>&1 || missing="$missing php8.2-sqlite3"
dpkg -s php8.2-opcache >/dev/null 2>&1 || missing="$missing php8.2-opcache"
python3 -c "import venv, ensurepip" 2>/dev/null || missing="$missing python3-venv"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        log "apt-get install$missing"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null || { echo "apt-get failed"; exit 1; }
        PHP_FPM=$(command -v php-fpm8.2 || ls /usr/sbin/php-fpm8.2); NGINX=$(command -v nginx || ls /usr/sbin/nginx)
    else
        echo "missing:$missing (install them, or run as root)"; exit 1
    fi
fi
if ! "$VENV/bin/python" -c "import flask, gunicorn" 2>/dev/null; then
    log "creating $VENV (flask, gunicorn)"
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q flask gunicorn || { echo "pip install flask gunicorn failed"; exit 1; }
fi
for p in $(seq "$PORT" $((PORT + 3))); do
    if ss -Hltn "sport = :$p" | grep -q .; then echo "port $p is in use; set PORT"; exit 1; fi
done

# ------------------------------------------------------------------ build
log "building LegacyMigration (release)"
(cd "$ROOT" && swift build -c release --product LegacyMigration 2>&1 | tail -1) || exit 1
SWIFT_BIN="$(cd "$ROOT" && swift build -c release --show-bin-path)/LegacyMigration"
[ -x "$SWIFT_BIN" ] || { echo "no $SWIFT_BIN"; exit 1; }

# ------------------------------------------------------------------ measuring
TCK=$(getconf CLK_TCK)
tree() { echo "$1"; descendants "$1"; }
ticks() { local p s=0; for p in $(tree "$1"); do s=$((s + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$s"; }
switches() { local p s=0; for p in $(tree "$1"); do s=$((s + $(cat /proc/"$p"/task/*/status 2>/dev/null | awk '/ctxt_switches/{s+=$2} END{print s+0}'))); done; echo "$s"; }
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
hwm() { local p s=0; for p in $(tree "$1"); do s=$((s + $(awk '/^VmHWM/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$s"; }
parse_wrk() { # file -> "rps p50ms p99ms requests errors"
    awk 'function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
         /Requests\/sec:/ {rps=$2} /^ +50%/ {p50=ms($2)} /^ +99%/ {p99=ms($2)} / requests in / {req=$1}
         /Socket errors:/ {gsub(",",""); err+=$4+$6+$8+$10} /Non-2xx/ {err+=$NF}
         END {printf "%s %s %s %s %d\n", rps, p50, p99, req, err}' "$1"
}

# measure SIZE NAME URL BACKEND_PID REP: "foreign" is the machine's busy time minus the backend's,
# nginx's and wrk's (other sessions on a shared machine), in percent of one core.
measure() {
    local size=$1 name=$2 url=$3 bpid=$4 rep=$5 b0 b1 c0 c1 n0 n1 m0 m1 t0 t1 line file="$W/$2.$1.$5"
    b0=$(ticks "$bpid"); c0=$(switches "$bpid"); n0=$(ticks "$NGINX_PID"); m0=$(busy); t0=$(date +%s.%N)
    { TIMEFORMAT='%U %S'; time timeout -k 2 $((DURATION + 15)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" > "$file.wrk" 2>&1; } 2> "$file.time"
    b1=$(ticks "$bpid"); c1=$(switches "$bpid"); n1=$(ticks "$NGINX_PID"); m1=$(busy); t1=$(date +%s.%N)
    [ "$name" = swift_fcgi ] || [ "$name" = php_fpm ] || n1=$n0
    line=$(parse_wrk "$file.wrk")
    read -r cpu ctx foreign <<< "$(awk -v b=$((b1 - b0)) -v c=$((c1 - c0)) -v n=$((n1 - n0)) -v m=$((m1 - m0)) -v t0="$t0" -v t1="$t1" \
        -v w="$(awk '{print $1+$2}' "$file.time")" -v tck="$TCK" -v line="$line" \
        'BEGIN{split(line,f," "); d=t1-t0; fo=100*((m-b-n)/tck-w)/d; if (fo<0) fo=0;
               if (f[4]>0) printf "%.1f %.2f %.0f", 1e6*b/tck/f[4], c/f[4], fo; else printf "0 0 %.0f", fo}')"
    echo -e "$size\t$name\t$rep\t$line\t$cpu\t$ctx\t$(hwm "$bpid")\t$foreign" >> "$RAW"
    set -- $line
    log "  $size notes, $name: $1 req/s  p50 ${2}ms  p99 ${3}ms  errors $5  ${cpu}us CPU/req  ${ctx} switches/req  peak RSS $(hwm "$bpid") KiB  foreign ${foreign}%"
}

wait_for() { # url what pid
    local i
    for i in $(seq 300); do
        curl -sf -o /dev/null "$1" && return 0
        kill -0 "$3" 2>/dev/null || { echo "$2 exited: $(tail -5 "$W/$2.log" 2>/dev/null)"; return 1; }
        sleep 0.1
    done
    echo "$2 did not answer on $1: $(tail -5 "$W/$2.log" 2>/dev/null)"; return 1
}

{
    echo "cores: $(nproc)  kernel: $(uname -r)  cpu:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
    echo "nginx $("$NGINX" -v 2>&1 | cut -d/ -f2), wrk $(dpkg-query -W -f='${Version}' wrk 2>/dev/null), $("$PHP_FPM" -v | head -1 | cut -d' ' -f1-2)," \
         "gunicorn $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("gunicorn"), "flask", m.version("flask"))'), $(swift --version 2>&1 | head -1)"
    echo "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s --latency after ${WARMUP}s warm-up; $REPS rounds; sizes: $SIZES"
} | tee "$W/versions.txt"
: > "$RAW"

for size in $SIZES; do
    D="$W/n$size"
    mkdir -p "$D/data" "$D/tmp"
    python3 "$HERE/make_db.py" "$D/data/notes.sqlite3" "$size" || exit 1
    DB="$D/data/notes.sqlite3"
    P_SWIFT_HTTP=$PORT; P_NGINX_SWIFT=$((PORT + 1)); P_NGINX_PHP=$((PORT + 2)); P_GUNICORN=$((PORT + 3))

    # swift_http and swift_fcgi: two LegacyMigration processes on the same database file.
    "$SWIFT_BIN" --port "$P_SWIFT_HTTP" --data "$D/data" --no-access-log > "$W/swift_http.log" 2>&1 < /dev/null &
    SWIFT_HTTP=$!; PIDS="$PIDS $SWIFT_HTTP"
    "$SWIFT_BIN" --fastcgi "unix:$D/swift.sock" --data "$D/data" --no-access-log ${SWIFT_THREADS:+--threads "$SWIFT_THREADS"} > "$W/swift_fcgi.log" 2>&1 < /dev/null &
    SWIFT_FCGI=$!; PIDS="$PIDS $SWIFT_FCGI"

    # PHP-FPM: static pool of 4, opcache on (validate_timestamps off, as in production).
    cat > "$D/php-fpm.conf" <<EOF
[global]
pid = $D/php-fpm.pid
error_log = $D/php-fpm.log
daemonize = no
[notes]
$([ "$(id -u)" = 0 ] && echo "user = root")
listen = $D/php.sock
listen.mode = 0666
pm = static
pm.max_children = 4
php_admin_value[opcache.enable] = 1
php_admin_value[opcache.validate_timestamps] = 0
php_admin_value[expose_php] = 0
php_admin_value[error_log] = $D/php-errors.log
EOF
    "$PHP_FPM" -R -F -y "$D/php-fpm.conf" > "$W/php_fpm.log" 2>&1 < /dev/null &
    PHP=$!; PIDS="$PIDS $PHP"

    # gunicorn: 4 sync workers, HTTP direct (its default deployment behind a proxy is not needed for GET).
    (cd "$HERE" && NOTES_DB="$DB" exec "$VENV/bin/gunicorn" -w 4 -k sync -b "127.0.0.1:$P_GUNICORN" --log-level warning notes_flask:app) > "$W/gunicorn.log" 2>&1 < /dev/null &
    GUNICORN=$!; PIDS="$PIDS $GUNICORN"

    # nginx: one worker (one event loop), as bench/fastcgi.sh; a new backend connection per request.
    mkdir -p "$D/tmp/nginx"
    cat > "$D/nginx.conf" <<EOF
worker_processes 1;
pid $D/nginx.pid;
error_log $D/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $D/tmp/nginx/body; fastcgi_temp_path $D/tmp/nginx/fastcgi; proxy_temp_path $D/tmp/nginx/proxy;
    uwsgi_temp_path $D/tmp/nginx/uwsgi; scgi_temp_path $D/tmp/nginx/scgi;
    server {
        listen 127.0.0.1:$P_NGINX_SWIFT;
        location / { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$D/swift.sock; }
    }
    server {
        listen 127.0.0.1:$P_NGINX_PHP;
        location = /legacy/notes {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $HERE/notes.php;
            fastcgi_param NOTES_DB $DB;
            fastcgi_pass unix:$D/php.sock;
        }
        location = /opcache {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $HERE/opcache.php;
            fastcgi_pass unix:$D/php.sock;
        }
    }
}
EOF
    "$NGINX" -p "$D" -c "$D/nginx.conf" -e "$D/nginx-error.log" -g 'daemon off; master_process off;' > "$W/nginx.log" 2>&1 < /dev/null &
    NGINX_PID=$!; PIDS="$PIDS $NGINX_PID"

    declare -A URL=(
        [swift_http]="http://127.0.0.1:$P_SWIFT_HTTP/legacy/notes"
        [swift_fcgi]="http://127.0.0.1:$P_NGINX_SWIFT/legacy/notes"
        [php_fpm]="http://127.0.0.1:$P_NGINX_PHP/legacy/notes"
        [gunicorn]="http://127.0.0.1:$P_GUNICORN/legacy/notes"
    )
    declare -A BACKEND=([swift_http]=$SWIFT_HTTP [swift_fcgi]=$SWIFT_FCGI [php_fpm]=$PHP [gunicorn]=$GUNICORN)
    TARGETS="swift_http swift_fcgi php_fpm gunicorn"
    for t in $TARGETS; do wait_for "${URL[$t]}" "$t" "${BACKEND[$t]}" || exit 1; done

    # The same bytes from every server, or no measurement.
    for t in $TARGETS; do curl -sf -o "$D/page.$t" "${URL[$t]}" || { echo "fetching $t failed"; exit 1; }; done
    for t in $TARGETS; do
        if ! cmp -s "$D/page.swift_http" "$D/page.$t"; then
            echo "$size notes: the page from $t differs from swift_http's:"; diff <(fold -w 100 "$D/page.swift_http") <(fold -w 100 "$D/page.$t") | head -20
            exit 1
        fi
    done
    opcache=$(curl -s "http://127.0.0.1:$P_NGINX_PHP/opcache")
    [ "$opcache" = "opcache on" ] || { echo "PHP-FPM runs without opcache ($opcache)"; exit 1; }
    log "$size notes: pages byte-identical ($(wc -c < "$D/page.swift_http") bytes, sha256 $(sha256sum "$D/page.swift_http" | cut -c1-16)); PHP-FPM: $opcache"

    for t in $TARGETS; do timeout -k 2 $((WARMUP + 15)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${WARMUP}s" "${URL[$t]}" > /dev/null 2>&1; done
    for rep in $(seq "$REPS"); do
        log "$size notes: round $rep of $REPS"
        for t in $TARGETS; do measure "$size" "$t" "${URL[$t]}" "${BACKEND[$t]}" "$rep"; done
    done
    for p in $NGINX_PID $GUNICORN $PHP $SWIFT_FCGI $SWIFT_HTTP; do stop_pid "$p"; done
    unset URL BACKEND
done

echo
echo "== summary: medians of $REPS rounds (wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s); peak RSS = max over rounds"
python3 - "$RAW" <<'EOF'
import sys, statistics as st
rows, order, sizes = {}, [], []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if len(f) < 7: continue
    size, name = f[0], f[1]
    if size not in sizes: sizes.append(size)
    if name not in order: order.append(name)
    rps, p50, p99, req, err = f[3].split()
    rows.setdefault((size, name), []).append(dict(rps=float(rps or 0), p50=float(p50 or 0), p99=float(p99 or 0),
        err=int(err), cpu=float(f[4]), ctx=float(f[5]), rss=int(f[6] or 0), foreign=float(f[7]) if len(f) > 7 else 0))
med = lambda k, key: st.median(r[key] for r in rows[k])
print(f"{'notes':>5s} {'target':12s} {'req/s':>8s} {'x php':>6s} {'x guni':>6s} {'p50 ms':>7s} {'p99 ms':>8s} {'errors':>6s} {'RSS MiB':>7s} {'us CPU/req':>10s} {'switch/req':>10s} {'foreign%':>8s}")
for size in sizes:
    for name in order:
        k = (size, name)
        if k not in rows: continue
        php, gun = (size, "php_fpm"), (size, "gunicorn")
        xp = med(k, "rps") / med(php, "rps") if php in rows else 0
        xg = med(k, "rps") / med(gun, "rps") if gun in rows else 0
        print(f"{size:>5s} {name:12s} {med(k,'rps'):8.0f} {xp:6.2f} {xg:6.2f} {med(k,'p50'):7.2f} {med(k,'p99'):8.2f} "
              f"{sum(r['err'] for r in rows[k]):6d} {max(r['rss'] for r in rows[k])/1024:7.1f} {med(k,'cpu'):10.1f} {med(k,'ctx'):10.2f} {med(k,'foreign'):8.0f}")
print()
print("goals (same size, same run): req/s >= 2x php_fpm and >= 4x gunicorn; p99 <= php_fpm's; peak RSS <= php_fpm's")
for size in sizes:
    php, gun = (size, "php_fpm"), (size, "gunicorn")
    if php not in rows or gun not in rows: continue
    for name in ("swift_http", "swift_fcgi"):
        k = (size, name)
        if k not in rows: continue
        ok = lambda c: "met" if c else "NOT met"
        xp, xg = med(k, "rps") / med(php, "rps"), med(k, "rps") / med(gun, "rps")
        p99, rss = med(k, "p99"), max(r["rss"] for r in rows[k])
        print(f"  {size:>3s} notes {name:10s}: {xp:.2f}x php_fpm ({ok(xp >= 2)}), {xg:.2f}x gunicorn ({ok(xg >= 4)}), "
              f"p99 {p99:.2f} vs {med(php,'p99'):.2f} ms ({ok(p99 <= med(php,'p99'))}), "
              f"RSS {rss/1024:.1f} vs {max(r['rss'] for r in rows[php])/1024:.1f} MiB ({ok(rss <= max(r['rss'] for r in rows[php]))})")
EOF
