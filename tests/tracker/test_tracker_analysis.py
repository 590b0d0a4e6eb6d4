"""Analysis runs and classification experiments on the real stack: messages seeded in Postgres, the LLM's answers
planted in the OpenAI emulator, the jobs run by the stack's worker, their events read from the events socket."""

import os
import random
import uuid
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest
from sqlalchemy import text

from clients.llm import LLMClient
from devstack.clients import eventually
from settings import Settings
from tests.support.events import open_stream
from tests.support.histories import record
from tests.support.tracker import job_events, run_messages, seed_messages, unique_word, window
from workflows.tracker_batch_job import BATCH_RETRY


async def seed_topics(database, names: list[str]) -> list[int]:
    async with database.begin() as conn:
        return [
            await conn.scalar(
                text(
                    "INSERT INTO topic (name, description, created_at, updated_at) "
                    "VALUES (:n, '', now(), now()) RETURNING id"
                ),
                {"n": name},
            )
            for name in names
        ]


async def seed_atom(database, stack, title: str, content: str) -> int:
    """An atom with its embedding from the same model (the emulator's) a run embeds its batches with."""
    llm = LLMClient(Settings(openai_base_url=f"{stack.openai_url}/v1", _env_file=None))
    try:
        [vector] = await llm.embed([f"{title}\n{content}"])
    finally:
        await llm.close()
    async with database.begin() as conn:
        return await conn.scalar(
            text(
                "INSERT INTO atom (type, title, content, confidence, embedding, created_at) "
                "VALUES ('decision', :title, :content, 0.9, CAST(:vector AS vector), now()) RETURNING id"
            ),
            {"title": title, "content": content, "vector": str(vector)},
        )


async def plant(llm, **spec) -> None:
    await llm.control("POST", "/_emulator/openai/plant", **spec)


async def keep_history(temporal, job_id: str, name: str) -> None:
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, job_id, name)


async def test_a_run_with_rag_proposes_from_the_similar_atom_and_reports_in_order(
    stack, database, admin, llm, temporal
):
    word = unique_word()
    start, end = window()
    ids = await seed_messages(database, -random.randrange(10**9), start, run_messages(word))
    atom_title = f"The {word} billing export runs out of memory"
    await seed_atom(database, stack, atom_title, f"Decision: the {word} export streams invoice rows in pages.")
    planted = {
        "title": f"Stream the {word} export",
        "description": "Page the billing export so it stops crashing",
        "priority": "high",
        "confidence": 0.9,
        "messages": [{"index": 1}],
    }
    # Only a prompt that carries the atom (RAG context) gets this answer.
    await plant(llm, contains=atom_title, answer={"proposals": [planted]})
    body = {"time_window_start": start.isoformat(), "time_window_end": end.isoformat(), "batch_size": 2}

    async with AsyncExitStack() as sockets:
        ws = await open_stream(sockets, stack.api_url, admin.token)
        started = await admin.ok("POST", "/api/v1/runs", 202, json={**body, "use_rag": True})
        job_id = started["job_id"]
        assert job_id == f"tracker-run-{started['id']}"
        events = await job_events(ws, job_id)
    snapshot = await admin.wait_job(job_id)
    assert snapshot["status"] == "completed"

    run = await admin.ok("GET", f"/api/v1/runs/{started['id']}")
    assert run["status"] == "completed"
    assert (run["messages_total"], run["messages_after_filter"], run["batches_total"]) == (5, 3, 2)
    assert (run["batches_completed"], run["proposals_total"]) == (2, 2)
    assert run["error_log"] is None
    # Batch 0 is messages 1 and 3 (2 and 4 were dropped), batch 1 message 5; each proposal cites its first message.
    assert [
        (p["batch_index"], p["title"], p["confidence"], p["priority"], p["source_message_ids"])
        for p in run["proposals"]
    ] == [
        (0, planted["title"], 0.9, "high", [ids[0]]),
        (1, planted["title"], 0.9, "high", [ids[4]]),
    ]
    assert [(e["type"], e["seq"]) for e in events] == [
        ("analysis.run_started", 1),
        ("analysis.batch_completed", 2),
        ("analysis.batch_completed", 3),
        ("analysis.run_completed", 4),
    ]
    # The window's size is counted when the run starts; what the prefilter keeps is known once it is read.
    assert events[0]["data"] == {
        "run_id": started["id"],
        "messages_total": 5,
        "messages_after_filter": None,
        "batches_total": None,
    }
    assert events[-1]["data"]["batches_total"] == 2
    assert [e["data"]["batches_completed"] for e in events[1:3]] == [1, 2]
    await keep_history(temporal, job_id, "AnalysisRun-rag-completed")

    # The same window without RAG: the atom is not in the prompt, so the planted answer is not given.
    without = await admin.ok("POST", "/api/v1/runs", 202, json=body)
    assert (await admin.wait_job(without["job_id"]))["status"] == "completed"
    plain = await admin.ok("GET", f"/api/v1/runs/{without['id']}")
    assert plain["proposals"] and planted["title"] not in {p["title"] for p in plain["proposals"]}


async def test_a_run_whose_every_llm_call_fails_is_failed_with_its_error_log(stack, database, admin, llm, temporal):
    word = unique_word()
    start, end = window()
    await seed_messages(database, -random.randrange(10**9), start, run_messages(word))
    # A 400 is final: each batch fails for good at its first attempt.
    await llm.fault(path="/v1/chat/completions", kind="status", status=400)
    body = {"time_window_start": start.isoformat(), "time_window_end": end.isoformat(), "batch_size": 2}
    async with AsyncExitStack() as sockets:
        ws = await open_stream(sockets, stack.api_url, admin.token)
        started = await admin.ok("POST", "/api/v1/runs", 202, json=body)
        events = await job_events(ws, started["job_id"])
    snapshot = await admin.wait_job(started["job_id"])
    assert snapshot["status"] == "failed"
    run = await admin.ok("GET", f"/api/v1/runs/{started['id']}")
    assert run["status"] == "failed"
    assert (run["batches_completed"], run["proposals_total"], run["proposals"]) == (0, 0, [])
    assert [entry["batch"] for entry in run["error_log"]] == [0, 1, None]
    assert all("400" in entry["error"] for entry in run["error_log"][:2])
    assert run["error_log"][2]["error"] == "all 2 batches failed"
    assert [(e["type"], e["seq"]) for e in events] == [("analysis.run_started", 1), ("analysis.run_failed", 2)]
    assert events[1]["data"]["error"] == "all 2 batches failed"
    await keep_history(temporal, started["job_id"], "AnalysisRun-failed")


async def test_a_batch_refused_after_transient_faults_is_failed_at_once_naming_them(stack, database, admin, llm):
    word = unique_word()
    start, end = window()
    await seed_messages(database, -random.randrange(10**9), start, run_messages(word))
    await llm.fault(path="/v1/chat/completions", kind="status", status=429, retry_after=0.05, times=2)
    await llm.fault(path="/v1/chat/completions", kind="status", status=400, times=1)
    body = {"time_window_start": start.isoformat(), "time_window_end": end.isoformat(), "batch_size": 10}
    started = await admin.ok("POST", "/api/v1/runs", 202, json=body)
    snapshot = await admin.wait_job(started["job_id"], within=60)
    assert snapshot["status"] == "failed"
    run = await admin.ok("GET", f"/api/v1/runs/{started['id']}")
    assert run["error_log"][0]["batch"] == 0
    assert "400" in run["error_log"][0]["error"] and "(after: 2 × HTTP 429)" in run["error_log"][0]["error"]
    assert await llm.requests("/v1/chat/completions") == 3, "the 400 was not retried"
    assert BATCH_RETRY.maximum_attempts == 0, "attempts are not what bounds a batch"


async def test_a_cancelled_run_stops_and_says_so(stack, database, admin, llm, temporal):
    word = unique_word()
    start, end = window()
    await seed_messages(database, -random.randrange(10**9), start, run_messages(word) * 2)
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=20_000)
    body = {"time_window_start": start.isoformat(), "time_window_end": end.isoformat(), "batch_size": 1}
    started = await admin.ok("POST", "/api/v1/runs", 202, json=body)

    async def in_flight():
        return await llm.requests("/v1/chat/completions")

    await eventually(in_flight, "the first batch to reach the LLM")
    cancelling = await admin.ok("POST", f"/api/v1/runs/{started['id']}/cancel", 202)
    assert cancelling["job_id"] == started["job_id"]
    snapshot = await admin.wait_job(started["job_id"], within=30)
    assert snapshot["status"] == "cancelled"
    run = await admin.ok("GET", f"/api/v1/runs/{started['id']}")
    assert run["status"] == "cancelled"
    # The window was read up to the batch the cancel stopped: one batch cut, none completed.
    assert run["batches_total"] == 1 and run["batches_completed"] == 0 and run["proposals"] == []
    assert await llm.requests("/v1/chat/completions") == 1  # no batch started after the cancel
    await admin.ok("POST", f"/api/v1/runs/{started['id']}/cancel", 409)
    await keep_history(temporal, started["job_id"], "AnalysisRun-cancelled")


async def test_an_experiments_accuracy_and_confusion_matrix_are_the_planted_truth(
    stack, database, admin, llm, temporal
):
    word = unique_word()
    names = [f"Billing {word}", f"Deploys {word}", f"Hiring {word}"]
    topics = await seed_topics(database, names)
    chat_id = -random.randrange(10**9)
    start, _ = window()
    # 25 messages: topic n % 3; the classifier is planted right on 20 of them and wrong on 5 (the next topic).
    truth = [n % 3 for n in range(25)]
    wrong = {3, 7, 11, 18, 24}
    texts = [f"message {word} number m{n}x about things" for n in range(25)]
    await seed_messages(database, chat_id, start, texts, [topics[t] for t in truth])
    await seed_messages(database, chat_id, start - timedelta(days=1), ["an unlabelled message in the same chat"])
    for n, actual in enumerate(truth):
        predicted = (actual + 1) % 3 if n in wrong else actual
        await plant(llm, contains=f"m{n}x", item={"topic": names[predicted]})
    expected: dict[str, dict[str, int]] = {}
    for n, actual in enumerate(truth):
        predicted = names[(actual + 1) % 3] if n in wrong else names[actual]
        row = expected.setdefault(names[actual], {})
        row[predicted] = row.get(predicted, 0) + 1

    async with AsyncExitStack() as sockets:
        ws = await open_stream(sockets, stack.api_url, admin.token)
        started = await admin.ok(
            "POST", "/api/v1/experiments", 202, json={"message_count": 50, "telegram_chat_id": chat_id}
        )
        events = await job_events(ws, started["job_id"])
    assert started["job_id"] == f"tracker-experiment-{started['id']}"
    snapshot = await admin.wait_job(started["job_id"])
    assert snapshot["status"] == "completed"
    experiment = await admin.ok("GET", f"/api/v1/experiments/{started['id']}")
    assert experiment["status"] == "completed"
    assert (experiment["classified"], experiment["correct"]) == (25, 20)
    assert experiment["accuracy"] == 20 / 25
    assert experiment["confusion_matrix"] == expected
    # Batches of 20: a progress event after 20 and after 25 (one per 10 messages at most, and the last).
    assert [(e["type"], e["seq"]) for e in events] == [
        ("experiment_started", 1),
        ("experiment_progress", 2),
        ("experiment_progress", 3),
        ("experiment_completed", 4),
    ]
    assert [e["data"]["classified"] for e in events[1:3]] == [20, 25]
    assert events[3]["data"]["accuracy"] == 0.8
    listed = await admin.ok("GET", "/api/v1/experiments")
    assert started["id"] in {e["id"] for e in listed}
    await keep_history(temporal, started["job_id"], "ClassificationExperiment-completed")


async def test_an_experiment_with_nothing_to_measure_fails_and_says_why(stack, admin, llm):
    started = await admin.ok(
        "POST", "/api/v1/experiments", 202, json={"message_count": 5, "telegram_chat_id": -random.randrange(10**9)}
    )
    assert (await admin.wait_job(started["job_id"]))["status"] == "failed"
    experiment = await admin.ok("GET", f"/api/v1/experiments/{started['id']}")
    assert (experiment["status"], experiment["error_message"]) == ("failed", "no messages with a known topic")


async def test_proposals_are_reviewed_by_editors_and_read_by_everyone(stack, database, admin, llm, make_user):
    word = unique_word()
    start, end = window()
    await seed_messages(database, -random.randrange(10**9), start, run_messages(word))
    body = {"time_window_start": start.isoformat(), "time_window_end": end.isoformat()}
    started = await admin.ok("POST", "/api/v1/runs", 202, json=body)
    await admin.wait_job(started["job_id"])
    proposals = await admin.ok("GET", f"/api/v1/proposals?run_id={started['id']}")
    assert proposals, "the emulator proposes something for the kept messages"
    first = proposals[-1]["id"]
    manager, viewer = await make_user("manager"), await make_user("user")
    approved = await manager.ok("PATCH", f"/api/v1/proposals/{first}", json={"status": "approved"})
    assert approved["status"] == "approved"
    await viewer.ok("PATCH", f"/api/v1/proposals/{first}", 403, json={"status": "rejected"})
    assert (await viewer.ok("GET", f"/api/v1/proposals/{first}"))["status"] == "approved"
    bad = await manager.http.patch(f"/api/v1/proposals/{first}", json={"status": "maybe"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "status"]
    await viewer.ok("GET", f"/api/v1/runs/{started['id']}")
    await viewer.ok("GET", "/api/v1/runs")
    await viewer.ok("POST", "/api/v1/runs", 403, json=body)
    await viewer.ok("POST", "/api/v1/experiments", 403, json={})
    await viewer.ok("POST", f"/api/v1/runs/{started['id']}/cancel", 403)
    await manager.ok("GET", "/api/v1/proposals/999999999", 404)


@pytest.mark.parametrize(
    ("path", "change", "field"),
    [
        ("/api/v1/runs", {"time_window_end": "2000-12-31T00:00:00Z"}, "time_window_end"),
        ("/api/v1/runs", {"batch_size": 0}, "batch_size"),
        ("/api/v1/runs", {"batch_size": 501}, "batch_size"),
        ("/api/v1/runs", {"agent_config_id": 999999999}, "agent_config_id"),
        ("/api/v1/experiments", {"message_count": 0}, "message_count"),
        ("/api/v1/experiments", {"agent_config_id": 999999999}, "agent_config_id"),
    ],
)
async def test_bad_input_is_422_naming_the_field(admin, path, change, field):
    body = {"time_window_start": "2001-01-01T00:00:00Z", "time_window_end": "2001-01-02T00:00:00Z"}
    response = await admin.http.post(path, json={**body, **change})
    assert response.status_code == 422, response.text
    assert ["body", field] in [error["loc"] for error in response.json()["detail"]]


async def test_an_agent_config_of_another_role_is_refused_naming_the_field(admin):
    classifiers = await admin.ok("GET", "/api/v1/agents?role=topic_classifier&active=true")
    assert len(classifiers) == 1
    response = await admin.http.post(
        "/api/v1/runs",
        json={
            "time_window_start": "2001-01-01T00:00:00Z",
            "time_window_end": "2001-01-02T00:00:00Z",
            "agent_config_id": classifiers[0]["id"],
        },
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "agent_config_id"]


async def test_agent_configs_have_defaults_and_one_active_per_role(admin, make_user):
    configs = await admin.ok("GET", "/api/v1/agents")
    roles = {"knowledge_extractor", "proposal_generator", "topic_classifier"}
    assert roles <= {c["role"] for c in configs if c["active"]}
    name = f"generator-{uuid.uuid4().hex[:6]}"
    made = await admin.ok(
        "POST", "/api/v1/agents", 201, json={"name": name, "role": "proposal_generator", "system_prompt": "Propose."}
    )
    active = await admin.ok("GET", "/api/v1/agents?role=proposal_generator&active=true")
    assert [c["id"] for c in active] == [made["id"]]
    await admin.ok("POST", "/api/v1/agents", 409, json={"name": name, "role": "topic_classifier", "system_prompt": "x"})
    manager = await make_user("manager")
    await manager.ok("PATCH", f"/api/v1/agents/{made['id']}", 403, json={"active": False})
    assert (await manager.ok("GET", f"/api/v1/agents/{made['id']}"))["name"] == name
    bad = await admin.http.post("/api/v1/agents", json={"name": "x", "role": "poet", "system_prompt": "x"})
    assert bad.status_code == 422 and ["body", "role"] in [e["loc"] for e in bad.json()["detail"]]
    # Switching back: the earlier one active again, the new one off, in one step.
    earlier = [c for c in configs if c["role"] == "proposal_generator" and c["active"]][0]
    await admin.ok("PATCH", f"/api/v1/agents/{earlier['id']}", json={"active": True})
    active = await admin.ok("GET", "/api/v1/agents?role=proposal_generator&active=true")
    assert [c["id"] for c in active] == [earlier["id"]]
    await admin.ok("DELETE", f"/api/v1/agents/{made['id']}", 204)
    await admin.ok("GET", f"/api/v1/agents/{made['id']}", 404)
