"""`clients.onec.OneCClient` against the 1C emulator over real HTTP: paging, the period, errors, changing books."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from uuid import UUID

import httpx
import pytest

import clients.onec
from clients.onec import OneCClient, OneCError
from domain.onec_paging import PageCursor, Paging, pages
from domain.onec_rows import BankDocument, Contractor, DocumentKind
from settings import Settings
from tests.support.emulators import ONEC_PASSWORD, ONEC_USER

YEAR = (date(2024, 1, 1), date(2024, 12, 31))
ROOT = "/odata/standard.odata/"


@pytest.fixture
async def control(onec_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The emulator's control API, and raw OData reads to compare the client with."""
    async with httpx.AsyncClient(base_url=onec_url, auth=(ONEC_USER, ONEC_PASSWORD), timeout=60) as http:
        yield http


@pytest.fixture
async def onec(onec_url: str) -> AsyncIterator[OneCClient]:
    async with OneCClient(_settings(onec_url)) as client:
        yield client


def _settings(url: str, **overrides: str) -> Settings:
    return Settings(**{"onec_url": url, "onec_user": ONEC_USER, "onec_password": ONEC_PASSWORD, **overrides})


async def _book(control: httpx.AsyncClient, **config: object) -> dict:
    response = await control.post("/_emulator/book", json=config)
    response.raise_for_status()
    return response.json()


async def _post(control: httpx.AsyncClient, endpoint: str, **body: object) -> dict:
    response = await control.post(endpoint, json=body)
    response.raise_for_status()
    return response.json()


async def _requests(control: httpx.AsyncClient, entity_set: str) -> int:
    return (await control.get("/_emulator/stats")).json()["requests"].get(ROOT + entity_set, 0)


async def _read_all(
    onec: OneCClient, kind: DocumentKind, size: int, period: tuple[date, date] = YEAR
) -> list[BankDocument]:
    return [document async for document in onec.documents(kind, *period, size=size)]


async def _read_from(onec: OneCClient, kind: DocumentKind, cursor: PageCursor, size: int) -> list[BankDocument]:
    """The year's documents from `cursor` on, page after page, as an activity resuming at its checkpoint reads them."""
    read = partial(onec.documents_page, kind, *YEAR, size=size)
    return [document async for page in pages(read, cursor) for document in page.rows]


# --- reading a book ------------------------------------------------------------------------------------------------


async def test_a_5000_document_book_read_in_pages_gives_every_key_once(
    onec: OneCClient, control: httpx.AsyncClient
) -> None:
    book = await _book(control, seed=21, documents=5000, contractors=200)

    for kind in DocumentKind:
        documents = await _read_all(onec, kind, size=500)
        keys = [document.ref_key for document in documents]
        assert len(keys) == len(set(keys)) == book["counts"][kind.value]
        assert [d.date for d in documents] == sorted(d.date for d in documents)
        # One row past the page tells whether another follows: no request ends up fetching an empty page.
        assert await _requests(control, kind.value) == -(-len(keys) // 500)


async def test_a_page_reports_whether_more_follow(onec: OneCClient, control: httpx.AsyncClient) -> None:
    await _book(control, seed=22, documents=40)
    total = len(await _read_all(onec, DocumentKind.OUTGOING, size=1000))

    exact = await onec.documents_page(DocumentKind.OUTGOING, *YEAR, size=total)
    short = await onec.documents_page(DocumentKind.OUTGOING, *YEAR, size=total - 1)
    last = await onec.documents_page(DocumentKind.OUTGOING, *YEAR, cursor=short.next, size=total)

    assert (len(exact.rows), exact.more) == (total, False)
    assert (len(short.rows), short.more) == (total - 1, True)
    assert ([d.ref_key for d in last.rows], last.more) == ([exact.rows[-1].ref_key], False)


async def test_period_filter_gives_exactly_the_documents_of_the_period(
    onec: OneCClient, control: httpx.AsyncClient
) -> None:
    await _book(control, seed=23, documents=1500)
    year = await _read_all(onec, DocumentKind.INCOMING, size=300)

    march = await _read_all(onec, DocumentKind.INCOMING, size=50, period=(date(2024, 3, 1), date(2024, 3, 31)))
    noon_to_noon = (datetime(2024, 3, 10, 12), datetime(2024, 3, 20, 12))
    middle = await _read_all(onec, DocumentKind.INCOMING, size=50, period=noon_to_noon)

    assert {d.ref_key for d in march} == {d.ref_key for d in year if d.date.month == 3}
    assert {d.ref_key for d in middle} == {d.ref_key for d in march if noon_to_noon[0] <= d.date <= noon_to_noon[1]}
    assert 0 < len(middle) < len(march) < len(year)


async def test_a_time_zone_is_refused_rather_than_guessed(onec: OneCClient) -> None:
    aware = datetime.fromisoformat("2024-01-01T00:00:00+03:00")

    with pytest.raises(ValueError, match="time zone"):
        await onec.documents_page(DocumentKind.INCOMING, aware, date(2024, 1, 31))


async def test_documents_at_one_instant_beyond_a_page_are_each_read_once(
    onec: OneCClient, control: httpx.AsyncClient
) -> None:
    # One day, every document at midnight: the cursor's Date never moves, only its offset within that instant.
    day = date(2024, 6, 3)
    book = await _book(control, seed=24, documents=90, date_from="2024-06-03", date_to="2024-06-03", midnight_share=1)

    documents = await _read_all(onec, DocumentKind.OUTGOING, size=7, period=(day, day))

    assert {d.date for d in documents} == {datetime(2024, 6, 3)}
    assert len(documents) == len({d.ref_key for d in documents}) == book["counts"][DocumentKind.OUTGOING.value]


async def test_rows_round_trip_cyrillic_text_exact_amounts_and_references(
    onec: OneCClient, control: httpx.AsyncClient
) -> None:
    await _book(control, seed=25, documents=300, contractors=400)
    raw = (await control.get(ROOT + DocumentKind.OUTGOING.value, params={"$format": "json"})).content
    wire = {row["Ref_Key"]: row for row in json.loads(raw, parse_float=Decimal)["value"]}

    documents = await _read_all(onec, DocumentKind.OUTGOING, size=100)

    assert len(documents) == len(wire)
    for document in documents:
        row = wire[str(document.ref_key)]
        assert (document.number, document.purpose, document.operation) == (
            row["Number"], row["НазначениеПлатежа"], row["ВидОперации"],
        )  # fmt: skip
        assert document.amount == row["СуммаДокумента"] and isinstance(document.amount, Decimal)
        assert document.date == datetime.fromisoformat(row["Date"]) and document.date.tzinfo is None
        assert document.kind is DocumentKind.OUTGOING
        if row["Контрагент"] in ("", "00000000-0000-0000-0000-000000000000"):
            assert document.contractor_key is None and document.contractor is None
        else:
            assert document.contractor == UUID(row["Контрагент"])
    assert any("«" in d.purpose or "№" in d.purpose for d in documents)
    assert {d.contractor_type for d in documents if d.contractor_key is None} >= {"StandardODATA.Undefined"}


async def test_contractors_with_folders_and_cyrillic_names(onec: OneCClient, control: httpx.AsyncClient) -> None:
    book = await _book(control, seed=26, contractors=400, folders=4)

    contractors = [c async for c in onec.contractors(size=33)]
    live = [c async for c in onec.contractors(size=33, include_deleted=False)]

    assert len(contractors) == len({c.ref_key for c in contractors}) == book["counts"]["Catalog_Контрагенты"]
    folders = {c.ref_key for c in contractors if c.is_folder}
    assert len(folders) == 4
    assert all(c.parent_key is None for c in contractors if c.is_folder)
    assert {c.parent_key for c in contractors if not c.is_folder} <= folders | {None}
    assert any("'" in c.name for c in contractors)  # Д'Артаньян survives the round trip
    assert all(c.name.startswith(("ООО", "АО", "ПАО", "ИП")) for c in contractors if not c.is_folder)
    assert {c.ref_key for c in live} == {c.ref_key for c in contractors if not c.deletion_mark}
    assert len(live) < len(contractors)


async def test_contractor_by_key_including_one_that_arrives_later(onec: OneCClient, control: httpx.AsyncClient) -> None:
    await _book(control, seed=27, documents=400, contractors=30, pending_contractors=2)
    catalog = {c.ref_key: c async for c in onec.contractors()}
    named = {d.contractor for kind in DocumentKind for d in await _read_all(onec, kind, size=200)} - {None}
    strangers = named - set(catalog)
    some = next(c for c in catalog.values() if not c.is_folder)

    found = await onec.contractor(some.ref_key)
    before = [await onec.contractor(key) for key in strangers]
    await _post(control, "/_emulator/book/arrive")
    after = [await onec.contractor(key) for key in strangers]

    assert found == some
    assert len(strangers) == 2 and before == [None, None]
    assert [c.ref_key for c in after] == list(strangers)
    assert all(isinstance(c, Contractor) and c.inn for c in after)


# --- a book that changes while it is read --------------------------------------------------------------------------


async def test_a_book_changed_between_pages_yields_every_row_with_its_final_version(
    onec: OneCClient, control: httpx.AsyncClient
) -> None:
    await _book(control, seed=28, documents=3000)
    kind = DocumentKind.INCOMING
    first = await onec.documents_page(kind, *YEAR, size=400)
    second = await onec.documents_page(kind, *YEAR, cursor=first.next, size=400)
    read = first.rows + second.rows
    rest = [d for d in await _read_all(onec, kind, size=5000) if d.ref_key not in {r.ref_key for r in read}]
    original = {d.ref_key for d in read + rest}

    # Between pages: documents not read yet are rewritten, new ones appear before the cursor, read ones vanish.
    ahead = [str(d.ref_key) for d in rest[::50]]
    changed = (await _post(control, "/_emulator/book/change", ref_keys=ahead))["changed"]
    await _post(control, "/_emulator/book/insert", count=30, date="2024-01-15T00:00:00")
    removed = [str(d.ref_key) for d in read[:25]]
    await _post(control, "/_emulator/book/remove", ref_keys=removed)
    final = {d.ref_key: d for d in await _read_all(onec, kind, size=5000)}

    seen = read + await _read_from(onec, kind, second.next, size=400)
    last_seen = {d.ref_key: d for d in seen}

    assert sorted(changed) == sorted(ahead) and changed
    assert original - {UUID(key) for key in removed} <= set(last_seen)
    for key in map(UUID, changed):
        assert last_seen[key].data_version == final[key].data_version
        assert last_seen[key].amount == final[key].amount


async def test_offset_paging_loses_rows_when_earlier_ones_are_deleted(
    onec_url: str, control: httpx.AsyncClient
) -> None:
    """Why keyset paging: the same deletion that keyset paging survives (above) makes plain $skip miss rows."""
    kind = DocumentKind.OUTGOING
    outcomes = {}
    for paging in Paging:
        (await control.post("/_emulator/reset")).raise_for_status()
        await _book(control, seed=29, documents=1000)
        async with OneCClient(_settings(onec_url), paging=paging) as client:
            first = await client.documents_page(kind, *YEAR, size=100)
            await _post(control, "/_emulator/book/remove", ref_keys=[str(d.ref_key) for d in first.rows[:10]])
            survivors = {d.ref_key for d in await _read_all(client, kind, size=5000)}
            seen = {d.ref_key for d in first.rows + await _read_from(client, kind, first.next, size=100)}
        outcomes[paging] = len(survivors - seen)

    assert outcomes == {Paging.KEYSET: 0, Paging.OFFSET: 10}


async def test_a_cursor_survives_a_new_client_as_an_activity_retry_would_see_it(
    onec_url: str, control: httpx.AsyncClient
) -> None:
    await _book(control, seed=30, documents=600)
    kind = DocumentKind.INCOMING
    async with OneCClient(_settings(onec_url)) as client:
        first = await client.documents_page(kind, *YEAR, size=100)
    # What an activity heartbeats is JSON; a retry on another worker rebuilds the cursor from it.
    checkpoint = json.loads(first.next.model_dump_json())

    async with OneCClient(_settings(onec_url)) as client:
        rest = await _read_from(client, kind, PageCursor.model_validate(checkpoint), size=100)
        everything = await _read_all(client, kind, size=5000)

    assert [d.ref_key for d in first.rows + rest] == [d.ref_key for d in everything]


# --- errors --------------------------------------------------------------------------------------------------------


async def test_an_expired_session_is_logged_into_again_once(onec: OneCClient, control: httpx.AsyncClient) -> None:
    await _post(control, "/_emulator/session", times=1)

    page = await onec.contractors_page(size=5)

    assert len(page.rows) == 5
    assert await _requests(control, "Catalog_Контрагенты") == 2


async def test_a_401_that_persists_is_permanent(onec: OneCClient, control: httpx.AsyncClient) -> None:
    await _post(control, "/_emulator/session", times=5)

    with pytest.raises(OneCError) as raised:
        await onec.contractors_page(size=5)

    assert (raised.value.status, raised.value.permanent) == (401, True)
    assert "Сеанс" in str(raised.value)
    assert await _requests(control, "Catalog_Контрагенты") == 2


async def test_wrong_password_is_permanent(onec_url: str) -> None:
    async with OneCClient(_settings(onec_url, onec_password="не тот")) as client:
        with pytest.raises(OneCError) as raised:
            await client.contractor("6a107b75-677f-4cbd-8c22-af58be6521cc")

    assert (raised.value.status, raised.value.permanent) == (401, True)


@pytest.mark.parametrize(
    ("rule", "status", "permanent", "retry_after"),
    [
        ({"kind": "status", "status": 429, "retry_after": 7}, 429, False, 7.0),
        ({"kind": "status", "status": 503, "retry_after": 2.5}, 503, False, 2.5),
        ({"kind": "status", "status": 500}, 500, False, None),
        ({"kind": "status", "status": 400}, 400, True, None),
        ({"kind": "status", "status": 403}, 403, True, None),
        ({"kind": "status", "status": 404}, 404, True, None),
        ({"kind": "drop"}, None, False, None),
    ],
)
async def test_errors_say_whether_a_retry_can_help(
    onec: OneCClient, control: httpx.AsyncClient, rule: dict, status: int | None, permanent: bool, retry_after: float
) -> None:
    await _post(control, "/_emulator/faults", path=ROOT + DocumentKind.INCOMING.value, times=1, **rule)

    with pytest.raises(OneCError) as raised:
        await onec.documents_page(DocumentKind.INCOMING, *YEAR)
    page = await onec.documents_page(DocumentKind.INCOMING, *YEAR)

    assert (raised.value.status, raised.value.permanent, raised.value.retry_after) == (status, permanent, retry_after)
    assert page.rows


async def test_a_404_for_one_contractor_is_none_but_for_a_page_an_error(
    onec: OneCClient, control: httpx.AsyncClient
) -> None:
    await _post(control, "/_emulator/faults", path=ROOT + "Catalog_Контрагенты", kind="status", status=404, times=2)

    missing = await onec.contractor(UUID(int=1))
    with pytest.raises(OneCError) as raised:
        await onec.contractors_page()

    assert missing is None
    assert raised.value.permanent


async def test_big_pages_are_parsed_off_the_event_loop(
    onec: OneCClient, control: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _book(control, seed=31, documents=2000)
    offloaded = []
    real = asyncio.to_thread

    async def spy(function, *args, **kwargs):
        offloaded.append(function.__name__)
        return await real(function, *args, **kwargs)

    monkeypatch.setattr(clients.onec.asyncio, "to_thread", spy)
    small = await onec.documents_page(DocumentKind.INCOMING, *YEAR, size=5)
    assert offloaded == []
    big = await onec.documents_page(DocumentKind.INCOMING, *YEAR, size=800)

    assert offloaded == ["_decode"]
    assert len(small.rows) == 5 and len(big.rows) == 800


async def test_a_url_with_the_odata_path_already_in_it_works_too(onec_url: str) -> None:
    async with OneCClient(_settings(onec_url + ROOT)) as client:
        page = await client.contractors_page(size=3)

    assert len(page.rows) == 3
