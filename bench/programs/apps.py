async def hello(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})

def wsgi_hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "5")])
    return [b"hello"]

from a2wsgi import WSGIMiddleware
a2wsgi_hello = WSGIMiddleware(wsgi_hello)
