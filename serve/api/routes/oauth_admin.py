"""Admin API for the OAuth authorization server: the clients connected per user (grants) with revoke, local
sign-in (password or one-time link) for ZIP-only users, and the registered clients (list, pre-register,
delete)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from core import tables
from serve.admin_service.common import Page
from serve.api.deps import AdminDep, SessionDep, SettingsDep
from serve.api.errors import NotFound, Unprocessable
from serve.bounds import BigCount
from serve.oauth import signin
from serve.oauth.clients import delete_client, list_clients, register_client
from serve.oauth.errors import ClientError
from serve.oauth.tokens import list_grants, revoke_grant

router = APIRouter(prefix="/admin", tags=["oauth (admin)"])


class OAuthGrant(BaseModel):
    id: UUID
    client_id: str
    client_name: str | None
    client_kind: str = Field(description="preregistered, dcr (registered itself) or cimd (metadata document URL)")
    redirect_uris: list[str]
    scope: str
    created_at: datetime
    last_authorized_at: datetime
    revoked_at: datetime | None
    live_tokens: int = Field(description="Unexpired, unrevoked access and refresh tokens.")


class OAuthClient(BaseModel):
    client_id: str
    kind: str = Field(description="preregistered, dcr (registered itself) or cimd (metadata document URL)")
    client_name: str | None
    client_uri: str | None
    redirect_uris: list[str]
    token_endpoint_auth_method: str
    created_at: datetime
    connected_users: int = Field(description="People who have this client connected (unrevoked grants).")
    live_tokens: int = Field(description="Unexpired, unrevoked access and refresh tokens.")


class SetPassword(BaseModel):
    login_name: str = Field(min_length=2, max_length=64, description="What the person types on the sign-in page.")
    password: str = Field(min_length=signin.MIN_PASSWORD_LENGTH, max_length=200)


class IssueLink(BaseModel):
    expires_in_hours: int = Field(default=24, ge=1, le=24 * 14)


class SigninLink(BaseModel):
    url: str = Field(description="One-time sign-in link (shown once).")
    expires_at: datetime


class PreregisterClient(BaseModel):
    client_id: str | None = Field(default=None, min_length=3, max_length=200)
    client_name: str = Field(min_length=1, max_length=200)
    redirect_uris: list[str] = Field(min_length=1)
    token_endpoint_auth_method: str = Field(default="client_secret_basic")


async def _user_exists(session: SessionDep, user_id: UUID) -> None:
    if (await session.execute(select(tables.users.c.id).where(tables.users.c.id == user_id))).first() is None:
        raise NotFound(f"no user with id {user_id}", details={"user_id": str(user_id)})


@router.get(
    "/users/{user_id}/oauth-grants",
    response_model=list[OAuthGrant],
    summary="Assistants (OAuth clients) a user connected",
    operation_id="admin_list_oauth_grants",
)
async def grants(user_id: UUID, session: SessionDep, _: AdminDep) -> list[OAuthGrant]:
    await _user_exists(session, user_id)
    return [OAuthGrant.model_validate(row) for row in await list_grants(session, user_id)]


@router.delete(
    "/users/{user_id}/oauth-grants/{grant_id}",
    status_code=204,
    summary="Disconnect an assistant: revoke the grant and all its tokens",
    operation_id="admin_revoke_oauth_grant",
)
async def revoke(user_id: UUID, grant_id: UUID, session: SessionDep, _: AdminDep) -> Response:
    if not await revoke_grant(session, user_id, grant_id):
        raise NotFound(f"no OAuth grant {grant_id} for user {user_id}", details={"grant_id": str(grant_id)})
    return Response(status_code=204)


@router.put(
    "/users/{user_id}/signin/password",
    status_code=204,
    summary="Set a local user's sign-in name and password (for connecting ChatGPT/Claude without Spotify)",
    operation_id="admin_set_signin_password",
)
async def set_password(user_id: UUID, body: SetPassword, session: SessionDep, _: AdminDep) -> Response:
    await _user_exists(session, user_id)
    try:
        await signin.set_password(session, user_id, body.login_name, body.password)
    except signin.SigninError as error:
        raise Unprocessable(str(error)) from error
    return Response(status_code=204)


@router.post(
    "/users/{user_id}/signin/link",
    response_model=SigninLink,
    status_code=201,
    summary="Issue a one-time sign-in link for a user (shown once)",
    operation_id="admin_issue_signin_link",
)
async def issue_link(
    user_id: UUID, body: IssueLink, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> SigninLink:
    await _user_exists(session, user_id)
    url, expires = await signin.issue_link(session, settings, user_id, timedelta(hours=body.expires_in_hours))
    return SigninLink(url=url, expires_at=expires)


@router.post(
    "/oauth/clients",
    status_code=201,
    summary="Pre-register an OAuth client (its secret is shown once)",
    operation_id="admin_preregister_oauth_client",
)
async def preregister(body: PreregisterClient, session: SessionDep, _: AdminDep) -> dict[str, Any]:
    try:
        registered = await register_client(
            session, body.model_dump(exclude={"client_id"}), kind="preregistered", client_id=body.client_id
        )
    except ClientError as error:
        raise Unprocessable(error.description, details={"error": error.error}) from error
    return registered[2]


@router.get(
    "/oauth/clients",
    response_model=Page[OAuthClient],
    summary="OAuth clients (pre-registered, self-registered, metadata documents), newest first",
    operation_id="admin_list_oauth_clients",
)
async def clients(
    session: SessionDep,
    _: AdminDep,
    kind: Literal["preregistered", "dcr", "cimd"] | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    offset: BigCount = 0,
) -> Page[OAuthClient]:
    rows, total = await list_clients(session, kind=kind, limit=limit, offset=offset)
    return Page[OAuthClient](
        items=[OAuthClient.model_validate(row) for row in rows], total=total, limit=limit, offset=offset
    )


@router.delete(
    "/oauth/clients/{client_id:path}",
    status_code=204,
    summary="Delete an OAuth client: disconnects everyone using it (its grants and tokens go with it)",
    operation_id="admin_delete_oauth_client",
)
async def remove_client(client_id: str, session: SessionDep, _: AdminDep) -> Response:
    if not await delete_client(session, client_id):
        raise NotFound(f"no OAuth client {client_id!r}; GET /admin/oauth/clients lists them")
    return Response(status_code=204)
