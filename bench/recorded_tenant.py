"""A recording reverse proxy for the fetch benchmark: each request is answered by the tenant once, then from memory.

The simulator renders and compresses a 10,000-record application page (35 MB of JSON) in ~0.2 s
of CPU under one GIL, on the same two cores as the client it serves, so a pull from it measures the
simulator as much as the client. Through this proxy, a pull repeated with the same requests gets
the bytes the simulator sent the first time (gzip body as sent) at the speed of a socket, which
leaves the client's own cost. Only HTTP 200 answers are kept; anything else passes through.

    .venv/bin/python bench/recorded_tenant.py 127.0.0.1:<simulator port>   # prints http://127.0.0.1:<port>
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: Headers of the tenant's answer worth replaying; rate-limit headers would be stale.
KEPT_HEADERS = ("Content-Type", "Content-Encoding")
#: Request headers passed on to the tenant.
FORWARDED_HEADERS = ("Netskope-Api-Token", "Accept-Encoding", "Accept", "User-Agent")


def start(upstream: str) -> tuple[subprocess.Popen, str]:
    """This proxy in a process of its own in front of ``upstream`` (host:port); returns it and its host:port."""
    proxy = subprocess.Popen([sys.executable, __file__, upstream], stdout=subprocess.PIPE, text=True)
    assert proxy.stdout is not None
    return proxy, proxy.stdout.readline().strip().removeprefix("http://")


def serve(upstream: str) -> ThreadingHTTPServer:
    recorded: dict[str, tuple[list[tuple[str, str]], bytes]] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with lock:
                answer = recorded.get(self.path)
            status = 200
            if answer is None:
                tenant = http.client.HTTPConnection(upstream, timeout=600)
                headers = {name: self.headers[name] for name in FORWARDED_HEADERS if self.headers[name] is not None}
                tenant.request("GET", self.path, headers=headers)
                response = tenant.getresponse()
                status, body = response.status, response.read()
                answer = ([(name, response.headers[name]) for name in KEPT_HEADERS if response.headers[name]], body)
                tenant.close()
                if status == 200:
                    with lock:
                        recorded[self.path] = answer
            headers, body = answer
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


if __name__ == "__main__":
    proxy = serve(sys.argv[1])
    print(f"http://127.0.0.1:{proxy.server_address[1]}", flush=True)
    proxy.serve_forever()
