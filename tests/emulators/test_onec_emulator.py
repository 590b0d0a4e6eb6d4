"""The 1C emulator on the wire, with plain httpx: the shapes, filters, paging, auth and faults a 1C client meets."""

import time
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest

from devstack.clients import eventually
from tests.support.emulators import ONEC_PASSWORD, ONEC_USER

INCOMING = "Document_ПоступлениеНаРасчетныйСчет"
OUTGOING = "Document_СписаниеСРасчетногоСчета"
CONTRACTORS = "Catalog_Контрагенты"
ROOT = "/odata/standard.odata/"
REFERENCE_COMPARISON = "Нельзя сравнивать поля неограниченной длины и поля несовместимых типов"


@pytest.fixture
async def http(onec_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=onec_url, auth=(ONEC_USER, ONEC_PASSWORD), timeout=30) as client:
        yield client


async def _book(http: httpx.AsyncClient, **config: object) -> dict:
    response = await http.post("/_emulator/book", json=config)
    response.raise_for_status()
    return response.json()


async def _get(http: httpx.AsyncClient, resource: str, expect: int = 200, **options: object) -> httpx.Response:
    response = await http.get(ROOT + quote(resource, safe="()'$/"), params={"$format": "json", **options})
    assert response.status_code == expect, response.text
    return response


async def _rows(http: httpx.AsyncClient, entity_set: str, **options: object) -> list[dict]:
    return (await _get(http, entity_set, **options)).json()["value"]


def _message(response: httpx.Response) -> str:
    return response.json()["odata.error"]["message"]["value"]


# --- wire shapes ---------------------------------------------------------------------------------------------------


async def test_collection_is_odata_v3_json_with_cyrillic_as_utf8(http: httpx.AsyncClient, onec_url: str) -> None:
    response = await _get(http, CONTRACTORS, **{"$top": 3})

    body = response.json()
    assert response.headers["content-type"].startswith("application/json")
    assert list(body) == ["odata.metadata", "value"]
    assert body["odata.metadata"] == f"{onec_url}{ROOT}$metadata#{CONTRACTORS}"
    assert len(body["value"]) == 3
    assert "Контрагенты".encode() in response.content  # raw UTF-8, as 1C sends it, not \u escapes
    folder = body["value"][0]
    assert folder["IsFolder"] is True and folder["Parent_Key"] == "00000000-0000-0000-0000-000000000000"


async def test_service_document_lists_the_entity_sets(http: httpx.AsyncClient) -> None:
    names = {entry["name"] for entry in (await _get(http, "")).json()["value"]}

    assert {INCOMING, OUTGOING, CONTRACTORS} <= names


async def test_document_rows_carry_the_fields_1c_gives(http: httpx.AsyncClient) -> None:
    rows = await _rows(http, OUTGOING)

    row = rows[0]
    assert {"Ref_Key", "DataVersion", "Number", "Date", "Posted", "DeletionMark", "СуммаДокумента", "Контрагент",
            "Контрагент_Type", "НазначениеПлатежа", "ВидОперации", "РасшифровкаПлатежа"} <= set(row)  # fmt: skip
    assert len(row["Date"]) == 19 and "+" not in row["Date"] and not row["Date"].endswith("Z")
    assert isinstance(row["СуммаДокумента"], int | float)
    kinds = {(r["Контрагент_Type"], r["Контрагент"] == "") for r in rows}
    # A contractor, and a reference holding nothing at all ("" of type Undefined).
    assert ("StandardODATA.Catalog_Контрагенты", False) in kinds
    assert ("StandardODATA.Undefined", True) in kinds


async def test_one_object_by_key_and_a_missing_one(http: httpx.AsyncClient, onec_url: str) -> None:
    wanted = (await _rows(http, CONTRACTORS, **{"$skip": 10, "$top": 1}))[0]

    found = (await _get(http, f"{CONTRACTORS}(guid'{wanted['Ref_Key']}')")).json()
    missing = await _get(http, f"{CONTRACTORS}(guid'00000000-0000-0000-0000-000000000001')", expect=404)

    assert found.pop("odata.metadata") == f"{onec_url}{ROOT}$metadata#{CONTRACTORS}/@Element"
    assert found == wanted
    assert "odata.error" in missing.json()


async def test_select_keeps_only_named_fields_and_the_type_of_a_composite(http: httpx.AsyncClient) -> None:
    rows = await _rows(http, INCOMING, **{"$select": "Ref_Key,Контрагент", "$top": 2})
    unknown = await _get(http, INCOMING, expect=400, **{"$select": "Ref_Key,Сумма"})

    assert [set(row) for row in rows] == [{"Ref_Key", "Контрагент", "Контрагент_Type"}] * 2
    assert "Сумма" in _message(unknown)


async def test_only_json_is_spoken(http: httpx.AsyncClient) -> None:
    response = await http.get(ROOT + quote(CONTRACTORS), headers={"Accept": "application/atom+xml"})

    assert response.status_code == 406
    assert "$format=json" in _message(response)


# --- filters -------------------------------------------------------------------------------------------------------


async def test_period_filter_keeps_exactly_the_rows_inside(http: httpx.AsyncClient) -> None:
    await _book(http, seed=3, documents=800)
    everything = await _rows(http, INCOMING)
    march = "Date ge datetime'2024-03-01T00:00:00' and Date le datetime'2024-03-31T23:59:59'"

    rows = await _rows(http, INCOMING, **{"$filter": march})

    expected = {r["Ref_Key"] for r in everything if "2024-03-01" <= r["Date"][:10] <= "2024-03-31"}
    assert {r["Ref_Key"] for r in rows} == expected
    assert 0 < len(expected) < len(everything)


async def test_boolean_logic_and_string_literals(http: httpx.AsyncClient) -> None:
    await _book(http, seed=5, contractors=400)
    everything = await _rows(http, CONTRACTORS)
    quoted = next(r for r in everything if "'" in r["Description"])

    live = await _rows(http, CONTRACTORS, **{"$filter": "DeletionMark eq false"})
    either = await _rows(http, CONTRACTORS, **{"$filter": "not (IsFolder eq false) or (DeletionMark eq true)"})
    literal = "'" + quoted["Description"].replace("'", "''") + "'"  # a quote inside is doubled
    named = await _rows(http, CONTRACTORS, **{"$filter": f"Description eq {literal}"})
    by_inn = await _rows(http, CONTRACTORS, **{"$filter": f"ИНН eq '{quoted['ИНН']}' and КПП ne ''"})

    assert {r["Ref_Key"] for r in live} == {r["Ref_Key"] for r in everything if not r["DeletionMark"]}
    assert {r["Ref_Key"] for r in either} == {r["Ref_Key"] for r in everything if r["IsFolder"] or r["DeletionMark"]}
    assert [r["Ref_Key"] for r in named] == [quoted["Ref_Key"]]
    assert quoted["Ref_Key"] in {r["Ref_Key"] for r in by_inn}


async def test_references_compare_for_equality_only_as_in_1c(http: httpx.AsyncClient) -> None:
    first = (await _rows(http, CONTRACTORS, **{"$top": 1}))[0]["Ref_Key"]

    equal = await _rows(http, CONTRACTORS, **{"$filter": f"Ref_Key eq guid'{first}'"})
    ordered = await _get(http, CONTRACTORS, expect=500, **{"$filter": f"Ref_Key gt guid'{first}'"})

    assert [r["Ref_Key"] for r in equal] == [first]
    assert _message(ordered) == REFERENCE_COMPARISON


@pytest.mark.parametrize(
    "bad",
    [
        "Date ge '2024-01-01'",
        "Date ge datetime'not a date'",
        "Ref_Key eq guid'123'",
        "Сумма eq 1",
        "Date ge",
        "(Posted",
    ],
)
async def test_malformed_filters_are_400(http: httpx.AsyncClient, bad: str) -> None:
    response = await _get(http, INCOMING, expect=400, **{"$filter": bad})

    assert _message(response)


# --- order and paging ----------------------------------------------------------------------------------------------


async def test_pages_by_top_and_skip_add_up_to_the_ordered_whole(http: httpx.AsyncClient) -> None:
    await _book(http, seed=7, documents=300)
    order = {"$orderby": "Date asc,Number desc"}
    whole = await _rows(http, OUTGOING, **order)

    pages = [await _rows(http, OUTGOING, **order, **{"$top": 40, "$skip": skip}) for skip in range(0, len(whole), 40)]

    assert [r["Ref_Key"] for page in pages for r in page] == [r["Ref_Key"] for r in whole]
    for earlier, later in zip(whole, whole[1:], strict=False):
        assert earlier["Date"] < later["Date"] or (
            earlier["Date"] == later["Date"] and earlier["Number"] > later["Number"]
        )


async def test_ordering_by_ref_key_is_1c_auto_order_not_guid_text(http: httpx.AsyncClient) -> None:
    rows = await _rows(http, INCOMING, **{"$orderby": "Ref_Key"})

    keys = [r["Ref_Key"] for r in rows]
    assert [(r["Date"], r["Number"]) for r in rows] == sorted((r["Date"], r["Number"]) for r in rows)
    assert keys != sorted(keys)


async def test_many_documents_share_one_instant(http: httpx.AsyncClient) -> None:
    rows = await _rows(http, INCOMING, **{"$select": "Date"})

    dates = [r["Date"] for r in rows]
    assert max(dates.count(d) for d in set(dates)) >= 3  # so Date alone cannot order a page boundary


async def test_counts_inline_and_by_path(http: httpx.AsyncClient) -> None:
    book = await _book(http, seed=2, documents=450, contractors=60)
    march = "Date ge datetime'2024-03-01T00:00:00' and Date lt datetime'2024-04-01T00:00:00'"

    inline = (await _get(http, INCOMING, **{"$inlinecount": "allpages", "$top": 5, "$filter": march})).json()
    counted = await _get(http, f"{INCOMING}/$count", **{"$filter": march})
    all_contractors = await _get(http, f"{CONTRACTORS}/$count")

    assert inline["odata.count"] == counted.text  # a string, as 1C writes it
    assert len(inline["value"]) == 5 < int(counted.text)
    assert int(all_contractors.text) == book["counts"][CONTRACTORS] == 60


# --- the book and its control endpoints ----------------------------------------------------------------------------


async def test_the_same_seed_gives_the_same_book(http: httpx.AsyncClient) -> None:
    await _book(http, seed=11, documents=200, contractors=50)
    first = await _rows(http, INCOMING)
    await _book(http, seed=12, documents=200, contractors=50)
    other = await _rows(http, INCOMING)
    book = await _book(http, seed=11, documents=200, contractors=50)
    again = await _rows(http, INCOMING)

    assert first == again
    assert first != other
    assert book["counts"]["documents"] == 200
    assert book["counts"][INCOMING] + book["counts"][OUTGOING] == 200


async def test_book_has_folders_deleted_rows_and_valid_inn(http: httpx.AsyncClient) -> None:
    book = await _book(http, seed=4, documents=2000, contractors=300, folders=4)
    contractors = await _rows(http, CONTRACTORS)
    documents = await _rows(http, INCOMING) + await _rows(http, OUTGOING)

    assert sum(r["IsFolder"] for r in contractors) == book["counts"]["folders"] == 4
    assert any(r["DeletionMark"] for r in contractors)
    assert sum(r["DeletionMark"] for r in documents) == book["counts"]["deleted_documents"] > 0
    assert all(not r["Posted"] for r in documents if r["DeletionMark"])
    companies = [r for r in contractors if len(r["ИНН"]) == 10]
    people = [r for r in contractors if len(r["ИНН"]) == 12]
    assert companies and people
    assert all(_inn_valid(r["ИНН"]) for r in companies + people)
    assert all(len(r["КПП"]) == 9 for r in companies) and all(r["КПП"] == "" for r in people)


async def test_change_rewrites_exactly_k_documents(http: httpx.AsyncClient) -> None:
    await _book(http, seed=6, documents=500)
    before = {r["Ref_Key"]: r for name in (INCOMING, OUTGOING) for r in await _rows(http, name)}

    changed = (await http.post("/_emulator/book/change", json={"count": 17})).json()["changed"]

    after = {r["Ref_Key"]: r for name in (INCOMING, OUTGOING) for r in await _rows(http, name)}
    differ = {key for key in before if before[key] != after[key]}
    assert len(changed) == 17 and differ == set(changed)
    for key in changed:
        assert after[key]["DataVersion"] != before[key]["DataVersion"]
        assert after[key]["СуммаДокумента"] != before[key]["СуммаДокумента"]


async def test_pending_contractors_are_named_before_they_arrive(http: httpx.AsyncClient) -> None:
    book = await _book(http, seed=8, documents=600, contractors=40, pending_contractors=3)
    known = {r["Ref_Key"] for r in await _rows(http, CONTRACTORS)}
    named = {r["Контрагент"] for name in (INCOMING, OUTGOING) for r in await _rows(http, name)}
    strangers = {key for key in named - known if key not in ("", "00000000-0000-0000-0000-000000000000")}
    before = [(await _get(http, f"{CONTRACTORS}(guid'{key}')", expect=404)).status_code for key in strangers]

    arrived = (await http.post("/_emulator/book/arrive")).json()["arrived"]

    assert book["counts"]["pending_contractors"] == len(strangers) == 3 == len(before)
    assert set(arrived) == strangers
    for key in strangers:
        assert (await _get(http, f"{CONTRACTORS}(guid'{key}')")).json()["Ref_Key"] == key


async def test_insert_and_remove_documents(http: httpx.AsyncClient) -> None:
    await _book(http, seed=9, documents=100)
    inserted = (await http.post("/_emulator/book/insert", json={"count": 5, "date": "2024-02-29T00:00:00"})).json()
    removed = (await http.post("/_emulator/book/remove", json={"ref_keys": inserted["inserted"][:2]})).json()

    book = (await http.get("/_emulator/book")).json()
    leap_day = "Date eq datetime'2024-02-29T00:00:00'"
    on_day = [r["Ref_Key"] for name in (INCOMING, OUTGOING) for r in await _rows(http, name, **{"$filter": leap_day})]
    assert removed == {"removed": 2}
    assert book["counts"]["documents"] == 103
    assert set(inserted["inserted"][2:]) <= set(on_day)
    assert not set(inserted["inserted"][:2]) & set(on_day)


async def test_reset_brings_back_the_default_book(http: httpx.AsyncClient, onec_url: str) -> None:
    default = (await http.get("/_emulator/book")).json()
    await _book(http, seed=99, documents=10, contractors=5, folders=1)

    (await http.post("/_emulator/reset")).raise_for_status()

    assert (await http.get("/_emulator/book")).json() == default


async def test_bad_book_config_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.post("/_emulator/book", json={"date_from": "2024-05-01", "date_to": "2024-04-01"})

    assert response.status_code == 422


# --- auth and faults -----------------------------------------------------------------------------------------------


async def test_basic_auth_with_cyrillic_credentials(onec_url: str) -> None:
    url = onec_url + ROOT + quote(CONTRACTORS) + "?$format=json&$top=1"
    async with httpx.AsyncClient() as anonymous:
        nobody = await anonymous.get(url)
        wrong = await anonymous.get(url, auth=(ONEC_USER, "не тот"))
        right = await anonymous.get(url, auth=(ONEC_USER, ONEC_PASSWORD))

    assert nobody.status_code == wrong.status_code == 401
    assert nobody.headers["www-authenticate"].startswith("Basic")
    assert right.status_code == 200


async def test_expired_session_answers_401_n_times(http: httpx.AsyncClient) -> None:
    (await http.post("/_emulator/session", json={"times": 2})).raise_for_status()

    statuses = [(await http.get(ROOT + quote(CONTRACTORS), params={"$format": "json"})).status_code for _ in range(3)]

    assert statuses == [401, 401, 200]


async def test_expired_session_answers_401_for_a_while(http: httpx.AsyncClient) -> None:
    (await http.post("/_emulator/session", json={"seconds": 1.0})).raise_for_status()
    first = await http.get(ROOT + quote(CONTRACTORS), params={"$format": "json"})

    async def healed() -> bool:
        return (await http.get(ROOT + quote(CONTRACTORS), params={"$format": "json"})).status_code == 200

    assert first.status_code == 401
    assert "Сеанс" in _message(first)
    await eventually(healed, "the session to come back", within=10)


async def test_status_fault_answers_in_1c_envelope_with_retry_after(http: httpx.AsyncClient) -> None:
    rule = {"path": ROOT + INCOMING, "kind": "status", "status": 429, "retry_after": 7, "times": 1}
    (await http.post("/_emulator/faults", json=rule)).raise_for_status()

    limited = await http.get(ROOT + quote(INCOMING), params={"$format": "json"})
    other = await http.get(ROOT + quote(OUTGOING), params={"$format": "json"})
    again = await http.get(ROOT + quote(INCOMING), params={"$format": "json"})

    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    assert "odata.error" in limited.json()
    assert (other.status_code, again.status_code) == (200, 200)
    stats = (await http.get("/_emulator/stats")).json()
    assert stats["faults_applied"] == {ROOT + INCOMING: 1}


async def test_drop_fault_on_a_cyrillic_path(http: httpx.AsyncClient) -> None:
    rule = {"path": ROOT + CONTRACTORS, "kind": "drop", "times": 1}
    (await http.post("/_emulator/faults", json=rule)).raise_for_status()

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await http.get(ROOT + quote(CONTRACTORS), params={"$format": "json"})
    assert (await http.get(ROOT + quote(CONTRACTORS), params={"$format": "json"})).status_code == 200


async def test_slow_pages_delay_every_collection_page_only(http: httpx.AsyncClient) -> None:
    await _book(http, seed=1, documents=50, contractors=20, page_latency_ms=400)
    key = (await _rows(http, CONTRACTORS, **{"$top": 1}))[0]["Ref_Key"]

    started = time.monotonic()
    await _rows(http, CONTRACTORS, **{"$top": 5})
    page = time.monotonic() - started
    started = time.monotonic()
    await _get(http, f"{CONTRACTORS}(guid'{key}')")
    element = time.monotonic() - started

    assert page >= 0.35
    assert element < page


def _inn_valid(inn: str) -> bool:
    digits = [int(c) for c in inn]

    def check(weights: tuple[int, ...]) -> int:
        return sum(w * d for w, d in zip(weights, digits, strict=False)) % 11 % 10

    if len(digits) == 10:
        return check((2, 4, 10, 3, 5, 9, 4, 6, 8)) == digits[9]
    eleventh, twelfth = check((7, 2, 4, 10, 3, 5, 9, 4, 6, 8)), check((3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8))
    return (eleventh, twelfth) == (digits[10], digits[11])
