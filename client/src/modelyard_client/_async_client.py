"""The asynchronous client; the synchronous one (_sync_client.py) is generated from this file by
client/scripts/unasync.py, so the two never drift apart (a test checks it is up to date)."""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from modelyard_client._version import __version__
from modelyard_client.config import resolve
from modelyard_client.encoding import csv_bytes, model_upload, predict_body, vector
from modelyard_client.errors import (
    ConnectionFailed,
    IncompatibleServer,
    JobFailed,
    RequestTimeout,
    TimedOut,
)
from modelyard_client.models import (
    AccessToken,
    Alias,
    ApiKey,
    ApiKeyCreated,
    ConfusionMatrix,
    Dataset,
    Job,
    Model,
    ModelVersion,
    Page,
    Prediction,
    Projection,
    ServingSettings,
    TrainingRun,
    User,
)
from modelyard_client.operations import operation
from modelyard_client.progress import make_progress
from modelyard_client.retry import RETRY_STATUSES, RetryPolicy, error_from_response

__all__ = ["AsyncClient", "AsyncPendingPrediction"]

M = TypeVar("M", bound=BaseModel)
API = "/api/v1"
PAGE_SIZE = 100
# The longest a single GET /predictions/{id} is asked to wait; result() loops for longer ones.
_LONGEST_SERVER_WAIT = 30.0


def _segment(value: object) -> str:
    """One path segment: names with spaces or slashes stay one segment."""
    return quote(str(value), safe="")


def _params(**values: Any) -> dict[str, Any]:
    """Query parameters without the ones left out (None)."""
    return {
        key: (str(value).lower() if isinstance(value, bool) else value)
        for key, value in values.items()
        if value is not None
    }


def _version_path(name: str, version: int | str) -> str:
    return f"{API}/models/{_segment(name)}/versions/{_segment(version)}"


def _parse(model: type[M], data: Any) -> M:
    return model.model_validate(data)


def _parse_list(model: type[M], data: Any) -> list[M]:
    return TypeAdapter(list[model]).validate_python(data)  # type: ignore[valid-type]


def _parse_page(model: type[M], data: Any) -> Page[M]:
    return Page[model].model_validate(data)  # type: ignore[valid-type]


def _same_release(client: str, server: str) -> bool:
    """Major and minor agree (0.x: every minor may break, like the server's API)."""
    return client.split(".")[:2] == server.split(".")[:2]


class AsyncPendingPrediction:
    """An accepted async prediction: ``await pending.result(timeout=...)`` fetches it."""

    def __init__(self, client: AsyncClient, predict_id: str) -> None:
        self.client = client
        self.predict_id = predict_id

    def __repr__(self) -> str:
        return f"<pending prediction {self.predict_id}>"

    async def result(self, timeout: float | None = 60.0) -> Prediction:
        """The answer once ready; TimedOut after ``timeout`` seconds (None: wait for ever)."""
        loop_time = asyncio.get_running_loop().time
        deadline = None if timeout is None else loop_time() + timeout
        while True:
            remaining = _LONGEST_SERVER_WAIT if deadline is None else deadline - loop_time()
            wait = max(0.0, min(remaining, _LONGEST_SERVER_WAIT))
            try:
                return await self.client.get_prediction(self.predict_id, wait=wait)
            except RequestTimeout:
                if deadline is not None and loop_time() >= deadline:
                    raise TimedOut(
                        f"prediction {self.predict_id} not ready after {timeout} s"
                    ) from None


class AsyncClient:
    """modelyard's native API: ``AsyncClient(url, api_key=...)``, or from the environment
    (``MODELYARD_URL``, ``MODELYARD_API_KEY``) or a profile ``modelyard login`` wrote.

    One connection pool for every call (use it as a context manager, or ``aclose()`` it);
    429 and 503 are retried with backoff, honouring ``Retry-After``; errors are typed
    (``NotFound``, ``InvalidInput``, ...) and carry the server's code, message and request id.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        profile: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        config = resolve(url, api_key, profile)
        self.url = config.url
        self.retry = retry or RetryPolicy()
        headers = {"User-Agent": f"modelyard-client/{__version__}"}
        self._http = httpx.AsyncClient(
            base_url=config.url, headers=headers, timeout=timeout, transport=transport
        )
        self.api_key = config.api_key

    @property
    def api_key(self) -> str | None:
        """The credential sent with every request: an API key or a token."""
        return self._api_key

    @api_key.setter
    def api_key(self, value: str | None) -> None:
        self._api_key = value
        if value:
            self._http.headers["Authorization"] = f"Bearer {value}"
        else:
            self._http.headers.pop("Authorization", None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the transport -------------------------------------------------------------------

    async def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send with retries; an error answer raises its typed error."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.send(request, stream=stream)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # The request never reached the server: safe to send again.
                if attempt >= self.retry.attempts:
                    raise ConnectionFailed(f"cannot reach {self.url}: {exc}") from exc
                await asyncio.sleep(self.retry.delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retry.attempts:
                await response.aclose()
                await asyncio.sleep(self.retry.delay(attempt, response))
                continue
            if response.is_error:
                await response.aread()
                await response.aclose()
                raise error_from_response(response)
            return response

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
    ) -> Any:
        """The answer's JSON (None for an empty answer)."""
        request = self._http.build_request(
            method, path, params=params, json=json, data=data, files=files
        )
        response = await self._send(request)
        if not response.content:
            return None
        return response.json()

    async def _download(
        self, path: str, target: str | Path | None, params: Mapping[str, Any] | None = None
    ) -> bytes | Path:
        """A file the server answers: streamed to ``target`` (returned), or its bytes."""
        request = self._http.build_request("GET", path, params=params)
        response = await self._send(request, stream=True)
        try:
            if target is None:
                return await response.aread()
            destination = Path(target)
            # Written beside the target, then renamed: no half file where a whole one was.
            fd, partial = tempfile.mkstemp(dir=destination.parent, suffix=".part")
            try:
                with os.fdopen(fd, "wb") as handle:
                    async for chunk in response.aiter_bytes():
                        handle.write(chunk)
                os.replace(partial, destination)
            except BaseException:
                os.unlink(partial)  # a broken download leaves no half file behind
                raise
            return destination
        finally:
            await response.aclose()

    async def _pages(
        self, path: str, model: type[M], params: Mapping[str, Any], page_size: int
    ) -> AsyncIterator[M]:
        """Every item of a paged list, one page in memory at a time."""
        offset = 0
        while True:
            data = await self._request(
                "GET", path, params={**params, "limit": page_size, "offset": offset}
            )
            page = _parse_page(model, data)
            for item in page.items:
                yield item
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    # -- the server ----------------------------------------------------------------------

    @operation("GET", f"{API}/health/live")
    async def live(self) -> dict[str, Any]:
        """Whether the server process answers."""
        result: dict[str, Any] = await self._request("GET", f"{API}/health/live")
        return result

    @operation("GET", f"{API}/health/ready")
    async def ready(self) -> dict[str, Any]:
        """The readiness checks (database, migrations); ServiceUnavailable when not ready."""
        result: dict[str, Any] = await self._request("GET", f"{API}/health/ready")
        return result

    async def server_version(self) -> str:
        """The server's version, from its OpenAPI document."""
        document = await self._request("GET", "/openapi.json")
        return str(document["info"]["version"])

    async def check_compatibility(self) -> str:
        """The server's version; IncompatibleServer when this client does not speak it."""
        server = await self.server_version()
        if not _same_release(__version__, server):
            raise IncompatibleServer(
                f"the server at {self.url} is modelyard {server}; this client is "
                f"modelyard-client {__version__}: install modelyard-client=={server}"
            )
        return server

    # -- users and keys ------------------------------------------------------------------

    @operation("POST", f"{API}/users")
    async def sign_up(
        self, password: str, *, email: str | None = None, username: str | None = None
    ) -> User:
        body = {"password": password, "email": email, "username": username}
        data = await self._request(
            "POST", f"{API}/users", json={k: v for k, v in body.items() if v is not None}
        )
        return _parse(User, data)

    @operation("POST", f"{API}/auth/token")
    async def issue_token(self, login: str, password: str) -> AccessToken:
        """A short-lived token for ``login``; the client does not start using it."""
        data = await self._request(
            "POST", f"{API}/auth/token", json={"login": login, "password": password}
        )
        return _parse(AccessToken, data)

    async def sign_in(self, login: str, password: str) -> AccessToken:
        """Issue a token and send it from now on."""
        token = await self.issue_token(login, password)
        self.api_key = token.access_token
        return token

    @operation("GET", f"{API}/users/me")
    async def me(self) -> User:
        return _parse(User, await self._request("GET", f"{API}/users/me"))

    @operation("GET", f"{API}/api-keys")
    async def list_api_keys(self) -> list[ApiKey]:
        return _parse_list(ApiKey, await self._request("GET", f"{API}/api-keys"))

    @operation("POST", f"{API}/api-keys")
    async def create_api_key(self, name: str = "modelyard-client") -> ApiKeyCreated:
        """A new key; its secret (``.key``) is in this answer only."""
        data = await self._request("POST", f"{API}/api-keys", json={"name": name})
        return _parse(ApiKeyCreated, data)

    @operation("DELETE", f"{API}/api-keys/{{key_id}}")
    async def revoke_api_key(self, key_id: int) -> None:
        await self._request("DELETE", f"{API}/api-keys/{_segment(key_id)}")

    @operation("GET", f"{API}/admin/users")
    async def list_users(self, *, limit: int | None = None, offset: int = 0) -> Page[User]:
        """Admins: one page of users."""
        params = _params(limit=limit, offset=offset)
        return _parse_page(User, await self._request("GET", f"{API}/admin/users", params=params))

    async def iter_users(self, *, page_size: int = PAGE_SIZE) -> AsyncIterator[User]:
        """Admins: every user, a page at a time."""
        async for user in self._pages(f"{API}/admin/users", User, {}, page_size):
            yield user

    @operation("GET", f"{API}/admin/users/{{user_id}}")
    async def get_user(self, user_id: int) -> User:
        return _parse(User, await self._request("GET", f"{API}/admin/users/{_segment(user_id)}"))

    @operation("PATCH", f"{API}/admin/users/{{user_id}}")
    async def update_user(
        self, user_id: int, *, is_active: bool | None = None, role: str | None = None
    ) -> User:
        """Admins: enable or disable an account, or change its role."""
        body = {k: v for k, v in {"is_active": is_active, "role": role}.items() if v is not None}
        data = await self._request("PATCH", f"{API}/admin/users/{_segment(user_id)}", json=body)
        return _parse(User, data)

    @operation("DELETE", f"{API}/admin/users/{{user_id}}")
    async def delete_user(self, user_id: int) -> None:
        await self._request("DELETE", f"{API}/admin/users/{_segment(user_id)}")

    # -- jobs ----------------------------------------------------------------------------

    @operation("GET", f"{API}/jobs")
    async def list_jobs(
        self,
        *,
        state: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page[Job]:
        params = _params(state=state, kind=kind, limit=limit, offset=offset)
        return _parse_page(Job, await self._request("GET", f"{API}/jobs", params=params))

    async def iter_jobs(
        self, *, state: str | None = None, kind: str | None = None, page_size: int = PAGE_SIZE
    ) -> AsyncIterator[Job]:
        async for job in self._pages(
            f"{API}/jobs", Job, _params(state=state, kind=kind), page_size
        ):
            yield job

    @operation("GET", f"{API}/jobs/{{job_id}}")
    async def get_job(self, job_id: str) -> Job:
        return _parse(Job, await self._request("GET", f"{API}/jobs/{_segment(job_id)}"))

    @operation("POST", f"{API}/jobs/{{job_id}}/cancel")
    async def cancel_job(self, job_id: str) -> Job:
        return _parse(Job, await self._request("POST", f"{API}/jobs/{_segment(job_id)}/cancel"))

    async def wait_job(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = 0.5,
        progress: Any = False,
        raise_on_failure: bool = True,
    ) -> Job:
        """The job once it has ended, following its progress and message.

        ``progress=True`` draws a bar (rich or tqdm when installed); a callable is called with
        (fraction, message) on each change. JobFailed when it ends in FAILURE or REVOKED
        (unless ``raise_on_failure=False``); TimedOut after ``timeout`` seconds.
        """
        loop_time = asyncio.get_running_loop().time
        deadline = None if timeout is None else loop_time() + timeout
        reporter = make_progress(progress, f"job {job_id[:8]}")
        seen: tuple[float, str | None] | None = None
        try:
            while True:
                job = await self.get_job(job_id)
                if reporter is not None and (job.progress, job.message) != seen:
                    seen = (job.progress, job.message)
                    reporter.update(job.progress, job.message)
                if job.done:
                    if raise_on_failure and job.state != "SUCCESS":
                        raise JobFailed(job)
                    return job
                if deadline is not None and loop_time() >= deadline:
                    raise TimedOut(f"job {job_id} still {job.state} after {timeout} s")
                await asyncio.sleep(poll_interval)
        finally:
            if reporter is not None:
                reporter.close()

    async def wait(
        self,
        target: str | Job | TrainingRun | Projection,
        *,
        timeout: float | None = None,
        poll_interval: float = 0.5,
        progress: Any = False,
        raise_on_failure: bool = True,
    ) -> Job:
        """``wait_job`` for a job's id, a Job, or what a job makes (a TrainingRun, a
        Projection): the job once it has ended."""
        if isinstance(target, str):
            job_id: str | None = target
        elif isinstance(target, Job):
            job_id = target.id
        else:
            job_id = target.job_id
        if job_id is None:
            raise ValueError(f"{type(target).__name__} has no job to wait for")
        return await self.wait_job(
            job_id,
            timeout=timeout,
            poll_interval=poll_interval,
            progress=progress,
            raise_on_failure=raise_on_failure,
        )

    # -- models --------------------------------------------------------------------------

    @operation("POST", f"{API}/models")
    async def push_model(
        self,
        name: str,
        model: Any,
        *,
        format: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        input_schema: Any = None,
        sample: Any = None,
    ) -> ModelVersion:
        """Register the next version of ``name``: a fitted scikit-learn estimator (sent as
        skops), or the path of a skops or ONNX file. ``input_schema``: a path or the schema
        itself (a list or dict); ``sample``: training rows (a DataFrame, CSV path or bytes)."""
        filename, content, detected = model_upload(model)
        files: list[tuple[str, tuple[str, bytes, str]]] = [
            ("file", (filename, content, "application/octet-stream"))
        ]
        if input_schema is not None:
            if isinstance(input_schema, str | Path):
                schema_bytes = Path(input_schema).read_bytes()
            else:
                import json

                schema_bytes = json.dumps(input_schema).encode()
            files.append(("input_schema", ("input_schema.json", schema_bytes, "application/json")))
        if sample is not None:
            files.append(("sample", ("sample.csv", csv_bytes(sample), "text/csv")))
        form: dict[str, Any] = {"name": name, "format": format or detected}
        if description is not None:
            form["description"] = description
        if tags:
            form["tags"] = tags
        data = await self._request("POST", f"{API}/models", data=form, files=files)
        return _parse(ModelVersion, data)

    @operation("GET", f"{API}/models")
    async def list_models(self, *, limit: int | None = None, offset: int = 0) -> Page[Model]:
        params = _params(limit=limit, offset=offset)
        return _parse_page(Model, await self._request("GET", f"{API}/models", params=params))

    async def iter_models(self, *, page_size: int = PAGE_SIZE) -> AsyncIterator[Model]:
        async for model in self._pages(f"{API}/models", Model, {}, page_size):
            yield model

    @operation("GET", f"{API}/models/{{name}}")
    async def get_model(self, name: str, *, owner_id: int | None = None) -> Model:
        data = await self._request(
            "GET", f"{API}/models/{_segment(name)}", params=_params(owner_id=owner_id)
        )
        return _parse(Model, data)

    @operation("GET", f"{API}/models/{{name}}/versions")
    async def list_versions(
        self,
        name: str,
        *,
        owner_id: int | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page[ModelVersion]:
        params = _params(owner_id=owner_id, limit=limit, offset=offset)
        data = await self._request("GET", f"{API}/models/{_segment(name)}/versions", params=params)
        return _parse_page(ModelVersion, data)

    async def iter_versions(
        self, name: str, *, owner_id: int | None = None, page_size: int = PAGE_SIZE
    ) -> AsyncIterator[ModelVersion]:
        path = f"{API}/models/{_segment(name)}/versions"
        async for version in self._pages(path, ModelVersion, _params(owner_id=owner_id), page_size):
            yield version

    @operation("GET", f"{API}/models/{{name}}/versions/{{version}}")
    async def get_version(
        self, name: str, version: int | str = "latest", *, owner_id: int | None = None
    ) -> ModelVersion:
        """A version by number, alias or ``latest``."""
        data = await self._request(
            "GET", _version_path(name, version), params=_params(owner_id=owner_id)
        )
        return _parse(ModelVersion, data)

    @operation("DELETE", f"{API}/models/{{name}}/versions/{{version}}")
    async def delete_version(
        self, name: str, version: int | str, *, owner_id: int | None = None
    ) -> None:
        await self._request(
            "DELETE", _version_path(name, version), params=_params(owner_id=owner_id)
        )

    @operation("DELETE", f"{API}/models/{{name}}/versions/{{version}}/quarantine")
    async def clear_quarantine(
        self, name: str, version: int | str, *, owner_id: int | None = None
    ) -> ModelVersion:
        """Serve a quarantined version again."""
        data = await self._request(
            "DELETE",
            f"{_version_path(name, version)}/quarantine",
            params=_params(owner_id=owner_id),
        )
        return _parse(ModelVersion, data)

    @operation("PUT", f"{API}/models/{{name}}/aliases/{{alias}}")
    async def set_alias(
        self, name: str, alias: str, version: int, *, owner_id: int | None = None
    ) -> Alias:
        data = await self._request(
            "PUT",
            f"{API}/models/{_segment(name)}/aliases/{_segment(alias)}",
            json={"version": version},
            params=_params(owner_id=owner_id),
        )
        return _parse(Alias, data)

    @operation("DELETE", f"{API}/models/{{name}}/aliases/{{alias}}")
    async def delete_alias(self, name: str, alias: str, *, owner_id: int | None = None) -> None:
        await self._request(
            "DELETE",
            f"{API}/models/{_segment(name)}/aliases/{_segment(alias)}",
            params=_params(owner_id=owner_id),
        )

    # -- serving -------------------------------------------------------------------------

    @operation("GET", f"{API}/models/{{name}}/versions/{{version}}/serving")
    async def get_serving(
        self, name: str, version: int | str, *, owner_id: int | None = None
    ) -> ServingSettings:
        data = await self._request(
            "GET", f"{_version_path(name, version)}/serving", params=_params(owner_id=owner_id)
        )
        return _parse(ServingSettings, data)

    @operation("PUT", f"{API}/models/{{name}}/versions/{{version}}/serving")
    async def set_serving(
        self, name: str, version: int | str, *, owner_id: int | None = None, **options: Any
    ) -> ServingSettings:
        """Set a version's serving options (``mode="batching"``, ``max_batch_rows=64``, ...)."""
        data = await self._request(
            "PUT",
            f"{_version_path(name, version)}/serving",
            json=options,
            params=_params(owner_id=owner_id),
        )
        return _parse(ServingSettings, data)

    def _predict_path(self, name: str, version: int | str | None) -> str:
        if version is None:
            return f"{API}/models/{_segment(name)}/predict"
        return f"{_version_path(name, version)}/predict"

    @operation("POST", f"{API}/models/{{name}}/predict")
    @operation("POST", f"{API}/models/{{name}}/versions/{{version}}/predict")
    async def predict(
        self,
        name: str,
        data: Any,
        *,
        version: int | str | None = None,
        owner_id: int | None = None,
    ) -> Prediction:
        """Predict rows: a numpy array, a pandas DataFrame, a list of rows or of records.
        No version: the ``production`` alias, else the latest."""
        answer = await self._request(
            "POST",
            self._predict_path(name, version),
            json=predict_body(data),
            params=_params(owner_id=owner_id),
        )
        return _parse(Prediction, answer)

    async def predict_async(
        self,
        name: str,
        data: Any,
        *,
        version: int | str | None = None,
        owner_id: int | None = None,
    ) -> AsyncPendingPrediction:
        """Have rows predicted later; ``.result(timeout=...)`` of the answer fetches them."""
        answer = await self._request(
            "POST",
            self._predict_path(name, version),
            json=predict_body(data),
            params=_params(owner_id=owner_id, **{"async": True}),
        )
        return AsyncPendingPrediction(self, str(answer["predict_id"]))

    @operation("GET", f"{API}/predictions/{{predict_id}}")
    async def get_prediction(self, predict_id: str, *, wait: float | None = None) -> Prediction:
        """An async prediction's answer; RequestTimeout while still pending after ``wait``."""
        data = await self._request(
            "GET", f"{API}/predictions/{_segment(predict_id)}", params=_params(wait=wait)
        )
        return _parse(Prediction, data)

    # -- the request log -----------------------------------------------------------------

    @operation("GET", f"{API}/models/{{name}}/requests")
    async def list_requests(
        self,
        name: str,
        *,
        limit: int | None = None,
        offset: int = 0,
        **filters: Any,
    ) -> Page[dict[str, Any]]:
        """One page of the model's request log; filters: version, status, source, user_id,
        since, until, owner_id."""
        params = _params(limit=limit, offset=offset, **filters)
        data = await self._request("GET", f"{API}/models/{_segment(name)}/requests", params=params)
        return Page[dict[str, Any]].model_validate(data)

    async def iter_requests(
        self, name: str, *, page_size: int = PAGE_SIZE, **filters: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Every entry of the model's request log, one page in memory at a time."""
        offset = 0
        while True:
            page = await self.list_requests(name, limit=page_size, offset=offset, **filters)
            for entry in page.items:
                yield entry
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    @operation("GET", f"{API}/models/{{name}}/requests.csv")
    @operation("GET", f"{API}/models/{{name}}/requests.parquet")
    async def export_requests(
        self,
        name: str,
        target: str | Path | None = None,
        *,
        format: str = "parquet",
        **filters: Any,
    ) -> bytes | Path:
        """The model's request log as a file (``format``: parquet or csv), streamed to
        ``target``; without a target, its bytes."""
        if format not in {"parquet", "csv"}:
            raise ValueError(f"format is parquet or csv, not {format!r}")
        path = f"{API}/models/{_segment(name)}/requests.{format}"
        return await self._download(path, target, _params(**filters))

    async def requests_dataframe(self, name: str, **filters: Any) -> Any:
        """The model's request log as a pandas DataFrame (parquet under the hood: the file is
        streamed to disk, then read; needs pandas and pyarrow)."""
        import pandas as pd

        with tempfile.TemporaryDirectory() as folder:
            path = await self.export_requests(
                name, Path(folder) / "requests.parquet", format="parquet", **filters
            )
            return pd.read_parquet(path)

    # -- confusion matrices --------------------------------------------------------------

    @staticmethod
    def _matrix_body(
        actual: Any,
        predicted: Any,
        matrix: Any,
        classes: Any,
        sample_weight: Any,
        name: str | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if matrix is not None:
            if actual is not None or predicted is not None:
                raise ValueError("give actual and predicted, or a matrix, not both")
            body["matrix"] = [vector(row) for row in vector(matrix)]
        else:
            if actual is None or predicted is None:
                raise ValueError("give actual and predicted, or a matrix")
            body["actual"], body["predicted"] = vector(actual), vector(predicted)
        if classes is not None:
            body["classes"] = vector(classes)
        if sample_weight is not None:
            body["sample_weight"] = vector(sample_weight)
        if name is not None:
            body["name"] = name
        return body

    @operation("POST", f"{API}/confusion-matrices")
    async def create_confusion_matrix(
        self,
        actual: Any = None,
        predicted: Any = None,
        *,
        matrix: Any = None,
        classes: Any = None,
        sample_weight: Any = None,
        name: str | None = None,
    ) -> ConfusionMatrix:
        """From ``actual`` and ``predicted`` (lists, numpy arrays, pandas Series) or a
        ready ``matrix`` (rows are actual classes)."""
        body = self._matrix_body(actual, predicted, matrix, classes, sample_weight, name)
        data = await self._request("POST", f"{API}/confusion-matrices", json=body)
        return _parse(ConfusionMatrix, data)

    @operation("GET", f"{API}/confusion-matrices")
    async def list_confusion_matrices(
        self, *, limit: int | None = None, offset: int = 0
    ) -> Page[ConfusionMatrix]:
        params = _params(limit=limit, offset=offset)
        data = await self._request("GET", f"{API}/confusion-matrices", params=params)
        return _parse_page(ConfusionMatrix, data)

    async def iter_confusion_matrices(
        self, *, page_size: int = PAGE_SIZE
    ) -> AsyncIterator[ConfusionMatrix]:
        async for matrix in self._pages(
            f"{API}/confusion-matrices", ConfusionMatrix, {}, page_size
        ):
            yield matrix

    @operation("GET", f"{API}/confusion-matrices/{{uid}}")
    async def get_confusion_matrix(self, uid: str, *, statistics: bool = False) -> ConfusionMatrix:
        """One matrix; ``statistics=True`` adds every PyCM statistic."""
        data = await self._request(
            "GET",
            f"{API}/confusion-matrices/{_segment(uid)}",
            params=_params(statistics=statistics or None),
        )
        return _parse(ConfusionMatrix, data)

    @operation("PUT", f"{API}/confusion-matrices/{{uid}}")
    async def replace_confusion_matrix(
        self,
        uid: str,
        actual: Any = None,
        predicted: Any = None,
        *,
        matrix: Any = None,
        classes: Any = None,
        sample_weight: Any = None,
        name: str | None = None,
    ) -> ConfusionMatrix:
        body = self._matrix_body(actual, predicted, matrix, classes, sample_weight, name)
        data = await self._request("PUT", f"{API}/confusion-matrices/{_segment(uid)}", json=body)
        return _parse(ConfusionMatrix, data)

    @operation("PATCH", f"{API}/confusion-matrices/{{uid}}")
    async def rename_confusion_matrix(self, uid: str, name: str | None) -> ConfusionMatrix:
        data = await self._request(
            "PATCH", f"{API}/confusion-matrices/{_segment(uid)}", json={"name": name}
        )
        return _parse(ConfusionMatrix, data)

    @operation("DELETE", f"{API}/confusion-matrices/{{uid}}")
    async def delete_confusion_matrix(self, uid: str) -> None:
        await self._request("DELETE", f"{API}/confusion-matrices/{_segment(uid)}")

    @operation("GET", f"{API}/confusion-matrices/{{uid}}/report")
    async def download_report(self, uid: str, target: str | Path | None = None) -> bytes | Path:
        """PyCM's HTML report."""
        return await self._download(f"{API}/confusion-matrices/{_segment(uid)}/report", target)

    @operation("GET", f"{API}/confusion-matrices/{{uid}}/statistics.csv")
    async def download_statistics_csv(
        self, uid: str, target: str | Path | None = None
    ) -> bytes | Path:
        return await self._download(
            f"{API}/confusion-matrices/{_segment(uid)}/statistics.csv", target
        )

    @operation("GET", f"{API}/confusion-matrices/{{uid}}/matrix.obj")
    async def download_matrix_obj(self, uid: str, target: str | Path | None = None) -> bytes | Path:
        """PyCM's .obj file (JSON)."""
        return await self._download(f"{API}/confusion-matrices/{_segment(uid)}/matrix.obj", target)

    @operation("GET", f"{API}/confusion-matrices/{{uid}}/plot")
    async def download_plot(
        self,
        uid: str,
        target: str | Path | None = None,
        *,
        normalized: bool = False,
        color_map: str | None = None,
    ) -> bytes | Path:
        """The matrix as a PNG."""
        params = _params(normalized=normalized or None, color_map=color_map)
        return await self._download(
            f"{API}/confusion-matrices/{_segment(uid)}/plot", target, params
        )

    @operation("POST", f"{API}/confusion-matrices/compare")
    async def compare(self, uids: list[str], **weights: Any) -> dict[str, Any]:
        """PyCM's Compare over my matrices (``class_weight=...`` and the other weights)."""
        result: dict[str, Any] = await self._request(
            "POST", f"{API}/confusion-matrices/compare", json={"uids": uids, **weights}
        )
        return result

    @operation("POST", f"{API}/confusion-matrices/multilabel")
    async def multilabel(
        self,
        actual: Any,
        predicted: Any,
        *,
        classes: Any = None,
        store: bool = False,
        name: str | None = None,
    ) -> dict[str, Any]:
        """PyCM's MultiLabelCM: ``actual``/``predicted`` are lists of label sets."""
        body: dict[str, Any] = {
            "actual": [vector(labels) for labels in actual],
            "predicted": [vector(labels) for labels in predicted],
            "store": store,
        }
        if classes is not None:
            body["classes"] = vector(classes)
        if name is not None:
            body["name"] = name
        result: dict[str, Any] = await self._request(
            "POST", f"{API}/confusion-matrices/multilabel", json=body
        )
        return result

    @staticmethod
    def _curve_body(kind: str, actual: Any, probabilities: Any, extra: dict[str, Any]) -> Any:
        rows = probabilities.tolist() if hasattr(probabilities, "tolist") else probabilities
        body = {"type": kind.upper(), "actual": vector(actual), "probabilities": rows}
        return body | {key: vector(value) for key, value in extra.items() if value is not None}

    @operation("POST", f"{API}/confusion-matrices/curves")
    async def curves(
        self,
        actual: Any,
        probabilities: Any,
        *,
        kind: str = "roc",
        classes: Any = None,
        thresholds: Any = None,
        sample_weight: Any = None,
    ) -> dict[str, Any]:
        """ROC (``kind="roc"``) or precision-recall (``"pr"``) points and AUC per class."""
        extra = {"classes": classes, "thresholds": thresholds, "sample_weight": sample_weight}
        result: dict[str, Any] = await self._request(
            "POST",
            f"{API}/confusion-matrices/curves",
            json=self._curve_body(kind, actual, probabilities, extra),
        )
        return result

    @operation("POST", f"{API}/confusion-matrices/curves/plot")
    async def download_curve_plot(
        self,
        actual: Any,
        probabilities: Any,
        target: str | Path | None = None,
        *,
        kind: str = "roc",
        classes: Any = None,
        thresholds: Any = None,
        sample_weight: Any = None,
    ) -> bytes | Path:
        """The curves as a PNG, written to ``target`` (or its bytes)."""
        extra = {"classes": classes, "thresholds": thresholds, "sample_weight": sample_weight}
        request = self._http.build_request(
            "POST",
            f"{API}/confusion-matrices/curves/plot",
            json=self._curve_body(kind, actual, probabilities, extra),
        )
        response = await self._send(request)
        if target is None:
            return response.content
        Path(target).write_bytes(response.content)
        return Path(target)

    # -- datasets and training -----------------------------------------------------------

    @operation("POST", f"{API}/datasets")
    async def push_dataset(self, source: str | Path, *, name: str | None = None) -> Dataset:
        """Upload labelled documents: a folder (one sub-folder per label; packed as tar.gz on
        the way) or a zip / tar.gz archive."""
        path = Path(source)
        form = {"name": name} if name is not None else {}
        files: dict[str, Any]
        if path.is_dir():
            with tempfile.TemporaryFile() as archive:
                _pack_folder(path, archive)
                archive.seek(0)
                files = {"file": (f"{path.name or 'dataset'}.tar.gz", archive, "application/gzip")}
                data = await self._request("POST", f"{API}/datasets", data=form, files=files)
        else:
            with path.open("rb") as handle:
                files = {"file": (path.name, handle, "application/octet-stream")}
                data = await self._request("POST", f"{API}/datasets", data=form, files=files)
        return _parse(Dataset, data)

    @operation("POST", f"{API}/datasets/from-path")
    async def register_dataset_path(
        self, path: str, *, name: str | None = None, labels: list[str] | None = None
    ) -> Dataset:
        """A folder on the server's side (where the server allows it)."""
        body = {k: v for k, v in {"path": path, "name": name, "labels": labels}.items() if v}
        data = await self._request("POST", f"{API}/datasets/from-path", json=body)
        return _parse(Dataset, data)

    @operation("GET", f"{API}/datasets")
    async def list_datasets(self, *, limit: int | None = None, offset: int = 0) -> Page[Dataset]:
        params = _params(limit=limit, offset=offset)
        return _parse_page(Dataset, await self._request("GET", f"{API}/datasets", params=params))

    async def iter_datasets(self, *, page_size: int = PAGE_SIZE) -> AsyncIterator[Dataset]:
        async for dataset in self._pages(f"{API}/datasets", Dataset, {}, page_size):
            yield dataset

    @operation("GET", f"{API}/datasets/{{dataset_id}}")
    async def get_dataset(self, dataset_id: int) -> Dataset:
        return _parse(Dataset, await self._request("GET", f"{API}/datasets/{_segment(dataset_id)}"))

    @operation("POST", f"{API}/training-runs")
    async def train(
        self,
        dataset_id: int,
        *,
        experiment_name: str,
        trainer: str | None = None,
        wait: bool = False,
        progress: Any = False,
        timeout: float | None = None,
    ) -> TrainingRun:
        """Train on a dataset as a job; ``wait=True`` follows the job to its end (with
        ``progress``) and answers the finished run."""
        body: dict[str, Any] = {"dataset_id": dataset_id, "experiment_name": experiment_name}
        if trainer is not None:
            body["trainer"] = trainer
        run = _parse(TrainingRun, await self._request("POST", f"{API}/training-runs", json=body))
        if wait and run.job_id:
            await self.wait_job(run.job_id, progress=progress, timeout=timeout)
            run = await self.get_run(run.run_id)
        return run

    @operation("GET", f"{API}/training-runs/{{run_id}}")
    async def get_run(self, run_id: str) -> TrainingRun:
        data = await self._request("GET", f"{API}/training-runs/{_segment(run_id)}")
        return _parse(TrainingRun, data)

    @operation("GET", f"{API}/training-runs/newest-per-experiment")
    async def newest_runs(self) -> list[dict[str, Any]]:
        """The newest run of each of my experiments."""
        result: list[dict[str, Any]] = await self._request(
            "GET", f"{API}/training-runs/newest-per-experiment"
        )
        return result

    @operation("DELETE", f"{API}/training-runs/{{run_id}}")
    async def delete_run(self, run_id: str) -> None:
        await self._request("DELETE", f"{API}/training-runs/{_segment(run_id)}")

    @operation("POST", f"{API}/training-runs/{{run_id}}/restore")
    async def restore_run(self, run_id: str) -> None:
        await self._request("POST", f"{API}/training-runs/{_segment(run_id)}/restore")

    @operation("POST", f"{API}/training-runs/{{run_id}}/predict")
    async def predict_texts(self, run_id: str, texts: list[str]) -> list[dict[str, Any]]:
        """Label, class id and score per text, from a run's model."""
        result: list[dict[str, Any]] = await self._request(
            "POST", f"{API}/training-runs/{_segment(run_id)}/predict", json={"texts": texts}
        )
        return result

    @operation("GET", f"{API}/experiments")
    async def list_experiments(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._request("GET", f"{API}/experiments")
        return result

    @operation("GET", f"{API}/experiments/{{name}}/runs")
    async def experiment_runs(self, name: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._request(
            "GET", f"{API}/experiments/{_segment(name)}/runs", params=_params(limit=limit)
        )
        return result

    @operation("DELETE", f"{API}/experiments/{{name}}")
    async def delete_experiment(self, name: str, *, hard: bool = False) -> None:
        await self._request(
            "DELETE", f"{API}/experiments/{_segment(name)}", params=_params(hard=hard or None)
        )

    @operation("POST", f"{API}/experiments/{{name}}/restore")
    async def restore_experiment(self, name: str) -> None:
        await self._request("POST", f"{API}/experiments/{_segment(name)}/restore")

    # -- projections ---------------------------------------------------------------------

    @operation("GET", f"{API}/projection-methods")
    async def projection_methods(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", f"{API}/projection-methods")
        return result

    @operation("GET", f"{API}/models/{{name}}/versions/{{version}}/projection-params/{{method}}")
    async def get_projection_params(
        self, name: str, version: int | str, method: str, *, owner_id: int | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "GET",
            f"{_version_path(name, version)}/projection-params/{_segment(method)}",
            params=_params(owner_id=owner_id),
        )
        return result

    @operation("PUT", f"{API}/models/{{name}}/versions/{{version}}/projection-params/{{method}}")
    async def set_projection_params(
        self,
        name: str,
        version: int | str,
        method: str,
        *,
        owner_id: int | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """``parameters={...}``, ``production_data_sample_size``, ``training_data_sample_size``,
        ``visualization_metrics``."""
        result: dict[str, Any] = await self._request(
            "PUT",
            f"{_version_path(name, version)}/projection-params/{_segment(method)}",
            json=params,
            params=_params(owner_id=owner_id),
        )
        return result

    @operation("GET", f"{API}/models/{{name}}/versions/{{version}}/projection-support")
    async def projection_support(
        self,
        name: str,
        version: int | str,
        *,
        method: str | None = None,
        owner_id: int | None = None,
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "GET",
            f"{_version_path(name, version)}/projection-support",
            params=_params(method=method, owner_id=owner_id),
        )
        return result

    @operation("POST", f"{API}/models/{{name}}/versions/{{version}}/projections")
    async def project(
        self,
        name: str,
        version: int | str,
        *,
        method: str = "umap",
        refit: bool = False,
        owner_id: int | None = None,
        wait: bool = True,
        progress: Any = False,
        timeout: float | None = None,
    ) -> Projection:
        """Project the version's training and production data; by default waits for the job
        (with ``progress``) and answers the finished projection."""
        data = await self._request(
            "POST",
            f"{_version_path(name, version)}/projections",
            json={"method": method, "refit": refit},
            params=_params(owner_id=owner_id),
        )
        projection = _parse(Projection, data)
        if wait and not projection.done and projection.job_id:
            await self.wait_job(
                projection.job_id, progress=progress, timeout=timeout, raise_on_failure=False
            )
            projection = await self.get_projection(projection.id)
        return projection

    @operation("GET", f"{API}/models/{{name}}/versions/{{version}}/projections")
    async def list_projections(
        self,
        name: str,
        version: int | str,
        *,
        owner_id: int | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page[Projection]:
        data = await self._request(
            "GET",
            f"{_version_path(name, version)}/projections",
            params=_params(owner_id=owner_id, limit=limit, offset=offset),
        )
        return _parse_page(Projection, data)

    @operation("GET", f"{API}/projections/{{projection_id}}")
    async def get_projection(self, projection_id: str) -> Projection:
        data = await self._request("GET", f"{API}/projections/{_segment(projection_id)}")
        return _parse(Projection, data)

    @operation("GET", f"{API}/projections/{{projection_id}}/result")
    async def projection_result(self, projection_id: str) -> dict[str, Any]:
        """Points, labels, neighbours and quality metrics of a finished projection."""
        result: dict[str, Any] = await self._request(
            "GET", f"{API}/projections/{_segment(projection_id)}/result"
        )
        return result

    @operation("GET", f"{API}/projections/{{projection_id}}/plot.png")
    async def download_projection_plot(
        self, projection_id: str, target: str | Path | None = None
    ) -> bytes | Path:
        return await self._download(f"{API}/projections/{_segment(projection_id)}/plot.png", target)

    @operation("GET", f"{API}/projections/{{projection_id}}/data.parquet")
    async def download_projection_data(
        self, projection_id: str, target: str | Path | None = None
    ) -> bytes | Path:
        return await self._download(
            f"{API}/projections/{_segment(projection_id)}/data.parquet", target
        )

    async def projection_dataframe(self, projection_id: str) -> Any:
        """A finished projection, one row per point, as a pandas DataFrame (needs pandas and
        pyarrow)."""
        import pandas as pd

        content = await self.download_projection_data(projection_id)
        assert isinstance(content, bytes)
        return pd.read_parquet(io.BytesIO(content))

    # -- monitoring ----------------------------------------------------------------------

    @operation("POST", f"{API}/models/{{name}}/feedback")
    async def give_feedback(
        self,
        name: str,
        labels: Sequence[Mapping[str, Any]],
        *,
        skip_unknown: bool = False,
        owner_id: int | None = None,
    ) -> dict[str, Any]:
        """The right answers of logged predictions: ``[{"predict_id", "label", "row"?}]``
        (``row``: the row of a multi-row request). One label refused stores none of them,
        unless ``skip_unknown`` (unknown predict ids are then skipped and named)."""
        params = _params(owner_id=owner_id, unknown="skip" if skip_unknown else None)
        result: dict[str, Any] = await self._request(
            "POST", f"{API}/models/{_segment(name)}/feedback", params=params, json=list(labels)
        )
        return result

    @operation("POST", f"{API}/models/{{name}}/feedback/upload")
    async def upload_feedback(
        self,
        name: str,
        source: str | Path | bytes,
        *,
        skip_unknown: bool = False,
        owner_id: int | None = None,
    ) -> dict[str, Any]:
        """The right answers from a CSV or parquet file (columns ``predict_id``, ``label`` and
        optionally ``row``): its path or its bytes."""
        path = Path(source) if isinstance(source, str | Path) else None
        content = path.read_bytes() if path is not None else bytes(source)  # type: ignore[arg-type]
        filename = path.name if path is not None else "feedback.csv"
        params = _params(owner_id=owner_id, unknown="skip" if skip_unknown else None)
        files = [("file", (filename, content, "application/octet-stream"))]
        result: dict[str, Any] = await self._request(
            "POST", f"{API}/models/{_segment(name)}/feedback/upload", params=params, files=files
        )
        return result

    @operation("GET", f"{API}/models/{{name}}/versions/{{version}}/performance")
    async def performance(
        self, name: str, version: int | str = "latest", **query: Any
    ) -> dict[str, Any]:
        """Realized (and, with ``estimate=True``, estimated) performance per window:
        ``window`` ("hour", "day", "week"), ``since``, ``until``, ``owner_id``."""
        result: dict[str, Any] = await self._request(
            "GET",
            f"{API}/models/{_segment(name)}/versions/{_segment(version)}/performance",
            params=_params(**query),
        )
        return result

    @operation("GET", f"{API}/models/{{name}}/versions/{{version}}/drift")
    async def drift(self, name: str, version: int | str = "latest", **query: Any) -> dict[str, Any]:
        """Drift per feature and window against the training sample (or ``reference_start``'s
        window); thresholds (``ks``, ``wasserstein``, ``psi``, ...) as the server names them."""
        result: dict[str, Any] = await self._request(
            "GET",
            f"{API}/models/{_segment(name)}/versions/{_segment(version)}/drift",
            params=_params(**query),
        )
        return result

    @operation("POST", f"{API}/monitors")
    async def create_monitor(
        self, name: str, model: str, check: Mapping[str, Any], **fields: Any
    ) -> dict[str, Any]:
        """A monitor: ``check`` (``{"kind", "threshold"}``) on a model's version, evaluated on
        a schedule; ``fields``: ``version``, ``window``, ``interval_seconds``, ``min_samples``,
        ``quiet_seconds``, ``webhook_url``, ``webhook_secret``, ``owner_id``."""
        body = {"name": name, "model": model, "check": dict(check), **fields}
        result: dict[str, Any] = await self._request("POST", f"{API}/monitors", json=body)
        return result

    @operation("GET", f"{API}/monitors")
    async def list_monitors(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._request("GET", f"{API}/monitors")
        return result

    @operation("GET", f"{API}/monitors/{{monitor_id}}")
    async def get_monitor(self, monitor_id: int) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "GET", f"{API}/monitors/{_segment(monitor_id)}"
        )
        return result

    @operation("DELETE", f"{API}/monitors/{{monitor_id}}")
    async def delete_monitor(self, monitor_id: int) -> None:
        await self._request("DELETE", f"{API}/monitors/{_segment(monitor_id)}")

    @operation("POST", f"{API}/monitors/{{monitor_id}}/run")
    async def run_monitor(self, monitor_id: int, *, at: str | None = None) -> dict[str, Any]:
        """Evaluate a monitor now, as a job (``wait`` follows it), for the window holding
        ``at`` (an ISO time; default now)."""
        result: dict[str, Any] = await self._request(
            "POST", f"{API}/monitors/{_segment(monitor_id)}/run", params=_params(at=at)
        )
        return result

    @operation("GET", f"{API}/monitors/{{monitor_id}}/evaluations")
    async def monitor_evaluations(
        self, monitor_id: int, *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._request(
            "GET",
            f"{API}/monitors/{_segment(monitor_id)}/evaluations",
            params=_params(limit=limit),
        )
        return result

    @operation("GET", f"{API}/monitors/{{monitor_id}}/deliveries")
    async def monitor_deliveries(
        self, monitor_id: int, *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Every webhook delivery try of a monitor, with its answer."""
        result: list[dict[str, Any]] = await self._request(
            "GET",
            f"{API}/monitors/{_segment(monitor_id)}/deliveries",
            params=_params(limit=limit),
        )
        return result


def _pack_folder(folder: Path, archive: Any) -> None:
    """A folder as tar.gz, its top-level folders (the labels) at the archive's root; only
    regular files go in (links are not followed: the server refuses them anyway)."""
    import tarfile

    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
