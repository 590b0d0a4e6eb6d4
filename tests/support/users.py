"""Fresh users with a role, made through an admin's API: the `make_user` fixture, and a test's own deployment."""

import itertools
from contextlib import asynccontextmanager

from devstack.clients import Api

_names = itertools.count(1)


@asynccontextmanager
async def users_of(admin: Api):
    """A maker of fresh users with a role, created through `admin`'s API (so in its database) and signed in there:
    a token is only good where its user is known now (api/user_state.py)."""
    made: list[Api] = []

    async def make(role: str = "user") -> Api:
        username = f"{role}{next(_names)}"
        body = {"username": username, "password": "password-1", "role": role}
        await admin.ok("POST", "/api/v1/users", 201, json=body)
        api = await Api.login(str(admin.http.base_url), username, "password-1")
        api.username = username
        made.append(api)
        return api

    try:
        yield make
    finally:
        for api in made:
            await api.close()
