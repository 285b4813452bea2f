"""One contract for every artifact store, plus what only the local store or S3 can promise.

S3 runs against moto's real HTTP server, so requests go through botocore's whole stack.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from uuid import uuid4

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from modelyard.config import ConfigError, Settings, StorageSettings
from modelyard.errors import BadRequest, NotFound
from modelyard.storage import (
    ArtifactNotFound,
    ArtifactStore,
    InvalidArtifactKey,
    LocalArtifactStore,
    MemoryArtifactStore,
    S3ArtifactStore,
    build_artifact_store,
)

S3_PREFIX = "tenant/artifacts"
BIG_SIZE = 12 * 1024 * 1024  # above boto3's 8 MiB multipart threshold

TRAVERSAL_KEYS = [
    "../x",
    "/etc/passwd",
    "a//b",
    "a\\b",
    "a/../../b",
    "./a",
    "a/.",
    "..",
    ".hidden",
    "a/",
    "",
    "a b",
    "a\x00b",
    "C:/x",
    "x" * 600,
    "a/" + "y" * 201,
]


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Fake credentials, and no chance of reading the developer's real AWS profile.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def s3_client(s3_endpoint: str, aws_env: None) -> Any:
    return boto3.client("s3", endpoint_url=s3_endpoint)


@pytest.fixture
def bucket(s3_client: Any) -> str:
    name = f"modelyard-test-{uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["local", "s3", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "artifacts")
    if request.param == "memory":
        return MemoryArtifactStore()
    return S3ArtifactStore(
        request.getfixturevalue("bucket"),
        S3_PREFIX,
        endpoint_url=request.getfixturevalue("s3_endpoint"),
    )


@pytest.fixture
def local_store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def s3_store(bucket: str, s3_endpoint: str) -> S3ArtifactStore:
    return S3ArtifactStore(bucket, S3_PREFIX, endpoint_url=s3_endpoint)


def _big_file(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "big.bin"
    data = random.Random(7).randbytes(BIG_SIZE)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def _sha256_stream(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(256 * 1024):
        digest.update(chunk)
    return digest.hexdigest()


def _all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# -- the contract -------------------------------------------------------------------------------


def test_store_satisfies_the_protocol(store: ArtifactStore) -> None:
    assert isinstance(store, ArtifactStore)


def test_bytes_round_trip(store: ArtifactStore) -> None:
    key = store.new_key("models", ".onnx")
    store.put_bytes(key, b"\x00model\xff")

    assert store.exists(key)
    assert store.get_bytes(key) == b"\x00model\xff"
    assert store.size(key) == 7
    with store.open_read(key) as handle:
        assert handle.read() == b"\x00model\xff"
    with store.local_path(key) as path:
        assert path.is_file()
        assert path.read_bytes() == b"\x00model\xff"
        assert path.name.endswith(".onnx")


def test_empty_artifact_round_trips(store: ArtifactStore) -> None:
    key = store.new_key("reports", ".html")
    store.put_bytes(key, b"")

    assert store.exists(key)
    assert store.get_bytes(key) == b""
    assert store.size(key) == 0


def test_put_file_of_several_megabytes(store: ArtifactStore, tmp_path: Path) -> None:
    source, digest = _big_file(tmp_path)
    key = store.new_key("datasets", ".bin")

    store.put_file(key, source)

    assert store.size(key) == BIG_SIZE
    with store.open_read(key) as handle:
        assert _sha256_stream(handle) == digest
    with store.local_path(key) as path:
        assert path.stat().st_size == BIG_SIZE
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_overwrite_replaces_content(store: ArtifactStore, tmp_path: Path) -> None:
    key = store.new_key("plots", ".png")
    store.put_bytes(key, b"first version, longer")
    store.put_bytes(key, b"second")
    assert store.get_bytes(key) == b"second"
    assert store.size(key) == 6

    source = tmp_path / "third.png"
    source.write_bytes(b"third")
    store.put_file(key, source)
    assert store.get_bytes(key) == b"third"
    assert store.list_keys("plots") == [key]


def test_missing_key_raises_artifact_not_found(store: ArtifactStore) -> None:
    key = store.new_key("models")

    assert not store.exists(key)
    with pytest.raises(ArtifactNotFound) as caught:
        store.get_bytes(key)
    assert isinstance(caught.value, NotFound)
    assert caught.value.status_code == 404
    with pytest.raises(ArtifactNotFound):
        store.size(key)
    with pytest.raises(ArtifactNotFound), store.open_read(key):
        pass
    with pytest.raises(ArtifactNotFound), store.local_path(key):
        pass
    store.delete(key)  # missing is fine


def test_a_prefix_is_not_an_artifact(store: ArtifactStore) -> None:
    store.put_bytes("ns/run/model.bin", b"x")

    assert not store.exists("ns/run")
    with pytest.raises(ArtifactNotFound):
        store.get_bytes("ns/run")
    with pytest.raises(ArtifactNotFound):
        store.size("ns/run")
    store.delete("ns/run")
    assert store.get_bytes("ns/run/model.bin") == b"x"


def test_delete_removes_the_artifact(store: ArtifactStore) -> None:
    key = store.new_key("models")
    store.put_bytes(key, b"x")

    store.delete(key)

    assert not store.exists(key)
    assert store.list_keys() == []
    store.delete(key)


_OPERATIONS: dict[str, Callable[[ArtifactStore, str, Path], object]] = {
    "put_bytes": lambda s, k, _: s.put_bytes(k, b"evil"),
    "put_file": lambda s, k, src: s.put_file(k, src),
    "get_bytes": lambda s, k, _: s.get_bytes(k),
    "exists": lambda s, k, _: s.exists(k),
    "size": lambda s, k, _: s.size(k),
    "delete": lambda s, k, _: s.delete(k),
    "open_read": lambda s, k, _: s.open_read(k).__enter__(),
    "local_path": lambda s, k, _: s.local_path(k).__enter__(),
    "delete_prefix": lambda s, k, _: s.delete_prefix(k),
}


@pytest.mark.parametrize("operation", sorted(_OPERATIONS))
@pytest.mark.parametrize("key", TRAVERSAL_KEYS, ids=lambda key: repr(key)[:20])
def test_unsafe_keys_are_rejected(
    store: ArtifactStore, tmp_path: Path, operation: str, key: str
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"evil")
    before = _all_files(tmp_path)
    if operation == "delete_prefix" and key == "a/":
        # A prefix may end in a slash; it names the same folder as "a".
        assert store.delete_prefix(key) == 0
        return

    with pytest.raises(InvalidArtifactKey) as caught:
        _OPERATIONS[operation](store, key, source)

    assert isinstance(caught.value, BadRequest)
    assert caught.value.status_code == 400
    assert _all_files(tmp_path) == before


@pytest.mark.parametrize("prefix", ["../x", "/etc", "a//b", "a\\b", ".."], ids=repr)
def test_unsafe_prefixes_are_rejected_by_list_keys(store: ArtifactStore, prefix: str) -> None:
    with pytest.raises(InvalidArtifactKey):
        store.list_keys(prefix)


def test_delete_prefix_counts_and_leaves_other_prefixes(store: ArtifactStore) -> None:
    doomed = [store.new_key("runs/1", suffix) for suffix in (".onnx", ".html", "/nested/plot.png")]
    kept = [store.new_key("runs/10"), store.new_key("runs"), store.new_key("other/1")]
    for key in doomed + kept:
        store.put_bytes(key, key.encode())

    assert store.delete_prefix("runs/1") == 3

    assert store.list_keys() == sorted(kept)
    for key in doomed:
        assert not store.exists(key)
    assert store.delete_prefix("runs/1") == 0
    assert store.delete_prefix("runs/10/") == 1
    assert store.delete_prefix("nothing/here") == 0
    assert store.list_keys() == sorted(kept[1:])


def test_delete_prefix_refuses_the_whole_store(store: ArtifactStore) -> None:
    store.put_bytes("a/b", b"x")
    for prefix in ("", "/"):
        with pytest.raises(InvalidArtifactKey):
            store.delete_prefix(prefix)
    assert store.exists("a/b")


def test_list_keys_is_sorted_and_segment_aligned(store: ArtifactStore) -> None:
    keys = ["b/2", "a/1", "a/sub/3.json", "ab/4", "MLmodel/conda.yaml"]
    for key in keys:
        store.put_bytes(key, b"x")

    assert store.list_keys() == sorted(keys)
    assert store.list_keys("a") == ["a/1", "a/sub/3.json"]
    assert store.list_keys("a/") == ["a/1", "a/sub/3.json"]
    assert store.list_keys("a/sub") == ["a/sub/3.json"]
    assert store.list_keys("a/1") == []
    assert store.list_keys("missing") == []


def test_new_key_is_unique_and_well_formed(store: ArtifactStore) -> None:
    keys = {store.new_key("models/abc-1_2", ".tar.gz") for _ in range(2000)}

    assert len(keys) == 2000
    for key in keys:
        namespace, name = key.rsplit("/", 1)
        assert namespace == "models/abc-1_2"
        assert len(name) == 32 + len(".tar.gz")
        assert name.endswith(".tar.gz")
    assert store.new_key("x").count("/") == 1
    assert store.new_key("x", "/model.skops").endswith("/model.skops")


@pytest.mark.parametrize(
    ("namespace", "suffix"),
    [
        ("", ""),
        ("Models", ""),
        ("models/", ""),
        ("/models", ""),
        ("a//b", ""),
        ("../x", ""),
        ("a/../b", ""),
        ("a.b", ""),
        ("a b", ""),
        ("a\\b", ""),
        ("models", ".ONNX"),
        ("models", "/../x"),
        ("models", "/.hidden"),
        ("models", "//x"),
        ("models", "/"),
        ("models", "\\x"),
        ("models", " x"),
        ("m" * 600, ""),
    ],
)
def test_new_key_validates_namespace_and_suffix(
    store: ArtifactStore, namespace: str, suffix: str
) -> None:
    with pytest.raises(InvalidArtifactKey):
        store.new_key(namespace, suffix)


# -- local store ---------------------------------------------------------------------------------


def _fail_midway(source: BinaryIO, target: BinaryIO, length: int = 0) -> None:
    target.write(source.read(1000))
    raise OSError("disk full")


def _fail_fsync(fd: int) -> None:
    raise OSError("I/O error")


def _fail_replace(src: Any, dst: Any) -> None:
    raise OSError("rename failed")


@pytest.mark.parametrize(
    ("target", "replacement"),
    [
        (shutil, ("copyfileobj", _fail_midway)),
        (os, ("fsync", _fail_fsync)),
        (os, ("replace", _fail_replace)),
    ],
    ids=["write", "fsync", "rename"],
)
@pytest.mark.parametrize("existing", [None, b"old content"], ids=["new", "overwrite"])
def test_local_write_failure_leaves_no_partial_or_temp_file(
    local_store: LocalArtifactStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: Any,
    replacement: tuple[str, Callable[..., None]],
    existing: bytes | None,
) -> None:
    source = tmp_path / "new.bin"
    source.write_bytes(b"n" * 100_000)
    key = "models/abc/model.bin"
    if existing is not None:
        local_store.put_bytes(key, existing)

    with monkeypatch.context() as patch, pytest.raises(OSError, match=r"disk|I/O|rename"):
        patch.setattr(target, *replacement)
        local_store.put_file(key, source)

    folder = local_store.root / "models" / "abc"
    if existing is None:
        assert not local_store.exists(key)
        assert not (folder / "model.bin").exists()
        assert [p.name for p in folder.iterdir()] == []
    else:
        assert local_store.get_bytes(key) == existing
        assert [p.name for p in folder.iterdir()] == ["model.bin"]


def test_local_write_syncs_a_sibling_temp_file_then_renames(
    local_store: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, Any]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", fd))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append(("replace", (Path(src), Path(dst))))
        real_replace(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", fsync)
        patch.setattr(os, "replace", replace)
        local_store.put_bytes("models/m.bin", b"data")

    names = [name for name, _ in events]
    assert names.index("fsync") < names.index("replace")
    temp, final = next(arg for name, arg in events if name == "replace")
    assert final == local_store.root / "models" / "m.bin"
    assert temp.parent == final.parent
    assert temp.name.startswith(".")
    assert not temp.exists()


def test_local_put_file_streams(
    local_store: LocalArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, digest = _big_file(tmp_path)

    def no_whole_reads(self: Path) -> bytes:
        raise AssertionError("put_file read the whole file")

    with monkeypatch.context() as patch:
        patch.setattr(Path, "read_bytes", no_whole_reads)
        local_store.put_file("datasets/big.bin", source)

    assert hashlib.sha256(local_store.get_bytes("datasets/big.bin")).hexdigest() == digest


def test_local_files_live_under_the_root(local_store: LocalArtifactStore) -> None:
    key = local_store.new_key("reports/7", ".html")
    local_store.put_bytes(key, b"<html>")

    with local_store.local_path(key) as path:
        assert path == local_store.root.joinpath(*key.split("/"))
    assert LocalArtifactStore(local_store.root).get_bytes(key) == b"<html>"


def test_local_list_keys_skips_temp_and_foreign_files(local_store: LocalArtifactStore) -> None:
    local_store.put_bytes("models/m.bin", b"x")
    (local_store.root / "models" / ".m.bin.abc123.tmp").write_bytes(b"half")
    (local_store.root / "models" / "Foreign Name.txt").write_bytes(b"x")
    (local_store.root / ".cache").mkdir()
    (local_store.root / ".cache" / "x").write_bytes(b"x")

    assert local_store.list_keys() == ["models/m.bin"]
    assert local_store.delete_prefix("models") == 1


def test_local_delete_prefix_prunes_empty_folders(local_store: LocalArtifactStore) -> None:
    local_store.put_bytes("runs/1/a/b/c.bin", b"x")
    local_store.put_bytes("runs/1/d.bin", b"x")
    local_store.put_bytes("other/e.bin", b"x")

    assert local_store.delete_prefix("runs/1") == 2

    assert sorted(p.name for p in local_store.root.iterdir()) == ["other"]
    assert local_store.root.is_dir()
    local_store.delete("other/e.bin")
    assert list(local_store.root.iterdir()) == []
    assert local_store.root.is_dir()


def test_local_refuses_a_key_that_is_also_a_prefix(local_store: LocalArtifactStore) -> None:
    local_store.put_bytes("a/b", b"file")
    with pytest.raises(InvalidArtifactKey):
        local_store.put_bytes("a/b/c", b"under a file")
    local_store.put_bytes("x/y/z", b"file")
    with pytest.raises(InvalidArtifactKey):
        local_store.put_bytes("x/y", b"over a folder")
    assert local_store.list_keys() == ["a/b", "x/y/z"]


def test_memory_store_refuses_what_the_local_store_refuses() -> None:
    memory = MemoryArtifactStore()
    memory.put_bytes("a/b", b"file")
    with pytest.raises(InvalidArtifactKey):
        memory.put_bytes("a/b/c", b"under a file")
    memory.put_bytes("x/y/z", b"file")
    with pytest.raises(InvalidArtifactKey):
        memory.put_bytes("x/y", b"over a folder")


# -- S3 store ------------------------------------------------------------------------------------


def test_s3_objects_sit_under_the_prefix(
    s3_store: S3ArtifactStore, s3_client: Any, bucket: str
) -> None:
    s3_store.put_bytes("models/m.bin", b"x")

    listed = s3_client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [item["Key"] for item in listed] == [f"{S3_PREFIX}/models/m.bin"]


def test_s3_without_prefix(bucket: str, s3_endpoint: str, s3_client: Any) -> None:
    store = S3ArtifactStore(bucket, endpoint_url=s3_endpoint)
    store.put_bytes("models/m.bin", b"x")

    assert s3_client.get_object(Bucket=bucket, Key="models/m.bin")["Body"].read() == b"x"
    assert store.list_keys() == ["models/m.bin"]
    assert store.delete_prefix("models") == 1


def test_s3_list_keys_skips_foreign_objects(
    s3_store: S3ArtifactStore, s3_client: Any, bucket: str
) -> None:
    s3_store.put_bytes("models/m.bin", b"x")
    for foreign in ("models/", "models/Has Space", "elsewhere/x"):
        s3_client.put_object(Bucket=bucket, Key=f"{S3_PREFIX}/{foreign}", Body=b"")
    s3_client.put_object(Bucket=bucket, Key="outside-the-prefix", Body=b"")

    assert s3_store.list_keys("models") == ["models/m.bin"]
    assert s3_store.list_keys() == ["elsewhere/x", "models/m.bin"]


def test_s3_other_errors_are_not_reported_as_missing(s3_endpoint: str, aws_env: None) -> None:
    store = S3ArtifactStore("no-such-bucket-here", endpoint_url=s3_endpoint)

    with pytest.raises(ClientError) as caught:
        store.get_bytes("models/m.bin")
    assert not isinstance(caught.value, ArtifactNotFound)


class _RecordingClient:
    """Just enough of an S3 client to watch delete_prefix batch its deletes."""

    def __init__(self, pages: list[list[str]], failing: frozenset[str] = frozenset()) -> None:
        self.pages = pages
        self.failing = failing
        self.listed: list[dict[str, Any]] = []
        self.batches: list[list[str]] = []

    def get_paginator(self, operation: str) -> _RecordingClient:
        assert operation == "list_objects_v2"
        return self

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.listed.append(kwargs)
        for page in self.pages:
            yield {"Contents": [{"Key": key} for key in page]}

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        keys = [item["Key"] for item in Delete["Objects"]]
        assert len(keys) <= 1000
        self.batches.append(keys)
        errors = [{"Key": k, "Code": "AccessDenied", "Message": "no"} for k in keys]
        return {"Errors": [e for e in errors if e["Key"] in self.failing]}


def test_s3_delete_prefix_pages_and_batches() -> None:
    pages = [[f"p/runs/{i}" for i in range(1000)], [f"p/runs/x{i}" for i in range(5)]]
    client = _RecordingClient(pages)
    store = S3ArtifactStore("bucket", "p", client=client)

    assert store.delete_prefix("runs") == 1005

    assert client.listed == [{"Bucket": "bucket", "Prefix": "p/runs/"}]
    assert [len(batch) for batch in client.batches] == [1000, 5]


def test_s3_delete_prefix_reports_refused_deletes() -> None:
    client = _RecordingClient([["p/runs/a", "p/runs/b"]], failing=frozenset({"p/runs/b"}))
    store = S3ArtifactStore("bucket", "p", client=client)

    with pytest.raises(OSError, match="refused to delete 1 of 2"):
        store.delete_prefix("runs")


def test_s3_store_without_boto3_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ConfigError, match=r"modelyard\[s3\]"):
        S3ArtifactStore("bucket")


@pytest.mark.parametrize("prefix", ["../x", "a//b", "a b", "a\\b"])
def test_s3_store_refuses_a_bad_prefix(prefix: str) -> None:
    with pytest.raises(ConfigError):
        S3ArtifactStore("bucket", prefix, client=object())


# -- build_artifact_store ------------------------------------------------------------------------


def _settings(tmp_path: Path, url: str | None, endpoint: str | None = None) -> Settings:
    storage = StorageSettings(artifact_url=url, s3_endpoint_url=endpoint)
    return Settings(data_dir=tmp_path / "data", storage=storage)


def test_build_defaults_to_the_data_folder(tmp_path: Path) -> None:
    store = build_artifact_store(_settings(tmp_path, None))

    assert isinstance(store, LocalArtifactStore)
    assert store.root == (tmp_path / "data" / "artifacts").resolve()
    assert store.root.is_dir()


def test_build_from_an_absolute_folder(tmp_path: Path) -> None:
    store = build_artifact_store(_settings(tmp_path, str(tmp_path / "store")))

    assert isinstance(store, LocalArtifactStore)
    assert store.root == (tmp_path / "store").resolve()


def test_build_from_a_relative_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = build_artifact_store(_settings(tmp_path, "rel/store"))

    assert isinstance(store, LocalArtifactStore)
    assert store.root == (tmp_path / "rel" / "store").resolve()


def test_build_from_a_file_url(tmp_path: Path) -> None:
    store = build_artifact_store(_settings(tmp_path, (tmp_path / "via url").as_uri()))

    assert isinstance(store, LocalArtifactStore)
    assert store.root == (tmp_path / "via url").resolve()
    store.put_bytes("a/b", b"x")
    assert (tmp_path / "via url" / "a" / "b").read_bytes() == b"x"


def test_build_from_an_s3_url(tmp_path: Path, bucket: str, s3_endpoint: str) -> None:
    store = build_artifact_store(_settings(tmp_path, f"s3://{bucket}/some/prefix/", s3_endpoint))

    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix) == (bucket, "some/prefix")
    store.put_bytes("models/m.bin", b"over http")
    assert store.get_bytes("models/m.bin") == b"over http"


def test_build_from_an_s3_url_without_prefix(tmp_path: Path, bucket: str, s3_endpoint: str) -> None:
    store = build_artifact_store(_settings(tmp_path, f"s3://{bucket}", s3_endpoint))

    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix) == (bucket, "")


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("gs://bucket/prefix", None),
        ("https://example.com/artifacts", None),
        ("ftp://host/x", None),
        ("s3://", None),
        ("s3:///prefix", None),
        ("s3://bucket/prefix?versioning=1", None),
        ("s3://user@bucket/prefix", None),
        ("s3://bucket/../x", None),
        ("s3://b/prefix", None),
        ("s3://bucket/prefix", "ftp://minio:9000"),
        ("file://otherhost/data", None),
        ("file://", None),
        ("   ", None),
        ("/srv/artifacts", "http://minio:9000"),
    ],
)
def test_build_refuses_bad_urls(
    tmp_path: Path, aws_env: None, url: str, endpoint: str | None
) -> None:
    with pytest.raises(ConfigError):
        build_artifact_store(_settings(tmp_path, url, endpoint))


def test_build_refuses_a_folder_it_cannot_create(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")

    with pytest.raises(ConfigError, match="artifact folder"):
        build_artifact_store(_settings(tmp_path, str(blocker / "store")))
