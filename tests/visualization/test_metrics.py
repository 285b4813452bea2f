"""The visualization quality metrics against cases whose answer is known."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from sklearn.decomposition import PCA

from modelyard.errors import InvalidInput
from modelyard.visualization import metrics
from modelyard.visualization.metrics import METRIC_NAMES, MetricInputError, compute

SEED = 7
# The names hydro-visualization's parameter schema lists; each must be computed here.
SOURCE_METRICS = (
    "global_score",
    "sammon_error",
    "auc_score",
    "stability_score",
    "msid",
    "clustering",
)


def _blobs(rng: np.random.Generator, per_class: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated 2-D clusters and their labels."""
    centres = np.array([[0.0, 0.0], [25.0, 0.0], [0.0, 25.0]])
    labels = np.repeat(np.arange(3), per_class)
    return centres[labels] + rng.normal(size=(len(labels), 2)), labels


def _embed(flat: np.ndarray, rng: np.random.Generator, dims: int = 10) -> np.ndarray:
    """The 2-D points rotated into ``dims`` dimensions: the same distances, rank 2."""
    basis, _ = np.linalg.qr(rng.normal(size=(dims, 2)))
    return np.asarray(flat @ basis.T)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def test_every_metric_of_the_source_is_documented_and_computed(rng: np.random.Generator) -> None:
    flat, labels = _blobs(rng)
    result = compute(METRIC_NAMES, flat, flat, labels, seed=SEED, refit=lambda a: a)
    assert set(SOURCE_METRICS) <= set(METRIC_NAMES)
    for name in METRIC_NAMES:
        doc = metrics.METRIC_DOCS[name]
        assert doc.range and len(doc.meaning) > 40
        for key in metrics.RESULT_KEYS[name]:
            value = result[key]
            assert isinstance(value, float) and math.isfinite(value), (key, value)
    assert list(result) == [key for name in METRIC_NAMES for key in metrics.RESULT_KEYS[name]]


def test_identity_projection_of_2d_data_is_perfect(rng: np.random.Generator) -> None:
    flat, labels = _blobs(rng)
    result = compute(METRIC_NAMES, flat, flat, labels, seed=SEED, refit=lambda a: a)
    assert result["global_score"] == pytest.approx(1.0, abs=1e-6)
    assert result["sammon_error"] == pytest.approx(0.0, abs=1e-12)
    assert result["msid"] == pytest.approx(0.0, abs=1e-9)
    assert result["trustworthiness"] == 1.0
    assert result["continuity"] == 1.0
    assert result["stability_score"] == pytest.approx(1.0, abs=1e-12)
    assert result["auc_score"] == pytest.approx(1.0)
    assert result["clustering_ari"] == pytest.approx(1.0)
    assert result["clustering_ami"] == pytest.approx(1.0)


def test_2d_data_rotated_into_10d_and_projected_back_is_perfect(rng: np.random.Generator) -> None:
    flat, labels = _blobs(rng)
    high = _embed(flat, rng)
    # PCA is deterministic and recovers the plane up to rotation/reflection, which every
    # metric (and Procrustes) ignores.
    result = compute(
        METRIC_NAMES,
        high,
        PCA(2).fit_transform(high),
        labels,
        seed=SEED,
        refit=lambda a: PCA(2).fit_transform(a),
    )
    assert result["global_score"] == pytest.approx(1.0, abs=1e-6)
    assert result["sammon_error"] == pytest.approx(0.0, abs=1e-9)
    assert result["msid"] == pytest.approx(0.0, abs=1e-6)
    assert result["trustworthiness"] == pytest.approx(1.0)
    assert result["continuity"] == pytest.approx(1.0)
    assert result["stability_score"] == pytest.approx(1.0, abs=1e-9)


def test_random_projection_scores_clearly_worse(rng: np.random.Generator) -> None:
    flat, labels = _blobs(rng)
    high = _embed(flat, rng) + 0.05 * rng.normal(size=(len(flat), 10))
    good = compute(METRIC_NAMES, high, PCA(2).fit_transform(high), labels, seed=SEED)
    noise = rng.normal(size=(len(flat), 2))
    bad = compute(
        METRIC_NAMES,
        high,
        noise,
        labels,
        seed=SEED,
        refit=lambda a: np.random.default_rng(1).normal(size=(len(a), 2)),
    )
    assert good["global_score"] == pytest.approx(1.0, abs=1e-9)
    assert bad["global_score"] < 0.1
    assert good["sammon_error"] < 0.05 < 0.5 < bad["sammon_error"]
    # Clusters of 2-D noise and 2-D noise look alike locally, where MSID looks most: see the
    # circle below for a shape it tells apart clearly.
    assert bad["msid"] > good["msid"]
    assert good["trustworthiness"] > 0.9 and bad["trustworthiness"] < 0.6
    assert good["continuity"] > 0.9 and bad["continuity"] < 0.6
    assert bad["stability_score"] is not None and bad["stability_score"] < 0.1
    assert bad["auc_score"] is not None and abs(bad["auc_score"] - 0.5) < 0.1
    assert bad["clustering_ari"] is not None and abs(bad["clustering_ari"]) < 0.05


def test_msid_tells_a_circle_from_a_cloud(rng: np.random.Generator) -> None:
    angle = rng.uniform(0, 2 * np.pi, 400)
    circle = 10 * np.c_[np.cos(angle), np.sin(angle)]
    high = _embed(circle, rng) + 0.05 * rng.normal(size=(400, 10))
    faithful = metrics.msid(high, PCA(2).fit_transform(high), seed=SEED)
    cloud = metrics.msid(high, rng.normal(size=(400, 2)), seed=SEED)
    assert cloud > 50 > 10 > faithful


def test_separable_labels_score_one_and_shuffled_labels_chance(rng: np.random.Generator) -> None:
    flat, labels = _blobs(rng, per_class=150)
    separable = compute(["auc_score", "clustering"], flat, flat, labels, seed=SEED)
    shuffled = compute(["auc_score", "clustering"], flat, flat, rng.permutation(labels), seed=SEED)
    assert separable == pytest.approx(
        {"auc_score": 1.0, "clustering": 1.0, "clustering_ari": 1.0, "clustering_ami": 1.0}
    )
    assert shuffled["auc_score"] == pytest.approx(0.5, abs=0.06)
    assert shuffled["clustering_ari"] == pytest.approx(0.0, abs=0.03)
    assert shuffled["clustering_ami"] == pytest.approx(0.0, abs=0.03)


def test_two_classes_and_string_labels(rng: np.random.Generator) -> None:
    flat, labels = _blobs(rng)
    names = np.array(["cat", "dog", "dog"])[labels]  # clusters 1 and 2 are one class
    assert metrics.auc_score(flat, names, seed=SEED) == pytest.approx(1.0)
    assert metrics.clustering(flat, names, seed=SEED).ari < 1.0  # k=2 on three clusters


def test_every_metric_ignores_moving_and_scaling_either_space(rng: np.random.Generator) -> None:
    flat, labels = _blobs(rng)
    high = _embed(flat, rng) + 2.0 * rng.normal(size=(len(flat), 10))
    low = PCA(2).fit_transform(high) + 0.5 * rng.normal(size=(len(flat), 2))

    def refit(a: np.ndarray) -> np.ndarray:
        return np.asarray(PCA(2).fit_transform(a))

    plain = compute(METRIC_NAMES, high, low, labels, seed=SEED, refit=refit)
    moved = compute(
        METRIC_NAMES, high * 1000.0 + 5.0, low * 1e-3 - 2.0, labels, seed=SEED, refit=refit
    )
    assert moved == pytest.approx(plain, rel=1e-6, abs=1e-9)
    # The case is not trivial: nothing is at its best value.
    assert plain["global_score"] < 0.99 and plain["sammon_error"] > 0.01
    assert plain["trustworthiness"] < 0.99 and plain["msid"] > 1


def test_sammon_error_is_the_formula_over_every_pair(rng: np.random.Generator) -> None:
    high = rng.normal(size=(30, 5))
    low = high[:, :2] + 0.1 * rng.normal(size=(30, 2))
    pairs = list(itertools.combinations(range(30), 2))
    far = np.array([np.linalg.norm(high[i] - high[j]) for i, j in pairs])
    near = np.array([np.linalg.norm(low[i] - low[j]) for i, j in pairs])
    best = min(
        np.sum((far - a * near) ** 2 / far) / np.sum(far) for a in np.linspace(0.5, 2.0, 3001)
    )
    assert metrics.sammon_error(high, low) == pytest.approx(best, rel=1e-4)
    # Not only neighbouring rows (hydro-visualization's version): shuffling the rows of both
    # sides changes which rows are neighbours but not the stress.
    order = rng.permutation(30)
    assert metrics.sammon_error(high[order], low[order]) == pytest.approx(
        metrics.sammon_error(high, low), rel=1e-12
    )


def test_global_score_matches_trimaps_formula(rng: np.random.Generator) -> None:
    high = rng.normal(size=(200, 6)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.2])
    low = high[:, [0, 2]] + 0.2 * rng.normal(size=(200, 2))

    # TriMap's global_loss/global_score, as written in eamid/trimap.
    def global_loss(x: np.ndarray, y: np.ndarray) -> float:
        x = x - x.mean(axis=0)
        y = y - y.mean(axis=0)
        a = x.T @ (y @ np.linalg.inv(y.T @ y))
        return float(np.mean((x.T - a @ y.T) ** 2))

    pca_loss = global_loss(high, PCA(n_components=2).fit_transform(high))
    expected = math.exp(-(global_loss(high, low) - pca_loss) / pca_loss)
    assert 0.05 < expected < 0.95
    assert metrics.global_score(high, low) == pytest.approx(expected, rel=1e-9)


def test_a_1d_shadow_keeps_neighbours_but_invents_false_ones(rng: np.random.Generator) -> None:
    square = rng.uniform(size=(400, 2))
    shadow = square[:, :1]
    trust = metrics.trustworthiness(square, shadow, n_neighbors=10)
    cont = metrics.continuity(square, shadow, n_neighbors=10)
    # Near points stay near on the axis (continuity high); points far apart in y land
    # together (trustworthiness lower).
    assert cont > trust + 0.05
    assert cont == pytest.approx(metrics.trustworthiness(shadow, square, n_neighbors=10))


def test_stability_ignores_rotation_and_scale_and_sees_noise(rng: np.random.Generator) -> None:
    flat, _ = _blobs(rng)
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert metrics.stability_score(flat, flat, lambda a: 3.0 * a @ turn + 1.0) == pytest.approx(
        1.0, abs=1e-12
    )
    mirrored = metrics.stability_score(flat, flat, lambda a: a * np.array([-1.0, 1.0]))
    assert mirrored == pytest.approx(1.0, abs=1e-12)
    noisy = metrics.stability_score(
        flat, flat, lambda a: a + 3.0 * np.random.default_rng(0).normal(size=a.shape)
    )
    assert 0.5 < noisy < 0.99
    assert metrics.stability_score(flat, flat, lambda a: np.zeros_like(a)) == 0.0


def test_stability_refits_half_the_points_at_most_the_cap(rng: np.random.Generator) -> None:
    flat, _ = _blobs(rng)
    seen: list[int] = []

    def refit(a: np.ndarray) -> np.ndarray:
        seen.append(len(a))
        return a

    metrics.stability_score(flat, flat, refit)
    metrics.stability_score(flat, flat, refit, sample_size=40)
    assert seen == [150, 40]


def test_missing_labels_or_refit_give_null(rng: np.random.Generator) -> None:
    flat, _ = _blobs(rng)
    result = compute(["auc_score", "clustering", "stability_score"], flat, flat, seed=SEED)
    assert result == {
        "auc_score": None,
        "clustering": None,
        "clustering_ari": None,
        "clustering_ami": None,
        "stability_score": None,
    }


def test_same_seed_same_numbers(rng: np.random.Generator) -> None:
    flat, labels = _blobs(rng)
    high = _embed(flat, rng) + rng.normal(size=(len(flat), 10))
    low = rng.normal(size=(len(flat), 2))
    first = compute(METRIC_NAMES, high, low, labels, seed=3)
    assert compute(METRIC_NAMES, high, low, labels, seed=3) == first


def test_large_inputs_are_sampled(rng: np.random.Generator) -> None:
    flat, labels = _blobs(rng, per_class=1500)
    high = _embed(flat, rng)
    result = compute(METRIC_NAMES, high, flat, labels, seed=SEED)
    assert result["sammon_error"] == pytest.approx(0.0, abs=1e-9)
    assert result["trustworthiness"] == pytest.approx(1.0)
    assert result["msid"] == pytest.approx(0.0, abs=1e-6)
    # A different seed draws a different sample, here of a projection with noise.
    noisy = flat + rng.normal(size=flat.shape)
    assert metrics.sammon_error(high, noisy, seed=1) != metrics.sammon_error(high, noisy, seed=2)


def test_the_smallest_input_runs_every_metric(rng: np.random.Generator) -> None:
    high = rng.normal(size=(metrics.MIN_POINTS, 4))
    labels = np.array([0, 1] * (metrics.MIN_POINTS // 2))
    result = compute(METRIC_NAMES, high, high[:, :2], labels, seed=SEED, refit=lambda a: a[:, :2])
    assert all(v is not None and math.isfinite(v) for v in result.values())


def test_fewer_points_than_dimensions(rng: np.random.Generator) -> None:
    # 20 production requests with 384-dimensional sentence embeddings, say.
    high = rng.normal(size=(20, 384))
    result = compute(METRIC_NAMES, high, PCA(2).fit_transform(high), seed=SEED)
    assert result["global_score"] == pytest.approx(1.0, abs=1e-9)
    assert all(v is None or math.isfinite(v) for v in result.values())


def test_a_projection_with_fewer_distinct_points_than_classes(rng: np.random.Generator) -> None:
    high, labels = _blobs(rng)
    low = np.zeros_like(high)
    low[labels == 1] = 1.0  # three classes, two distinct projected points
    result = compute(
        ["clustering", "auc_score", "msid", "trustworthiness"], high, low, labels, seed=SEED
    )
    assert result["clustering_ari"] is not None and result["clustering_ari"] < 1.0
    assert result["auc_score"] is not None and result["auc_score"] < 1.0


def test_a_class_with_one_point_is_left_out_of_the_auc(rng: np.random.Generator) -> None:
    flat, labels = _blobs(rng)
    labels = labels.copy()
    labels[0] = 9
    assert metrics.auc_score(flat, labels, seed=SEED) == pytest.approx(1.0)


def _bad(**overrides: Any) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    high = rng.normal(size=(30, 4))
    case: dict[str, Any] = {
        "names": list(METRIC_NAMES),
        "high": high,
        "low": high[:, :2],
        "labels": np.array([0, 1, 2] * 10),
    }
    case.update(overrides)
    return case


def _with(values: np.ndarray, row: int, column: int, value: float) -> np.ndarray:
    copy = np.array(values, dtype=np.float64)
    copy[row, column] = value
    return copy


_HIGH = _bad()["high"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (_bad(low=_HIGH[:29, :2]), "the data has 30 points but the projection has 29"),
        (_bad(high=_with(_HIGH, 3, 1, math.nan)), "the data contains NaN"),
        (_bad(low=_with(_HIGH[:, :2], 0, 0, math.inf)), "the projection contains NaN or inf"),
        (_bad(high=_HIGH[:9], low=_HIGH[:9, :2], labels=None), "need at least 10"),
        (_bad(high=_HIGH[:, 0]), "must be a 2-D matrix"),
        (_bad(high=np.full((30, 4), "x")), "must be a numeric matrix"),
        (_bad(high=np.ones((30, 4))), "same value in every point"),
        (_bad(labels=np.zeros(30)), "single class"),
        (_bad(labels=np.array([0, 1] * 14)), "28 labels for 30 points"),
        (_bad(labels=np.array([0.0, math.nan] * 15)), "labels contain NaN"),
        (_bad(labels=np.array([0, None] * 15, dtype=object)), "labels contain null"),
        (_bad(labels=np.array([0, "a"] * 15, dtype=object)), "mix types"),
        (_bad(names=["global_score", "umap_magic"]), "unknown visualization metrics"),
    ],
)
def test_bad_input_is_a_clear_422_error(case: dict[str, Any], message: str) -> None:
    with pytest.raises(MetricInputError, match=message) as caught:
        compute(case["names"], case["high"], case["low"], case["labels"], seed=SEED)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, InvalidInput) and caught.value.status_code == 422


def test_bad_labels_are_refused_before_any_work_and_only_when_used() -> None:
    case = _bad(labels=np.zeros(30))
    # Label checks only matter to the label metrics.
    result = compute(["global_score"], case["high"], case["low"], case["labels"], seed=SEED)
    assert set(result) == {"global_score"}
    with pytest.raises(MetricInputError, match="single class"):
        metrics.clustering(case["low"], case["labels"])


def test_a_refit_of_the_wrong_shape_is_refused() -> None:
    case = _bad()
    with pytest.raises(MetricInputError, match="expected"):
        metrics.stability_score(case["high"], case["low"], lambda a: a[:, :1])
    with pytest.raises(MetricInputError, match="re-projection contains NaN"):
        metrics.stability_score(case["high"], case["low"], lambda a: np.full((len(a), 2), np.nan))
