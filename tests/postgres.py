"""A throwaway PostgreSQL server for the sink tests: Debian's binaries, a temporary folder, a free port.

``PostgresServer.start()`` runs ``initdb`` into a new folder under the temporary directory
(password authentication, SCRAM), then the server itself as a child process listening on
127.0.0.1 on a free port, its unix socket in that folder; it makes a user with a password and
a database. ``stop()`` stops it and deletes the folder.

The server dies with the test process, however that ends: it is started with the kernel's
parent-death signal (``PR_SET_PDEATHSIG``), so even a test run killed with ``kill -9`` leaves no
server behind, and a new port is picked each time. Folders left by such a run are swept by the
next one (only those whose server is gone: other sessions may be running beside this one).

``initdb`` refuses to run as root: as root, the server's files and processes belong to the
``postgres`` system user (made by Debian's package). ``make postgres`` installs the package.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

PREFIX = "etl-lib-pg-"
# Rows as text: fields split by US, records by RS, NULL shown as NAK (none of them in test data).
PSQL_ROWS = ("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", "\x1f", "-R", "\x1e", "-P", "null=\x15")
_PR_SET_PDEATHSIG = 1


def bin_dir() -> Path:
    """The folder of ``initdb``/``pg_ctl``/``postgres``/``psql``: Debian's newest, else the PATH's."""
    found = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    if initdb and shutil.which("postgres"):
        return Path(initdb).resolve().parent
    raise RuntimeError(
        "PostgreSQL's server is missing (initdb, postgres): `make postgres` installs Debian's postgresql package"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(tmp: str | None = None) -> None:
    """Delete the folders of servers whose test process is gone (it was killed; the server died with it)."""
    for folder in Path(tmp or tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # not ours to judge: being made right now, or not made by this module
        if not _pid_alive(owner):
            shutil.rmtree(folder, ignore_errors=True)


@dataclass
class PostgresServer:
    """A running throwaway server, and what a test needs to reach it."""

    folder: Path
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    bin: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    run_as: str | None = None

    @property
    def url(self) -> str:
        """``postgresql://user:password@127.0.0.1:port/database`` (the password URL-encoded)."""
        return f"postgresql://{self.user}:{quote(self.password, safe='')}@{self.host}:{self.port}/{self.database}"

    @property
    def jdbc_url(self) -> str:
        """``jdbc:postgresql://127.0.0.1:port/database``, without credentials."""
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"

    def env(self) -> dict[str, str]:
        """libpq's variables for this server (times in UTC; a blocked statement gives up after 5 s)."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": self.database,
            "PGTZ": "UTC",
            "PGCONNECT_TIMEOUT": "5",
            "PGOPTIONS": "-c lock_timeout=5s -c statement_timeout=30s",
        }

    def sql(self, statement: str) -> list[tuple[str | None, ...]]:
        """Run SQL through ``psql`` as the test user, in its own session; the rows, as text (None for NULL)."""
        done = subprocess.run(
            [str(self.bin / "psql"), *PSQL_ROWS, "-c", statement],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed ({done.returncode}): {done.stderr.strip()}")
        rows = [r for r in done.stdout.rstrip("\n").split("\x1e") if r.strip("\n")]
        return [tuple(None if v == "\x15" else v for v in r.strip("\n").split("\x1f")) for r in rows]

    def value(self, statement: str) -> str | None:
        """The one value a query returns."""
        rows = self.sql(statement)
        assert len(rows) == 1 and len(rows[0]) == 1, rows
        return rows[0][0]

    @classmethod
    def start(cls, attempts: int = 3) -> PostgresServer:
        """A new server, ready for connections."""
        sweep_stale()
        last: Exception | None = None
        for _ in range(attempts):  # a free port can be taken between choosing it and listening on it
            server = cls._create()
            try:
                server._launch()
                server._setup()
                return server
            except Exception as exc:
                last = exc
                server.stop()
        raise RuntimeError(f"PostgreSQL did not start: {last}")

    @classmethod
    def _create(cls) -> PostgresServer:
        run_as = "postgres" if os.geteuid() == 0 else None
        folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        (folder / "owner.pid").write_text(str(os.getpid()))
        if run_as:
            try:
                account = pwd.getpwnam(run_as)
            except KeyError:
                shutil.rmtree(folder)
                raise RuntimeError(
                    "running as root, the server needs the 'postgres' user (Debian's postgresql package makes it): "
                    "`make postgres`, or run the tests as another user"
                ) from None
            os.chown(folder, account.pw_uid, account.pw_gid)
        # Special characters check that the password survives URLs and properties unchanged.
        password = "pw-" + secrets.token_urlsafe(12) + "@:/%?&"
        server = cls(folder, "127.0.0.1", _free_port(), "etl_test", password, "etl_test", bin_dir(), run_as=run_as)
        admin_pw = folder / "admin.pw"
        admin_pw.write_text(secrets.token_urlsafe(16))
        if run_as:
            os.chown(admin_pw, account.pw_uid, account.pw_gid)
        server._run(
            [
                str(server.bin / "initdb"),
                "-D",
                str(folder / "data"),
                "-U",
                "etl_admin",
                f"--pwfile={admin_pw}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        return server

    def _as_user(self) -> dict[str, object]:
        """Popen's arguments that run a command as the server's user (nothing when not root)."""
        if not self.run_as:
            return {}
        account = pwd.getpwnam(self.run_as)
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": [], "cwd": str(self.folder)}

    def _run(self, argv: Sequence[str]) -> None:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, **self._as_user())  # type: ignore[call-overload]
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed: {done.stderr.strip() or done.stdout.strip()}")

    def _launch(self) -> None:
        """The server as a child that the kernel stops when this process ends (``PR_SET_PDEATHSIG``)."""
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl

        def die_with_parent() -> None:
            # After the user switch (Popen does it first), or the kernel would forget the signal.
            prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT)

        log = open(self.folder / "server.log", "wb")  # noqa: SIM115 - the child writes it while it runs
        if self.run_as:
            account = pwd.getpwnam(self.run_as)
            os.chown(self.folder / "server.log", account.pw_uid, account.pw_gid)
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.folder),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "40",
            "shared_buffers": "16MB",
            "TimeZone": "UTC",
        }
        argv = [str(self.bin / "postgres"), "-D", str(self.folder / "data")]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self.process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,  # a system call only: safe beside the JVM's threads
            **self._as_user(),  # type: ignore[arg-type]
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port)], capture_output=True
            )
            if ready.returncode == 0:
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                text = (self.folder / "server.log").read_text(errors="replace").strip().splitlines()[-3:]
                raise RuntimeError(f"the server stopped or did not answer: {' | '.join(text)}")
            time.sleep(0.1)

    def _setup(self) -> None:
        """The test user (a password, no superuser) and its database, made over the socket as the admin."""
        quoted = self.password.replace("'", "''")
        admin = ("-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.folder), "-p", str(self.port), "-U", "etl_admin")
        for statement in (
            f"CREATE ROLE {self.user} LOGIN PASSWORD '{quoted}'",
            f"CREATE DATABASE {self.database} OWNER {self.user}",
        ):
            subprocess.run(
                [str(self.bin / "psql"), *admin, "-d", "postgres", "-c", statement],
                check=True,
                capture_output=True,
                timeout=60,
            )

    def stop(self) -> None:
        """Stop the server (fast shutdown; immediate when it lingers) and delete its folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGQUIT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=10)
                if self.process.poll() is None:
                    self.process.kill()
                    self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A server for the block, stopped and deleted after it."""
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()
