"""``python -m server``: read the configuration, set up logging, serve until a signal."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from server.app import serve
from server.config import ConfigError, load_config
from server.redaction import install_log_redaction


def _announce(host: str, port: int) -> None:
    # Tests and scripts that start the server with --port 0 read the bound port from this line.
    print(f"datalid listening on {host}:{port}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    try:
        config = load_config(sys.argv[1:] if argv is None else argv, os.environ)
    except ConfigError as exc:
        print(f"datalid: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # Before anything logs: no record, ours or a library's, may carry a caller's credentials.
    install_log_redaction()
    logging.getLogger(__name__).info("configuration: %s", config)
    try:
        asyncio.run(serve(config, on_listening=lambda port: _announce(config.host, port)))
    except ConfigError as exc:
        # Raised while building the edge: an unreadable keys file or JWT key.
        print(f"datalid: configuration error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"datalid: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
