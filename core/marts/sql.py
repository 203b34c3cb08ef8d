"""A figure's query: PostgreSQL text with `:name` parameters, run by each face its own way.

The tools bind the parameters (SQLAlchemy `text()`, asyncpg prepared statements). The dashboards run the query
inside PostgreSQL through DuckDB's `postgres_query()`, which takes no parameters, so `render()` writes them as
typed literals. Only the value types our own figures pass are accepted (never free SQL), and strings are quoted
the standard way (`standard_conforming_strings`, on by default since PostgreSQL 9.1, makes backslashes plain).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

# The bind-parameter syntax SQLAlchemy's text() understands: `:name`, not `::type` casts, not `a:b` inside words.
_PARAM = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")

type Param = uuid.UUID | date | int | str | Sequence[str] | None


@dataclass(frozen=True, slots=True)
class Query:
    sql: str
    params: Mapping[str, Param] = field(default_factory=dict)


def literal(value: Param) -> str:
    """A PostgreSQL literal for one parameter value."""
    if value is None:
        return "NULL"
    if isinstance(value, uuid.UUID):
        return f"'{value}'::uuid"
    if isinstance(value, datetime):
        raise TypeError("datetime parameters are not used by the figures; pass local dates")
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, bool):
        raise TypeError("unsupported literal bool")
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return "ARRAY[" + ", ".join(_text(item) for item in value) + "]::text[]"
    raise TypeError(f"unsupported literal {type(value).__name__}")


def _text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text parameters cannot contain NUL characters")
    return "'" + value.replace("'", "''") + "'"


def render(query: Query) -> str:
    """The query with every `:name` replaced by its value as a literal (for `postgres_query()`)."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in query.params:
            raise KeyError(f"the query needs a value for :{name}")
        return literal(query.params[name])

    return _PARAM.sub(substitute, query.sql)
