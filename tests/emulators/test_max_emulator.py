"""The MAX emulator's own contract, spoken to in raw HTTP: what it stores, how it counts, what its controls do."""

from __future__ import annotations

import httpx
import pytest

TOKEN = "emulator-token"
H = {"Authorization": TOKEN}


@pytest.fixture
def http(max_url: str):
    with httpx.Client(base_url=max_url, headers=H) as client:
        yield client


def test_markdown_is_stored_as_plain_text_and_markup(http: httpx.Client) -> None:
    body = {"text": "😀 **bold** and [link](https://example.com/x)", "format": "markdown"}
    message = http.post("/messages", params={"chat_id": -1}, json=body).json()["message"]
    assert message["body"]["text"] == "😀 bold and link"
    assert message["body"]["markup"] == [
        {"type": "strong", "from": 3, "length": 4},
        {"type": "link", "from": 12, "length": 4, "url": "https://example.com/x"},
    ]
    assert message["recipient"] == {"chat_id": -1, "chat_type": "channel", "user_id": None}
    assert message["body"]["mid"].startswith("mid.")


def test_messages_read_back_newest_first_between_from_and_to(http: httpx.Client) -> None:
    sent = [http.post("/messages", params={"chat_id": -2}, json={"text": f"m{i}"}).json()["message"] for i in range(4)]
    everything = http.get("/messages", params={"chat_id": -2}).json()["messages"]
    assert [m["body"]["text"] for m in everything] == ["m3", "m2", "m1", "m0"]
    stamps = [m["timestamp"] for m in sent]
    window = http.get("/messages", params={"chat_id": -2, "from": stamps[2], "to": stamps[1]}).json()["messages"]
    assert {m["body"]["text"] for m in window} >= {"m2", "m1"}
    assert all(stamps[1] <= m["timestamp"] <= stamps[2] for m in window)
    assert http.get("/messages", params={"chat_id": -2, "count": 101}).status_code == 400


def test_an_upload_url_takes_one_file(http: httpx.Client) -> None:
    url = http.post("/uploads", params={"type": "file"}).json()["url"]
    first = http.post(url, files={"data": ("a.txt", b"hello")})
    assert first.status_code == 200
    assert set(first.json()) == {"fileId", "token"}
    again = http.post(url, files={"data": ("a.txt", b"hello")})
    assert again.status_code == 400


def test_upload_answers_have_the_real_shapes(http: httpx.Client) -> None:
    image = http.post("/uploads", params={"type": "image"}).json()
    assert set(image) == {"url"}
    photos = http.post(image["url"], files={"data": ("p.jpg", b"\xff\xd8")}).json()["photos"]
    assert [set(v) for v in photos.values()] == [{"token"}]
    video = http.post("/uploads", params={"type": "video"}).json()
    assert set(video) == {"url", "token"}
    assert http.post(video["url"], files={"data": ("v.mp4", b"\x00" * 10)}).text == "<retval>1</retval>"
    assert http.post("/uploads", params={"type": "sticker"}).json()["code"] == "proto.payload"


def test_requests_are_counted_per_token_and_second(http: httpx.Client, max_url: str) -> None:
    http.post("/_emulator/max/config", json={"rate_limit_per_second": 3})
    answers = [http.get("/me").status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    other = httpx.get(f"{max_url}/me", headers={"Authorization": "other-token"})
    assert other.status_code == 200
    stats = http.get("/_emulator/stats").json()["max"]["tokens"]
    assert stats[TOKEN] == {"requests": 5, "rejected": 2, "max_per_second": 5, "by_endpoint": {"GET /me": 5}}
    assert stats["other-token"]["max_per_second"] == 1


def test_no_token_is_401(max_url: str) -> None:
    answer = httpx.get(f"{max_url}/me")
    assert (answer.status_code, answer.json()["code"]) == (401, "verify.token")


def test_reset_forgets_everything(http: httpx.Client) -> None:
    http.post("/messages", params={"chat_id": -3}, json={"text": "kept?"})
    http.post("/_emulator/max/config", json={"strict": True})
    assert http.get("/_emulator/stats").json()["max"]["chats"]["-3"]["messages"][0]["body"]["text"] == "kept?"
    http.post("/_emulator/reset")
    assert http.get("/_emulator/stats").json()["max"] == {"tokens": {}, "chats": {}}
    assert http.get("/me").status_code == 200  # strict is off again
