from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from serve.api.deps import SessionDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]


@router.get("/healthz", response_model=Health, summary="Liveness and database check")
async def healthz(session: SessionDep) -> Health:
    await session.execute(text("SELECT 1"))
    return Health(status="ok", database="ok")
