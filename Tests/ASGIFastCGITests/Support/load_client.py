#!/usr/bin/env python3
"""A concurrent HTTP/1.1 keep-alive load for the supervisor's tests.

    load_client.py URL [--connections N] [--rate PER_SECOND]

Each connection is a thread with its own persistent connection, sending GET URL in a loop (at
most --rate requests per second each, when given) until its stdin closes. A response with
`Connection: close` is followed by a new connection, as any client does; a connection the server
drops without saying so, a reset, or a refused connect counts as an error. At the end one JSON
object goes to stdout: requests, ok (2xx), statuses of the others, errors by kind, and each
worker pid seen (from the X-Worker-PID header) with how many responses it sent.
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument("url")
parser.add_argument("--connections", type=int, default=4)
parser.add_argument("--rate", type=float, default=0)
arguments = parser.parse_args()
target = urllib.parse.urlsplit(arguments.url)
path = target.path + (("?" + target.query) if target.query else "")

stop = threading.Event()
lock = threading.Lock()
summary = {"requests": 0, "ok": 0, "statuses": {}, "errors": {}, "pids": {}}


def record(status=None, error=None, pid=None):
    with lock:
        summary["requests"] += 1
        if error is not None:
            summary["errors"][error] = summary["errors"].get(error, 0) + 1
        elif 200 <= status < 300:
            summary["ok"] += 1
        else:
            summary["statuses"][str(status)] = summary["statuses"].get(str(status), 0) + 1
        if pid:
            summary["pids"][pid] = summary["pids"].get(pid, 0) + 1


def run():
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    interval = 1.0 / arguments.rate if arguments.rate > 0 else 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            record(status=response.status, pid=response.getheader("X-Worker-PID"))
            if response.will_close:
                connection.close()
        except Exception as error:  # noqa: BLE001 - every failure is what the test counts
            record(error=type(error).__name__)
            connection.close()
        if interval:
            left = interval - (time.monotonic() - started)
            if left > 0:
                stop.wait(left)


threads = [threading.Thread(target=run, daemon=True) for _ in range(arguments.connections)]
for thread in threads:
    thread.start()
sys.stdin.read()
stop.set()
for thread in threads:
    thread.join(timeout=40)
print(json.dumps(summary), flush=True)
