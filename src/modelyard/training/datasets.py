"""Labelled documents from an archive or a server folder: checked first, then read.

The layout is the Custom Classifier's: each top-level folder is a label, each file under it a
document. One wrapping folder (``dataset1/business/a.txt``) is looked through.

Archives are never extracted to disk. Every member header is checked before any member is
read: ``..``, absolute paths, links and special files refuse the archive, as do too many
members, more declared bytes than allowed or a declared compression ratio beyond the limit.
Only then are the members read, in chunks, each chunk counted as it is decompressed: a header
may lie, so the limits (extracted bytes, compression ratio per member and overall) are held
against the bytes actually produced, and reading stops at the first chunk beyond one. A bomb
is refused after at most the extracted-size limit of work, never after inflating it whole. A
folder is walked without following links, and only when it lies under the configured datasets
root.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import tarfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from lzma import LZMAError
from pathlib import Path, PurePosixPath
from typing import IO

__all__ = [
    "ArchiveLimits",
    "Corpus",
    "DatasetProblem",
    "DatasetTooLarge",
    "Skipped",
    "decode_corpus",
    "encode_corpus",
    "read_archive",
    "read_folder",
    "resolve_under_root",
]

MAX_SKIPPED_LISTED = 200
# Bytes read from a member at a time: the unit of counting, so the most decompressed beyond a
# limit before it is seen.
CHUNK_BYTES = 64 * 1024
# The settings named in the refusals, so an operator knows what to raise (config imports no
# domain, and this module none of config).
EXTRACTED_SETTING = "MODELYARD_TRAINING_MAX_EXTRACTED_BYTES"
RATIO_SETTING = "MODELYARD_TRAINING_MAX_COMPRESSION_RATIO"
MEMBERS_SETTING = "MODELYARD_TRAINING_MAX_MEMBERS"
# A tar.gz's compressed bytes per member are read from the file position, which runs ahead of
# the decompressor by up to its read buffer: that much is added to each member's count.
TAR_SLACK_BYTES = 256 * 1024


class DatasetProblem(ValueError):
    """The archive or folder cannot be used; the message says why (safe to show)."""


class DatasetTooLarge(DatasetProblem):
    """The archive expands beyond a size or compression-ratio limit."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int
    max_bytes: int
    max_document_bytes: int
    max_labels: int
    # Decompressed bytes per compressed byte, of each member and of the whole archive. Text
    # compresses 3-10x with deflate; a bomb of zeros about 1000x.
    max_ratio: float = 100.0
    # Below this many decompressed bytes the ratio is not held: a small, repetitive file may
    # compress far better than the limit and is harmless, and a tar.gz's compressed bytes are
    # only known to within gzip's read buffer.
    ratio_floor_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class Corpus:
    """Documents and their labels, in a stable order (label, then path)."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    sizes: Counter[str] = field(default_factory=Counter)
    skipped: list[Skipped] = field(default_factory=list)
    skipped_count: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))

    def skip(self, path: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_SKIPPED_LISTED:
            self.skipped.append(Skipped(path, reason))


# --- checking names -------------------------------------------------------------------------


def _check_name(name: str) -> PurePosixPath:
    if "\x00" in name or "\\" in name:
        raise DatasetProblem(f"the archive member {name!r} has a forbidden character")
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise DatasetProblem(f"the archive member {name!r} has an absolute path")
    if ".." in path.parts:
        raise DatasetProblem(f"the archive member {name!r} leaves the archive ('..')")
    return path


def _is_hidden(parts: tuple[str, ...]) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


# --- archives -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    path: PurePosixPath
    size: int
    handle: zipfile.ZipInfo | tarfile.TarInfo
    # Compressed bytes the member occupies in the archive (zip); None when the archive is
    # compressed as one stream (tar.gz), where the file position is read instead.
    compressed: int | None = None


# (path parts, size or -1 for a non-file, a function reading the bytes)
_Entry = tuple[tuple[str, ...], int, Callable[[], bytes]]


def _too_many_bytes(limits: ArchiveLimits, what: str) -> DatasetTooLarge:
    return DatasetTooLarge(
        f"{what} more than {limits.max_bytes} bytes (the limit of extracted bytes, "
        f"{EXTRACTED_SETTING})"
    )


def _check_ratio(limits: ArchiveLimits, name: str | None, expanded: int, compressed: int) -> None:
    if expanded <= limits.ratio_floor_bytes or expanded <= limits.max_ratio * max(compressed, 1):
        return
    where = f"the archive member {name!r}" if name is not None else "the archive"
    raise DatasetTooLarge(
        f"{where} expands more than {limits.max_ratio:g} times (the compression-ratio limit, "
        f"{RATIO_SETTING}): a decompression bomb, or data that is not text"
    )


def _too_many_members(limits: ArchiveLimits) -> DatasetProblem:
    return DatasetProblem(
        f"the archive has more than {limits.max_members} members ({MEMBERS_SETTING})"
    )


def _zip_members(archive: zipfile.ZipFile, limits: ArchiveLimits, size: int) -> list[_Member]:
    members: list[_Member] = []
    total = 0
    for index, info in enumerate(archive.infolist()):
        if index >= limits.max_members:
            raise _too_many_members(limits)
        path = _check_name(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise DatasetProblem(f"the archive member {info.filename!r} is a link")
        kind = stat.S_IFMT(mode)  # 0 when the writer recorded no file type
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            raise DatasetProblem(f"the archive member {info.filename!r} is not a file")
        total += info.file_size
        if total > limits.max_bytes:
            raise _too_many_bytes(limits, "the archive's headers declare")
        # A member cannot hold more compressed bytes than the file has, whatever it declares.
        compressed = min(info.compress_size, size)
        _check_ratio(limits, info.filename, info.file_size, compressed)
        if not info.is_dir():
            members.append(_Member(path, info.file_size, info, compressed))
    _check_ratio(limits, None, total, size)
    return members


def _tar_members(archive: tarfile.TarFile, raw: IO[bytes], limits: ArchiveLimits) -> list[_Member]:
    members: list[_Member] = []
    total = 0
    # Iterating reads headers one by one, so a huge member list stops at the limit. Reaching a
    # header decompresses every member before it: the header's offset counts the bytes really
    # produced and the raw file's position the compressed bytes consumed, so each member's
    # ratio is held when the next header (or the end) is reached, and the archive's at each.
    previous: tuple[str | None, int, int] = (None, 0, 0)

    def check(expanded: int) -> None:
        name, offset, position = previous
        consumed = raw.tell()
        if name is not None:
            _check_ratio(limits, name, expanded - offset, consumed - position + TAR_SLACK_BYTES)
        _check_ratio(limits, None, expanded, consumed)

    for index, info in enumerate(archive):
        if index >= limits.max_members:
            raise _too_many_members(limits)
        check(info.offset)
        path = _check_name(info.name)
        if info.issym() or info.islnk():
            raise DatasetProblem(f"the archive member {info.name!r} is a link")
        if not (info.isfile() or info.isdir()):
            raise DatasetProblem(f"the archive member {info.name!r} is not a file")
        total += info.size
        if total > limits.max_bytes:
            raise _too_many_bytes(limits, "the archive's headers declare")
        previous = (info.name, info.offset, raw.tell())
        if info.isfile():
            members.append(_Member(path, info.size, info))
    check(archive.offset)
    return members


class _Meter:
    """The bytes actually decompressed from an archive, held against its limits as they come."""

    def __init__(self, limits: ArchiveLimits, archive_bytes: int) -> None:
        self.limits = limits
        self.archive_bytes = archive_bytes
        self.total = 0

    def read(self, stream: IO[bytes], member: _Member) -> bytes:
        """The member's bytes, counted chunk by chunk; never more than its header declares."""
        name = str(member.path)
        chunks: list[bytes] = []
        got = 0
        while chunk := stream.read(min(CHUNK_BYTES, member.size + 1 - got)):
            got += len(chunk)
            self.total += len(chunk)
            if got > member.size:
                raise DatasetProblem(f"the archive member {name!r} is larger than its header says")
            if self.total > self.limits.max_bytes:
                raise _too_many_bytes(self.limits, "the archive expands to")
            if member.compressed is not None:
                _check_ratio(self.limits, name, got, member.compressed)
            _check_ratio(self.limits, None, self.total, self.archive_bytes)
            chunks.append(chunk)
        return b"".join(chunks)


def read_archive(path: Path, limits: ArchiveLimits, labels: Iterable[str] | None = None) -> Corpus:
    """Check every member of the zip or tar(.gz) at ``path``, then read its documents."""
    size = path.stat().st_size
    with path.open("rb") as raw:
        if zipfile.is_zipfile(raw):
            raw.seek(0)
            try:
                with zipfile.ZipFile(raw) as archive:
                    members = _zip_members(archive, limits, size)
                    meter = _Meter(limits, size)

                    def read_zip(member: _Member) -> bytes:
                        assert isinstance(member.handle, zipfile.ZipInfo)
                        with archive.open(member.handle) as stream:
                            return meter.read(stream, member)

                    return _collect(_entries(members, read_zip), limits, labels)
            # zlib.error: a damaged deflate stream (it was a 500).
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error) as exc:
                raise DatasetProblem(f"the zip archive is damaged: {exc}") from exc
        raw.seek(0)
        try:
            with tarfile.open(fileobj=raw, mode="r:*") as tar:
                members = _tar_members(tar, raw, limits)
                meter = _Meter(limits, size)

                def read_tar(member: _Member) -> bytes:
                    assert isinstance(member.handle, tarfile.TarInfo)
                    stream = tar.extractfile(member.handle)
                    if stream is None:
                        raise DatasetProblem(f"cannot read {member.path}")
                    return meter.read(stream, member)

                return _collect(_entries(members, read_tar), limits, labels)
        except (
            tarfile.TarError,
            EOFError,
            gzip.BadGzipFile,
            OSError,
            zlib.error,
            LZMAError,
        ) as exc:
            raise DatasetProblem("the upload is not a zip or tar(.gz) archive") from exc


def _strip_wrapper(members: list[_Member]) -> list[tuple[tuple[str, ...], _Member]]:
    visible = [(m.path.parts, m) for m in members if not _is_hidden(m.path.parts)]
    tops = {parts[0] for parts, _ in visible}
    # One folder holding every label folder: look through it.
    if len(tops) == 1 and all(len(parts) >= 3 for parts, _ in visible):
        return [(parts[1:], m) for parts, m in visible]
    return visible


def _entries(members: list[_Member], read: Callable[[_Member], bytes]) -> Iterator[_Entry]:
    for parts, member in _strip_wrapper(members):
        yield parts, member.size, (lambda member=member: read(member))  # type: ignore[misc]


# --- folders --------------------------------------------------------------------------------


def resolve_under_root(root: Path | None, path: str) -> Path:
    """The folder ``path`` names, refused unless it lies under ``root`` (links resolved)."""
    if root is None:
        raise DatasetProblem("no datasets root is configured on this server")
    if not path or "\x00" in path:
        raise DatasetProblem("the path is empty")
    base = root.resolve()
    target = (base / path).resolve()
    if target != base and not target.is_relative_to(base):
        raise DatasetProblem(f"the path {path!r} is outside the datasets root")
    if not target.is_dir():
        raise DatasetProblem(f"the path {path!r} is not a folder under the datasets root")
    return target


def _walk(folder: Path, limits: ArchiveLimits) -> Iterator[tuple[tuple[str, ...], int, Path]]:
    seen = 0
    for current, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            seen += 1
            if seen > limits.max_members:
                raise DatasetProblem(f"the folder has more than {limits.max_members} files")
            full = Path(current) / name
            parts = full.relative_to(folder).parts
            info = full.lstat()
            size = info.st_size if stat.S_ISREG(info.st_mode) else -1
            yield parts, size, full


def read_folder(folder: Path, limits: ArchiveLimits, labels: Iterable[str] | None = None) -> Corpus:
    """Read the documents of a folder already checked by ``resolve_under_root``."""
    entries: list[_Entry] = [
        (parts, size, lambda full=full, size=size: _read_file(full, size))  # type: ignore[misc]
        for parts, size, full in _walk(folder, limits)
    ]
    return _collect(iter(entries), limits, labels)


def _read_file(path: Path, size: int) -> bytes:
    # O_NOFOLLOW: a file swapped for a link after the walk is not followed either.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        return handle.read(size)


# --- documents ------------------------------------------------------------------------------


def _decode(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _collect(
    entries: Iterator[_Entry],
    limits: ArchiveLimits,
    labels: Iterable[str] | None,
) -> Corpus:
    wanted = set(labels) if labels is not None else None
    corpus = Corpus()
    total = 0
    found: list[tuple[str, str, str]] = []
    for parts, size, read in entries:
        name = "/".join(parts)
        if _is_hidden(parts):
            continue
        if len(parts) < 2:
            corpus.skip(name, "not inside a label folder")
            continue
        label = parts[0]
        if wanted is not None and label not in wanted:
            corpus.skip(name, "label not requested")
            continue
        if size < 0:
            corpus.skip(name, "not a regular file (links are not followed)")
            continue
        if size > limits.max_document_bytes:
            corpus.skip(name, f"larger than {limits.max_document_bytes} bytes")
            continue
        total += size
        if total > limits.max_bytes:
            raise _too_many_bytes(limits, "the documents hold")
        text = _decode(read())
        if text is None:
            corpus.skip(name, "binary or not UTF-8 text")
            continue
        if not text.strip():
            corpus.skip(name, "empty")
            continue
        found.append((label, name, text))
        corpus.sizes[label] += size
    for label, _name, text in sorted(found, key=lambda item: (item[0], item[1])):
        corpus.texts.append(text)
        corpus.labels.append(label)
    counts = corpus.counts
    if wanted is not None:
        missing = sorted(wanted - set(counts))
        if missing:
            raise DatasetProblem(f"no documents for the labels {missing}")
    if not counts:
        raise DatasetProblem("the dataset holds no documents in label folders")
    if len(counts) > limits.max_labels:
        raise DatasetProblem(f"the dataset has more than {limits.max_labels} labels")
    return corpus


# --- storing a read corpus ------------------------------------------------------------------


def encode_corpus(corpus: Corpus) -> bytes:
    """The documents as gzipped JSON lines, the form kept in the artifact store."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        for text, label in zip(corpus.texts, corpus.labels, strict=True):
            handle.write(json.dumps({"label": label, "text": text}).encode() + b"\n")
    return buffer.getvalue()


def decode_corpus(data: bytes) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    for line in gzip.decompress(data).splitlines():
        if line:
            item = json.loads(line)
            texts.append(item["text"])
            labels.append(item["label"])
    return texts, labels
