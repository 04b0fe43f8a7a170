@_exported import ASGI
