"""``python -m server``: read the configuration, set up logging, serve until a signal."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from server.app import serve
from server.config import ConfigError, ServerConfig, load_config
from server.edge.redaction import install_log_redaction
from server.process import die_with
from server.supervisor.supervise import gpu_ids, supervise, worker_count


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


def _run(config: ServerConfig, argv: list[str]) -> None:
    """Serves alone, or as the supervisor of ``workers`` processes behind Envoy."""
    announce = lambda port: _announce(config.host, port, config.pid_file)  # noqa: E731
    count = worker_count(config, gpu_ids(config, os.environ))
    if count > 1:
        asyncio.run(supervise(config, argv, on_listening=announce))
    else:
        asyncio.run(serve(config, on_listening=announce))


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parent = os.environ.get("DATALID_PARENT_PID")
    if parent:  # a supervisor's worker: it must not outlive the supervisor
        die_with(int(parent))
    argv = sys.argv[1:] if argv is None else argv
    try:
        config = load_config(argv, os.environ)
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
        _run(config, argv)
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
