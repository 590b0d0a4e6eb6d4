"""One command-line shape for every emulator, so the dev stack and tests start them all the same way."""

import argparse
from collections.abc import Callable, Sequence

import uvicorn
from starlette.types import ASGIApp


def run(
    create_app: Callable[[], ASGIApp], *, description: str, default_port: int, argv: Sequence[str] | None = None
) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=default_port, help="port to bind (default: %(default)s)")
    # No "trace": uvicorn would wrap send/receive for logging, and the drop fault needs its own send.
    parser.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level)
