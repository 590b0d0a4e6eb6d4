"""The test stack runs the 1C emulator, and the environment it gives workers reaches it through the real client."""

import asyncio

from devstack import processes as ps
from devstack.clients import OneCEmulator
from devstack.stack import Stack

# What a worker does with its environment: Settings from env vars, the client from Settings.
COUNT_CONTRACTORS = """
import asyncio
from clients.onec import OneCClient
from settings import Settings

async def main():
    async with OneCClient(Settings()) as onec:
        print(len([c async for c in onec.contractors(size=17)]))

asyncio.run(main())
"""


async def test_worker_environment_reaches_the_stacks_1c_emulator(stack: Stack, onec: OneCEmulator) -> None:
    book = await onec.book(seed=41, documents=10, contractors=57)
    env = stack.env()

    worker = await asyncio.create_subprocess_exec(
        ps.python_executable(), "-c", COUNT_CONTRACTORS,
        env=env, cwd=ps.ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(worker.communicate(), 60)

    assert env["LONGRUN_ONEC_URL"] == stack.onec_url
    assert worker.returncode == 0, stderr.decode()
    assert int(stdout) == book["counts"]["Catalog_Контрагенты"] == 57
