#!/usr/bin/env bash
# bench/notes_page.sh: the LegacyMigration notes page (GET /legacy/notes) from six servers, on the
# same SQLite file, in one run, for 200 and 50 notes.
#
#   swift_http       LegacyMigration (release) serving HTTP itself (ASGIHTTPServer), direct
#   swift_proxy      the same swift_http process behind nginx (proxy_pass, HTTP/1.1, upstream keepalive)
#   swift_fcgi       LegacyMigration --fastcgi behind nginx (unix socket), a new connection per request
#   swift_fcgi_keep  the same swift_fcgi process behind nginx with fastcgi_keep_conn and an upstream
#                    keepalive of FCGI_KEEPALIVE connections (default CONNS, as swift_proxy's)
#   php_fpm          bench/notes_page/notes.php on Debian's PHP-FPM 8.2, opcache on, pm static 4, behind nginx
#   gunicorn         bench/notes_page/notes_flask.py: Flask under gunicorn, 4 sync workers, HTTP direct
#
# swift_proxy against swift_fcgi_keep is the like-for-like pair: nginx in front of both, kept
# upstream connections for both. nginx runs one worker process (one event loop) for every target
# behind it; its configuration is bench/nginx/base.conf around bench/notes_page/nginx.servers, and
# PHP-FPM's is bench/notes_page/php-fpm.conf (placeholders filled in by lib.sh's render).
#
# The database is made by bench/notes_page/make_db.py (NoteStore's schema). Before measuring, the
# script fetches the page from every target and stops unless the bodies are byte-identical.
# Load: per size, every backend started once; a WARMUP s wrk warm-up each; then REPS rounds of
# wrk -tWRK_THREADS -cCONNS -dDURATION s --latency, the targets interleaved in each round. Reported:
# median req/s, p50, p99, errors (socket errors + non-2xx), backend peak RSS (sum of VmHWM over its
# process tree; nginx not counted), backend CPU per request, nginx CPU per request (targets behind
# it), backend context switches per request (voluntary + involuntary, all threads: a count of thread
# hand-offs), the machine's load from other processes during each run ("foreign", percent of one
# core), and the goals against php_fpm / gunicorn of the same size in the same run.
#
# Env: TARGETS (all six, in the order above) REPS (3) DURATION (10) WARMUP (3) CONNS (32)
#      WRK_THREADS (2) SIZES ("200 50") SWIFT_THREADS (FastCGI worker threads; default: the
#      server's, 4 x cores, at least 4) FCGI_KEEPALIVE (swift_fcgi_keep's upstream keepalive;
#      default CONNS: an idle kept connection holds no worker thread) HTTP_KEEPALIVE (swift_proxy's;
#      default CONNS)
#      PORT (18520; uses PORT..PORT+5) VENV (/tmp/asgi-notes-bench-venv) MAX_SECONDS (2400)
#      KEEP_WORK=1 (keep the work directory)
#      The Swift servers inherit the environment: ASGI_WSGI_INLINE=0 puts the legacy page on the
#      blocking pool instead of the FastCGI worker thread that serves it.
# Needs (installed when missing and root): wrk nginx curl php8.2-fpm php8.2-sqlite3 php8.2-opcache
# python3-venv; Flask and gunicorn in VENV. Binds 127.0.0.1 only; every process it starts is
# stopped by its PID; the work directory is removed at the end.
set -u
. "$(dirname "$0")/lib.sh"
ALL_TARGETS="swift_http swift_proxy swift_fcgi swift_fcgi_keep php_fpm gunicorn"
TARGETS=${TARGETS:-$ALL_TARGETS}
REPS=${REPS:-3}; DURATION=${DURATION:-10}; WARMUP=${WARMUP:-3}; CONNS=${CONNS:-32}; WRK_THREADS=${WRK_THREADS:-2}
SIZES=${SIZES:-"200 50"}; SWIFT_THREADS=${SWIFT_THREADS:-}; PORT=${PORT:-18520}; MAX_SECONDS=${MAX_SECONDS:-2400}
VENV=${VENV:-/tmp/asgi-notes-bench-venv}
# FastCGIConfiguration's default worker threads: 4 x the cores, at least 4.
THREADS=${SWIFT_THREADS:-$(( $(nproc) * 4 > 4 ? $(nproc) * 4 : 4 ))}
FCGI_KEEPALIVE=${FCGI_KEEPALIVE:-$CONNS}
HTTP_KEEPALIVE=${HTTP_KEEPALIVE:-$CONNS}
HERE="$BENCH/notes_page"
STOP_DESCENDANTS=1
for t in $TARGETS; do
    case " $ALL_TARGETS " in *" $t "*) ;; *) echo "unknown target $t (known: $ALL_TARGETS)"; exit 2 ;; esac
done
wants() { case " $TARGETS " in *" $1 "*) return 0 ;; esac; return 1; }
wants_any() { local t; for t in "$@"; do wants "$t" && return 0; done; return 1; }
bench_init bench-notes "$MAX_SECONDS"
RAW="$W/raw.tsv"

# ------------------------------------------------------------------ tools
bench_need wrk curl python3 nginx
if wants php_fpm; then
    PHP_FPM=$(command -v php-fpm8.2 || ls /usr/sbin/php-fpm8.2 2> /dev/null)
    missing=""
    [ -n "$PHP_FPM" ] || missing="$missing php8.2-fpm"
    dpkg -s php8.2-sqlite3 > /dev/null 2>&1 || missing="$missing php8.2-sqlite3"
    dpkg -s php8.2-opcache > /dev/null 2>&1 || missing="$missing php8.2-opcache"
    if [ -n "$missing" ]; then
        [ "$(id -u)" = 0 ] || { echo "missing:$missing (install them, or run as root)"; exit 1; }
        log "apt-get install$missing"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing > /dev/null || { echo "apt-get failed"; exit 1; }
    fi
    PHP_FPM=$(command -v php-fpm8.2 || ls /usr/sbin/php-fpm8.2)
fi
if wants gunicorn; then
    python3 -c "import venv, ensurepip" 2> /dev/null || bench_need /usr/share/doc/python3-venv:python3-venv
    if ! "$VENV/bin/python" -c "import flask, gunicorn" 2> /dev/null; then
        log "creating $VENV (flask, gunicorn)"
        python3 -m venv "$VENV" && "$VENV/bin/pip" install -q flask gunicorn || { echo "pip install flask gunicorn failed"; exit 1; }
    fi
fi
ports_free $(seq "$PORT" $((PORT + 5)))

# ------------------------------------------------------------------ build
if wants_any swift_http swift_proxy swift_fcgi swift_fcgi_keep; then
    build_release LegacyMigration
    SWIFT_BIN=$BIN
fi

# ------------------------------------------------------------------ measuring
switches() {
    local p s=0
    for p in $1 $(descendants "$1"); do
        s=$((s + $(cat /proc/"$p"/task/*/status 2> /dev/null | awk '/ctxt_switches/{s+=$2} END{print s+0}')))
    done
    echo "$s"
}
behind_nginx() { case $1 in swift_proxy | swift_fcgi | swift_fcgi_keep | php_fpm) return 0 ;; esac; return 1; }

# measure SIZE NAME URL BACKEND_PID REP: "foreign" is the machine's busy time minus the backend's,
# nginx's and wrk's (other sessions on a shared machine), in percent of one core.
measure() {
    local size=$1 name=$2 url=$3 bpid=$4 rep=$5 b0 b1 c0 c1 n0=0 n1=0 m0 m1 t0 t1 line cpu ctx ngx foreign file="$W/$2.$1.$5"
    b0=$(tree_ticks "$bpid"); c0=$(switches "$bpid"); m0=$(busy_ticks); t0=$(date +%s.%N)
    [ -n "${NGINX_PID:-}" ] && n0=$(ticks "$NGINX_PID")
    { TIMEFORMAT='%U %S'; time timeout -k 2 $((DURATION + 15)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" > "$file.wrk" 2>&1; } 2> "$file.time"
    b1=$(tree_ticks "$bpid"); c1=$(switches "$bpid"); m1=$(busy_ticks); t1=$(date +%s.%N)
    [ -n "${NGINX_PID:-}" ] && n1=$(ticks "$NGINX_PID")
    behind_nginx "$name" || n1=$n0
    line=$(parse_wrk "$file.wrk")
    read -r cpu ngx ctx foreign <<< "$(awk -v b=$((b1 - b0)) -v c=$((c1 - c0)) -v n=$((n1 - n0)) -v m=$((m1 - m0)) -v t0="$t0" -v t1="$t1" \
        -v w="$(awk '{print $1+$2}' "$file.time")" -v tck="$TCK" -v line="$line" \
        'BEGIN{split(line,f," "); d=t1-t0; fo=100*((m-b-n)/tck-w)/d; if (fo<0) fo=0;
               if (f[4]>0) printf "%.1f %.1f %.2f %.0f", 1e6*b/tck/f[4], 1e6*n/tck/f[4], c/f[4], fo; else printf "0 0 0 %.0f", fo}')"
    echo -e "$size\t$name\t$rep\t$line\t$cpu\t$ctx\t$(tree_kib "$bpid" VmHWM)\t$foreign\t$ngx" >> "$RAW"
    set -- $line
    log "  $size notes, $name: $1 req/s  p50 ${2}ms  p99 ${3}ms  errors $5  ${cpu}us CPU/req (nginx ${ngx})  ${ctx} switches/req  peak RSS $(tree_kib "$bpid" VmHWM) KiB  foreign ${foreign}%"
}

wait_for() { # url name pid
    local i
    for i in $(seq 300); do
        curl -sf -o /dev/null "$1" && return 0
        kill -0 "$3" 2> /dev/null || { echo "$2 exited: $(tail -5 "$W/$2.log" 2> /dev/null)"; return 1; }
        sleep 0.1
    done
    echo "$2 did not answer on $1: $(tail -5 "$W/$2.log" 2> /dev/null)"
    return 1
}

{
    echo "cores: $(nproc)  kernel: $(uname -r)  cpu:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
    versions="nginx $(nginx -v 2>&1 | cut -d/ -f2), wrk $(dpkg-query -W -f='${Version}' wrk 2> /dev/null)"
    [ -n "${PHP_FPM:-}" ] && versions="$versions, $("$PHP_FPM" -v | head -1 | cut -d' ' -f1-2)"
    wants gunicorn && versions="$versions, $("$VENV/bin/python" -c 'import importlib.metadata as m; print("gunicorn", m.version("gunicorn"), "flask", m.version("flask"))')"
    [ -n "${SWIFT_BIN:-}" ] && versions="$versions, $(swift --version 2>&1 | head -1)"
    echo "$versions"
    echo "targets: $TARGETS; FastCGI worker threads $THREADS, swift_fcgi_keep keepalive $FCGI_KEEPALIVE, swift_proxy keepalive $HTTP_KEEPALIVE"
    echo "wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s --latency after ${WARMUP}s warm-up; $REPS rounds; sizes: $SIZES"
} | tee "$W/versions.txt"
: > "$RAW"

for size in $SIZES; do
    D="$W/n$size"
    mkdir -p "$D/data" "$D/tmp"
    python3 "$HERE/make_db.py" "$D/data/notes.sqlite3" "$size" || exit 1
    DB="$D/data/notes.sqlite3"
    P_SWIFT_HTTP=$PORT; P_PROXY=$((PORT + 1)); P_FCGI=$((PORT + 2)); P_FCGI_KEEP=$((PORT + 3)); P_PHP=$((PORT + 4)); P_GUNICORN=$((PORT + 5))
    SWIFT_HTTP=""; SWIFT_FCGI=""; PHP=""; GUNICORN=""; NGINX_PID=""

    # swift_http (and swift_proxy) and swift_fcgi (and swift_fcgi_keep): two LegacyMigration
    # processes on the same database file.
    if wants_any swift_http swift_proxy; then
        start_bg swift_http "$SWIFT_BIN" --port "$P_SWIFT_HTTP" --data "$D/data" --no-access-log
        SWIFT_HTTP=$LAST_PID
    fi
    if wants_any swift_fcgi swift_fcgi_keep; then
        start_bg swift_fcgi "$SWIFT_BIN" --fastcgi "unix:$D/swift.sock" --data "$D/data" --no-access-log --threads "$THREADS"
        SWIFT_FCGI=$LAST_PID
    fi
    if wants php_fpm; then
        render "$HERE/php-fpm.conf" "DIR=$D" "USER=$([ "$(id -u)" = 0 ] && echo "user = root")" > "$D/php-fpm.conf"
        start_bg php_fpm "$PHP_FPM" -R -F -y "$D/php-fpm.conf"
        PHP=$LAST_PID
    fi
    if wants gunicorn; then
        # 4 sync workers, HTTP direct (its default deployment behind a proxy is not needed for GET).
        start_bg gunicorn bash -c "cd '$HERE' && NOTES_DB='$DB' exec '$VENV/bin/gunicorn' -w 4 -k sync -b 127.0.0.1:$P_GUNICORN --log-level warning notes_flask:app"
        GUNICORN=$LAST_PID
    fi
    if wants_any swift_proxy swift_fcgi swift_fcgi_keep php_fpm; then
        # nginx_start's work directory is this size's.
        servers=$(render "$HERE/nginx.servers" "DIR=$D" "HERE=$HERE" "DB=$DB" "P_SWIFT_HTTP=$P_SWIFT_HTTP" \
            "P_PROXY=$P_PROXY" "P_FCGI=$P_FCGI" "P_FCGI_KEEP=$P_FCGI_KEEP" "P_PHP=$P_PHP" \
            "HTTP_KEEPALIVE=$HTTP_KEEPALIVE" "FCGI_KEEPALIVE=$FCGI_KEEPALIVE")
        W_SAVED=$W; W=$D; nginx_start "$servers"; W=$W_SAVED
    fi

    declare -A URL=(
        [swift_http]="http://127.0.0.1:$P_SWIFT_HTTP/legacy/notes"
        [swift_proxy]="http://127.0.0.1:$P_PROXY/legacy/notes"
        [swift_fcgi]="http://127.0.0.1:$P_FCGI/legacy/notes"
        [swift_fcgi_keep]="http://127.0.0.1:$P_FCGI_KEEP/legacy/notes"
        [php_fpm]="http://127.0.0.1:$P_PHP/legacy/notes"
        [gunicorn]="http://127.0.0.1:$P_GUNICORN/legacy/notes"
    )
    declare -A BACKEND=([swift_http]=$SWIFT_HTTP [swift_proxy]=$SWIFT_HTTP [swift_fcgi]=$SWIFT_FCGI
        [swift_fcgi_keep]=$SWIFT_FCGI [php_fpm]=$PHP [gunicorn]=$GUNICORN)
    for t in $TARGETS; do wait_for "${URL[$t]}" "$t" "${BACKEND[$t]}" || exit 1; done

    # The same bytes from every target, or no measurement.
    first=""
    for t in $TARGETS; do
        curl -sf -o "$D/page.$t" "${URL[$t]}" || { echo "fetching $t failed"; exit 1; }
        [ -z "$first" ] && first=$t
        if ! cmp -s "$D/page.$first" "$D/page.$t"; then
            echo "$size notes: the page from $t differs from $first's:"
            diff <(fold -w 100 "$D/page.$first") <(fold -w 100 "$D/page.$t") | head -20
            exit 1
        fi
    done
    opcache=""
    if wants php_fpm; then
        opcache=$(curl -s "http://127.0.0.1:$P_PHP/opcache")
        [ "$opcache" = "opcache on" ] || { echo "PHP-FPM runs without opcache ($opcache)"; exit 1; }
        opcache="; PHP-FPM: $opcache"
    fi
    log "$size notes: pages byte-identical across $TARGETS ($(wc -c < "$D/page.$first") bytes, sha256 $(sha256sum "$D/page.$first" | cut -c1-16))$opcache"

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
python3 "$ROOT/bench/report.py" notes_page "$RAW"
