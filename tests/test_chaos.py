"""The short form of `python -m bench chaos`: every domain's work at once while the worker is killed -9 twice and
Temporal and Postgres once each, with 20% of every emulator's requests failing; then nothing lost, nothing done
twice, every job completed, and no 500 from the API. It needs a stack of its own: it kills the stack's parts."""

import asyncio
from collections import Counter

import pytest

from bench.chaos import judge, parser, run
from bench.common import bench_stack

SHORT = ["--window", "24", "--kills", "2", "--posts", "80", "--documents", "300", "--contractors", "60",
         "--settle", "240"]  # fmt: skip


@pytest.mark.timeout(420)
def test_nothing_lost_or_done_twice_while_the_stack_is_shot_at() -> None:
    args = parser().parse_args(SHORT)
    with bench_stack(durable_temporal=True) as stack:
        results = asyncio.run(run(stack, args))
    _, met, measured = judge(results, args.kills)
    domains = results["domains"]
    assert {name: d["lost"] for name, d in domains.items()} == dict.fromkeys(domains, 0), domains
    assert {name: d["duplicates"] for name, d in domains.items()} == dict.fromkeys(domains, 0), domains
    assert met["completed"], [d["not_completed"] for d in domains.values()]
    assert not results["api_500s"], results["api_500s"]
    assert Counter(s["what"] for s in results["shots"]) == {"worker": 2, "temporal": 1, "postgres": 1}
    # Work of every domain was there to lose: items checked, and faults drawn at the emulators.
    assert all(d["items"] > 0 for d in domains.values()), domains
    assert sum(f["faults"] for f in results["faults"].values()) > 0, measured["faults"]
