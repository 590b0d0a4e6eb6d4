"""What one application registers: the workflows both processes know, the activities the worker runs, the routers
the API serves. `applications/__init__.py` lists them; `worker.py` and `api/app.py` read that list."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter

    from worker import Dependencies


@dataclass(frozen=True)
class Application:
    name: str
    workflows: tuple[type, ...]
    # Each process loads only its own half, so these import inside their bodies: the worker builds the activities
    # from its shared dependencies and never loads a route; the API takes the routers and never builds a step.
    activities: "Callable[[Dependencies], list[Callable[..., Any]]]"
    # In the order their routes are matched.
    routers: "Callable[[], Sequence[APIRouter]]"
    # Once per worker, after Temporal answers and before it polls.
    at_worker_start: "Callable[[Dependencies], Awaitable[None]] | None" = None
