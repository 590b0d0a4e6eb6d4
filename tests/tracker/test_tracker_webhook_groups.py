"""Group commit of the tracker's webhook (api/inbox_group.py) on the real stack: updates arriving together share one
transaction, each answered only once it is stored; a group whose commit fails is refused whole and stored by
Telegram's next delivery; and the inbox keeps the order the API answered them in."""

import asyncio
import random

import httpx
import pytest
from sqlalchemy import text

from tests.support.tracker import HEADERS, SECRET, update

# Long enough that every update a test sends at once arrives within the first one's window, even on a busy machine.
WINDOW_MS = 2000


@pytest.fixture(scope="module")
def grouping_url(stack):
    env = {"LONGRUN_TELEGRAM_WEBHOOK_SECRET": SECRET, "LONGRUN_TRACKER_WEBHOOK_GROUP_MS": str(WINDOW_MS)}
    with stack.running_api("api-webhook-groups", **env) as url:
        yield url


@pytest.fixture
async def grouping(grouping_url):
    async with httpx.AsyncClient(base_url=grouping_url, timeout=60) as http:
        yield http


async def stored_rows(database, ids: list[int]) -> list:
    async with database.connect() as conn:
        return (
            await conn.execute(
                text("SELECT update_id, xmin::text AS tx FROM telegram_update WHERE update_id = ANY(:ids)"),
                {"ids": ids},
            )
        ).all()


async def test_updates_sent_together_are_stored_in_one_transaction_each_once_before_its_answer(grouping, database):
    base = random.randrange(10**9, 10**12)
    chat = -(base + 1)
    updates = [update(base + n, chat, 1 + n, 700 + n, "billing deploy failed") for n in range(12)]
    deliveries = updates + updates[:3]  # Telegram delivering three of them again, in the same group
    random.Random(base).shuffle(deliveries)
    stored_at_answer: dict[int, int] = {}

    async def deliver(body: dict) -> int:
        response = await grouping.post("/webhook/telegram", json=body, headers=HEADERS)
        if response.status_code == 200:
            rows = await stored_rows(database, [body["update_id"]])
            stored_at_answer[body["update_id"]] = min(stored_at_answer.get(body["update_id"], 1), len(rows))
        return response.status_code

    assert await asyncio.gather(*(deliver(body) for body in deliveries)) == [200] * len(deliveries)
    # Each was stored when its own answer came, repeats included.
    assert stored_at_answer == {u["update_id"]: 1 for u in updates}
    rows = await stored_rows(database, [u["update_id"] for u in updates])
    assert sorted(r.update_id for r in rows) == sorted(u["update_id"] for u in updates)
    assert len({r.tx for r in rows}) == 1, "the updates sent together were committed in more than one transaction"


async def test_a_group_whose_commit_fails_is_refused_whole_and_stored_when_delivered_again(grouping, database):
    """The commit fails as when Postgres drops the connection at that moment: a deferred trigger ends its own backend
    at commit when it meets the marked update. Nothing of the group may be answered 200 unless it is stored."""
    base = random.randrange(10**9, 10**12)
    chat = -(base + 2)
    updates = [update(base + n, chat, 1 + n, 700 + n, "invoice export slow") for n in range(8)]
    marked = updates[3]["update_id"]
    trigger = f"fail_commit_{base}"
    async with database.begin() as conn:
        await conn.execute(
            text(
                f"CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$"
            )
        )
        await conn.execute(
            text(
                f"CREATE CONSTRAINT TRIGGER {trigger} AFTER INSERT ON telegram_update DEFERRABLE INITIALLY DEFERRED "
                f"FOR EACH ROW WHEN (NEW.update_id = {marked}) EXECUTE FUNCTION {trigger}()"
            )
        )
    try:

        async def deliver(body: dict) -> httpx.Response:
            return await grouping.post("/webhook/telegram", json=body, headers=HEADERS)

        refused = await asyncio.gather(*(deliver(body) for body in updates))
        assert [r.status_code for r in refused] == [503] * len(updates), [r.text for r in refused]
        assert "try again" in refused[0].json()["detail"]
        assert await stored_rows(database, [u["update_id"] for u in updates]) == []
    finally:
        async with database.begin() as conn:
            await conn.execute(text(f"DROP TRIGGER {trigger} ON telegram_update"))
            await conn.execute(text(f"DROP FUNCTION {trigger}()"))

    again = await asyncio.gather(*(deliver(body) for body in updates))
    assert [r.status_code for r in again] == [200] * len(updates)
    rows = await stored_rows(database, [u["update_id"] for u in updates])
    assert sorted(r.update_id for r in rows) == sorted(u["update_id"] for u in updates)


async def test_the_inbox_keeps_a_chats_updates_in_the_order_they_were_answered(grouping, database):
    """The drainer takes the inbox oldest first (received_at, then update_id). An update answered before another was
    sent comes first, whatever their update_ids (Telegram delivering an older update again): here each round is sent
    together (one group) after the round before it was answered, with update_ids falling round over round."""
    base = random.randrange(10**9, 10**12)
    chat = -(base + 3)
    rounds = [[base + 100 - 10 * r - n for n in range(3)] for r in range(4)]
    for ids in rounds:
        answers = await asyncio.gather(
            *(
                grouping.post("/webhook/telegram", json=update(u, chat, u - base, 701, "login page"), headers=HEADERS)
                for u in ids
            )
        )
        assert [a.status_code for a in answers] == [200] * len(ids)
    async with database.connect() as conn:
        taken_order = list(
            await conn.scalars(
                text(
                    "SELECT update_id FROM telegram_update WHERE update_id = ANY(:ids) ORDER BY received_at, update_id"
                ),
                {"ids": [u for ids in rounds for u in ids]},
            )
        )
    assert [set(taken_order[3 * r : 3 * r + 3]) for r in range(len(rounds))] == [set(ids) for ids in rounds]
