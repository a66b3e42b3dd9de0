"""A throwaway PostgreSQL server for the tests: initdb in a temp dir, a free port on 127.0.0.1, its unix socket
in that dir, run as an unprivileged user (PostgreSQL refuses to run as root), stopped and removed at the end.

Missing binaries are a failure that says how to install them, never a skip."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["INSTALL_HINT", "Postgres", "PostgresMissing"]

INSTALL_HINT = ("PostgreSQL's server binaries (initdb, pg_ctl) were not found on PATH nor in "
                "/usr/lib/postgresql/*/bin: install them, e.g. `apt-get install -y postgresql` on Debian "
                "(.ci/run does it when they are missing)")


class PostgresMissing(RuntimeError):
    """No initdb/pg_ctl on this machine."""


def _bin_dir() -> Path:
    found = shutil.which("pg_ctl")
    if found and Path(found).with_name("initdb").exists():
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if not versions:
        raise PostgresMissing(INSTALL_HINT)
    return Path(versions[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _unprivileged() -> pwd.struct_passwd | None:
    """The user the server runs as when we are root: ``postgres`` (Debian's package makes it), else ``nobody``."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresMissing("running as root and neither a 'postgres' nor a 'nobody' user exists to run the server")


class Postgres:
    """``Postgres.start()`` → a server; ``url(database)``; ``stop()``. ``durable=False`` turns fsync off (a test
    server never outlives a crash); measurements use ``durable=True``, the server's defaults."""

    def __init__(self, root: Path, port: int, bin_dir: Path, user: pwd.struct_passwd | None) -> None:
        self.root, self.port, self.bin_dir, self.user = root, port, bin_dir, user

    @classmethod
    def start(cls, durable: bool = False) -> Postgres:
        bin_dir, user = _bin_dir(), _unprivileged()
        root = Path(tempfile.mkdtemp(prefix="rbpg-", dir="/tmp"))
        server = cls(root, _free_port(), bin_dir, user)
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
        server._run("initdb", "-D", str(root / "data"), "-U", "raybus", "--auth=trust", "--no-locale", "-E", "UTF8")
        settings = ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={root}",
                    "-c", "max_connections=200"]
        if not durable:
            settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        try:
            server._run("pg_ctl", "-D", str(root / "data"), "-l", str(root / "log"), "-w", "-t", "60",
                        "-o", " ".join([f"-p {server.port}", *settings]), "start")
        except Exception:
            server.stop()
            raise
        return server

    def _run(self, program: str, *args: str) -> None:
        kwargs = {} if self.user is None else {"user": self.user.pw_uid, "group": self.user.pw_gid,
                                               "extra_groups": []}
        done = subprocess.run([str(self.bin_dir / program), *args], capture_output=True, text=True, cwd=self.root,
                              env=os.environ | {"LC_ALL": "C"}, timeout=120, **kwargs)
        if done.returncode != 0:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip()}\n{log[-2000:]}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://raybus@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            if (self.root / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
