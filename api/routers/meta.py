"""Service metadata: liveness for load balancers and operators (no authentication, no data)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    version: str = Field(examples=["0.1.0"])


@router.get("/v1/health", response_model=Health, summary="Liveness check")
async def health() -> Health:
    """Answers ``ok`` while the process serves requests; reveals nothing else."""
    return Health(status="ok", version="0.1.0")
