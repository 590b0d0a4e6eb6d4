"""The jobs list while Postgres cannot be reached: Temporal still has every job it keeps, so the list answers with
them (a closed job without the counts its record would add) rather than failing."""

import asyncio

import httpx

from devstack import processes as ps
from devstack.stack import Stack
from tests.support.news import discover, make_sources
from tests.support.relay import pipe


class DatabaseFront:
    """A TCP port in front of Postgres's unix socket that the test can cut: every connection through it is closed and
    new ones are refused, as when the database's host goes away."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.port = ps.free_port()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, ps.HOST, self.port)

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)
        self._writers += [writer, up_writer]
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)


async def test_the_list_answers_from_temporal_while_the_database_is_down(stack: Stack, admin):
    done = await discover(admin, await make_sources(admin, stack, 1, items=2))
    finished = await admin.wait_job(done)
    [socket] = [p for p in stack.pg.socket_dir.glob(".s.PGSQL.*") if p.suffix != ".lock"]
    front = DatabaseFront(str(socket))
    await front.start()
    database_url = f"postgresql+asyncpg://postgres@{ps.HOST}:{front.port}/{stack.pg.database}"
    # The user's role is read once and then remembered: past the cut it is what the API still knows of them.
    # In a thread: the front serves the API's connections from this event loop while it starts.
    env = {"LONGRUN_DATABASE_URL": database_url, "LONGRUN_USER_STATE_CACHE_SECONDS": "600"}
    url = await asyncio.to_thread(stack.start_api, "api-cut-off", env=env)
    try:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {admin.token}"}) as http:

            async def listed() -> dict[str, dict]:
                answer = await http.get("/api/v1/jobs", params={"owner": "admin"})
                assert answer.status_code == 200, answer.text
                return {j["job_id"]: j for j in answer.json()["jobs"]}

            before = (await listed())[done]
            await front.cut()
            after = (await listed())[done]
            assert (await http.get("/api/v1/health")).status_code == 503  # the cut is real: the API says so
    finally:
        stack.stop_named("api-cut-off")
    assert (before["status"], before["processed"]) == ("completed", finished["processed"])
    assert (after["status"], after["processed"]) == ("completed", None)
