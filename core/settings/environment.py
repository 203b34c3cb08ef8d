"""Reading `Settings`' input out of an environment mapping: our variables only, case-insensitive, empty as unset,
and collection-typed values decoded by one rule for all.
"""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Annotated, Any

from pydantic_settings import NoDecode

from core.settings.errors import SettingsError, with_fix
from core.settings.model import Settings


def settings_input(env: dict[str, str]) -> dict[str, Any]:
    """Pick our variables out of an environment mapping (case-insensitive), empty strings as unset, and decode
    the values of list- and mapping-typed settings (`decode`)."""
    names = set(Settings.model_fields) - {"secrets_generated"}
    return {
        key.lower(): decode(key.lower(), value) for key, value in env.items() if key.lower() in names and value != ""
    }


_SEPARATORS = re.compile(r"[,\n]")


def is_collection(annotation: Any) -> bool:
    """list/set/tuple/dict, also inside `Annotated[...]` or `X | None`."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return is_collection(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(is_collection(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return origin in (list, set, frozenset, tuple, dict)


def decode(name: str, value: str) -> Any:
    """An environment variable is one string; a collection-typed setting is decoded from it by one rule for all:
    a JSON array or object (`["a", "b"]`), or else items separated by commas or new lines. Settings that parse
    their own strings opt out with `NoDecode`."""
    field = Settings.model_fields[name]
    opted_out = any(meta is NoDecode or isinstance(meta, NoDecode) for meta in field.metadata)
    if opted_out or not is_collection(field.annotation):
        return value
    stripped = value.strip()
    if stripped.startswith(("[", "{")):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as error:
            raise SettingsError(
                with_fix(
                    name.upper(),
                    f"{name.upper()} is invalid: it starts like JSON but is not valid JSON ({error.msg} at character "
                    f"{error.pos})",
                )
            ) from None
    return [item.strip() for item in _SEPARATORS.split(stripped) if item.strip()]
