"""Input types that carry the database's ranges: a number no column can hold is a 422 naming the field, where the
driver would refuse it with a 500 (asyncpg: "value out of int32 range"). They also put the range in the OpenAPI
schema, so clients and the fuzzer see it."""

from typing import Annotated

from annotated_types import Interval

INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# A serial primary key (INTEGER): what every `{..._id}` in a path and every reference to a row in a body is.
RowId = Annotated[int, Interval(ge=1, le=INT32_MAX)]
# A BIGINT column: Telegram's ids (chats are negative), update and message ids.
BigInt = Annotated[int, Interval(ge=INT64_MIN, le=INT64_MAX)]

# How old a closed job must be to be cleaned up: up to a century (a timedelta past that overflows).
MaxAgeHours = Annotated[float, Interval(ge=0, le=24 * 365 * 100)]
