"""Shared steps of the news discovery tests."""

import itertools

from devstack.clients import Api, Emulator, eventually
from devstack.stack import Stack

_slugs = itertools.count(1)

# The feed emulator marks every 4th entry (index 3, 7, ...) `[not-news]`; the LLM emulator honours it.
ITEMS = 30
NEWS_PER_FEED = ITEMS - len(range(3, ITEMS, 4))


async def make_sources(admin: Api, stack: Stack, count: int, *, items: int = ITEMS, path: str = "rss") -> list[dict]:
    """Sources on the feed emulator; `path` is the feed kind: rss, atom, or broken."""
    sources = []
    for _ in range(count):
        slug = f"src{next(_slugs)}"
        body = {"name": f"Source {slug}", "feed_url": f"{stack.feeds_url}/feeds/{slug}.{path}?items={items}",
                "topic": "technology"}  # fmt: skip
        sources.append(await admin.ok("POST", "/api/v1/news/sources", 201, json=body))
    return sources


async def discover(api: Api, sources: list[dict], max_parallel: int = 3) -> str:
    body = {"source_ids": [s["id"] for s in sources], "max_parallel": max_parallel}
    return (await api.ok("POST", "/api/v1/news/discover", 202, json=body))["job_id"]


async def drafts_of(api: Api, job_id: str) -> dict:
    return await api.ok("GET", "/api/v1/news/drafts", params={"run_id": job_id, "limit": 500})


async def discover_failing_second_batch_once(api: Api, llm: Emulator, sources: list[dict]) -> dict:
    """A discovery whose first LLM batch is slowed until the test sees it, and whose second batch then fails once:
    the retry starts from the checkpoint the first batch left. Answers the finished job."""
    # Slow enough that the second fault is in place before the first batch answers, even on a loaded machine.
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=3000, times=1)
    job_id = await discover(api, sources)

    async def first_batch_asked():
        return await llm.requests("/v1/chat/completions") == 1

    await eventually(first_batch_asked, "the first batch's LLM call", within=30, interval=0.02)
    await llm.fault(path="/v1/chat/completions", kind="status", status=500, times=1)
    return await api.wait_job(job_id, within=120)
