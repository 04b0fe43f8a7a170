#!/usr/bin/env python3
"""Writes reference.json: what Python's standard library and werkzeug make of the toolkit's inputs.

The Swift tests (ReferenceTests.swift) parse every input here with ASGIToolkit and compare. The
inputs are hand-picked cases plus seeded random ones (the same every run), so the file changes
only when this script, Python or werkzeug changes. `--check` regenerates in memory and fails when
the committed file differs (a test runs it, so the fixture never drifts from the real libraries).

    python3 generate_reference.py           # rewrite reference.json
    python3 generate_reference.py --check   # exit 1 if reference.json is stale

Needs werkzeug (scripts/bootstrap.sh installs it). Inputs and byte outputs are hex strings; text
outputs are JSON strings.
"""
import html
import io
import json
import os
import random
import sys
from urllib.parse import parse_qsl, quote, quote_plus

try:
    import werkzeug
    from werkzeug.http import parse_cookie
    from werkzeug.sansio.http import parse_cookie as sansio_parse_cookie
    from werkzeug.wrappers import Request
except ImportError:
    sys.exit("generate_reference.py needs werkzeug: python3 -m pip install werkzeug (scripts/bootstrap.sh does)")

HERE = os.path.dirname(os.path.abspath(__file__))
OUTPUT = os.path.join(HERE, "reference.json")
rng = random.Random(20260501)


def pick(pieces, count):
    return b"".join(rng.choice(pieces) for _ in range(count))


# ---------------------------------------------------------------- urlencoded

URLENCODED_CASES = [
    # WHATWG URL standard §5 and URLSearchParams examples
    b"", b"a=b", b"a=b&c=d", b"a=b&a=c", b"a+b=c+d", b"%20=%20", b"a%2Bb=c%2bd", b"q=URLUtils.searchParams&topic=api",
    b"%E2%82%AC=%E2%82%AC", b"\xe2\x82\xac=\xe2\x82\xac", b"a=b%20c%2", b"key=%zz", b"%", b"%%", b"%2", b"a%=b%",
    # hostile and edge inputs
    b"=", b"==", b"=x", b"&", b"&&&", b"a", b"a&", b"&a", b"a=", b"a==b", b"a=b=c", b"+", b"%2B", b"++=++",
    b"a=%FF", b"%C3%28=x", b"\xff=\xfe", b"\xc3=\xa9", b"%EF%BB%BFbom=1", b"\xef\xbb\xbfbom=1", b"a=%00b", b"a\x00=b",
    b"a;b=c", b"a=1;b=2", b"a=%e9", b"%E9t%E9=caf%C3%A9", b"x=%F0%9F%98%80", b"x=%F0%9F%98", b"x=%ED%A0%80",
    b"name=J%C3%BCrgen+M&tag=a&tag=b&=&%",
]

URLENCODED_PIECES = [b"a", b"b", b"Z", b"0", b"9", b"=", b"=", b"&", b"&", b"+", b"%", b"%2", b"%41", b"%zz",
                     b"%e2%82%ac", b"\xc3\xa9", b" ", b";", b"~", b"*", b".", b"\x00"]
INVALID_UTF8_PIECES = [b"%C3", b"%A9", b"%FF", b"\xff", b"\xe2\x82", b"\xc3"]


def byte_pairs(data):
    # parse_qsl on bytes would decode them as ASCII; latin-1 keeps every byte as one character.
    pairs = parse_qsl(data.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    return [(n.encode("latin-1"), v.encode("latin-1")) for n, v in pairs]


def stdlib_urlencoded(data):
    return [[n.decode("utf-8", "replace"), v.decode("utf-8", "replace")] for n, v in byte_pairs(data)]


def is_utf8(data):
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def werkzeug_form(data):
    environ = {
        "REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(data)), "wsgi.input": io.BytesIO(data), "SERVER_NAME": "test", "SERVER_PORT": "80",
        "wsgi.url_scheme": "http", "QUERY_STRING": data.decode("latin-1"),
    }
    request = Request(environ)
    try:
        form = [[k, v] for k, v in request.form.items(multi=True)]
    except Exception as error:  # werkzeug decodes the body strictly as UTF-8
        form = {"error": type(error).__name__}
    try:
        args = [[k, v] for k, v in request.args.items(multi=True)]
    except Exception as error:
        args = {"error": type(error).__name__}
    return form, args


def urlencoded_cases():
    inputs = list(URLENCODED_CASES)
    for _ in range(300):
        inputs.append(pick(URLENCODED_PIECES, rng.randint(0, 14)))
    for _ in range(100):
        inputs.append(pick(URLENCODED_PIECES + INVALID_UTF8_PIECES, rng.randint(0, 14)))
    cases = []
    for data in inputs:
        form, args = werkzeug_form(data)
        # werkzeug reads the body strictly as UTF-8 and keeps escapes of bytes that are not UTF-8
        # as "%XX": it agrees with the standard only where every decoded name and value is UTF-8.
        valid = is_utf8(data) and all(is_utf8(n) and is_utf8(v) for n, v in byte_pairs(data))
        cases.append({"input": data.hex(), "stdlib": stdlib_urlencoded(data), "werkzeug_form": form, "werkzeug_args": args,
                      "utf8": valid})
    return cases


# ---------------------------------------------------------------- cookies

COOKIE_CASES = [
    b"", b"a=1", b"a=1; b=2", b"a=1;b=2", b"a = 1 ; b = 2 ", b"a=1; a=2", b"a", b"a; b=2", b"=b", b"; ;", b"a=",
    b'a="quoted"', b'a="x;y"; b=1', b'a="\\101\\"q"', b'a="\\"', b'a="unterminated; b=2', b'a="x"y; b=2',
    b'a="\\377"', b'a="\\303\\251"', b"a=b=c", b"session=abc; theme=dark; session=old",
    b"caf\xc3\xa9=cr\xc3\xa8me", b"a=\xff; b=\xc3", b'a="\xff\\101"', b"a=1;;b=2", b"  a=1", b"a=\t1\t",
    b"SID=31d4d96e407aad42; lang=en-US", b"a=%20%3B", b'a=""', b'a="', b'"a"=1',
]

COOKIE_PIECES = [b"a", b"b", b"k", b"1", b"=", b"=", b";", b"; ", b" ", b"\t", b'"', b"\\", b"\\1", b"\\101", b"\\3",
                 b",", b"\xc3\xa9", b"\xe2\x82\xac", b"%", b"\r", b"\x00", b"\x7f"]

# RFC 6265 cookie strings that the stricter http.cookies also reads.
SIMPLE_COOKIE_CASES = [b"a=1", b"a=1; b=2", b"SID=31d4d96e407aad42; lang=en-US", b'a="quoted"', b"a=b=c"]


def cookie_cases():
    from http.cookies import SimpleCookie
    inputs = list(COOKIE_CASES)
    for _ in range(300):
        inputs.append(pick(COOKIE_PIECES, rng.randint(0, 14)))
    for _ in range(100):
        inputs.append(pick(COOKIE_PIECES + [b"\xff", b"\xc3"], rng.randint(0, 14)))
    cases = []
    for data in inputs:
        text = data.decode("utf-8", "replace")
        case = {"input": data.hex(), "werkzeug": [[k, v] for k, v in sansio_parse_cookie(text).items(multi=True)]}
        try:
            case["werkzeug_environ"] = [[k, v] for k, v in parse_cookie({"HTTP_COOKIE": data.decode("latin-1")}).items(multi=True)]
        except UnicodeDecodeError:
            case["werkzeug_environ"] = {"error": "UnicodeDecodeError"}
        if data in SIMPLE_COOKIE_CASES:
            jar = SimpleCookie()
            jar.load(data.decode())
            case["http_cookies"] = [[k, m.value] for k, m in jar.items()]
        cases.append(case)
    return cases


# ---------------------------------------------------------------- multipart

def multipart_body(boundary, parts):
    out = b""
    for name, filename, content_type, content in parts:
        out += b"--" + boundary + b"\r\n"
        disposition = b'Content-Disposition: form-data; name="' + name + b'"'
        if filename is not None:
            disposition += b'; filename="' + filename + b'"'
        out += disposition + b"\r\n"
        if content_type is not None:
            out += b"Content-Type: " + content_type + b"\r\n"
        out += b"\r\n" + content + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


CONTENT_PIECES = [b"x", b"hello", b"\r\n", b"\r", b"\n", b"--", b"-", b"\r\n--", b"\r\n--b", b"\xc3\xa9", b"\xff", b"\x00", b" "]


def multipart_cases():
    boundary = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"
    handpicked = [
        (boundary, [(b"title", None, None, b"Hello")]),
        (boundary, [(b"a", None, None, b""), (b"b", None, None, b"two\r\nlines"), (b"a", None, None, b"again")]),
        (boundary, [(b"file", b"notes.txt", b"text/plain", b"line 1\r\nline 2\r\n")]),
        (boundary, [(b"file", b"", b"application/octet-stream", b"")]),
        (boundary, [(b"caf\xc3\xa9", None, None, b"cr\xc3\xa8me"), (b"up", b"r\xc3\xa9sum\xc3\xa9.pdf", b"application/pdf", b"%PDF-1.4\x00\xff")]),
        (boundary, [(b"v", None, None, b"\xff\xfe invalid")]),
        (boundary, [(b"v", None, None, b"\r\n--" + boundary[:-1] + b"x")]),
        (b"b", [(b"x", None, None, b"a--b-- not the end"), (b"y", None, None, b"\r\n--\r\n")]),
        (boundary, []),
    ]
    cases = []
    for boundary, parts in handpicked:
        body = multipart_body(boundary, parts) if parts else b"--" + boundary + b"--\r\n"
        cases.append((boundary, body))
    # Preamble and epilogue, padding after the boundary, a body opening with CRLF.
    cases.append((b"XyZ", b"preamble text\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\nepilogue"))
    cases.append((b"XyZ", b"\r\n--XyZ  \t\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--"))
    cases.append((b"XyZ", b"--XyZ\r\nContent-Disposition: form-data;\r\n name=\"folded\"\r\n\r\nv\r\n--XyZ--\r\n"))
    for _ in range(150):
        boundary = rng.choice([b"b", b"XyZ", b"----formdata-boundary-0123456789", b"a'()+_,-./:=?"])
        parts = []
        for _ in range(rng.randint(0, 4)):
            name = rng.choice([b"a", b"field", b"x y", b"caf\xc3\xa9", b""])
            content = pick(CONTENT_PIECES, rng.randint(0, 12))
            if b"--" + boundary in content:
                content = content.replace(b"--" + boundary, b"-")
            if rng.random() < 0.4:
                parts.append((name, rng.choice([b"f.bin", b"", b"a b.txt"]), rng.choice([None, b"application/octet-stream"]), content))
            else:
                parts.append((name, None, None, content))
        cases.append((boundary, multipart_body(boundary, parts) if parts else b"--" + boundary + b"--\r\n"))
    out = []
    for boundary, body in cases:
        # RFC 2046 §5.1.1: a boundary with characters outside a token is quoted.
        content_type = 'multipart/form-data; boundary="' + boundary.decode("latin-1") + '"'
        environ = {
            "REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "SERVER_NAME": "test", "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
        }
        request = Request(environ)
        try:
            fields = [[k, v] for k, v in request.form.items(multi=True)]
            files = [[k, f.filename, f.content_type, f.read().hex()] for k, f in request.files.items(multi=True)]
            result = {"fields": fields, "files": files}
        except Exception as error:
            result = {"error": type(error).__name__}
        out.append({"content_type": content_type, "body": body.hex(), "werkzeug": result})
    return out


# ---------------------------------------------------------------- escaping

TEXT_CASES = ["", "plain", "a b", "<script>alert('x')</script>", 'say "hi" & <bye>', "café ☕ 😀", "a/b?c=d&e#f",
              "~*-._!'()", "100%", "x+y", "\x00\x1f\x7f", "é", "€", "𝄞", "=&;,", "\\"]
TEXT_PIECES = ["a", "Z", "0", " ", "&", "<", ">", '"', "'", "/", "?", "#", "%", "+", "~", "*", ".", "-", "_", "é", "€",
               "😀", "\x00", "\n", "=", ";", ":", "@", "!", "(", "[", "{", "\\"]


def escaping_cases():
    texts = list(TEXT_CASES)
    for _ in range(300):
        texts.append("".join(rng.choice(TEXT_PIECES) for _ in range(rng.randint(0, 12))))
    return [{
        "text": t,
        "html": html.escape(t, quote=True).replace("&#x27;", "&#39;"),
        "component": quote(t, safe=""),
        "path": quote(t),
        # WHATWG's form set: quote_plus keeps "~" (Python's always-safe set), WHATWG encodes it.
        "form": quote_plus(t, safe="*").replace("~", "%7E"),
    } for t in texts]


def generate():
    return {
        "generator": "generate_reference.py",
        "python": ".".join(map(str, sys.version_info[:3])),
        "werkzeug": __import__("importlib.metadata").metadata.version("werkzeug"),
        "urlencoded": urlencoded_cases(),
        "cookies": cookie_cases(),
        "multipart": multipart_cases(),
        "escaping": escaping_cases(),
    }


def render(data):
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


if __name__ == "__main__":
    text = render(generate())
    if "--check" in sys.argv:
        with open(OUTPUT) as committed:
            if committed.read() != text:
                sys.exit("reference.json is stale: run python3 Tests/ASGIToolkitTests/Fixtures/generate_reference.py")
        print("reference.json is up to date")
    else:
        with open(OUTPUT, "w") as f:
            f.write(text)
        print(f"wrote {OUTPUT}")
