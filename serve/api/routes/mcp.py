"""The tools over plain HTTP: `GET /mcp/tools`, `POST /mcp/call` (the spec's `{"tool", "args"}` shape, flat
arguments, or arguments as a JSON string) and one typed `POST /mcp/call/{tool}` operation per tool for Custom GPT
Actions. `GET /mcp/openapi.json` is the OpenAPI document a Custom GPT imports as is (tool operations only).

Only the admin chooses whose data a tool reads: `GET /mcp/tools` shows the `user_id` argument to the admin token
only, and the GPT document (made for a user token) leaves it out. Read-only operations say
`x-openai-isConsequential: false`, so ChatGPT does not ask for confirmation before every call."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from serve.api.deps import SessionDep, SettingsDep, is_admin_request
from serve.api.errors import PayloadTooLarge
from serve.api.request_input import InputError, parse_json, read_body
from serve.api_tokens import authenticate_request
from serve.tools.catalog import REGISTRY
from serve.tools.errors import InvalidArguments
from serve.tools.registry import Tool, ToolContext, dump_json
from serve.tools.schemas import AUDIENCES, Audience

router = APIRouter(prefix="/mcp", tags=["tools"])

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="A user API token (`spotify-mcp token create --user ...`) or the admin token.",
)
BearerDep = Security(bearer)

GPT_PATH_PREFIXES = ("/mcp/call", "/mcp/tools")
# ChatGPT asks the person to confirm every Action call unless the operation says it changes nothing.
CONSEQUENTIAL = "x-openai-isConsequential"
ALL_READ_ONLY = all(tool.read_only for tool in REGISTRY.all())


class ToolAnnotationsOut(BaseModel):
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool


class ToolOut(BaseModel):
    name: str = Field(description="Canonical name, for POST /mcp/call.")
    mcp_name: str = Field(description="The same tool's name on the MCP server.")
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    annotations: ToolAnnotationsOut


class ToolList(BaseModel):
    tools: list[ToolOut]


def _tool_out(tool: Tool, audience: Audience) -> ToolOut:
    return ToolOut(
        name=tool.name,
        mcp_name=tool.mcp_name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.input_schema(audience),
        output_schema=tool.output_schema(),
        annotations=ToolAnnotationsOut(
            read_only=tool.read_only,
            destructive=tool.destructive,
            idempotent=tool.idempotent,
            open_world=tool.open_world,
        ),
    )


TOOL_LISTS_JSON = {
    audience: ToolList(tools=[_tool_out(tool, audience) for tool in REGISTRY.all()]).model_dump_json()
    for audience in AUDIENCES
}


@router.get(
    "/tools",
    response_model=ToolList,
    summary="List the tools",
    operation_id="list_tools",
    openapi_extra={CONSEQUENTIAL: False},
)
async def list_tools(request: Request, settings: SettingsDep) -> Response:
    """Every tool with its description, argument and result schemas. Needs no credentials; with the admin token
    the arguments include `user_id` (whose data to read)."""
    audience: Audience = "admin" if is_admin_request(request, settings) else "user"
    return Response(TOOL_LISTS_JSON[audience], media_type="application/json")


CALL_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["tool"],
    "properties": {
        "tool": {
            "type": "string",
            "enum": sorted(tool.name for tool in REGISTRY.all()),
            "description": "Tool name, e.g. history.taste_summary.",
        },
        "args": {
            "type": "object",
            "additionalProperties": True,
            "description": 'The tool\'s arguments, e.g. {"days": 90}. See GET /mcp/tools for each schema.',
        },
    },
    "additionalProperties": True,
}


async def _json_body(request: Request) -> Any:
    try:
        raw = await read_body(request)  # any content type: bounded here, not only by the middleware
        return parse_json(raw) if raw.strip() else {}
    except InputError as error:
        if error.status_code == 413:
            raise PayloadTooLarge(
                str(error), details={"fields": [{"field": "body", "problem": error.problem}]}
            ) from None
        raise InvalidArguments.field(error.field, error.problem) from None


def _split_call(body: Any) -> tuple[str, Any]:
    if not isinstance(body, dict):
        raise InvalidArguments.field("body", 'must be a JSON object like {"tool": "history.top_artists", "args": {}}')
    fields = dict(body)
    tool = fields.pop("tool", None) or fields.pop("name", None)
    if not isinstance(tool, str) or not tool:
        raise InvalidArguments.field("tool", "required: the name of the tool to call, e.g. history.taste_summary")
    if "args" in fields or "arguments" in fields:
        args = fields.pop("args") if "args" in fields else fields.pop("arguments")
        if fields:  # flat arguments next to `args`: merge, `args` wins
            if isinstance(args, str):
                return tool, args
            return tool, {**fields, **(args or {})} if isinstance(args, dict) else args
        return tool, args
    return tool, fields  # flat arguments (ChatGPT sends these)


def _result_response(tool: Tool, result: BaseModel) -> Response:
    content = f'{{"tool":{json.dumps(tool.name)},"result":{dump_json(result)}}}'
    return Response(content, media_type="application/json")


class CallResult(BaseModel):
    tool: str
    result: dict[str, Any]


@router.post(
    "/call",
    response_model=CallResult,
    summary="Call a tool",
    operation_id="call_tool",
    description=(
        'Call any tool: {"tool": "history.taste_summary", "args": {"days": 90}}. Arguments may also be sent flat or '
        "as a JSON string. Errors: 401, 403, 404 unknown_tool/unknown_user/no_data, 422 invalid_arguments."
    ),
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": CALL_BODY_SCHEMA}}},
        CONSEQUENTIAL: not ALL_READ_ONLY,
    },
)
async def call_tool(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: HTTPAuthorizationCredentials | None = BearerDep,
) -> Response:
    del credentials  # declared for the OpenAPI security scheme; checked by authenticate_request
    principal = await authenticate_request(request, session, settings)
    name, args = _split_call(await _json_body(request))
    tool = REGISTRY.get(name)
    result = await REGISTRY.call(
        name, args, ToolContext(session, principal, settings, cache=request.app.state.tool_cache)
    )
    return _result_response(tool, result)


def _typed_route(tool: Tool) -> None:
    async def endpoint(
        request: Request,
        session: SessionDep,
        settings: SettingsDep,
        credentials: HTTPAuthorizationCredentials | None = BearerDep,
    ) -> Response:
        del credentials
        principal = await authenticate_request(request, session, settings)
        args = await _json_body(request)
        result = await REGISTRY.call(
            tool.name, args, ToolContext(session, principal, settings, cache=request.app.state.tool_cache)
        )
        return Response(dump_json(result), media_type="application/json")

    router.add_api_route(
        f"/call/{tool.name}",
        endpoint,
        methods=["POST"],
        response_model=tool.result_model,
        summary=tool.title,
        description=tool.description,
        operation_id=tool.operation_id,
        openapi_extra={"requestBody": _request_body(tool, "admin"), CONSEQUENTIAL: not tool.read_only},
    )


def _request_body(tool: Tool, audience: Audience) -> dict[str, Any]:
    return {"required": False, "content": {"application/json": {"schema": tool.input_schema(audience)}}}


for _tool in REGISTRY.all():
    _typed_route(_tool)


@router.get("/openapi.json", include_in_schema=False)
async def gpt_openapi(request: Request, settings: SettingsDep) -> JSONResponse:
    """The OpenAPI document for a Custom GPT Action: only the tool operations, bearer auth, the public URL."""
    full: dict[str, Any] = request.app.openapi()
    paths = {path: item for path, item in full["paths"].items() if path.startswith(GPT_PATH_PREFIXES)}
    for tool in REGISTRY.all():  # a GPT holds a user token: no `user_id` (new dicts: `full` is FastAPI's cache)
        path = f"/mcp/call/{tool.name}"
        paths[path] = {"post": {**paths[path]["post"], "requestBody": _request_body(tool, "user")}}
    document = {
        "openapi": full["openapi"],
        "info": {
            "title": "spotify-mcp tools",
            "version": full["info"]["version"],
            "description": "The user's Spotify listening history: top artists and tracks, taste, comparisons.",
        },
        "servers": [{"url": settings.effective_public_base_url}],
        "paths": paths,
        "components": {
            "schemas": full.get("components", {}).get("schemas", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearerAuth": []}],
    }
    return JSONResponse(document)
