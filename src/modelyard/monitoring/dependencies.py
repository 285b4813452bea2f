"""Typed dependencies of the monitoring routes."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from typing import IO, Annotated, Literal

from fastapi import Depends, Query, Request

from modelyard.auth.dependencies import CurrentUser
from modelyard.config import MonitoringSettings, Settings
from modelyard.http import BODY_LIMIT_KEY
from modelyard.monitoring.exceptions import FeedbackTooLarge, InvalidFeedbackFile

__all__ = ["MonitoringSettingsDep", "SkipUnknown", "Upload", "UploadDep", "spooled_upload"]

# Uploads above this size go to a temporary file, not memory.
_IN_MEMORY = 1024 * 1024


def get_monitoring_settings(request: Request) -> MonitoringSettings:
    settings: Settings = request.app.state.settings
    return settings.monitoring


MonitoringSettingsDep = Annotated[MonitoringSettings, Depends(get_monitoring_settings)]


def _skip_unknown(
    unknown: Annotated[
        Literal["reject", "skip"],
        Query(
            description="reject (default): an unknown predict id refuses the whole request; "
            "skip: the others are stored and the unknown ones counted and named."
        ),
    ] = "reject",
) -> bool:
    return unknown == "skip"


SkipUnknown = Annotated[bool, Depends(_skip_unknown)]


class Upload:
    """A request's body, spooled (to disk past 1 MB), with its declared type and first bytes."""

    def __init__(self, file: IO[bytes], content_type: str, head: bytes) -> None:
        self.file = file
        self.content_type = content_type
        self.head = head


async def spooled_upload(
    request: Request, settings: MonitoringSettingsDep, _user: CurrentUser
) -> AsyncIterator[Upload]:
    """The body of a feedback upload, read in chunks under the upload limit: a raw CSV or
    parquet body, or the ``file`` field of a multipart form.

    The caller is authenticated first (``CurrentUser`` is a dependency of this one): the
    raised body limit is for known users only, an anonymous body is never read.
    """
    limit = settings.max_feedback_upload_bytes
    request.scope["state"][BODY_LIMIT_KEY] = limit + 64 * 1024  # a form's own bytes
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=10)
        part = form.get("file")
        try:
            if part is None or isinstance(part, str):
                raise InvalidFeedbackFile("the form needs a file field named 'file'")
            if part.size is not None and part.size > limit:
                raise FeedbackTooLarge(f"the upload is larger than {limit} bytes")
            part.file.seek(0)
            head = part.file.read(4096)
            part.file.seek(0)
            yield Upload(part.file, part.content_type or "", head)
        finally:
            await form.close()
        return
    spool = tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY)  # noqa: SIM115 - closed below
    try:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise FeedbackTooLarge(f"the upload is larger than {limit} bytes")
            spool.write(chunk)
        spool.seek(0)
        head = spool.read(4096)
        spool.seek(0)
        yield Upload(spool, content_type, head)
    finally:
        spool.close()


UploadDep = Annotated[Upload, Depends(spooled_upload)]
