"""``python -m server``: read the configuration, set up logging, serve until a signal."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from server.app import serve
from server.config import ConfigError, load_config
from server.redaction import install_log_redaction


def _announce(host: str, port: int, pid_file: Path | None) -> None:
    # Tests and scripts that start the server with --port 0 read the bound port from this line.
    print(f"datalid listening on {host}:{port}", flush=True)
    if pid_file is not None:
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{os.getpid()}\n")


def _remove_pid_file(pid_file: Path | None) -> None:
    """Removes ``pid_file`` if it still names this process (a newer server may own it now)."""
    try:
        if pid_file is not None and pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()
    except OSError:
        pass


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
        asyncio.run(serve(config, on_listening=lambda port: _announce(config.host, port, config.pid_file)))
    except ConfigError as exc:
        # Raised while building the edge: an unreadable keys file or JWT key.
        print(f"datalid: configuration error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"datalid: {exc}", file=sys.stderr)
        return 1
    finally:
        _remove_pid_file(config.pid_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
