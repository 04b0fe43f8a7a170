#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian machine with the Swift toolchain.
# Idempotent: installs only what is missing. Needs root (or sudo) only when something is missing.
set -euo pipefail

if ! command -v swift >/dev/null 2>&1; then
    if [ -x /opt/swift/usr/bin/swift ]; then
        echo "bootstrap: swift is at /opt/swift/usr/bin; add it to PATH" >&2
    else
        echo "bootstrap: the Swift toolchain (6.1 or later) is required" >&2
    fi
    exit 1
fi

# Debian packages the project needs: libfcgi-dev builds the FastCGI frontend (CFastCGI); its tests
# run a real nginx in front of it, drive it with libfcgi-bin's cgi-fcgi, and send requests with curl (also the
# HTTP server's tests' client).
# libsqlite3-dev: the system SQLite library behind the CSQLite module (the LegacyMigration example).
packages=(libfcgi-dev libfcgi-bin nginx curl libsqlite3-dev)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y "${missing[@]}"
fi

# Python clients the ASGIHTTPServer tests drive the server with: websockets (a real WebSocket peer,
# also the Hummingbird mount's WebSocket tests' client) and h11 (raw HTTP/1.1 for pipelining and trailers); werkzeug, the reference the ASGIToolkit tests
# compare their parsers with (Tests/ASGIToolkitTests/Fixtures). Installed only when missing.
if command -v python3 >/dev/null 2>&1; then
    if ! python3 -c "import websockets, h11, werkzeug" >/dev/null 2>&1; then
        python3 -m pip install --quiet websockets h11 werkzeug
    fi
else
    echo "bootstrap: python3 is needed by the ASGIHTTPServer tests (websockets, h11)" >&2
    exit 1
fi
