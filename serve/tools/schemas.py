"""The JSON schemas the tool faces publish, generated from the argument and result models and kept lean.

`tools/list` lands in an assistant's context in every conversation, so its size matters (a user token's list
stays within 40 KB; tests/unit/test_tool_schemas.py). From Pydantic's schemas we drop what tells a client nothing:
generated titles and `default: null`; in results also defaults and `required` lists (every field of an answer is
always there, null when unknown). An optional argument is its plain type (leaving it out is how to say "none"); a
nullable result field is a type array (`["string", "null"]`) instead of an `anyOf`. Within one tool's result a
definition used more than once stays in `$defs`; one used once is written in place. Arguments are always flat (no
`$ref`): some clients do not resolve references in arguments.

The answer envelope every history tool shares (window, freshness, coverage) is explained once, in the MCP server's
instructions (serve/mcp_server.py); in a result schema it is a bare object (`ENVELOPE`). Result schemas are shapes:
field names and types, no descriptions (an assistant reads the values themselves; what a tool answers is in its
description), nullable scalars as `{}`. Window arguments are explained by each tool's description and the
instructions, so they carry none, and `period` is a plain string there (the instructions list the names). With
20-odd tools this is what keeps `tools/list` within its budget.
OpenAPI keeps the full models (its components are shared by every operation).

Audiences: only the admin token chooses whose data is read, so only the admin sees the `user_id` argument; a user
token or an OAuth session reads its own user's data, and its schemas do not offer the argument at all.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from serve.tools.models import CoverageStats, Freshness
from serve.tools.windows import Period, Window

type Audience = Literal["admin", "user"]
AUDIENCES: tuple[Audience, ...] = ("admin", "user")
type Schema = dict[str, Any]

USER_ARGUMENT = "user_id"

# The answer envelope (window, freshness, coverage) is described once, in the server instructions; in a result
# schema it is a bare object, wherever it appears. `counting` (the play rule, also in the instructions) is a string.
ENVELOPE: frozenset[type[BaseModel]] = frozenset({Window, Freshness, CoverageStats})
_ENVELOPE_NAMES = frozenset(model.__name__ for model in ENVELOPE)
# Window arguments are explained in every tool's description and in the instructions: no description each.
WINDOW_ARGUMENTS = frozenset({"days", "start", "end", "period"})
_PERIOD_NAMES = [period.value for period in Period]
_NULL: Schema = {"type": "null"}
_RESULT_NOISE = frozenset({"description", "readOnly", "format", "minimum", "maximum", "examples"})


def input_schema(model: type[BaseModel], audience: Audience) -> Schema:
    """A flat object schema of a tool's arguments, as the given audience may send them."""
    schema: Schema = _lean(_resolve(model.model_json_schema(), keep=frozenset()), result=False)
    for name in WINDOW_ARGUMENTS & set(schema["properties"]):
        schema["properties"][name].pop("description", None)
    if schema["properties"].get("period", {}).get("enum") == _PERIOD_NAMES:
        # The named periods are listed once, in the instructions, not in a dozen tools (3 KB of tools/list); a
        # wrong name is refused with the list of valid ones, and OpenAPI keeps the enum. (A narrower choice, as a
        # playlist source's, keeps its enum: the instructions' list would promise too much.)
        schema["properties"]["period"] = {"type": "string"}
    if audience == "user":
        schema["properties"] = {key: value for key, value in schema["properties"].items() if key != USER_ARGUMENT}
        if USER_ARGUMENT in schema.get("required", []):
            schema["required"] = [name for name in schema["required"] if name != USER_ARGUMENT]
    return schema


def output_schema(model: type[BaseModel]) -> Schema:
    """The schema of a tool's result (its `structuredContent`)."""
    raw = model.model_json_schema(mode="serialization")
    definitions: dict[str, Schema] = raw.get("$defs", {})
    definitions = {name: {"type": "object"} if name in _ENVELOPE_NAMES else body
                   for name, body in definitions.items()}  # fmt: skip
    counts = _reference_counts(raw, definitions)
    keep = frozenset(name for name, uses in counts.items() if uses > 1 and name not in _ENVELOPE_NAMES)
    schema: Schema = _lean(_resolve({**raw, "$defs": definitions}, keep=keep), result=True)
    schema["properties"] = {name: _names_and_types(node) for name, node in schema["properties"].items()}
    if keep:
        schema["$defs"] = {
            name: _names_and_types(_lean(_resolve({**definitions[name], "$defs": definitions}, keep=keep), result=True))
            for name in sorted(keep)
        }
    return schema


def _names_and_types(node: Any) -> Any:
    """A result's shape without words: field names and types only. Descriptions, formats, bounds and `readOnly`
    go; a nullable scalar is `{}` (any value), since its type says less than its name and costs as much."""
    if isinstance(node, list):
        return [_names_and_types(item) for item in node]
    if not isinstance(node, dict):
        return node
    shaped: Schema = {}
    for key, value in node.items():
        if key in _RESULT_NOISE:
            continue
        if key in ("properties", "$defs") and isinstance(value, dict):
            shaped[key] = {name: _names_and_types(child) for name, child in value.items()}
        elif key == "type" and isinstance(value, list) and "null" in value and not {"object", "array"} & set(value):
            return {}
        elif key in ("enum", "const"):
            shaped[key] = value
        else:
            shaped[key] = _names_and_types(value)
    return shaped


def _reference_counts(root: Schema, definitions: dict[str, Schema]) -> dict[str, int]:
    """How often each definition is referenced from the root and from the (other) definitions."""
    counts = dict.fromkeys(definitions, 0)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                counts[reference.removeprefix("#/$defs/")] += 1
            for key, value in node.items():
                if key != "$defs":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({key: value for key, value in root.items() if key != "$defs"})
    for body in definitions.values():
        walk(body)
    return counts


def _resolve(schema: Schema, *, keep: frozenset[str]) -> Schema:
    """Write every referenced definition in place, except those in `keep` (their `$ref` stays)."""
    definitions: dict[str, Schema] = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                name = reference.removeprefix("#/$defs/")
                if name not in keep:
                    extra = {key: resolve(value) for key, value in node.items() if key != "$ref"}
                    return {**resolve(definitions[name]), **extra}
            return {key: resolve(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: Schema = resolve(schema)
    return resolved


def _lean(node: Any, *, result: bool) -> Any:
    """Drop generated titles and empty defaults; nullable results as type arrays, optional arguments as their type."""
    if isinstance(node, list):
        return [_lean(item, result=result) for item in node]
    if not isinstance(node, dict):
        return node
    alternatives = node.get("anyOf")
    if isinstance(alternatives, list) and len(alternatives) == 2 and _NULL in alternatives:
        other = next(item for item in alternatives if item != _NULL)
        rest = {key: value for key, value in node.items() if key != "anyOf"}
        if not result:
            node = {**other, **rest}  # an argument is left out rather than sent as null
        elif isinstance(other.get("type"), str) and "$ref" not in other:
            node = {**other, **rest, "type": [other["type"], "null"]}
    lean: Schema = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue  # Pydantic's titles repeat the property names
        if key == "default" and (result or value is None):
            continue
        if key == "required" and result:
            continue  # every field of an answer is always there (null when unknown)
        if key == "additionalProperties" and value is True:
            continue  # the default
        if key in ("properties", "$defs") and isinstance(value, dict):  # names map to schemas
            lean[key] = {name: _lean(child, result=result) for name, child in value.items()}
        elif key in ("enum", "const", "required", "examples"):  # values, not schemas
            lean[key] = value
        else:
            lean[key] = _lean(value, result=result)
    return lean
