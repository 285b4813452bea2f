"""The asynchronous client against a real server: the same methods, awaited."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard_client import AsyncClient, NotFound
from tests.helpers import PASSWORD


def test_the_async_client_signs_in_pushes_predicts_and_walks_pages(
    server_url: str, login: str
) -> None:
    rows = np.array([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]])
    model = LogisticRegression().fit(rows, [0, 1, 0, 1])

    async def scenario() -> None:
        async with AsyncClient(server_url) as client:
            await client.sign_up(PASSWORD, email=login)
            await client.sign_in(login, PASSWORD)
            for name in ("one", "two"):
                await client.push_model(name, model)
            names = [model.name async for model in client.iter_models(page_size=1)]
            assert sorted(names) == ["one", "two"]
            # Several requests in flight at once, over one connection pool.
            answers = await asyncio.gather(*(client.predict("one", rows) for _ in range(4)))
            assert {tuple(a.predictions) for a in answers} == {(0, 1, 0, 1)}
            pending = await client.predict_async("two", rows[:2])
            assert (await pending.result(timeout=60)).predictions == [0, 1]
            with pytest.raises(NotFound) as missing:
                await client.get_model("three")
            assert missing.value.request_id

    asyncio.run(scenario())
