"""A real PostgreSQL server for tests: Debian's binaries, a cluster in a temporary folder.

``make test`` installs Debian's ``postgresql`` package when it runs as root (CI); elsewhere,
without the binaries, the tests that need it skip and say why. As root the server runs as the
``postgres`` user the package creates (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "postgres_binaries"]


def postgres_binaries() -> Path | None:
    """The newest installed PostgreSQL's ``bin`` folder, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """One PostgreSQL cluster in ``base``, listening on ``host``:``port`` (trust auth: tests only)."""

    base: Path
    host: str = "127.0.0.1"
    port: int = 0

    @property
    def url(self) -> str:
        return f"postgresql://datalid@{self.host}:{self.port}/datalid"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        completed = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if completed.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {completed.stdout}{completed.stderr}")

    def start(self) -> PostgresServer:
        binaries = postgres_binaries()
        if binaries is None:
            pytest.skip("no PostgreSQL server here (make test installs Debian's postgresql as root)")
        self.port = self.port or _free_port()
        data, sockets = self.base / "data", self.base / "sockets"
        sockets.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.base, sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(str(binaries / "initdb"), "-D", str(data), "-U", "datalid", "-A", "trust", "--no-sync")
        if self.host != "127.0.0.1":
            # initdb trusts loopback only; the cluster test's replicas connect from other addresses.
            with (data / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {self.host}/24 trust\n")
        options = (
            f"-p {self.port} -k {sockets} -c listen_addresses={self.host} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(self.base / "log"),
            "-w",
            "start",
        )
        self._run(
            str(binaries / "createdb"), "-h", self.host, "-p", str(self.port), "-U", "datalid", "datalid"
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        binaries = postgres_binaries()
        if binaries is not None and (self.base / "data" / "postmaster.pid").exists():
            self._run(str(binaries / "pg_ctl"), "-D", str(self.base / "data"), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
