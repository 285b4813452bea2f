"""Drift of one feature between a reference and a current sample, with Evidently's defaults.

Evidently's documented choice of test (``_get_default_stattest``), here on numpy arrays:

* reference of at most 1,000 rows: a numeric feature with more than 5 distinct values is
  compared with the two-sample Kolmogorov-Smirnov test; a categorical one (or a numeric one
  with at most 5 values) with the chi-squared test, or the Z-test of two proportions when
  there are at most 2 values. Drift: p-value < 0.05.
* reference of more than 1,000 rows: a numeric feature with more than 5 distinct values by
  the Wasserstein distance normalized by the reference's standard deviation; any other by
  the Jensen-Shannon distance (natural logarithm, as Evidently). Drift: distance >= 0.1.

PSI (Evidently's binning: Sturges bins over both samples for a numeric feature with more than
20 distinct reference values, else one bin per value; empty bins filled with 0.0001 or a
millionth of the smallest share) is reported beside, drifting at >= 0.1. Missing values
(NaN, None) are left out first, as Evidently does. The dataset drifts when at least
``drift_share`` (0.5) of its features drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

# scipy is imported inside the tests that use it: the app imports this module at start, where
# scipy would cost a third of a second and tens of MB that no request may ever need.

__all__ = [
    "DEFAULT_THRESHOLDS",
    "FeatureResult",
    "binned",
    "chi_square",
    "compare",
    "distinct",
    "jensen_shannon",
    "ks",
    "psi",
    "shares",
    "wasserstein_norm",
    "z_test",
]

Kind = Literal["num", "cat"]
DEFAULT_THRESHOLDS: dict[str, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}
# The tests that give a p-value (drift below the threshold); the others give a distance.
P_VALUE_TESTS = frozenset({"ks", "chisquare", "z"})
SMALL_REFERENCE = 1000


@dataclass(frozen=True)
class FeatureResult:
    stattest: str
    statistic: float | None
    threshold: float
    drifted: bool
    psi: float | None
    reference_rows: int
    current_rows: int


def _counts(values: npt.NDArray[Any], keys: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    found, counts = np.unique(values, return_counts=True)
    where = np.searchsorted(keys, found)
    result = np.zeros(len(keys))
    result[where] = counts
    return result


def ks(reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]) -> float:
    from scipy import stats

    return float(stats.ks_2samp(reference, current)[1])


def wasserstein_norm(reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]) -> float:
    from scipy import stats

    norm = max(float(np.std(reference)), 0.001)
    return float(stats.wasserstein_distance(reference, current)) / norm


def chi_square(reference: npt.NDArray[Any], current: npt.NDArray[Any]) -> float:
    from scipy import stats

    keys = np.union1d(reference, current)
    expected = _counts(reference, keys) * (len(current) / len(reference))
    # A value the reference never had expects 0 rows: an infinite statistic, p = 0 (drift),
    # as in Evidently.
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.chisquare(_counts(current, keys), expected)[1])


def z_test(reference: npt.NDArray[Any], current: npt.NDArray[Any]) -> float:
    from scipy import stats

    keys = np.union1d(reference, current)
    if len(keys) == 1:
        return 1.0
    # As Evidently: the share of rows that are NOT the first value (sorted), compared.
    first = keys[0]
    n1, n2 = len(reference), len(current)
    p1 = float(np.count_nonzero(reference != first)) / n1
    p2 = float(np.count_nonzero(current != first)) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


def shares(
    reference: npt.NDArray[Any], current: npt.NDArray[Any], kind: Kind
) -> tuple[list[str], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The bins (their names) and each sample's share per bin (Evidently's binning)."""
    if kind == "num" and distinct((reference,), 21) > 20:
        edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        ref = np.histogram(reference, edges)[0] / len(reference)
        cur = np.histogram(current, edges)[0] / len(current)
        names = [f"{low:.3g}" for low in edges[:-1]]
    else:
        keys = np.union1d(reference, current)
        ref = _counts(reference, keys) / len(reference)
        cur = _counts(current, keys) / len(current)
        names = [str(key) for key in keys]
    return names, ref, cur


def binned(
    reference: npt.NDArray[Any], current: npt.NDArray[Any], kind: Kind, *, fill_zeroes: bool
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each sample's share per bin (Evidently's ``get_binned_data``)."""
    _, ref, cur = shares(reference, current, kind)
    if fill_zeroes:
        for part in (ref, cur):
            smallest = part[part != 0].min()
            part[part == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return ref, cur


def jensen_shannon(reference: npt.NDArray[Any], current: npt.NDArray[Any], kind: Kind) -> float:
    from scipy.spatial import distance

    ref, cur = binned(reference, current, kind, fill_zeroes=False)
    return float(distance.jensenshannon(ref, cur))


def psi(reference: npt.NDArray[Any], current: npt.NDArray[Any], kind: Kind) -> float:
    ref, cur = binned(reference, current, kind, fill_zeroes=True)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def distinct(samples: tuple[npt.NDArray[Any], ...], limit: int) -> int:
    """How many distinct values the samples hold together, counted up to ``limit``: a pass
    per value found, instead of sorting a million values to learn there are more than 5."""
    rest = [s for s in samples if len(s)]
    found = 0
    while rest and found < limit:
        value = rest[0][0]
        rest = [kept for s in rest if len(kept := s[s != value])]
        found += 1
    return found


def default_test(reference: npt.NDArray[Any], current: npt.NDArray[Any], kind: Kind) -> str:
    """Evidently's default test for this feature (see the module)."""
    values = distinct((reference, current), 6)
    if len(reference) <= SMALL_REFERENCE:
        if kind == "num" and values > 5:
            return "ks"
        return "chisquare" if values > 2 else "z"
    if kind == "num" and values > 5:
        return "wasserstein"
    return "jensenshannon"


def present(values: npt.NDArray[Any], kind: Kind) -> npt.NDArray[Any]:
    """The values without the missing ones: NaN and infinities, or None and NaN for text."""
    if kind == "num":
        numbers = values.astype(np.float64)
        return numbers[np.isfinite(numbers)]
    kept = [_category(v) for v in values if v is not None and not (isinstance(v, float) and v != v)]
    return np.array(kept, dtype=str)


def _category(value: Any) -> str:
    # 1.0 from a logged float matrix is the category "1" of the training sample's text.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return str(value).lower()
    return str(value).strip()


def compare(
    reference: npt.NDArray[Any],
    current: npt.NDArray[Any],
    kind: Kind,
    thresholds: dict[str, float] | None = None,
    stattest: str | None = None,
) -> FeatureResult:
    """One feature's drift: the default (or the given) test, its threshold, and PSI."""
    limits = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    ref, cur = present(reference, kind), present(current, kind)
    if len(ref) == 0 or len(cur) == 0:
        return FeatureResult("none", None, 0.0, False, None, len(ref), len(cur))
    test = stattest or default_test(ref, cur, kind)
    statistic = {
        "ks": lambda: ks(ref, cur),
        "wasserstein": lambda: wasserstein_norm(ref, cur),
        "chisquare": lambda: chi_square(ref, cur),
        "z": lambda: z_test(ref, cur),
        "jensenshannon": lambda: jensen_shannon(ref, cur, kind),
        "psi": lambda: psi(ref, cur, kind),
    }[test]()
    threshold = limits[test]
    drifted = bool(statistic < threshold) if test in P_VALUE_TESTS else bool(statistic >= threshold)
    population = psi(ref, cur, kind)
    return FeatureResult(
        test,
        statistic if np.isfinite(statistic) else None,
        threshold,
        drifted,
        population if np.isfinite(population) else None,
        len(ref),
        len(cur),
    )
