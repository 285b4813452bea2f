"""The reference of bench/request_cost.py: the least a FastAPI service does per request.

No auth, no database, no middleware, no log: a liveness route and a JSON body validated by
pydantic, served by uvicorn with the same loop and HTTP parser as ``modelyard serve``.
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Body(BaseModel):
    api_key: str
    actual_vector: list[int]
    predicted_vector: list[int]


class Created(BaseModel):
    uid: str


@app.get("/live")
def live() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/create", response_model=Created)
def create(body: Body) -> Created:
    return Created(uid=str(len(body.actual_vector)))
