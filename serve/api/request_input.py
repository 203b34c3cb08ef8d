"""Request input that no route should ever see: the one place its limits are checked.

`parse_json()` is the only JSON parser for request data. It uses pydantic-core's parser, which is strict where
Python's `json` module is not: UTF-8 only (no lone surrogates), nesting at most 200 levels (where `json.loads`
overflows the C stack with a RecursionError), no NaN or Infinity. On top of that no string or key may hold a NUL
character: PostgreSQL text and jsonb cannot store it, so it would fail later, far from the field that carried it.
Every failure is an `InputError` naming the field (a JSON path such as `name` or `redirect_uris.2`).

`RequestInputMiddleware` applies the same rules before any route runs, and answers a failure with a 4xx error
body naming the field:
- query strings: no NUL in any parameter (`query.<name>`);
- URL-encoded forms (OAuth's token endpoints, sign-in): at most `MAX_BODY_BYTES`, no NUL in any field;
- JSON bodies: at most `MAX_BODY_BYTES`, then `parse_json`;
- bodies without a content type: at most `MAX_BODY_BYTES` (FastAPI would read them whole), left to the route to
  refuse or parse (`/mcp/call` reads JSON sent without one; the upload answers 415).
Left alone: bodies of other media types (multipart uploads stream and check their own; anything else is the
route's to refuse, e.g. the upload's 415), the MCP endpoint, whose SDK parses with pydantic-core too, caps the size
and answers in JSON-RPC, and OAuth registration, which bounds its body to 64 KiB and answers in RFC 7591's shape.
Routes that read a body themselves read it with `read_body` and parse it with `parse_json`: their checks do not
depend on where the middleware stands.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qsl

import pydantic_core
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve.api.errors import error_body

MAX_BODY_BYTES: Final = 1024 * 1024
# Paths whose bodies the route (or the MCP SDK) bounds and parses itself, answering in its protocol's error shape.
_OWN_BODY_PATHS: Final = frozenset({"/mcp", "/oauth/register"})
_JSON_TYPES: Final = (b"application/json",)
_OAUTH_PREFIX: Final = "/oauth/"
_NUL: Final = "must not contain the NUL character (\\u0000)"


class InputError(ValueError):
    """Request input that cannot be accepted; `field` names where."""

    def __init__(self, field: str, problem: str, *, status_code: int = 422) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.status_code = status_code


def parse_json(raw: bytes | str, *, field: str = "body") -> Any:
    """Parse request JSON strictly (see the module docstring); raise `InputError` naming the field."""
    try:
        value = pydantic_core.from_json(raw, allow_inf_nan=False)
    except ValueError as error:
        raise InputError(field, f"not valid JSON: {error}") from None
    where = nul_path(value)
    if where is not None:
        # "body" is the whole request: its fields are named on their own, as in validation errors.
        raise InputError((where if field == "body" else f"{field}.{where}") if where else field, _NUL)
    return value


def nul_path(value: Any) -> str | None:
    """The dotted path of the first string or key holding a NUL character ('' for the value itself), or None.

    Iterative, so it cannot overflow the stack whatever the nesting."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if "\x00" in key:
                    return child_path.replace("\x00", "\\u0000")
                stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{path}.{index}" if path else str(index), child) for index, child in enumerate(item))
    return None


def _check_pairs(pairs: list[tuple[str, str]], prefix: str) -> None:
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise InputError(f"{prefix}{name}".replace("\x00", "\\u0000"), _NUL)


def check_query(query_string: bytes) -> None:
    if b"%00" in query_string or b"\x00" in query_string:  # only then is parsing worth it
        _check_pairs(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True), "query.")


def check_form(body: bytes) -> None:
    if b"%00" in body or b"\x00" in body:
        _check_pairs(parse_qsl(body.decode("latin-1"), keep_blank_values=True), "")


def _media_type(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media
    return b""


def _is_json(media: bytes) -> bool:
    return media in _JSON_TYPES or (media.startswith(b"application/") and media.endswith(b"+json"))


async def read_body(request: Request, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, refused with an `InputError` (413) as soon as it passes `max_bytes` (never read whole into
    memory; a declared Content-Length over the limit is refused before reading)."""
    declared = request.headers.get("content-length", "")
    too_large = InputError("body", f"larger than {max_bytes // 1024} KiB; send a smaller body", status_code=413)
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def error_response(path: str, error: InputError) -> JSONResponse:
    """The 4xx for bad input: OAuth's error shape on OAuth endpoints (RFC 6749 §5.2), ours elsewhere."""
    if path.startswith(_OAUTH_PREFIX):
        body = {"error": "invalid_request", "error_description": str(error)}
        return JSONResponse(body, 413 if error.status_code == 413 else 400, headers={"Cache-Control": "no-store"})
    code = "payload_too_large" if error.status_code == 413 else "invalid_arguments"
    details = {"fields": [{"field": error.field, "problem": error.problem}]}
    message = f"invalid value for `{error.field}`: {error.problem}"
    return JSONResponse(error_body(code, message, details), error.status_code)


class RequestInputMiddleware:
    """Checks query strings, then reads a form or JSON body (at most `max_bytes`), checks it and hands the same
    bytes on. Pure ASGI, so uploads and MCP's streams pass through untouched."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_query(scope.get("query_string", b""))
        except InputError as error:
            await error_response(scope["path"], error)(scope, receive, send)
            return
        media = _media_type(scope)
        form = media == b"application/x-www-form-urlencoded"
        json_body = _is_json(media)
        if scope["path"] in _OWN_BODY_PATHS or not (form or json_body or media == b""):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                problem = f"larger than {self.max_bytes // 1024} KiB; send a smaller body"
                await error_response(scope["path"], InputError("body", problem, status_code=413))(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            if form:
                check_form(body)
            elif json_body and body.strip():
                parse_json(body)
        except InputError as error:
            await error_response(scope["path"], error)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
