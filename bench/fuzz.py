"""Schemathesis over the API's own OpenAPI: generated requests, valid and invalid, with real tokens of every role.

Every generated case is sent twice: as the admin (past every gate, so the body and parameters are what is tested)
and as one of the other roles in turn (manager, user, worker). An answer fails when it is a 5xx, or a 4xx whose
body does not say what was wrong (a JSON `detail`: a non-empty text, or FastAPI's list of errors each with a
`msg`). The webhook is fuzzed with Telegram's secret header, so its body parsing is what is tested.

The API runs against its own database, Temporal and worker: generated requests create users, delete rows, start
syncs and clean up closed jobs, so nothing else may share them.

    python -m bench fuzz [--cases-per-operation 12] [--seed N]

`make test` runs the same with fewer cases (tests/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Err

from bench.common import bench_stack, print_targets, table, write_results
from devstack.clients import Api
from devstack.stack import ADMIN_PASSWORD, Stack

NAME = "fuzz"
TASK_QUEUE = "bench-fuzz"
WEBHOOK_SECRET = "fuzz-webhook-secret"
OTHER_ROLES = ("manager", "user", "worker")
TARGET_CASES = 1000
PASSWORD = "fuzz-password-1"


@dataclass
class Finding:
    operation: str
    role: str
    status: int
    why: str
    curl: str


@dataclass
class FuzzReport:
    cases: int = 0
    requests: int = 0
    operations: int = 0
    statuses: Counter = field(default_factory=Counter)
    by_operation: dict[str, Counter] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "requests": self.requests,
            "operations": self.operations,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "by_operation": {op: {str(k): v for k, v in sorted(c.items())} for op, c in self.by_operation.items()},
            "server_errors": sum(1 for f in self.findings if f.status >= 500),
            "unexplained_4xx": sum(1 for f in self.findings if f.status < 500),
            "findings": [f.__dict__ for f in self.findings[:50]],
        }


def says_what_was_wrong(response: schemathesis.Response) -> bool:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return False
    if isinstance(detail, str):
        return bool(detail.strip())
    if isinstance(detail, list) and detail:
        return all(isinstance(item, dict) and str(item.get("msg", "")).strip() for item in detail)
    return False


def verdict(response: schemathesis.Response) -> str | None:
    if response.status_code >= 500:
        return f"server error: {response.text[:300]}"
    if 400 <= response.status_code < 500 and not says_what_was_wrong(response):
        return f"a {response.status_code} that does not say what was wrong: {response.text[:300]}"
    return None


def run_fuzz(base_url: str, tokens: dict[str, str], cases_per_operation: int, *, seed: int | None = None) -> FuzzReport:
    """Fuzz every operation of the API at `base_url` (blocking: requests and Hypothesis are synchronous).

    `tokens`: an access token per role, "admin" included. Without a `seed` the cases are the same on every run
    (Hypothesis's derandomize); with one, they are that seed's."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    report = FuzzReport()
    others = itertools.cycle(OTHER_ROLES)
    http = requests.Session()

    def send(case: schemathesis.Case, role: str) -> None:
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        if case.path == "/webhook/telegram":
            headers["X-Telegram-Bot-Api-Secret-Token"] = WEBHOOK_SECRET
        response = case.call(base_url=base_url, session=http, headers=headers, timeout=60)
        report.requests += 1
        report.statuses[response.status_code] += 1
        report.by_operation.setdefault(f"{case.method} {case.path}", Counter())[response.status_code] += 1
        if why := verdict(response):
            report.findings.append(
                Finding(f"{case.method} {case.path}", role, response.status_code, why, case.as_curl_command())
            )

    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the API's own schema does not resolve: a finding before any request
        operation = result.ok()
        report.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=cases_per_operation,
                deadline=None,
                database=None,
                derandomize=seed is None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),  # pyright: ignore[reportArgumentType]  # HealthCheckMeta.__iter__ is unannotated: pyright infers the metaclass as the member type
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def one_case(case: schemathesis.Case) -> None:
                report.cases += 1
                send(case, "admin")
                send(case, next(others))

            if seed is not None:
                one_case = hypothesis.seed(seed)(one_case)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Hypothesis's notes on generation, not findings
                try:
                    one_case()
                except Unsatisfiable:
                    pass  # nothing to make invalid: an operation without parameters or body
    return report


async def sign_in_roles(base_url: str) -> dict[str, str]:
    """An access token per role: the admin bootstrap made, and a new user of each other role."""
    admin = await Api.login(base_url, "admin", ADMIN_PASSWORD)
    tokens = {"admin": token_of(admin)}
    for role in OTHER_ROLES:
        username = f"fuzz-{role}"
        await admin.ok("POST", "/api/v1/users", 201, json={"username": username, "password": PASSWORD, "role": role})
        user = await Api.login(base_url, username, PASSWORD)
        tokens[role] = token_of(user)
        await user.close()
    await admin.close()
    return tokens


def token_of(api: Api) -> str:
    """The bearer token of a client `Api.login` made (it always has one; only an anonymous `Api` has none)."""
    if api.token is None:
        raise RuntimeError("an anonymous client has no token")
    return api.token


def start_fuzz_api(stack: Stack, task_queue: str, **env: str) -> str:
    """The API and a worker the fuzz may do anything to; the webhook takes `WEBHOOK_SECRET`."""
    env = {"LONGRUN_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET, **env}
    url = stack.start_api("api-fuzz", task_queue=task_queue, env=env)
    stack.start_worker("worker-fuzz", task_queue=task_queue, env=env)
    return url


def print_report(report: FuzzReport, seconds: float) -> None:
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(report.statuses.items()))
    print(
        table(
            ["operations", "cases", "requests", "answers by status", "5xx", "4xx not saying why", "wall s"],
            [
                (
                    report.operations,
                    report.cases,
                    report.requests,
                    statuses,
                    sum(1 for f in report.findings if f.status >= 500),
                    sum(1 for f in report.findings if f.status < 500),
                    round(seconds, 1),
                )
            ],
        )
    )
    for finding in report.findings[:20]:
        print(f"- {finding.operation} as {finding.role}: {finding.status} {finding.why}\n  {finding.curl}")


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench fuzz", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--cases-per-operation", type=int, default=12, help="per operation and mode (valid/invalid)")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run (default: a new one each time)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    with bench_stack() as stack:
        url = start_fuzz_api(stack, TASK_QUEUE)
        tokens = asyncio.run(sign_in_roles(url))
        started = time.monotonic()
        report = run_fuzz(url, tokens, args.cases_per_operation, seed=seed)
        seconds = time.monotonic() - started
    print_report(report, seconds)
    results = {**report.as_dict(), "seconds": round(seconds, 1), "seed": seed}
    server_errors, unexplained = results["server_errors"], results["unexplained_4xx"]
    targets = {
        "cases": f">= {TARGET_CASES} generated cases",
        "server_errors": "0 answers >= 500",
        "unexplained_4xx": "0 4xx answers without a detail",
    }
    met = {
        "cases": report.cases >= TARGET_CASES,
        "server_errors": server_errors == 0,
        "unexplained_4xx": unexplained == 0,
    }
    measured = {"cases": str(report.cases), "server_errors": str(server_errors), "unexplained_4xx": str(unexplained)}
    print_targets(targets, met, measured)
    path = write_results(NAME, {"cases_per_operation": args.cases_per_operation, "seed": seed}, results, targets, met)
    print(f"results: {path}")
    print(json.dumps({"seed": seed}))
    return {"met": met}
