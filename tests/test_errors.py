"""The one error renderer: what it answers and what it logs."""

from __future__ import annotations

import logging

import pytest

from modelyard.errors import ModelyardError, ServiceUnavailable, exception_response


class _Broken(ModelyardError):
    status_code = 500
    code = "broken"
    message = "Something broke"


def test_load_shedding_is_one_warning_line_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelyard.errors")
    answer = exception_response({"type": "http"}, ServiceUnavailable("Sign-in is busy"))
    assert answer.status_code == 503
    records = [r for r in caplog.records if r.name == "modelyard.errors"]
    assert [(r.levelno, r.exc_info) for r in records] == [(logging.WARNING, None)]
    assert "Sign-in is busy" in records[0].getMessage()


def test_a_server_error_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="modelyard.errors")
    answer = exception_response({"type": "http"}, _Broken())
    assert answer.status_code == 500
    records = [r for r in caplog.records if r.name == "modelyard.errors"]
    assert len(records) == 1 and records[0].levelno == logging.ERROR
    assert records[0].exc_info is not None
