"""Archive bombs: the extracted-size and compression-ratio limits, held against the bytes
really decompressed, refuse a bomb within seconds and name the setting to raise."""

from __future__ import annotations

import io
import struct
import tarfile
import time
import zipfile
from pathlib import PurePosixPath

import pytest
from fastapi.testclient import TestClient

from modelyard.training.datasets import (
    ArchiveLimits,
    DatasetProblem,
    DatasetTooLarge,
    _Member,
    _Meter,
)
from tests.helpers import Account
from tests.training.helpers import corpus_members, tar_bytes, upload, zip_bytes

MIB = 1024 * 1024
# A bomb is refused within this; reading it whole took 45 s before the limits.
REFUSED_WITHIN_SECONDS = 10.0


def _zeros_zip(member_bytes: int, name: str = "food/zeros.txt") -> bytes:
    """A zip whose one member is ``member_bytes`` zeros, written in chunks (never held whole)."""
    buffer = io.BytesIO()
    chunk = bytes(MIB)
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open(name, "w", force_zip64=True) as member,
    ):
        for _ in range(member_bytes // MIB):
            member.write(chunk)
    return buffer.getvalue()


def _zeros_tar_gz(member_bytes: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=9) as archive:
        info = tarfile.TarInfo("food/zeros.txt")
        info.size = member_bytes
        archive.addfile(info, _Zeros(member_bytes))
    return buffer.getvalue()


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def _refused(client: TestClient, account: Account, data: bytes, filename: str) -> dict[str, str]:
    started = time.monotonic()
    response = upload(client, account, data, filename)
    elapsed = time.monotonic() - started
    assert response.status_code == 413, response.text
    assert elapsed < REFUSED_WITHIN_SECONDS, elapsed
    error: dict[str, str] = response.json()["error"]
    assert error["code"] == "dataset_too_large"
    return error


def test_a_1_mb_zip_of_1_gb_is_refused_in_seconds(client: TestClient, alice: Account) -> None:
    bomb = _zeros_zip(1024 * MIB)
    assert len(bomb) < 2 * MIB
    error = _refused(client, alice, bomb, "bomb.zip")
    assert "MODELYARD_TRAINING_MAX_EXTRACTED_BYTES" in error["message"]
    assert str(200 * MIB) in error["message"]


def test_a_zip_member_beyond_the_ratio_is_refused(client: TestClient, alice: Account) -> None:
    # 20 MiB: under the size limit, about 1000 times its compressed size.
    error = _refused(client, alice, _zeros_zip(20 * MIB), "ratio.zip")
    assert "MODELYARD_TRAINING_MAX_COMPRESSION_RATIO" in error["message"]
    assert "food/zeros.txt" in error["message"]


def test_a_tar_gz_bomb_is_refused_by_the_bytes_it_expands_to(
    client: TestClient, alice: Account
) -> None:
    # A tar header cannot hide its size, but a gzip stream's ratio is only known by reading it:
    # 150 MiB of zeros (under the size limit) in about 150 KB.
    error = _refused(client, alice, _zeros_tar_gz(150 * MIB), "bomb.tar.gz")
    assert "MODELYARD_TRAINING_MAX_COMPRESSION_RATIO" in error["message"]


def _lie_about_size(data: bytes, declared: int) -> bytes:
    """The zip with its one member's uncompressed size rewritten in both headers."""
    raw = bytearray(data)
    local = raw.index(b"PK\x03\x04")
    central = raw.index(b"PK\x01\x02")
    # Zip64 sizes live in the extra fields; this archive is written without them.
    struct.pack_into("<I", raw, local + 22, declared)
    struct.pack_into("<I", raw, central + 24, declared)
    return bytes(raw)


def test_a_zip_member_lying_about_its_size_is_refused(client: TestClient, alice: Account) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("food/zeros.txt", bytes(50 * MIB))
    lying = _lie_about_size(buffer.getvalue(), 1000)
    started = time.monotonic()
    response = upload(client, alice, lying, "lying.zip")
    assert time.monotonic() - started < REFUSED_WITHIN_SECONDS
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_dataset"


def test_the_meter_counts_what_is_decompressed_not_what_is_declared() -> None:
    limits = ArchiveLimits(max_members=10, max_bytes=5 * MIB, max_document_bytes=MIB, max_labels=5)
    # A stream giving more than its header declares is cut off at the declared size + 1 byte.
    liar = _Member(PurePosixPath("food/a.txt"), 10, zipfile.ZipInfo("food/a.txt"), None)
    with pytest.raises(DatasetProblem, match="larger than its header says"):
        _Meter(limits, 10 * MIB).read(io.BytesIO(bytes(MIB)), liar)
    # Members each honest but together beyond the limit stop at the first chunk past it.
    meter = _Meter(limits, 10 * MIB)
    member = _Member(PurePosixPath("food/b.txt"), 4 * MIB, zipfile.ZipInfo("food/b.txt"), None)
    meter.read(io.BytesIO(bytes(4 * MIB)), member)
    stream = io.BytesIO(bytes(4 * MIB))
    with pytest.raises(DatasetTooLarge, match="MODELYARD_TRAINING_MAX_EXTRACTED_BYTES"):
        meter.read(stream, member)
    assert stream.tell() <= 1 * MIB + 64 * 1024
    # A member expanding beyond the ratio of its compressed bytes, past the first MiB.
    dense = _Member(PurePosixPath("food/c.txt"), 3 * MIB, zipfile.ZipInfo("food/c.txt"), 1000)
    with pytest.raises(DatasetTooLarge, match="MODELYARD_TRAINING_MAX_COMPRESSION_RATIO"):
        _Meter(limits, 10 * MIB).read(io.BytesIO(bytes(3 * MIB)), dense)


def test_a_damaged_deflate_stream_is_a_400(client: TestClient, alice: Account) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in corpus_members(per_label=5).items():
            archive.writestr(name, text)
    data = bytearray(buffer.getvalue())
    start = data.index(b"PK\x03\x04") + 30 + data[26] + 10  # inside the first member's data
    for index in range(start, start + 16):
        data[index] ^= 0xFF
    response = upload(client, alice, bytes(data), "damaged.zip")
    assert response.status_code == 400, response.text
    assert "damaged" in response.json()["error"]["message"]


@pytest.mark.parametrize("pack", [zip_bytes, tar_bytes])
def test_ordinary_datasets_still_upload(client: TestClient, alice: Account, pack) -> None:  # type: ignore[no-untyped-def]
    response = upload(client, alice, pack(corpus_members(per_label=5)), "d.zip")
    assert response.status_code == 201, response.text
