"""Answers a test plants in the OpenAI emulator, so a classification comes out as the test knows it should.

``POST /_emulator/openai/plant`` with ``{"contains": "<part of the prompt>", "answer": <JSON>}``: a chat completion
whose prompt (every message's text, system included) contains that substring is answered with ``answer``
(serialised as JSON, or as is when it is a string), whatever the response format. With ``"item": {...}`` instead
of ``answer`` the plant is finer: the request is filled from its schema as usual (``emulators.schema_fill``), and
the element of the item array whose item (numbered line) contains the substring gets these fields, so each
message of a batch prompt can carry its own planted answer.

When several whole-answer plants match, the one with the longest ``contains`` wins (the most specific), the
latest of equals. ``GET /_emulator/openai/plants`` lists them with how often each was used; reset removes them.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PlantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contains: str = Field(min_length=1)
    answer: Any = None
    item: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> PlantSpec:
        if (self.answer is None) == (self.item is None):
            raise ValueError("give exactly one of `answer` (the whole reply) or `item` (fields of one item)")
        return self


@dataclass
class Plant:
    id: int
    spec: PlantSpec
    used: int = 0

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, **self.spec.model_dump(exclude_none=True), "used": self.used}


class Plants:
    def __init__(self) -> None:
        self._plants: list[Plant] = []
        self._ids = itertools.count(1)

    def add(self, spec: PlantSpec) -> int:
        plant = Plant(next(self._ids), spec)
        self._plants.append(plant)
        return plant.id

    def clear(self) -> None:
        self._plants.clear()

    def listing(self) -> list[dict[str, Any]]:
        return [plant.wire() for plant in self._plants]

    def answer(self, prompt: str) -> str | None:
        """The planted reply for `prompt`, serialised, or None when no whole-answer plant matches."""
        matching = [p for p in self._plants if p.spec.item is None and p.spec.contains in prompt]
        if not matching:
            return None
        best = max(reversed(matching), key=lambda p: len(p.spec.contains))  # latest of the longest
        best.used += 1
        answer = best.spec.answer
        return answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)

    def item_overrides(self, prompt: str) -> list[tuple[str, dict[str, Any]]]:
        """(substring, fields) of the item plants that appear in `prompt`, each counted as used."""
        found = []
        for plant in self._plants:
            if plant.spec.item is not None and plant.spec.contains in prompt:
                plant.used += 1
                found.append((plant.spec.contains, plant.spec.item))
        return found
