"""`modelyard serve --model FILE ...` as an operator runs it: a real process, real HTTP."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.mlup_support import ROWS, SlowClassifier, pickled
from tests.conftest import TEST_DATABASE_URL, TEST_SECRET
from tests.helpers import running_server, subprocess_env
from tests.registry.factories import skops_classifier


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.skops"
    path.write_bytes(skops_classifier(6))
    return path


def test_the_documents_requests_against_a_public_server(tmp_path: Path, model_file: Path) -> None:
    args = [
        "--model",
        str(model_file),
        "--public",
        "--debug",
        "--throttling-max-request-len",
        "3",
        "--name",
        "churn",
    ]
    with (
        running_server(tmp_path, args=args) as (url, _),
        httpx.Client(base_url=url, timeout=30) as requests,
    ):
        assert requests.head("/health").status_code == 200
        assert requests.get("/health").json() == {"status_code": 200}
        assert requests.options("/health").json() == {"status_code": 200}

        info = requests.get("/info").json()
        assert info["model_info"]["name"] == "churn"
        assert info["web_app_config"]["throttling_max_request_len"] == 3
        assert info["web_app_config"]["debug"] is True
        assert info["web_app_config"]["port"] == int(url.rsplit(":", 1)[1])

        for body in ({"X": ROWS}, {"data_for_predict": ROWS}):
            response = requests.post("/predict", json=body)
            assert response.status_code == 200, response.text
            assert len(response.json()["predict_result"]) == 2
            assert response.headers["X-Predict-Id"]

        refused = requests.post("/predict", json={"X": ROWS * 2})
        assert refused.status_code == 429
        assert refused.json()["detail"][0]["type"] == "throttling_error"
        assert refused.json()["predict_id"] == refused.headers["X-Predict-Id"]

        invalid = requests.post("/predict", json={"X": [[1, 2]]})
        assert invalid.status_code == 422
        assert invalid.json()["detail"][0]["loc"] == ["X", 0]
        # The whole service is there too.
        assert requests.get("/api/v1/health/ready").status_code == 200


def test_a_config_file_with_flags_on_top_and_credentials_required(
    tmp_path: Path, model_file: Path
) -> None:
    config = tmp_path / "mlup.yaml"
    config.write_text(
        "version: '1'\n"
        "ml:\n  name: from-file\n  version: 2.1.0.0\n"
        "web:\n  debug: true\n  throttling_max_request_len: 2\n  web_app_version: 9.9\n"
    )
    args = ["--model", str(model_file), "--config", str(config)]
    args += ["--throttling-max-request-len", "5"]
    with (
        running_server(tmp_path, args=args) as (url, _),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        assert client.get("/health").status_code == 200
        missing = client.post("/predict", json={"X": ROWS})
        assert missing.status_code == 401
        assert missing.json()["detail"][0]["type"] == "unauthenticated"
        assert client.get("/info").status_code == 401

        credentials = {"email": "me@example.com", "password": "test123"}
        assert client.post("/api/v1/users", json=credentials).status_code == 201
        token = client.post(
            "/api/v1/auth/token", json={"login": "me@example.com", "password": "test123"}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        info = client.get("/info", headers=headers).json()
        assert info["model_info"] == {
            "name": "from-file",
            "version": "2.1.0.0",
            "type": "sklearn",
            "columns": info["model_info"]["columns"],
        }
        assert info["web_app_info"] == {"version": "9.9"}
        assert info["web_app_config"]["throttling_max_request_len"] == 5  # the flag wins
        four = client.post("/predict", json={"X": ROWS * 2}, headers=headers)
        assert four.status_code == 200, four.text


def test_throttling_max_requests_refuses_requests_beyond_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "slow.pkl"
    path.write_bytes(pickled(SlowClassifier(delay=3.0)))  # the operator's pickle: allowed
    args = ["--model", str(path), "--public", "--throttling-max-requests", "1"]
    with running_server(tmp_path, args=args) as (url, _):
        answers: list[httpx.Response] = []

        def call() -> None:
            answers.append(httpx.post(f"{url}/predict", json={"X": ROWS}, timeout=30))

        threads = [threading.Thread(target=call) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        codes = sorted(a.status_code for a in answers)
        assert codes[0] == 200 and 429 in codes, codes
        refused = next(a for a in answers if a.status_code == 429)
        assert refused.json()["detail"] == [
            {
                "loc": [],
                "msg": "Max requests in app. Please try again later.",
                "type": "throttling_error",
            }
        ]
        # Once the first is done, the next gets through.
        assert httpx.post(f"{url}/predict", json={"X": ROWS}, timeout=30).status_code == 200


def test_batching_with_is_long_predict_on_a_real_server(tmp_path: Path, model_file: Path) -> None:
    args = ["--model", str(model_file), "--public", "--mode", "batching", "--is-long-predict"]
    args += ["--batch-worker-timeout", "0.05", "--min-batch-len", "4", "--debug"]
    with (
        running_server(tmp_path, args=args) as (url, _),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        config = client.get("/info").json()["web_app_config"]
        assert config["mode"] == "mlup.web.architecture.batching.BatchingSingleProcessArchitecture"
        assert (config["min_batch_len"], config["batch_worker_timeout"]) == (4, 0.05)
        assert config["is_long_predict"] is True
        accepted = client.post("/predict", json={"X": ROWS})
        assert accepted.status_code == 200, accepted.text
        predict_id = accepted.json()["predict_id"]
        assert predict_id == accepted.headers["X-Predict-Id"]
        result = client.get(f"/get-predict/{predict_id}")
        assert result.status_code == 200, result.text
        assert len(result.json()["predict_result"]) == 2
        assert client.get("/get-predict/not-an-id").status_code == 408
        # The OpenAPI document lists mlup's routes next to the rest.
        paths = client.get("/openapi.json").json()["paths"]
        assert {"/health", "/info", "/predict", "/get-predict/{predict_id}"} <= set(paths)
        # ... each with its answers in the shape the route gives them (tests/test_openapi.py).
        schema = paths["/get-predict/{predict_id}"]["get"]["responses"]["408"]["content"]
        assert schema["application/json"]["schema"]["$ref"].endswith("/MlupError")
        schema = paths["/predict"]["post"]["responses"]["422"]["content"]
        assert schema["application/json"]["schema"]["$ref"].endswith("/RootPredictError")


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    extra = {"MODELYARD_SECRET_KEY": TEST_SECRET}
    if TEST_DATABASE_URL:
        extra["MODELYARD_DATABASE_URL"] = TEST_DATABASE_URL
    return subprocess.run(
        [sys.executable, "-m", "modelyard", "serve", "--port", "1", *args],
        env=subprocess_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--model", "{tmp}/missing.skops"], "--model: no file at"),
        (["--model", "{model}", "--schema", "{tmp}/missing.json"], "--schema: no file at"),
        (["--model", "{model}", "--throttling-max-request-len", "0"], "throttling_max_request_len"),
        (["--model", "{model}", "--config", "{tmp}/missing.yaml"], "cannot read the config"),
        (["--is-long-predict"], "need --model"),
        (["--model", "{tmp}/not-a-model.bin"], "not a skops, ONNX, joblib or pickle model"),
        (["--model", "{model}", "--predict-method-name", "transform"], "predict_method_name"),
        (["--model", "{model}", "--schema", "{tmp}/bad.json"], "schema"),
        (["--model", "{model}", "--workers", "2"], "runs in one process"),
        (["--workers", "0"], "--workers must be at least 1"),
    ],
)
def test_bad_options_stop_the_server_saying_why(
    tmp_path: Path, model_file: Path, args: list[str], words: str
) -> None:
    (tmp_path / "not-a-model.bin").write_bytes(b"hello")
    (tmp_path / "bad.json").write_text('{"columns": [{"name": "a"}]}')  # 1 column, model takes 6
    filled = [a.format(tmp=tmp_path, model=model_file) for a in args]
    result = _serve(tmp_path, *filled)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr


def test_pickles_over_http_stay_refused_on_the_single_model_server(
    tmp_path: Path, model_file: Path
) -> None:
    with running_server(tmp_path, args=["--model", str(model_file)]) as (url, _):
        credentials = {"email": "me@example.com", "password": "test123"}
        httpx.post(f"{url}/api/v1/users", json=credentials)
        token = httpx.post(
            f"{url}/api/v1/auth/token", json={"login": "me@example.com", "password": "test123"}
        ).json()["access_token"]
        response: Any = httpx.post(
            f"{url}/api/v1/models",
            data={"name": "mine"},
            files={"file": ("m.pkl", pickled(SlowClassifier()), "application/octet-stream")},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 403
