"""`python -m api [--host H] [--port P]`: the API under uvicorn, as devstack, the tests and the image run it.

uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise, so anyone on the host (or a forged header
behind a local proxy) could pick the address a failed sign-in counts against. Here the trusted proxies come from
LONGRUN_FORWARDED_ALLOW_IPS alone: empty, none, and the client address is the connection's own. A websocket message
is bounded by LONGRUN_WEBSOCKET_MAX_MESSAGE_BYTES (uvicorn reads a whole message, the unauthenticated first one
included, before the app sees it). Every way the API is started (devstack, the test stack, the image's CMD) goes
through here, so these hold for each.
"""

import argparse

import uvicorn
from uvicorn.config import LOGGING_CONFIG

import log_setup
from settings import get_settings


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m api", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.api_port)
    args = parser.parse_args(argv)
    trusted = settings.forwarded_allow_ips.strip()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        ws_max_size=settings.websocket_max_message_bytes,
        # LONGRUN_LOG_FORMAT=json: uvicorn's lines and ours as JSON (log_setup.py); else uvicorn's default.
        log_config=log_setup.server_log_config() or LOGGING_CONFIG,
    )


if __name__ == "__main__":
    main()
