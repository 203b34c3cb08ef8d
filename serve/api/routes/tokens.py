"""Admin API for per-user API tokens (the credentials assistants use to call the tools)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, Field

from serve import api_tokens
from serve.api.deps import AdminDep, SessionDep

router = APIRouter(prefix="/admin", tags=["api tokens"])


class CreateTokenRequest(BaseModel):
    name: str = Field(default="assistant", min_length=1, max_length=100, description="What the token is for.")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="Lifetime; none = until revoked.")


@router.post(
    "/users/{user_id}/api-tokens",
    response_model=api_tokens.CreatedApiToken,
    status_code=201,
    summary="Create an API token for a user (shown once)",
    operation_id="admin_create_api_token",
)
async def create_api_token(
    user_id: UUID, body: CreateTokenRequest, session: SessionDep, _: AdminDep
) -> api_tokens.CreatedApiToken:
    return await api_tokens.create_token(session, user_id, body.name, expires_in_days=body.expires_in_days)


@router.get(
    "/api-tokens",
    response_model=list[api_tokens.ApiTokenInfo],
    summary="List API tokens (never the tokens themselves)",
    operation_id="admin_list_api_tokens",
)
async def list_api_tokens(
    session: SessionDep, _: AdminDep, user_id: UUID | None = None
) -> list[api_tokens.ApiTokenInfo]:
    return await api_tokens.list_tokens(session, user_id)


@router.delete(
    "/api-tokens/{token_id}",
    response_model=api_tokens.ApiTokenInfo,
    summary="Revoke an API token",
    operation_id="admin_revoke_api_token",
)
async def revoke_api_token(token_id: UUID, session: SessionDep, _: AdminDep) -> api_tokens.ApiTokenInfo:
    return await api_tokens.revoke_token(session, token_id)
