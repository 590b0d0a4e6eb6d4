"""What the tracker's screen reads besides the messages themselves, on the real stack: the chats messages came from
(the chat filter), a page's authors by id, and an author's avatar served from where the workers cached it, signed in
and never a file outside the avatars directory."""

import pytest
from sqlalchemy import text

from tests.support.tracker import seed_messages, window
from tests.support.tracker_live import (
    author,
    avatar_checked,
    hook,
    message,
    new_ids,
    stored_message,
    user_with_photo,
    webhook_api,
)

JPEG_START = b"\xff\xd8"


@pytest.fixture(scope="module")
def webhook_url(stack):
    with webhook_api(stack, "api-tracker-reads") as url:
        yield url


async def test_chats_list_each_chat_with_its_count_latest_first(admin, make_user, database):
    reader = await make_user("user")
    start, _ = window()
    older, newer = new_ids()[0], new_ids()[0]
    await seed_messages(database, older, start, ["one", "two", "three"])
    await seed_messages(database, newer, start.replace(hour=5), ["four"])
    page = await reader.ok("GET", "/api/v1/chats", params={"limit": 1000})
    chats = {c["telegram_chat_id"]: c for c in page["items"]}
    assert chats[older]["messages"] == 3 and chats[newer]["messages"] == 1
    ordered = [c["telegram_chat_id"] for c in page["items"]]
    assert ordered.index(newer) < ordered.index(older)
    assert page["total"] >= 2
    assert (await reader.http.get("/api/v1/chats", params={"limit": 0})).status_code == 422


async def test_profiles_by_id_and_an_avatar_served_to_the_signed_in_only(
    stack, admin, make_user, database, telegram_bot, webhook_url
):
    reader = await make_user("user")
    await hook(telegram_bot, webhook_url)
    chat, base = new_ids()
    pictured, plain = await user_with_photo(telegram_bot), await user_with_photo(telegram_bot, has_photo=False)
    await telegram_bot.deliver([
        {"update_id": base, "message": message(chat, 1, author(pictured, "Олена", "olena"), "hello from Olena")},
        {"update_id": base + 1, "message": message(chat, 2, author(plain, "Taras"), "hello from Taras")},
    ])  # fmt: skip
    first, second = await stored_message(database, chat, 1), await stored_message(database, chat, 2)
    with_photo, without = first["user_profile_id"], second["user_profile_id"]

    page = await reader.ok("GET", "/api/v1/profiles", params=[("id", with_photo), ("id", without)])
    assert sorted(p["id"] for p in page["items"]) == sorted([with_photo, without]) and page["total"] == 2
    assert {p["first_name"] for p in page["items"]} == {"Олена", "Taras"}

    assert await avatar_checked(database, with_photo)
    response = await reader.http.get(f"/api/v1/profiles/{with_photo}/avatar")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg" and response.content.startswith(JPEG_START)
    anonymous = await reader.http.get(f"/api/v1/profiles/{with_photo}/avatar", headers={"Authorization": ""})
    assert anonymous.status_code == 401

    assert await avatar_checked(database, without) is None
    missing = await reader.http.get(f"/api/v1/profiles/{without}/avatar")
    assert missing.status_code == 404 and "no avatar" in missing.json()["detail"]


async def test_an_avatar_path_outside_the_avatars_directory_is_never_served(admin, database):
    async with database.begin() as conn:
        profile_id = await conn.scalar(
            text(
                "INSERT INTO user_profile (telegram_user_id, first_name, is_bot, avatar_path, avatar_checked_at, "
                "created_at, updated_at) VALUES (:t, 'Mallory', false, :p, now(), now(), now()) RETURNING id"
            ),
            {"t": new_ids()[1], "p": "/etc/passwd"},
        )
    response = await admin.http.get(f"/api/v1/profiles/{profile_id}/avatar")
    assert response.status_code == 404
    assert (await admin.http.get("/api/v1/profiles/999999999/avatar")).status_code == 404
