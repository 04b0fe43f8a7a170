# One-shot HTTP server: accept one connection, read its request head, write a response head, then
# run `cat PATH` with the socket as its standard output, and exit.
import socket, subprocess, sys, os
path, port = sys.argv[1], int(sys.argv[2])
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port))
listener.listen(1)
print("ready", flush=True)
conn, _ = listener.accept()
data = b""
while b"\r\n\r\n" not in data:
    chunk = conn.recv(4096)
    if not chunk:
        sys.exit(1)
    data += chunk
size = os.path.getsize(path)
conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size)
subprocess.run(["cat", path], stdout=conn.fileno(), check=True)
conn.shutdown(socket.SHUT_WR)
conn.close()
