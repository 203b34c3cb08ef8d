from __future__ import annotations

import asyncio
import logging
from typing import Final, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from serve.api.errors import DATABASE_DOWN_ERRORS

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

# A health probe must answer quickly even when the database hangs instead of refusing (container health checks
# time out after a few seconds).
PROBE_SECONDS: Final = 3.0
_UNREACHABLE: Final[tuple[type[Exception], ...]] = (*DATABASE_DOWN_ERRORS, TimeoutError)


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness and database check",
    responses={503: {"model": Health, "description": "The database is unreachable."}},
)
async def healthz(request: Request) -> JSONResponse:
    """200 when the database answers `SELECT 1`, 503 (with `Retry-After`) when it does not."""
    engine: AsyncEngine = request.app.state.engine
    try:
        async with asyncio.timeout(PROBE_SECONDS), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except _UNREACHABLE as error:
        logger.warning("health check: the database is unreachable (%s)", type(error).__name__)
        body = Health(status="unavailable", database="unreachable")
        return JSONResponse(body.model_dump(), 503, headers={"Retry-After": "5", "Cache-Control": "no-store"})
    return JSONResponse(Health(status="ok", database="ok").model_dump(), headers={"Cache-Control": "no-store"})
