#!/usr/bin/env python3
"""The summary tables of bench/*.sh, from the raw measurements the scripts write.

    report.py fastcgi RAW                        bench/fastcgi.sh
    report.py http_hello RAW OK BAD CONNECTS     bench/http_hello.sh (OK, BAD, CONNECTS: the keep-alive check)
    report.py notes_page RAW                     bench/notes_page.sh
    report.py supervisor RAW                     bench/supervisor.sh
    report.py worker_start < MILLISECONDS        bench/supervisor.sh's worker start times

RAW is a tab-separated file, one wrk run a line: target, round, "req/s p50_ms p99_ms requests
errors" (lib.sh's parse_wrk), then the script's own columns. Figures are medians over the rounds.
"""
import statistics as st
import sys


def fastcgi(raw):
    rows = {}
    order = []
    for line in open(raw):
        f = line.rstrip("\n").split("\t")
        if len(f) < 9: continue
        name = f[0]
        if name not in order: order.append(name)
        rps, p50, p99, req, err = f[2].split()
        rows.setdefault(name, []).append(dict(rps=float(rps or 0), p50=float(p50 or 0), p99=float(p99 or 0), err=int(err),
            cpu=float(f[3]), rss=int(f[4] or 0), b=float(f[5]), n=float(f[6]), w=float(f[7]), s=float(f[8])))
    med = lambda name, k: st.median(r[k] for r in rows[name])
    print(f"{'target':22s} {'req/s':>8s} {'x c_hello':>9s} {'p50 ms':>7s} {'p99 ms':>8s} {'p99 x c':>7s} {'errors':>6s} {'us/req':>7s} {'RSS MiB':>7s}  cpu% be/ngx/wrk/all")
    for name in order:
        mode = name.split("/")[-1] if "/" in name else None
        ref = f"c_hello/{mode}" if mode else None
        ratio = f"{med(name,'rps')/med(ref,'rps'):9.3f}" if ref in rows and name != ref else "        -"
        p99r = f"{med(name,'p99')/med(ref,'p99'):7.2f}" if ref in rows and name != ref and med(ref,'p99') > 0 else "      -"
        rss = max(r["rss"] for r in rows[name]) / 1024
        errs = sum(r["err"] for r in rows[name])
        print(f"{name:22s} {med(name,'rps'):8.0f} {ratio} {med(name,'p50'):7.2f} {med(name,'p99'):8.2f} {p99r} {errs:6d} {med(name,'cpu'):7.1f} {rss:7.1f}  "
              f"{med(name,'b'):.0f}/{med(name,'n'):.0f}/{med(name,'w'):.0f}/{med(name,'s'):.0f}")
    print()
    print("goals (same run, same mode):")
    for mode in ("close", "keep"):
        ref = f"c_hello/{mode}"
        if ref not in rows: continue
        for name, floor in (("swift_wsgi", 0.95), ("swift_asgi", 0.85)):
            key = f"{name}/{mode}"
            if key not in rows: continue
            ratio = med(key, "rps") / med(ref, "rps")
            p99r = med(key, "p99") / med(ref, "p99") if med(ref, "p99") > 0 else float("inf")
            rss = max(r["rss"] for r in rows[key]) / 1024
            ok = lambda c: "met" if c else "NOT met"
            print(f"  {key:18s} req/s {ratio:.3f}x (goal >= {floor}: {ok(ratio >= floor)}), p99 {p99r:.2f}x (goal <= 1.3: {ok(p99r <= 1.3)}), "
                  f"RSS {rss:.1f} MiB (goal < 20: {ok(rss < 20)}), errors {sum(r['err'] for r in rows[key])}")
    print("us/req = backend CPU time per request; RSS = backend VmHWM; cpu% = percent of one core over the measured run; 'all' = the whole machine")


def http_hello(raw, ok, bad, connects):
    runs, rss, order = {}, {}, []
    for line in open(raw):
        f = line.rstrip("\n").split("\t")
        if len(f) < 2: continue
        if f[0] not in order: order.append(f[0])
        if f[1] == "RSS": rss[f[0]] = int(f[2]); continue
        if f[1] == "FAILED": runs[f[0]] = None; continue
        rps, p50, p99, _, err = f[2].split()
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
    print(f"10,000 keep-alive requests through WSGIToASGI on one connection: {ok} x 200, {bad} other, {connects} connection(s)")


def supervisor(raw):
    runs, order = {}, []
    for line in open(raw):
        f = line.rstrip("\n").split("\t")
        name = f[0]
        if name not in order: order.append(name)
        rps, p50, p99, _, err = f[2].split()
        runs.setdefault(name, []).append(dict(rps=float(rps), p50=float(p50), p99=float(p99), err=int(err), cpu=float(f[3])))
    med = {n: {k: st.median(r[k] for r in rs) for k in ("rps", "p50", "p99", "cpu")} for n, rs in runs.items()}
    print(f"{'target':<20} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7} {'cpu us/req':>10} {'req/s x w0':>10} {'cpu x w0':>8}")
    for n in order:
        m = med[n]
        base = n.replace("_w1", "_w0").replace("_w2", "_w0")
        if base in runs and base != n:
            # Each round runs w0, w1, w2 back to back: the ratio within a round, then its median.
            rps_ratio = f"{st.median(r['rps'] / b['rps'] for r, b in zip(runs[n], runs[base])):.3f}"
            cpu_ratio = f"{st.median(r['cpu'] / b['cpu'] for r, b in zip(runs[n], runs[base]) if b['cpu'] > 0):.3f}"
        else:
            rps_ratio = cpu_ratio = "-"
        print(f"{n:<20} {m['rps']:>9,.0f} {m['p50']:>7.2f} {m['p99']:>7.2f} {sum(r['err'] for r in runs[n]):>7} {m['cpu']:>10.1f} {rps_ratio:>10} {cpu_ratio:>8}")
    print("runs (req/s):", "; ".join(f"{n} " + " ".join(f"{r['rps']:,.0f}" for r in runs[n]) for n in order))


def notes_page(raw):
    """bench/notes_page.sh: every target of every size, FastCGI against HTTP, and the goals against
    PHP-FPM and gunicorn. RAW: size, target, round, the wrk figures, backend us CPU/req, switches/req,
    peak RSS KiB, foreign %, nginx us/req."""
    rows, order, sizes = {}, [], []
    for line in open(raw):
        f = line.rstrip("\n").split("\t")
        if len(f) < 9: continue
        size, name = f[0], f[1]
        if size not in sizes: sizes.append(size)
        if name not in order: order.append(name)
        rps, p50, p99, req, err = f[3].split()
        rows.setdefault((size, name), []).append(dict(rps=float(rps or 0), p50=float(p50 or 0), p99=float(p99 or 0),
            err=int(err), cpu=float(f[4]), ctx=float(f[5]), rss=int(f[6] or 0), foreign=float(f[7]), ngx=float(f[8])))
    med = lambda k, key: st.median(r[key] for r in rows[k])
    print(f"{'notes':>5s} {'target':15s} {'req/s':>8s} {'x php':>6s} {'x guni':>6s} {'p50 ms':>7s} {'p99 ms':>8s} {'errors':>6s} {'RSS MiB':>7s} {'us CPU/req':>10s} {'nginx us/req':>12s} {'switch/req':>10s} {'foreign%':>8s}")
    for size in sizes:
        for name in order:
            k = (size, name)
            if k not in rows: continue
            php, gun = (size, "php_fpm"), (size, "gunicorn")
            xp = med(k, "rps") / med(php, "rps") if php in rows else 0
            xg = med(k, "rps") / med(gun, "rps") if gun in rows else 0
            print(f"{size:>5s} {name:15s} {med(k,'rps'):8.0f} {xp:6.2f} {xg:6.2f} {med(k,'p50'):7.2f} {med(k,'p99'):8.2f} "
                  f"{sum(r['err'] for r in rows[k]):6d} {max(r['rss'] for r in rows[k])/1024:7.1f} {med(k,'cpu'):10.1f} {med(k,'ngx'):12.1f} {med(k,'ctx'):10.2f} {med(k,'foreign'):8.0f}")
    print()
    print("FastCGI against HTTP (same size, same run): req/s ratio, backend us CPU/req")
    for size in sizes:
        for fcgi, http, how in (("swift_fcgi_keep", "swift_proxy", "like for like, nginx in front of both, kept connections"),
                                ("swift_fcgi", "swift_http", "as deployed: nginx + FastCGI against HTTP served directly"),
                                ("swift_fcgi_keep", "swift_http", "kept FastCGI connections against HTTP served directly")):
            a, b = (size, fcgi), (size, http)
            if a not in rows or b not in rows: continue
            ratio = med(a, "rps") / med(b, "rps")
            print(f"  {size:>3s} notes {fcgi} / {http}: {ratio:.2f}x req/s ({'met' if ratio >= 1 else 'NOT met'}), "
                  f"CPU/req {med(a,'cpu'):.1f} vs {med(b,'cpu'):.1f} us  ({how})")
    print()
    print("goals (same size, same run): req/s >= 2x php_fpm and >= 4x gunicorn; p99 <= php_fpm's; peak RSS <= php_fpm's")
    for size in sizes:
        php, gun = (size, "php_fpm"), (size, "gunicorn")
        if php not in rows or gun not in rows: continue
        for name in ("swift_http", "swift_proxy", "swift_fcgi", "swift_fcgi_keep"):
            k = (size, name)
            if k not in rows: continue
            ok = lambda c: "met" if c else "NOT met"
            xp, xg = med(k, "rps") / med(php, "rps"), med(k, "rps") / med(gun, "rps")
            p99, rss = med(k, "p99"), max(r["rss"] for r in rows[k])
            print(f"  {size:>3s} notes {name:15s}: {xp:.2f}x php_fpm ({ok(xp >= 2)}), {xg:.2f}x gunicorn ({ok(xg >= 4)}), "
                  f"p99 {p99:.2f} vs {med(php,'p99'):.2f} ms ({ok(p99 <= med(php,'p99'))}), "
                  f"RSS {rss/1024:.1f} vs {max(r['rss'] for r in rows[php])/1024:.1f} MiB ({ok(rss <= max(r['rss'] for r in rows[php]))})")


def worker_start():
    v = [int(x) for x in sys.stdin.read().split()]
    print(f"  median {st.median(v)} ms, max {max(v)} ms") if v else print("  none")


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    {
        "fastcgi": fastcgi,
        "http_hello": http_hello,
        "notes_page": notes_page,
        "supervisor": supervisor,
        "worker_start": worker_start,
    }[command](*arguments)
