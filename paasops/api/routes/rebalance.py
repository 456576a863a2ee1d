"""/api/rebalance: the replica moves that bring the cluster closest to what placement chooses today, planned or made."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ...errors import UserInputError
from ...placement.rebalance import MAX_MOVES
from ...results import RebalanceResult
from ...service.rebalance import Rebalancer
from ..deps import Caller, Service
from ..streams import progress_lines

router = APIRouter(prefix="/api", tags=["ops"])


class RebalanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: bool = Field(True, strict=True, description="Only show the moves (true), or make them (false).")
    max_moves: int | None = Field(None, ge=1, le=MAX_MOVES, strict=True,
                                  description="The most moves to plan or make (needed to make them).")
    app: str | None = Field(None, min_length=1, max_length=200,
                            description="Only apps matching this shell-style pattern (as reconcile's --app).")


@router.post("/rebalance", response_model=RebalanceResult,
             responses={200: {"description": "With `stream=true` (making moves): `{\"event\": \"step\", \"line\": "
                                             "...}` progress lines, then the result (or an error), one JSON object "
                                             "a line.",
                              "content": {"application/x-ndjson": {"schema": {"type": "object"}}}}})
def rebalance(body: RebalanceIn, service: Service, caller: Caller, stream: bool = False):
    """Plan or make at most `max_moves` moves, each start-first behind the health gate under its app's lock,
    stopping at the first that fails. A `user` moves only the apps it may act on (its own and its team's); an
    admin, every app."""
    rebalancer = Rebalancer(service.apps)
    if body.plan:
        return rebalancer.plan(app=body.app, max_moves=body.max_moves, who=caller)
    if body.max_moves is None:
        raise UserInputError("making moves needs max_moves (the most moves to make, 1 to "
                             f"{MAX_MOVES})", where="max_moves")
    budget = body.max_moves
    if not stream:
        return rebalancer.apply(app=body.app, max_moves=budget, user=caller.name, who=caller)
    rebalancer.plan(app=body.app, max_moves=budget, who=caller)  # bad input: a plain 4xx, not a stream
    return StreamingResponse(progress_lines(lambda progress: rebalancer.apply(
        app=body.app, max_moves=budget, user=caller.name, who=caller,
        progress=lambda line: progress({"event": "step", "line": line}))), media_type="application/x-ndjson")
