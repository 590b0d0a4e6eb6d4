"""The authorization matrix: every route of the app's own route table, asked by six identities, answers what its
row says. A route added without a row fails here, so nobody ships a route whose gate no one decided.

Each request is made so that passing the gate cannot change anything: a body that fails validation (422), an id
that does not exist (404), or, on the routes whose gate is ownership, a harmless request on the user's own finished
job and WebBuddy query. The deployment has its own database and task queue, so the one probe that must start work
(a contractors sync) touches nobody else's."""

import asyncio
import contextlib
import itertools
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api import dashboard
from api.app import ROUTERS, create_app
from devstack.clients import Api
from devstack.stack import ADMIN_PASSWORD
from tests.support.deployment import deployment
from tests.support.news import discover, make_sources
from workflows.onec import CONTRACTORS_JOB_ID

IDENTITIES = ("anonymous", "user", "other", "worker", "manager", "admin")
PASS = "pass"  # the route's own answer: neither 401/403 nor a 404 hiding someone else's item, and never a 5xx

# What each identity gets from each gate, in IDENTITIES order.
GATES: dict[str, tuple[Any, ...]] = {
    "public": (PASS, PASS, PASS, PASS, PASS, PASS),
    "signed in": (401, PASS, PASS, PASS, PASS, PASS),
    # People start jobs of their own; the worker role is a service account for the WebBuddy queue.
    "people": (401, PASS, PASS, 403, PASS, PASS),
    # Shared configuration and the jobs that run on it (sources, channels, links, rules, syncs, tracker runs).
    "editors": (401, 403, 403, 403, PASS, PASS),
    "admin": (401, 403, 403, 403, 403, PASS),
    "queue workers": (401, 403, 403, PASS, 403, PASS),
    # A job is its owner's and the admins'; to anyone else it does not exist.
    "job owner": (401, PASS, 404, 404, 404, PASS),
    # A WebBuddy query is its author's; queue workers and admins see every one (they process them).
    "query owner": (401, PASS, 404, PASS, 404, PASS),
    # WebBuddy's site pushes without a token: such a push may only wake the queue (the oldest queued query gets its
    # workflow), answers the same whatever query it names, and is rate limited per address; with a token, as above.
    "tokenless wakes the queue, else query owner": (PASS, PASS, 404, PASS, 404, PASS),
    # Only Telegram, with the webhook's secret header, whoever the bearer is.
    "telegram secret": (401, 401, 401, 401, 401, 401),
    # Only the Temporal Web UI, given the key in its path; a wrong key is a path that does not exist.
    "web ui key": (404, 404, 404, 404, 404, 404),
}

ROUTES = {
    # auth
    "POST /api/login/": "public",
    "POST /api/token/refresh/": "public",
    "POST /api/logout/": "public",  # the refresh token it ends is the credential
    "GET /api/v1/users/me": "signed in",
    "POST /api/v1/users/me/telegram/link": "signed in",
    "DELETE /api/v1/users/me/telegram": "signed in",
    "POST /api/v1/users": "admin",
    # the payload codec, for the CLI and the Temporal Web UI
    "POST /api/v1/codec/decode": "admin",
    "POST /api/v1/codec/encode": "admin",
    "POST /api/v1/codec/web-ui/{key}/decode": "web ui key",
    "POST /api/v1/codec/web-ui/{key}/encode": "web ui key",
    # Prometheus scrapes without a token: counts and latencies, no content
    "GET /metrics": "public",
    # health and the dashboard
    "GET /api/v1/health": "public",
    "GET /": "public",
    "GET /favicon.svg": "public",
    # the page again, at each screen's path (a reload lands on the screen); what it shows asks the API
    "GET /{screen}": "public",
    "GET /{screen}/{rest:path}": "public",
    "GET /api/v1/config": "signed in",
    # jobs and WebBuddy-shaped tasks: lists and sockets show each caller their own
    "GET /api/v1/jobs": "signed in",
    "GET /api/v1/jobs/{job_id}": "job owner",
    "POST /api/v1/jobs/{job_id}/cancel": "job owner",
    "POST /api/v1/jobs/cleanup": "admin",
    "POST /api/v1/jobs/cancel": "admin",
    # The owner's finished discovery, started again over the same sources (the one probe here that starts a job of
    # the owner's: in this deployment's own database and queue).
    "POST /api/v1/jobs/{job_id}/rerun": "job owner",
    "GET /api/v1/services": "admin",
    "WS /api/v1/ws/jobs": "signed in",
    "WS /api/v1/ws/jobs/{job_id}": "job owner",
    "WS /api/v1/ws/events": "signed in",
    "GET /api/v1/tasks": "signed in",
    "GET /api/v1/tasks/{task_id}": "job owner",
    "POST /api/v1/tasks/{task_id}/cancel": "job owner",
    "POST /api/v1/tasks/cleanup": "admin",
    "WS /api/v1/ws/tasks": "signed in",
    "WS /api/v1/ws/tasks/{task_id}": "job owner",
    # news discovery
    "GET /api/v1/news/sources": "signed in",
    "POST /api/v1/news/sources": "editors",
    "GET /api/v1/news/sources/{source_id}": "signed in",
    "PATCH /api/v1/news/sources/{source_id}": "editors",
    "DELETE /api/v1/news/sources/{source_id}": "editors",
    "POST /api/v1/news/discover": "people",
    "GET /api/v1/news/discover/{job_id}": "job owner",
    "GET /api/v1/news/drafts": "signed in",
    "PATCH /api/v1/news/drafts/{draft_id}": "editors",
    "POST /api/v1/news/drafts/{draft_id}/publish": "editors",
    "POST /api/v1/news/drafts/{draft_id}/reject": "editors",
    # WebBuddy
    "POST /api/projects/": "signed in",
    "GET /api/projects/": "signed in",
    "POST /api/queries/": "signed in",
    "GET /api/queries/": "signed in",
    "POST /api/queries/claim_next/": "queue workers",
    "GET /api/queries/{query_id}/": "query owner",
    "PATCH /api/queries/{query_id}/": "query owner",
    "POST /api/logs/": "query owner",
    "GET /api/logs/": "query owner",
    "POST /api/process-query": "tokenless wakes the queue, else query owner",
    # Telegram to MAX migration
    "GET /api/v1/telegram-exports": "editors",
    "GET /api/v1/telegram-channels": "signed in",
    "POST /api/v1/telegram-channels": "editors",
    "GET /api/v1/telegram-channels/{channel_id}": "signed in",
    "PATCH /api/v1/telegram-channels/{channel_id}": "editors",
    "DELETE /api/v1/telegram-channels/{channel_id}": "editors",
    "GET /api/v1/max-channels": "signed in",
    "POST /api/v1/max-channels": "editors",
    "GET /api/v1/max-channels/{channel_id}": "signed in",
    "PATCH /api/v1/max-channels/{channel_id}": "editors",
    "DELETE /api/v1/max-channels/{channel_id}": "editors",
    "GET /api/v1/links": "signed in",
    "POST /api/v1/links": "editors",
    "GET /api/v1/links/{link_id}": "signed in",
    "PATCH /api/v1/links/{link_id}": "editors",
    "DELETE /api/v1/links/{link_id}": "editors",
    "POST /api/v1/migrations": "editors",
    "POST /api/v1/migrations/{link_id}/retry-failed": "editors",
    "POST /api/v1/migrations/{link_id}/pause": "editors",
    "POST /api/v1/migrations/{link_id}/resume": "editors",
    "GET /api/v1/migrations/{link_id}": "signed in",
    "GET /api/v1/migrations/{link_id}/log": "signed in",
    # 1C
    "POST /api/v1/sync-1c/bank-transactions/sync-async": "editors",
    "POST /api/v1/sync-1c/contractors/sync-async": "editors",
    "GET /api/v1/sync-1c/bank-transactions": "signed in",
    "PATCH /api/v1/sync-1c/bank-transactions/{ref_key}": "editors",
    "GET /api/v1/sync-1c/categories": "signed in",
    "GET /api/v1/sync-1c/contractors": "signed in",
    "GET /api/v1/sync-1c/last-syncs": "signed in",
    "GET /api/v1/sync-1c/rules": "signed in",
    "POST /api/v1/sync-1c/rules": "editors",
    "PUT /api/v1/sync-1c/rules/order": "editors",
    "PATCH /api/v1/sync-1c/rules/{rule_id}": "editors",
    "DELETE /api/v1/sync-1c/rules/{rule_id}": "editors",
    "GET /api/v1/sync-1c/schedules": "signed in",
    "POST /api/v1/sync-1c/schedules/{name}/pause": "editors",
    "POST /api/v1/sync-1c/schedules/{name}/unpause": "editors",
    # the tracker
    "POST /webhook/telegram": "telegram secret",
    "GET /api/v1/agents": "signed in",
    "POST /api/v1/agents": "admin",
    "GET /api/v1/agents/{agent_id}": "signed in",
    "PATCH /api/v1/agents/{agent_id}": "admin",
    "DELETE /api/v1/agents/{agent_id}": "admin",
    "GET /api/v1/providers": "signed in",
    "POST /api/v1/providers": "admin",
    "GET /api/v1/providers/{provider_id}": "signed in",
    "PATCH /api/v1/providers/{provider_id}": "admin",
    "DELETE /api/v1/providers/{provider_id}": "admin",
    "POST /api/v1/runs": "editors",
    "GET /api/v1/runs": "signed in",
    "GET /api/v1/runs/{run_id}": "signed in",
    "POST /api/v1/runs/{run_id}/cancel": "editors",
    "GET /api/v1/proposals": "signed in",
    "GET /api/v1/proposals/{proposal_id}": "signed in",
    "PATCH /api/v1/proposals/{proposal_id}": "editors",
    "POST /api/v1/experiments": "editors",
    "GET /api/v1/experiments": "signed in",
    "GET /api/v1/experiments/{experiment_id}": "signed in",
    "POST /api/v1/experiments/{experiment_id}/cancel": "editors",
    "POST /api/v1/embeddings": "editors",
    "GET /api/v1/search": "signed in",
    "POST /api/v1/ingestion": "editors",
    "GET /api/v1/ingestion": "signed in",
    "GET /api/v1/ingestion/{ingestion_id}": "signed in",
    "POST /api/v1/ingestion/{ingestion_id}/cancel": "editors",
    "GET /api/v1/messages": "signed in",
    "GET /api/v1/messages/{message_id}": "signed in",
    "GET /api/v1/profiles": "signed in",
    "GET /api/v1/profiles/{profile_id}": "signed in",
    "GET /api/v1/profiles/{profile_id}/avatar": "signed in",
    "GET /api/v1/chats": "signed in",
    "GET /api/v1/topics": "signed in",
    "GET /api/v1/topics/{topic_id}": "signed in",
    "GET /api/v1/atoms": "signed in",
    "GET /api/v1/atoms/{atom_id}": "signed in",
    "POST /api/v1/scoring/unscored": "editors",
    "POST /api/v1/extraction": "editors",
}


def route_table() -> dict[str, APIRoute | APIWebSocketRoute]:
    """ "METHOD path" of every route the API serves: its routers, and the dashboard's."""
    table = {}
    for router in (*ROUTERS, dashboard.router):
        for route in router.routes:
            if isinstance(route, APIWebSocketRoute):
                table[f"WS {route.path}"] = route
            elif isinstance(route, APIRoute):
                for method in route.methods:
                    table[f"{method} {route.path}"] = route
    return table


def test_every_route_has_a_row():
    table = route_table()
    documented = {
        f"{method.upper()} {path}" for path, item in create_app().openapi()["paths"].items() for method in item
    }
    assert documented <= set(table), f"routes outside api.app.ROUTERS: {sorted(documented - set(table))}"
    assert not set(table) - set(ROUTES), f"routes without a row in ROUTES: {sorted(set(table) - set(ROUTES))}"
    assert not set(ROUTES) - set(table), f"rows for routes that are gone: {sorted(set(ROUTES) - set(table))}"
    assert set(ROUTES.values()) <= set(GATES)


@dataclass
class Owned:
    """What the user owns, for the rows whose gate is ownership."""

    job_id: str
    project_id: int
    query_id: int


# Ids that name nothing: the gate is passed, then the route answers 404 or 422 and changes nothing.
NOBODY = {"name": "no-such-schedule"}


def request_for(key: str, route: APIRoute, owned: Owned) -> tuple[str, dict[str, Any]]:
    """The URL and request arguments that probe `key` (see the module's docstring)."""
    method, path = key.split(" ", 1)
    ids = {"job_id": owned.job_id, "task_id": owned.job_id, "query_id": str(owned.query_id), "screen": "jobs"}
    url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: ids.get(m[1]) or NOBODY.get(m[1], "0"), path)
    special: dict[str, dict[str, Any]] = {
        "GET /api/logs/": {"params": {"query": owned.query_id}},
        "POST /api/logs/": {"json": {"project": owned.project_id, "query": owned.query_id, "log_data": "probe"}},
        "PATCH /api/queries/{query_id}/": {"json": {}},
        "POST /api/process-query": {"json": {"query_id": owned.query_id}},
        "POST /api/v1/jobs/{job_id}/cancel": {"json": {}},  # the job has finished: 409 for those who may
        "POST /api/v1/jobs/cleanup": {"params": {"max_age_hours": -1}},
        "POST /api/v1/tasks/cleanup": {"params": {"max_age_hours": -1}},
        # A body that parses, so the answer is the key's (the path's {key} is "0").
        "POST /api/v1/codec/web-ui/{key}/decode": {"json": {"payloads": []}},
        "POST /api/v1/codec/web-ui/{key}/encode": {"json": {"payloads": []}},
    }
    if key in special:
        return url, special[key]
    if route.dependant.body_params:
        return url, {"json": "not the body this route takes"}
    return url, {}


async def http_answer(client: Api, key: str, route: APIRoute, owned: Owned) -> tuple[int, Any]:
    url, kwargs = request_for(key, route, owned)
    response = await client.http.request(key.split(" ", 1)[0], url, **kwargs)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return response.status_code, body


async def socket_answer(base_url: str, token: str | None, key: str, owned: Owned, expected: Any) -> int | str:
    """PASS, or the close code the socket was refused with (4401: not signed in, 4404: not theirs)."""
    path = key.split(" ", 1)[1].replace("{job_id}", owned.job_id).replace("{task_id}", owned.job_id)
    async with connect("ws" + base_url.removeprefix("http") + path) as ws:
        await ws.send(json.dumps({"token": token or ""}))
        if "{" in key or key.endswith("/ws/events"):
            # These speak first: the job's (closed) snapshot, or `stream.ready`.
            try:
                await asyncio.wait_for(ws.recv(), 30)
                return PASS
            except ConnectionClosed:
                return ws.close_code
        # The list sockets say nothing until a job changes. A refusal is waited for (the server closes); an accepted
        # socket is closed by us, and answers our close with its own 1000.
        if expected == PASS:
            await ws.close()
        else:
            with contextlib.suppress(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 30)
        return PASS if ws.close_code == 1000 else ws.close_code


def verdict(expected: Any, key: str, status: int | str, body: Any) -> str | None:
    """Why the answer is wrong, or None."""
    if key.startswith("WS "):
        wanted = {PASS: PASS, 401: 4401, 404: 4404}[expected]
        return None if status == wanted else f"socket answered {status}, expected {wanted}"
    if status >= 500:
        return f"{status} {body}"
    if expected == PASS:
        refused = status in (401, 403) or (status == 404 and ROUTES[key].endswith("owner"))
        return f"refused with {status}: {body}" if refused else None
    if status != expected:
        return f"answered {status} ({body}), expected {expected}"
    detail = body.get("detail") if isinstance(body, dict) else None
    return None if isinstance(detail, str) and detail else f"{status} without a detail saying why: {body}"


_names = itertools.count(1)


async def signed_in(base_url: str, admin: Api, role: str) -> Api:
    username = f"authz-{role}-{next(_names)}"
    body = {"username": username, "password": "password-1", "role": role}
    await admin.ok("POST", "/api/v1/users", 201, json=body)
    return await Api.login(base_url, username, "password-1")


@pytest.fixture
async def matrix_deployment(stack, admin):
    url = stack.create_database(f"authz_{uuid.uuid4().hex[:8]}")
    async with deployment(stack, admin, "authz", "longrun-authz", LONGRUN_DATABASE_URL=url) as api:
        yield api.url


async def test_authorization_matrix(stack, matrix_deployment):
    base = matrix_deployment
    admin = await Api.login(base, "admin", ADMIN_PASSWORD)
    clients = {"anonymous": Api(base), "admin": admin}
    for name, role in (("user", "user"), ("other", "user"), ("worker", "worker"), ("manager", "manager")):
        clients[name] = await signed_in(base, admin, role)
    user = clients["user"]
    job_id = await discover(user, await make_sources(admin, stack, 1, items=2))
    assert (await user.wait_job(job_id))["status"] == "completed"
    project = await user.ok("POST", "/api/projects/", 201, json={"name": "authz"})
    query = await user.ok("POST", "/api/queries/", 201, json={"project": project["id"], "query_text": "who?"})
    owned = Owned(job_id=job_id, project_id=project["id"], query_id=query["id"])

    wrong = []
    table = route_table()
    for key, gate in ROUTES.items():
        for identity, expected in zip(IDENTITIES, GATES[gate], strict=True):
            client = clients[identity]
            if key.startswith("WS "):
                status, body = await socket_answer(base, client.token, key, owned, expected), None
            else:
                status, body = await http_answer(client, key, table[key], owned)
            if why := verdict(expected, key, status, body):
                wrong.append(f"{key} as {identity} ({gate}): {why}")
    cells = len(ROUTES) * len(IDENTITIES)
    assert not wrong, f"{len(wrong)} of {cells} cells wrong:\n" + "\n".join(wrong)

    # The contractors-sync probe started a real sync here; it ends before the deployment is stopped.
    assert (await admin.wait_job(CONTRACTORS_JOB_ID, within=120))["status"] == "completed"
    for client in clients.values():
        await client.close()
    print(json.dumps({"routes": len(ROUTES), "identities": len(IDENTITIES), "cells": cells}))
