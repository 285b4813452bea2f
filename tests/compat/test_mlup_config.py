"""mlup's config names: its own default files load, flags win over files, bad values are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelyard.compat.mlup_config import (
    FLAGS,
    MlupConfig,
    ModelConfig,
    WebAppConfig,
    build_config,
    read_config_file,
)
from modelyard.config import ConfigError

# mlup's "Default configuration file" (docs/config_file.md), as it prints it.
MLUP_DEFAULT_YAML = """version: '1'
ml:
  auto_detect_predict_params: true
  binarization_type: auto
  columns: null
  data_transformer_for_predict: NUMPY
  data_transformer_for_predicted: NUMPY
  dtype_for_predict: null
  max_thread_loop_workers: null
  name: MyFirstMLupModel
  predict_method_name: predict
  storage_type: mlup.ml.storage.memory.MemoryStorage
  type: sklearn
  use_thread_loop: true
  version: 1.0.0.0
web:
  batch_worker_timeout: 1.0
  column_validation: false
  debug: false
  host: 0.0.0.0
  is_long_predict: false
  item_id_col_name: mlup_item_id
  max_queue_size: 100
  min_batch_len: 10
  mode: mlup.web.architecture.directly_to_predict.DirectlyToPredictArchitecture
  port: 8009
  show_docs: true
  throttling_max_request_len: null
  throttling_max_requests: null
  timeout_for_shutdown_daemon: 3.0
  ttl_client_wait: 30.0
  ttl_predicted_data: 60
  uvicorn_kwargs: {}
  web_app_version: 1.0.0.0
""".replace("NUMPY", "mlup.ml.data_transformers.numpy_data_transformer.NumpyDataTransformer")


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_mlups_default_yaml_is_mlups_defaults(tmp_path: Path) -> None:
    config = build_config(read_config_file(_file(tmp_path, "c.yaml", MLUP_DEFAULT_YAML)), {})
    expected = MlupConfig(web=WebAppConfig(host="0.0.0.0", port=8009))  # noqa: S104
    assert config == expected
    assert config.web.mode == "direct"
    assert (config.web.max_queue_size, config.web.ttl_client_wait) == (100, 30.0)
    assert config.ml.name == "MyFirstMLupModel"


def test_the_same_file_as_json_loads_the_same(tmp_path: Path) -> None:
    import yaml

    document = yaml.safe_load(MLUP_DEFAULT_YAML)
    path = _file(tmp_path, "c.json", json.dumps(document))
    from_json = build_config(read_config_file(path), {})
    assert from_json == build_config(document, {})


@pytest.mark.parametrize(
    ("given", "mode"),
    [
        ("mlup.web.architecture.worker_and_queue.WorkerAndQueueArchitecture", "queue"),
        ("worker_and_queue", "queue"),
        ("mlup.web.architecture.batching.BatchingSingleProcessArchitecture", "batching"),
        ("batching", "batching"),
        ("directly_to_predict", "direct"),
    ],
)
def test_mlups_mode_names_are_understood(given: str, mode: str) -> None:
    assert build_config({"web": {"mode": given}}, {}).web.mode == mode


def test_options_win_over_the_file_which_wins_over_defaults(tmp_path: Path) -> None:
    text = "web:\n  throttling_max_request_len: 2\n  debug: true\nml:\n  name: churn\n"
    document = read_config_file(_file(tmp_path, "c.yml", text))
    config = build_config(document, {"throttling_max_request_len": 5, "is_long_predict": None})
    assert config.web.throttling_max_request_len == 5  # the option
    assert config.web.debug is True and config.ml.name == "churn"  # the file
    assert config.web.ttl_predicted_data == 60  # mlup's default


def test_flat_names_are_put_in_their_section() -> None:
    config = build_config({"is_long_predict": True, "predict_method_name": "predict_proba"}, {})
    assert config.web.is_long_predict and config.ml.predict_method_name == "predict_proba"


def test_every_flag_is_a_config_name() -> None:
    names = set(ModelConfig.model_fields) | set(WebAppConfig.model_fields)
    assert {flag.name for flag in FLAGS} <= names
    assert {f.option for f in FLAGS} >= {"--is-long-predict", "--throttling-max-request-len"}


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"web": {"throttling_max_request_len": 0}}, "throttling_max_request_len"),
        ({"web": {"throttling_max_requests": -1}}, "throttling_max_requests"),
        ({"web": {"ttl_predicted_data": 0}}, "ttl_predicted_data"),
        ({"web": {"batch_worker_timeout": 0}}, "batch_worker_timeout"),
        ({"web": {"mode": "threads"}}, "mode"),
        ({"web": {"custom_column_pydantic_model": "my.Model"}}, "custom_column_pydantic_model"),
        ({"web": {"no_such_thing": 1}}, "no_such_thing"),
        ({"ml": {"predict_method_name": "transform"}}, "predict_method_name"),
        ({"ml": {"name": "../etc"}}, "name"),
        ({"nonsense": 1}, "unknown config name 'nonsense'"),
        ({"web": [1, 2]}, "must be a mapping"),
    ],
)
def test_bad_values_are_refused_saying_which(document: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
        build_config(document, {})


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("c.yaml", "web: [unclosed", "not valid yaml"),
        ("c.json", "{nope", "not valid json"),
        ("c.yaml", "- a\n- list\n", "must hold a mapping"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, name: str, text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        read_config_file(_file(tmp_path, name, text))
    with pytest.raises(ConfigError, match="cannot read"):
        read_config_file(tmp_path / "missing.yaml")


def test_an_empty_file_is_all_defaults(tmp_path: Path) -> None:
    assert build_config(read_config_file(_file(tmp_path, "c.yaml", "")), {}) == MlupConfig()


def test_yaml_numbers_as_versions_are_kept_as_text(tmp_path: Path) -> None:
    text = "ml:\n  version: 2.1\nweb:\n  web_app_version: 3\n"
    config = build_config(read_config_file(_file(tmp_path, "c.yaml", text)), {})
    assert (config.ml.version, config.web.web_app_version) == ("2.1", "3")
