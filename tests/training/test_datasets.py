"""Datasets: archives and folders, checked before anything is read."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelyard.app import create_app
from modelyard.config import Settings
from tests.helpers import Account, sign_up
from tests.training.helpers import corpus_members, tar_bytes, upload, write_folder, zip_bytes


def _error(response, status: int) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    message: str = response.json()["error"]["message"]
    return message


def test_tar_gz_upload_with_stats(client: TestClient, alice: Account) -> None:
    members = corpus_members(per_label=3)
    members["notes.txt"] = b"at the top, no label"
    members["food/empty.txt"] = b"   "
    response = upload(client, alice, tar_bytes(members), "d.tar.gz")
    body = response.json()
    assert response.status_code == 201, body
    assert body["label_counts"] == {"food": 3, "space": 3, "sport": 3}
    assert body["documents"] == 9
    assert set(body["label_bytes"]) == {"food", "space", "sport"}
    reasons = {item["path"]: item["reason"] for item in body["skipped"]}
    assert reasons == {"notes.txt": "not inside a label folder", "food/empty.txt": "empty"}
    listed = client.get("/api/v1/datasets", headers=alice.headers).json()
    assert [d["id"] for d in listed["items"]] == [body["id"]]


def test_binary_files_are_skipped_with_why(client: TestClient, alice: Account) -> None:
    members = corpus_members(per_label=3)
    members["food/photo.jpg"] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"
    members["space/latin1.txt"] = "caf\xe9 cr\xe8me".encode("latin-1")
    body = upload(client, alice, zip_bytes(members)).json()
    assert body["label_counts"] == {"food": 3, "space": 3, "sport": 3}
    reasons = {item["path"]: item["reason"] for item in body["skipped"]}
    assert reasons["food/photo.jpg"] == "binary or not UTF-8 text"
    assert reasons["space/latin1.txt"] == "binary or not UTF-8 text"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (zip_bytes({}), "no documents"),
        (tar_bytes({}), "no documents"),
        (b"just some bytes, not an archive", "not a zip or tar"),
    ],
    # Named, not by their bytes: a tar.gz holds the time it was made, and the parallel run's
    # workers must collect the same test ids.
    ids=["empty", "empty-zip", "empty-tar", "not-an-archive"],
)
def test_empty_or_not_an_archive(client: TestClient, alice: Account, data: bytes, why: str) -> None:
    assert why in _error(upload(client, alice, data), 400)


@pytest.mark.parametrize(
    "name", ["../evil.txt", "food/../../evil.txt", "/etc/evil.txt", "food/..\\evil.txt"]
)
@pytest.mark.parametrize("pack", [zip_bytes, tar_bytes])
def test_zip_slip_is_refused(client: TestClient, alice: Account, name: str, pack) -> None:  # type: ignore[no-untyped-def]
    members = corpus_members(per_label=2)
    members[name] = b"escape"
    message = _error(upload(client, alice, pack(members)), 400)
    assert "absolute" in message or ".." in message or "forbidden" in message


def test_symlink_members_are_refused(client: TestClient, alice: Account) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("food/link.txt")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        archive.addfile(info)
    assert "link" in _error(upload(client, alice, buffer.getvalue(), "d.tgz"), 400)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("food/link.txt")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    assert "link" in _error(upload(client, alice, buffer.getvalue()), 400)

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("food/hard.txt")
        info.type = tarfile.LNKTYPE
        info.linkname = "food/other.txt"
        archive.addfile(info)
    assert "link" in _error(upload(client, alice, buffer.getvalue(), "d.tgz"), 400)


@pytest.fixture
def small_limits_client(settings: Settings) -> Iterator[TestClient]:
    training = settings.training.model_copy(
        update={"max_extracted_bytes": 100_000, "max_members": 50, "max_archive_bytes": 50_000}
    )
    with TestClient(create_app(settings.model_copy(update={"training": training}))) as client:
        yield client


def test_archive_bomb_is_refused_before_reading(small_limits_client: TestClient) -> None:
    account = sign_up(small_limits_client, "carol@example.com")
    # 10 MB of zeros compress to about 10 KB: under the upload limit, far over the content
    # limit, which the members' headers tell before anything is decompressed.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("food/zeros.txt", b"0" * 10_000_000)
    assert len(buffer.getvalue()) < 50_000
    message = _error(upload(small_limits_client, account, buffer.getvalue()), 413)
    assert "more than 100000 bytes" in message


def test_too_many_members_and_too_large_uploads(small_limits_client: TestClient) -> None:
    account = sign_up(small_limits_client, "dave@example.com")
    many = {f"food/{i}.txt": b"x" for i in range(60)}
    assert "more than 50 members" in _error(
        upload(small_limits_client, account, tar_bytes(many), "d.tgz"), 400
    )
    big = os.urandom(60_000)
    assert "limited to 50000 bytes" in _error(upload(small_limits_client, account, big), 413)


def test_folder_under_the_root(client: TestClient, alice: Account, datasets_root: Path) -> None:
    write_folder(datasets_root, per_label=4)
    (datasets_root / "dataset1" / "food" / "data.bin").write_bytes(b"\x00\x01\x02")
    response = client.post(
        "/api/v1/datasets/from-path",
        json={"path": "dataset1", "labels": ["food", "space"]},
        headers=alice.headers,
    )
    body = response.json()
    assert response.status_code == 201, body
    assert body["label_counts"] == {"food": 4, "space": 4}
    assert body["source"] == "path"
    reasons = {item["path"]: item["reason"] for item in body["skipped"]}
    assert reasons["food/data.bin"] == "binary or not UTF-8 text"


@pytest.mark.parametrize("path", ["..", "../..", "/etc", "dataset1/../../..", "missing"])
def test_path_outside_the_root_is_refused(
    client: TestClient, alice: Account, datasets_root: Path, path: str
) -> None:
    write_folder(datasets_root, per_label=2)
    response = client.post("/api/v1/datasets/from-path", json={"path": path}, headers=alice.headers)
    assert response.status_code == 400, response.text


def test_links_in_a_folder_are_not_followed(
    client: TestClient, alice: Account, datasets_root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    write_folder(outside, per_label=2)
    (datasets_root / "escape").symlink_to(outside / "dataset1")
    response = client.post(
        "/api/v1/datasets/from-path", json={"path": "escape"}, headers=alice.headers
    )
    assert "outside the datasets root" in _error(response, 400)

    folder = write_folder(datasets_root, per_label=2)
    (folder / "food" / "secret.txt").symlink_to(outside / "dataset1" / "food" / "doc000.txt")
    response = client.post(
        "/api/v1/datasets/from-path", json={"path": "dataset1"}, headers=alice.headers
    )
    assert response.status_code == 201, response.text
    reasons = {item["path"]: item["reason"] for item in response.json()["skipped"]}
    assert reasons["food/secret.txt"].startswith("not a regular file")


def test_another_users_dataset_is_not_found(
    client: TestClient, alice: Account, bob: Account
) -> None:
    dataset = upload(client, alice, zip_bytes(corpus_members(per_label=2))).json()
    assert client.get(f"/api/v1/datasets/{dataset['id']}", headers=bob.headers).status_code == 404
    response = client.post(
        "/api/v1/training-runs",
        json={"dataset_id": dataset["id"], "experiment_name": "bob-exp"},
        headers=bob.headers,
    )
    assert response.status_code == 404
