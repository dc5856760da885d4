"""A proxy process in front of moto_server that plays CloudWatch Logs' bad days.

Run by :class:`FlakyCloudWatch` as its own interpreter (``python tests/flaky_cloudwatch.py
<upstream url>``), so a fault sits between a real client and a real server, on real sockets.
Everything is forwarded unchanged unless a counter says otherwise:

* ``throttle_next``: answer the next N ``PutLogEvents`` with ``ThrottlingException`` (not forwarded);
* ``throttle_reads_next``: the same for the next N ``GetLogEvents``;
* ``drop_replies_next``: forward the next N ``PutLogEvents`` (CloudWatch stores them), then close
  the connection without an answer: the client sees a reset, the events are in the stream;
* ``error_next``: forward the next N ``PutLogEvents``, then answer HTTP 500 (stored, yet an error);
* ``refusing_puts`` with ``refuse_oldest`` / ``refuse_newest``: store all but the first / last
  events of the next puts and report them in ``rejectedLogEventsInfo`` (AWS's index semantics);
* ``hold_after``: forward that many puts, then hold every later one without answering until
  ``release`` is set (or 60 s pass);
* ``put_delay``: seconds to wait before forwarding each put (a slow CloudWatch, so deliveries overlap).

``GET /__flaky__`` returns the counters and what happened (``forwarded_puts``, ``stored_puts`` (forwarded
and answered by moto), ``held_puts``, ``dropped_replies``, ``throttled``, ``errors``); ``POST /__flaky__``
with a JSON object sets counters.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COUNTERS = {
    "throttle_next": 0,
    "throttle_reads_next": 0,
    "drop_replies_next": 0,
    "error_next": 0,
    "refusing_puts": 0,
    "refuse_oldest": 0,
    "refuse_newest": 0,
    "hold_after": None,
    "release": False,
    "put_delay": 0.0,
}
OUTCOMES = ("forwarded_puts", "stored_puts", "held_puts", "dropped_replies", "throttled", "errors")
CONTROL = "/__flaky__"
THROTTLED = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()


def serve(upstream: str) -> None:
    """The proxy itself (in the child process): prints its port, then serves until killed."""
    import requests

    state: dict[str, Any] = {**COUNTERS, **dict.fromkeys(OUTCOMES, 0)}
    lock = threading.Lock()
    released = threading.Event()
    upstream_session = threading.local()

    def forward(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, str, bytes]:
        session = getattr(upstream_session, "session", None) or requests.Session()
        upstream_session.session = session
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in {"host", "content-length"}}
        response = session.post(upstream + handler.path, data=body, headers=headers, timeout=30)
        return (
            response.status_code,
            response.headers.get("Content-Type", "application/x-amz-json-1.1"),
            response.content,
        )

    def take(name: str) -> bool:
        if state[name] > 0:
            state[name] -= 1
            return True
        return False

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with lock:
                self.answer(200, "application/json", json.dumps(state).encode())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == CONTROL:
                with lock:
                    state.update(json.loads(body))
                    (released.set if state["release"] else released.clear)()
                    self.answer(200, "application/json", json.dumps(state).encode())
                return
            target = self.headers.get("X-Amz-Target", "")
            if target.endswith(".PutLogEvents"):
                self.put_log_events(body)
                return
            if target.endswith(".GetLogEvents"):
                with lock:
                    throttle = take("throttle_reads_next")
                    state["throttled"] += throttle
                if throttle:
                    self.answer(400, "application/x-amz-json-1.1", THROTTLED)
                    return
            self.answer(*forward(self, body))

        def put_log_events(self, body: bytes) -> None:
            with lock:
                throttle = take("throttle_next")
                hold = (
                    not throttle and state["hold_after"] is not None and state["forwarded_puts"] >= state["hold_after"]
                )
                drop = not throttle and not hold and take("drop_replies_next")
                error = not throttle and not hold and not drop and take("error_next")
                refuse = not throttle and not hold and take("refusing_puts")
                state["throttled"] += throttle
                state["held_puts"] += hold
                state["forwarded_puts"] += not throttle and not hold
                state["dropped_replies"] += drop
                state["errors"] += error
                oldest, newest = state["refuse_oldest"], state["refuse_newest"]
            if throttle:
                self.answer(400, "application/x-amz-json-1.1", THROTTLED)
                return
            if hold:
                released.wait(60)
                self.close_connection = True
                return
            if state["put_delay"]:
                time.sleep(state["put_delay"])
            info: dict[str, int] = {}
            if refuse:
                request = json.loads(body)
                events = request["logEvents"]
                oldest, newest = min(oldest, len(events)), min(newest, len(events))
                request["logEvents"] = events[oldest : len(events) - newest]
                body = json.dumps(request).encode()
                if oldest:
                    info["tooOldLogEventEndIndex"] = oldest
                if newest:
                    info["tooNewLogEventStartIndex"] = len(events) - newest
            status, content_type, payload = forward(self, body)
            with lock:
                state["stored_puts"] += status == 200
            if drop:  # stored upstream; the client never hears back
                self.close_connection = True
                return
            if error:
                self.answer(500, content_type, json.dumps({"__type": "InternalFailure"}).encode())
                return
            if info and status == 200:
                payload = json.dumps({**json.loads(payload or b"{}"), "rejectedLogEventsInfo": info}).encode()
            self.answer(status, content_type, payload)

        def answer(self, status: int, content_type: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.05)


class FlakyCloudWatch:
    """The proxy process, seen from a test: ``url`` to point an AWS connection at, counters to set."""

    def __init__(self, upstream: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, upstream], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def set(self, **counters: Any) -> dict[str, Any]:
        import requests

        unknown = set(counters) - set(COUNTERS)
        if unknown:
            raise ValueError(f"unknown counters {sorted(unknown)}; known: {sorted(COUNTERS)}")
        return requests.post(self.url + CONTROL, json=counters, timeout=10).json()

    def state(self) -> dict[str, Any]:
        """The counters still pending and what happened so far."""
        import requests

        return requests.get(self.url + CONTROL, timeout=10).json()

    def close(self) -> None:
        self.process.kill()
        self.process.wait(10)


if __name__ == "__main__":
    serve(sys.argv[1])
