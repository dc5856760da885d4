"""``make demo`` and the tests start moto_server on a port the system picks and read it from moto's log."""

from __future__ import annotations

import select
import socket
import subprocess
import sys

import pytest

from netskope_provider.demo import _listening_port, moto_server


def test_moto_server_listens_where_it_says_and_stops():
    with moto_server() as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def test_the_port_is_read_from_the_start_up_line_and_the_log_after_it_is_drained():
    """A server logging far more than a pipe holds after its start-up line is not blocked by it."""
    script = (
        "import sys, time\n"
        "sys.stderr.write(' * Running on http://127.0.0.1:43210\\n'); sys.stderr.flush()\n"
        "for _ in range(20000): sys.stderr.write('127.0.0.1 - - GET /moto-api/ 200\\n')\n"
        "sys.stderr.flush(); sys.stdout.write('done'); sys.stdout.flush(); time.sleep(30)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert _listening_port(process, timeout=30) == 43210
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready and process.stdout.read(4) == b"done", "the server is still blocked writing its 700 kB log"
    finally:
        process.kill()
        process.wait()


def test_a_server_that_ends_before_it_listens_is_named_with_its_exit_code():
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], stderr=subprocess.PIPE)
    with pytest.raises(RuntimeError, match="exited with code 3; is moto\\[server\\] installed"):
        _listening_port(process, timeout=30)
