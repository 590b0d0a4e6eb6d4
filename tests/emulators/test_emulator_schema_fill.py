"""The schema filler in-process: every value must validate, and the text must steer it as documented."""

import datetime
import uuid
from typing import Literal

import pytest
from pydantic import BaseModel, Field, HttpUrl

from emulators.schema_fill import fill

ITEMS = "Intro line\n[4] Storm closes harbour [news]\n[9] Win a free cruise [spam]\n- Council meets [politics]\n"


class Story(BaseModel):
    id: int
    title: str
    description: str
    relevant: bool
    section: Literal["politics", "weather", "other"]
    tags: list[str]
    url: HttpUrl
    published: datetime.datetime
    day: datetime.date
    key: uuid.UUID
    rating: int = Field(ge=1, le=5)
    weight: float = Field(gt=0, lt=0.5)
    short: str = Field(max_length=5)
    long: str = Field(min_length=80)


class Digest(BaseModel):
    stories: list[Story]
    answer: str


class Node(BaseModel):
    name: str
    children: list["Node"]
    parent: "Node | None"


def test_pydantic_schema_with_defs_validates_and_follows_items() -> None:
    digest = Digest.model_validate(fill(Digest.model_json_schema(), ITEMS))

    assert [story.id for story in digest.stories] == [4, 9, 2]
    assert [story.title for story in digest.stories] == ["Storm Closes Harbour", "Win A Free Cruise", "Council Meets"]
    assert [story.relevant for story in digest.stories][:2] == [True, False]
    assert digest.stories[2].section == "politics"
    assert digest.stories[0].description == "Storm closes harbour."
    assert digest.answer.startswith("Answer: Intro line Storm closes harbour")


def test_same_text_same_value_other_text_other_value() -> None:
    schema = Digest.model_json_schema()

    assert fill(schema, ITEMS) == fill(schema, ITEMS)
    assert fill(schema, ITEMS) != fill(schema, ITEMS.replace("Storm", "Flood"))


def test_plain_lines_are_items_when_none_is_numbered() -> None:
    schema = {"type": "array", "items": {"type": "object", "properties": {"index": {"type": "integer"}}}}

    assert fill(schema, "first\n\nsecond\nthird") == [{"index": 0}, {"index": 1}, {"index": 2}]


def test_item_numbers_answer_as_written_unless_the_schema_bounds_them() -> None:
    item = {"type": "object", "properties": {"index": {"type": "integer"}}}
    bounded = {"type": "object", "properties": {"index": {"type": "integer", "maximum": 120}}}
    text = "[99] a\n[100] b\n[250] c\n"

    assert fill({"type": "array", "items": item}, text) == [{"index": 99}, {"index": 100}, {"index": 250}]
    assert [v["index"] for v in fill({"type": "array", "items": bounded}, text)] == [99, 100, 120]


@pytest.mark.parametrize(("bounds", "length"), [({"maxItems": 2}, 2), ({"minItems": 5}, 5)])
def test_item_array_respects_size_bounds(bounds: dict, length: int) -> None:
    assert len(fill({"type": "array", "items": {"type": "string"}, **bounds}, ITEMS)) == length


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"const": "fixed"}, "fixed"),
        ({"type": ["null", "boolean"]}, True),
        ({"anyOf": [{"type": "null"}, {"const": 3}]}, 3),
        ({"allOf": [{"properties": {"a": {"const": 1}}}, {"properties": {"b": {"const": 2}}}]}, {"a": 1, "b": 2}),
        ({"definitions": {"X": {"const": "x"}}, "$ref": "#/definitions/X"}, "x"),
        ({"prefixItems": [{"const": 1}, {"type": "null"}]}, [1, None]),
    ],
)
def test_schema_keywords(schema: dict, expected: object) -> None:
    assert fill(schema, "[news] anything") == expected


def test_recursive_schema_terminates() -> None:
    assert Node.model_validate(fill(Node.model_json_schema(), "root"))
