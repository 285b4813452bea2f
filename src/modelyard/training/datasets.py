"""Labelled documents from an archive or a server folder: checked first, then read.

The layout is the Custom Classifier's: each top-level folder is a label, each file under it a
document. One wrapping folder (``dataset1/business/a.txt``) is looked through.

Archives are never extracted to disk. Every member header is checked before any member is
read: ``..``, absolute paths, links and special files refuse the archive, as do too many
members or more declared bytes than allowed. Only then are the members read into memory, each
read bounded by its declared size. A folder is walked without following links, and only when
it lies under the configured datasets root.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import tarfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

__all__ = [
    "ArchiveLimits",
    "Corpus",
    "DatasetProblem",
    "Skipped",
    "decode_corpus",
    "encode_corpus",
    "read_archive",
    "read_folder",
    "resolve_under_root",
]

MAX_SKIPPED_LISTED = 200


class DatasetProblem(ValueError):
    """The archive or folder cannot be used; the message says why (safe to show)."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int
    max_bytes: int
    max_document_bytes: int
    max_labels: int


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


# (path parts, size or -1 for a non-file, a function reading the bytes)
_Entry = tuple[tuple[str, ...], int, Callable[[], bytes]]


def _zip_members(archive: zipfile.ZipFile, limits: ArchiveLimits) -> list[_Member]:
    members: list[_Member] = []
    total = 0
    for index, info in enumerate(archive.infolist()):
        if index >= limits.max_members:
            raise DatasetProblem(f"the archive has more than {limits.max_members} members")
        path = _check_name(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise DatasetProblem(f"the archive member {info.filename!r} is a link")
        kind = stat.S_IFMT(mode)  # 0 when the writer recorded no file type
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            raise DatasetProblem(f"the archive member {info.filename!r} is not a file")
        total += info.file_size
        if total > limits.max_bytes:
            raise DatasetProblem(f"the archive holds more than {limits.max_bytes} bytes")
        if not info.is_dir():
            members.append(_Member(path, info.file_size, info))
    return members


def _tar_members(archive: tarfile.TarFile, limits: ArchiveLimits) -> list[_Member]:
    members: list[_Member] = []
    total = 0
    # Iterating reads headers one by one, so a huge member list stops at the limit.
    for index, info in enumerate(archive):
        if index >= limits.max_members:
            raise DatasetProblem(f"the archive has more than {limits.max_members} members")
        path = _check_name(info.name)
        if info.issym() or info.islnk():
            raise DatasetProblem(f"the archive member {info.name!r} is a link")
        if not (info.isfile() or info.isdir()):
            raise DatasetProblem(f"the archive member {info.name!r} is not a file")
        total += info.size
        if total > limits.max_bytes:
            raise DatasetProblem(f"the archive holds more than {limits.max_bytes} bytes")
        if info.isfile():
            members.append(_Member(path, info.size, info))
    return members


def _read_bounded(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size + 1)
    if len(data) > size:
        raise DatasetProblem("an archive member is larger than its header says")
    return data


def read_archive(path: Path, limits: ArchiveLimits, labels: Iterable[str] | None = None) -> Corpus:
    """Check every member of the zip or tar(.gz) at ``path``, then read its documents."""
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                members = _zip_members(archive, limits)

                def read_zip(member: _Member) -> bytes:
                    assert isinstance(member.handle, zipfile.ZipInfo)
                    with archive.open(member.handle) as stream:
                        return _read_bounded(stream, member.size)

                return _collect(_entries(members, read_zip), limits, labels)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
            raise DatasetProblem(f"the zip archive is damaged: {exc}") from exc
    try:
        with tarfile.open(path, mode="r:*") as tar:
            members = _tar_members(tar, limits)

            def read_tar(member: _Member) -> bytes:
                assert isinstance(member.handle, tarfile.TarInfo)
                stream = tar.extractfile(member.handle)
                if stream is None:
                    raise DatasetProblem(f"cannot read {member.path}")
                return _read_bounded(stream, member.size)

            return _collect(_entries(members, read_tar), limits, labels)
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, OSError) as exc:
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
            raise DatasetProblem(f"the documents hold more than {limits.max_bytes} bytes")
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
