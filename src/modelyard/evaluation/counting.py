"""Labels to a confusion matrix with numpy: a million labels are counted, not walked in Python.

The vectors arrive as JSON lists. Their labels are ints, floats, strings or booleans, one kind per
request; each kind is turned into integer class codes in the cheapest way numpy allows, and the
pairs are counted with one ``bincount``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from modelyard.evaluation.exceptions import InvalidEvaluationInput, LimitExceeded
from modelyard.evaluation.schemas import LabelList

__all__ = [
    "Counted",
    "Label",
    "LabelKind",
    "count_int_arrays",
    "count_vectors",
    "label_kind",
    "matrix_from_rows",
]

Label = int | float | str | bool
LabelKind = Literal["int", "float", "str", "bool"]

_KINDS: dict[type, LabelKind] = {int: "int", float: "float", str: "str", bool: "bool"}
# Integer labels spread over at most this range are coded by offset; wider ones by sorting.
_DENSE_INT_SPAN = 1 << 20
# Unweighted integer labels are counted over every cell of their range when it has at most
# this many cells, or no more cells than labels (a million labels over 10 classes: 100 cells).
_DENSE_CELLS = 1 << 12


@dataclass(frozen=True)
class Counted:
    classes: list[Label]
    kind: LabelKind
    matrix: npt.NDArray[np.int64] | npt.NDArray[np.float64]


def _invalid(message: str, field: str) -> InvalidEvaluationInput:
    return InvalidEvaluationInput(message, details=[{"loc": ["body", field], "msg": message}])


def label_kind(values: Sequence[object], field: str) -> LabelKind:
    """The one kind of label in ``values``; ints mixed with floats count as floats."""
    if len(values) == 0:
        raise _invalid(f"{field} must not be empty", field)
    if isinstance(values, LabelList) and values.kind:
        return cast(LabelKind, values.kind)  # checked while the JSON was parsed
    # map(type) runs in C: about 40 ms for a million labels.
    types = set(map(type, values))
    unknown = types - _KINDS.keys()
    if unknown:
        names = ", ".join(sorted("null" if t is type(None) else t.__name__ for t in unknown))
        raise _invalid(f"{field} holds {names}; labels are numbers, strings or booleans", field)
    kinds = {_KINDS[t] for t in types}
    if kinds == {"int", "float"}:
        return "float"
    if len(kinds) > 1:
        raise _invalid(f"{field} mixes label types ({', '.join(sorted(kinds))})", field)
    return kinds.pop()


def _common_kind(first: LabelKind, second: LabelKind, field: str) -> LabelKind:
    if first == second:
        return first
    if {first, second} == {"int", "float"}:
        return "float"
    raise _invalid(f"{field} labels are {second} but actual labels are {first}", field)


def _float_array(values: Sequence[Label], field: str) -> npt.NDArray[np.float64]:
    array = np.fromiter(values, dtype=np.float64, count=len(values))
    if not np.isfinite(array).all():
        raise _invalid(f"{field} holds NaN or infinity", field)
    return array


def _int_array(values: Sequence[Label], field: str) -> npt.NDArray[np.int64]:
    try:
        return np.fromiter(values, dtype=np.int64, count=len(values))
    except OverflowError as exc:
        raise _invalid(f"{field} holds an integer beyond 64 bits", field) from exc


def _count_dense(
    actual: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """The labels found and their matrix, for integer labels over a narrow range: one
    ``bincount`` over every (actual, predicted) cell of the range, then the rows and columns
    of the labels that occur. None when the range has more cells than there are labels."""
    lo = int(min(actual.min(), predicted.min()))
    span = int(max(actual.max(), predicted.max())) - lo + 1
    if span * span > max(len(actual), _DENSE_CELLS):
        return None
    # (actual - lo) * span + (predicted - lo) in one array instead of four; near the ends of
    # int64, ``+= predicted`` may wrap around, and ``-= lo`` wraps it back.
    pairs = actual - lo
    pairs *= span
    pairs += predicted
    pairs -= lo
    full = np.bincount(pairs, minlength=span * span).reshape(span, span)
    # Every label that occurs adds at least one to its row or its column.
    present = np.flatnonzero(full.sum(axis=0) + full.sum(axis=1))
    return present + lo, full[np.ix_(present, present)]


def _codes_numeric(
    actual: npt.NDArray[np.int64] | npt.NDArray[np.float64],
    predicted: npt.NDArray[np.int64] | npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64] | npt.NDArray[np.int64], npt.NDArray[np.intp], int]:
    n = len(actual)
    if actual.dtype == np.int64:
        lo = int(min(actual.min(), predicted.min()))
        span = int(max(actual.max(), predicted.max())) - lo + 1
        if span <= _DENSE_INT_SPAN:
            # O(n) instead of a sort: mark the labels present, then number them in order.
            present = np.zeros(span, dtype=bool)
            present[actual - lo] = True
            present[predicted - lo] = True
            rank = np.cumsum(present) - 1
            values = np.flatnonzero(present) + lo
            codes = np.concatenate((rank[actual - lo], rank[predicted - lo]))
            return values, codes, n
    values, codes = np.unique(np.concatenate((actual, predicted)), return_inverse=True)
    return values, codes.ravel(), n


def _codes_str(
    actual: Sequence[Label], predicted: Sequence[Label], max_classes: int
) -> tuple[list[Label], npt.NDArray[np.intp], int]:
    # numpy sorts unicode arrays slowly (0.7 s per million); a dict lookup mapped in C is 3x faster.
    labels = set(actual)
    labels.update(predicted)
    if len(labels) > max_classes:
        raise LimitExceeded(f"{len(labels)} classes; at most {max_classes} are allowed")
    classes: list[Label] = sorted(labels)
    index = {label: i for i, label in enumerate(classes)}
    n = len(actual)
    codes = np.empty(2 * n, dtype=np.intp)
    codes[:n] = np.fromiter(map(index.__getitem__, actual), dtype=np.intp, count=n)
    codes[n:] = np.fromiter(map(index.__getitem__, predicted), dtype=np.intp, count=n)
    return classes, codes, n


def _python_labels(values: npt.NDArray[np.generic] | list[Label], kind: LabelKind) -> list[Label]:
    if isinstance(values, list):
        return values
    if kind == "bool":
        return [bool(v) for v in values.tolist()]
    listed: list[Label] = values.tolist()
    return listed


def check_classes(
    classes: Sequence[object], kind: LabelKind, max_classes: int, max_label_length: int
) -> list[Label]:
    """Given class labels: unique, of the vectors' kind, within the limits."""
    if len(classes) > max_classes:
        raise LimitExceeded(f"{len(classes)} classes; at most {max_classes} are allowed")
    given = label_kind(classes, "classes")
    if given != kind and not (kind == "float" and given == "int"):
        raise _invalid(f"classes are {given} but the labels are {kind}", "classes")
    labels: list[Label] = list(cast(Sequence[Label], classes))
    if kind == "float":
        numbers = [float(c) for c in labels]
        if not all(map(math.isfinite, numbers)):
            raise _invalid("classes hold NaN or infinity", "classes")
        labels = list(numbers)
    if len(set(labels)) != len(labels):
        raise _invalid("classes must be unique", "classes")
    check_label_lengths(labels, max_label_length)
    return labels


def check_label_lengths(labels: Sequence[Label], max_label_length: int) -> None:
    longest = max((len(label) for label in labels if isinstance(label, str)), default=0)
    if longest > max_label_length:
        raise LimitExceeded(f"a label has {longest} characters; at most {max_label_length}")


def count_vectors(
    actual: Sequence[Label],
    predicted: Sequence[Label],
    *,
    classes: Sequence[Label] | None = None,
    sample_weight: Sequence[float] | None = None,
    max_length: int,
    max_classes: int,
    max_label_length: int,
) -> Counted:
    """Count (actual, predicted) pairs into a matrix; rows are actual, columns predicted."""
    n = len(actual)
    if n > max_length or len(predicted) > max_length:
        raise LimitExceeded(f"vectors hold at most {max_length} labels")
    if n != len(predicted):
        raise _invalid(
            f"actual has {n} labels but predicted has {len(predicted)}",
            "predicted",
        )
    kind = _common_kind(
        label_kind(actual, "actual"),
        label_kind(predicted, "predicted"),
        "predicted",
    )
    if sample_weight is None and n <= _PYTHON_COUNT and _python_countable(actual, predicted, kind):
        return _count_in_python(
            actual,
            predicted,
            kind,
            classes,
            max_classes=max_classes,
            max_label_length=max_label_length,
        )
    if kind == "str":
        found, codes, _ = _codes_str(actual, predicted, max_classes)
        return _counted(
            found, codes, None, n, kind, classes, sample_weight, max_classes, max_label_length
        )
    convert = _float_array if kind == "float" else _int_array
    return _count_arrays(
        convert(actual, "actual"),
        convert(predicted, "predicted"),
        kind,
        classes,
        sample_weight,
        max_classes=max_classes,
        max_label_length=max_label_length,
    )


def count_int_arrays(
    actual: npt.NDArray[np.int64],
    predicted: npt.NDArray[np.int64],
    *,
    max_length: int,
    max_classes: int,
    max_label_length: int,
) -> Counted:
    """``count_vectors`` for integer labels already in two int64 arrays (read from JSON without
    a Python object per label): the same matrix, classes and errors."""
    n = len(actual)
    if n > max_length or len(predicted) > max_length:
        raise LimitExceeded(f"vectors hold at most {max_length} labels")
    if n != len(predicted):
        raise _invalid(
            f"actual has {n} labels but predicted has {len(predicted)}",
            "predicted",
        )
    if n == 0:
        raise _invalid("actual must not be empty", "actual")
    return _count_arrays(
        actual,
        predicted,
        "int",
        None,
        None,
        max_classes=max_classes,
        max_label_length=max_label_length,
    )


def _count_arrays(
    actual_array: npt.NDArray[np.int64] | npt.NDArray[np.float64],
    predicted_array: npt.NDArray[np.int64] | npt.NDArray[np.float64],
    kind: LabelKind,
    classes: Sequence[Label] | None,
    sample_weight: Sequence[float] | None,
    *,
    max_classes: int,
    max_label_length: int,
) -> Counted:
    """The numeric labels' matrix (see ``count_vectors``)."""
    n = len(actual_array)
    by_found: npt.NDArray[np.int64] | npt.NDArray[np.float64] | None = None
    codes: npt.NDArray[np.intp] | None = None
    dense = None
    if kind != "float" and sample_weight is None:
        dense = _count_dense(
            cast(npt.NDArray[np.int64], actual_array),
            cast(npt.NDArray[np.int64], predicted_array),
        )
    if dense is None:
        values, codes, _ = _codes_numeric(actual_array, predicted_array)
    else:
        values, by_found = dense
    found = _python_labels(values, kind)
    return _counted(
        found, codes, by_found, n, kind, classes, sample_weight, max_classes, max_label_length
    )


def _counted(
    found: list[Label],
    codes: npt.NDArray[np.intp] | None,
    by_found: npt.NDArray[np.int64] | npt.NDArray[np.float64] | None,
    n: int,
    kind: LabelKind,
    classes: Sequence[Label] | None,
    sample_weight: Sequence[float] | None,
    max_classes: int,
    max_label_length: int,
) -> Counted:
    """The matrix in the classes' order, from the labels found and their codes or matrix."""
    ordered, remap = _order(found, classes, kind, max_classes, max_label_length)
    if by_found is None:  # counted here, now that the number of classes is known to be allowed
        assert codes is not None
        by_found = _count_codes(codes, n, len(found), _weights(sample_weight, n))
    if remap is None:
        return Counted(classes=list(ordered), kind=kind, matrix=by_found)
    k = len(ordered)
    placed = cast(
        "npt.NDArray[np.int64] | npt.NDArray[np.float64]", np.zeros((k, k), dtype=by_found.dtype)
    )
    placed[np.ix_(remap, remap)] = by_found
    return Counted(classes=list(ordered), kind=kind, matrix=placed)


def _count_codes(
    codes: npt.NDArray[np.intp], n: int, k: int, weights: npt.NDArray[np.float64] | None
) -> npt.NDArray[np.int64] | npt.NDArray[np.float64]:
    """The k x k matrix of the pairs (codes[i], codes[n + i]), weighted when asked."""
    pairs = codes[:n] * k + codes[n:]
    counted = np.bincount(pairs, weights=weights, minlength=k * k).reshape(k, k)
    return counted if weights is not None else counted.astype(np.int64, copy=False)


def _order(
    found: list[Label],
    classes: Sequence[Label] | None,
    kind: LabelKind,
    max_classes: int,
    max_label_length: int,
) -> tuple[list[Label], list[int] | None]:
    """The matrix's classes (``classes`` if given, else the labels found, sorted) and where
    each found label goes among them (None: where it is)."""
    if len(found) > max_classes:
        raise LimitExceeded(f"{len(found)} classes; at most {max_classes} are allowed")
    check_label_lengths(found, max_label_length)
    ordered = found
    remap = None
    if classes is not None:
        ordered = check_classes(classes, kind, max_classes, max_label_length)
        position = {label: i for i, label in enumerate(ordered)}
        missing = [label for label in found if label not in position]
        if missing:
            shown = ", ".join(map(repr, missing[:5]))
            raise _invalid(f"labels not in classes: {shown}", "classes")
        remap = [position[label] for label in found]
    if len(ordered) < 2:
        raise _invalid(
            "the vectors hold one class only; a confusion matrix needs at least two "
            "(name the others in classes)",
            "actual",
        )
    return ordered, remap


# Vectors up to this length are counted in Python: there numpy's calls cost more than the
# counting, and some of them (bincount, unique) release the GIL even for a few values, which
# hands the interpreter to another thread waiting for it (the group-commit writer, a worker)
# for as long as that thread runs: a small create on the event loop waited 0.4 ms so.
_PYTHON_COUNT = 256
_INT64 = range(-(2**63), 2**63)


def _python_countable(actual: Sequence[Label], predicted: Sequence[Label], kind: LabelKind) -> bool:
    # Floats keep numpy's path: its sort decides which of 0.0 and -0.0 names their class.
    if kind == "float":
        return False
    if kind == "int":  # beyond 64 bits, numpy's conversion gives the error
        return all(v in _INT64 for v in actual) and all(v in _INT64 for v in predicted)
    return True


def _count_in_python(
    actual: Sequence[Label],
    predicted: Sequence[Label],
    kind: LabelKind,
    classes: Sequence[Label] | None,
    *,
    max_classes: int,
    max_label_length: int,
) -> Counted:
    """``count_vectors`` for a few int, bool or str labels, with the same classes, order,
    counts and errors (tests/evaluation/test_counting.py compares the two)."""
    labels = set(actual)
    labels.update(predicted)
    if len(labels) > max_classes:
        raise LimitExceeded(f"{len(labels)} classes; at most {max_classes} are allowed")
    found: list[Label] = sorted(labels)
    ordered, remap = _order(found, classes, kind, max_classes, max_label_length)
    index = {label: i for i, label in enumerate(found)}
    if remap is not None:
        index = {label: remap[i] for label, i in index.items()}
    k = len(ordered)
    rows = [[0] * k for _ in range(k)]
    for a, p in zip(actual, predicted, strict=True):
        rows[index[a]][index[p]] += 1
    return Counted(classes=list(ordered), kind=kind, matrix=np.array(rows, dtype=np.int64))


def _weights(sample_weight: Sequence[float] | None, n: int) -> npt.NDArray[np.float64] | None:
    if sample_weight is None:
        return None
    if len(sample_weight) != n:
        raise _invalid(
            f"sample_weight has {len(sample_weight)} values for {n} labels", "sample_weight"
        )
    weights = _float_array(sample_weight, "sample_weight")
    if (weights < 0).any():
        raise _invalid("sample_weight must not be negative", "sample_weight")
    return weights


def matrix_from_rows(
    rows: Sequence[Sequence[float]],
    classes: Sequence[Label] | None,
    *,
    max_classes: int,
    max_label_length: int,
) -> Counted:
    """A ready matrix (rows actual, columns predicted), checked; classes default to 0..k-1."""
    k = len(rows)
    if k > max_classes:
        raise LimitExceeded(f"{k} classes; at most {max_classes} are allowed")
    if k < 2:
        raise _invalid("a confusion matrix needs at least two classes", "matrix")
    if any(len(row) != k for row in rows):
        raise _invalid(f"the matrix must be square: {k} rows of {k} numbers", "matrix")
    array = np.array(rows, dtype=np.float64)
    if not np.isfinite(array).all() or (array < 0).any():
        raise _invalid("matrix entries must be finite and not negative", "matrix")
    if classes is None:
        labels: list[Label] = list(range(k))
        kind: LabelKind = "int"
    else:
        if len(classes) != k:
            raise _invalid(f"classes has {len(classes)} labels for a {k}x{k} matrix", "classes")
        kind = label_kind(classes, "classes")
        labels = check_classes(classes, kind, max_classes, max_label_length)
    integral = bool((array == np.round(array)).all())
    matrix = array.astype(np.int64) if integral else array
    return Counted(classes=labels, kind=kind, matrix=matrix)
