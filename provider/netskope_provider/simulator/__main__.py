"""``netskope-simulator`` / ``python -m netskope_provider.simulator``: run a simulated tenant in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from netskope_provider.simulator.config import ITERATOR_CLOCKS, ITERATOR_PAGE_RECORDS, FaultConfig, SimulatorConfig
from netskope_provider.simulator.records import LOG_TYPE_NAMES
from netskope_provider.simulator.server import SimulatorServer


def _volume(text: str) -> tuple[str, int]:
    name, _, count = text.partition("=")
    if name not in LOG_TYPE_NAMES or not count.isdigit():
        raise argparse.ArgumentTypeError(
            f"expected LOG_TYPE=COUNT with LOG_TYPE one of {', '.join(LOG_TYPE_NAMES)}, got {text!r}"
        )
    return name, int(count)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netskope-simulator", description="Serve a simulated Netskope tenant on 127.0.0.1."
    )
    parser.add_argument(
        "--bind",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 only inside a container network)",
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="TCP port (0 = any free port; the chosen one is printed)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated records and of random faults")
    parser.add_argument("--token", default="test-token", help="the API token clients must send (Netskope-Api-Token)")
    parser.add_argument("--hours", type=float, default=24.0, help="generate records inserted over the last HOURS hours")
    parser.add_argument(
        "--start", type=int, default=None, help="insertion span start, epoch seconds (overrides --hours)"
    )
    parser.add_argument(
        "--end", type=int, default=None, help="insertion span end (exclusive), epoch seconds; default now"
    )
    parser.add_argument("--now", type=int, default=None, help="fix the tenant clock at this epoch (default: real time)")
    parser.add_argument("--iterator-wait", type=int, default=1, help="wait_time of an iterator page once caught up")
    parser.add_argument(
        "--iterator-clock",
        choices=ITERATOR_CLOCKS,
        default="insertion",
        help="what iterator epochs and timestamp_hwm count in (undocumented by Netskope; default insertion)",
    )
    parser.add_argument(
        "--iterator-page-records", type=int, default=ITERATOR_PAGE_RECORDS, help="records in a full iterator page"
    )
    parser.add_argument(
        "--insertion-time-everywhere",
        action="store_true",
        help="legacy: serve _insertion_epoch_timestamp from dataexport and datasearch too (real tenants do not)",
    )
    parser.add_argument("--no-gzip", action="store_true", help="never compress answers, even when the client asks")
    parser.add_argument(
        "--volume",
        type=_volume,
        action="append",
        default=[],
        metavar="TYPE=COUNT",
        help="records of one log type (repeatable), e.g. --volume application=25000",
    )
    parser.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a throw-away certificate (its path is printed)"
    )
    parser.add_argument(
        "--tls-name",
        action="append",
        default=[],
        metavar="NAME",
        help="another host name or IP the certificate names besides 127.0.0.1/localhost (repeatable; implies --tls)",
    )
    parser.add_argument(
        "--tls-dir",
        default=None,
        metavar="DIR",
        help="write cert.pem (the CA bundle to trust) and key.pem to DIR and keep them (implies --tls)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        help="requests per second per endpoint, 429 beyond (default: 1000, which no client reaches)",
    )
    parser.add_argument("--error-rate", type=float, default=0.0, help="probability of an HTTP 503 per request")
    parser.add_argument("--reset-rate", type=float, default=0.0, help="probability of a connection reset per request")
    parser.add_argument("--truncate-rate", type=float, default=0.0, help="probability of a truncated body per request")
    parser.add_argument("--slow-rate", type=float, default=0.0, help="probability of a slow response per request")
    parser.add_argument("--html-rate", type=float, default=0.0, help="probability of an HTML login page (HTTP 200)")
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """The tenant the command line describes."""
    end = args.end if args.end is not None else int(time.time())
    start = args.start if args.start is not None else end - int(args.hours * 3600)
    return SimulatorConfig(
        seed=args.seed,
        token=args.token,
        start=start,
        end=end,
        now=args.now,
        volume=dict(args.volume),
        rate_limit_per_second=args.rate_limit,
        host=args.bind,
        port=args.port,
        iterator_wait_seconds=args.iterator_wait,
        iterator_clock=args.iterator_clock,
        iterator_page_records=args.iterator_page_records,
        insertion_time_everywhere=args.insertion_time_everywhere,
        gzip=not args.no_gzip,
        tls=args.tls or bool(args.tls_name) or args.tls_dir is not None,
        tls_names=tuple(args.tls_name),
        tls_dir=args.tls_dir,
        faults=FaultConfig(
            error_rate=args.error_rate,
            reset_rate=args.reset_rate,
            truncate_rate=args.truncate_rate,
            slow_rate=args.slow_rate,
            html_rate=args.html_rate,
        ),
    )


def main(argv: list[str] | None = None) -> int:
    config = config_from_args(build_parser().parse_args(argv))
    # Stop cleanly on SIGTERM too (tests and `make demo` terminate it), so the TLS temp dir is removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = SimulatorServer(config).start()
    trust = f"; CA bundle {server.ca_file}" if server.ca_file else ""
    print(
        f"Netskope simulator listening on {server.url} (host for the connection: {server.host}{trust}); Ctrl-C stops it",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
