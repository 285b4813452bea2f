"""Quality metrics of a projection: hydro-visualization's ``visualization_metrics``, computed.

Every metric compares the high-dimensional points ``high`` (n x d) with their projection
``low`` (n x c, row i of one is row i of the other), and some of them use class ``labels`` or a
way to project again (``refit``). The functions are pure numpy/scipy/scikit-learn: no I/O, and
the same seed gives the same numbers. Each metric's cost is bounded by drawing a seeded sample
of at most ``max_points`` rows, so a 10,000-point projection costs about what its cap costs.

All metrics are invariant to moving or uniformly scaling either space (UMAP and t-SNE
coordinates have no meaningful unit); ``sammon_error`` is made so by fitting the scale first.

``compute`` is the entry point a job calls; ``METRIC_DOCS`` holds each metric's range and
meaning for the API documentation; bad input raises ``MetricInputError`` (a ``ValueError``, and
an ``InvalidInput`` the service renders as 422).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

# SciPy and scikit-learn are imported by the functions that compute (a projection job's),
# not with this module, which the API imports for METRIC_DOCS: 1 s and 200 MB at start.
if TYPE_CHECKING:
    import scipy.sparse as sp

from modelyard.errors import InvalidInput

__all__ = [
    "METRIC_DOCS",
    "METRIC_NAMES",
    "MIN_POINTS",
    "RESULT_KEYS",
    "ClusteringScores",
    "MetricDoc",
    "MetricInputError",
    "Refit",
    "auc_score",
    "clustering",
    "compute",
    "continuity",
    "global_score",
    "msid",
    "sammon_error",
    "stability_score",
    "trustworthiness",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
# Projects a sample of the high-dimensional rows again with the method under test.
Refit = Callable[[np.ndarray], np.ndarray]

# Below this many points no metric here means anything (and kNN-based ones cannot run).
MIN_POINTS = 10


class MetricInputError(InvalidInput, ValueError):
    """Data the metrics cannot use: wrong shapes, NaN, too few points, a single class."""

    code = "invalid_metric_input"
    message = "Invalid input for the visualization metrics"


class MetricDoc(NamedTuple):
    range: str
    meaning: str


class ClusteringScores(NamedTuple):
    ari: float
    ami: float


METRIC_DOCS: Mapping[str, MetricDoc] = {
    "global_score": MetricDoc(
        "[0, 1], higher is better",
        "TriMap's global score (Amid & Warmuth 2019): exp(-(E - E_pca) / E_pca), where E is the "
        "mean squared error of reconstructing the data linearly from the projection and E_pca "
        "that of PCA with as many components. 1 = keeps the global layout as well as PCA.",
    ),
    "sammon_error": MetricDoc(
        "[0, 1], lower is better",
        "Sammon's stress over all pairs of a sample of up to 1,000 points, after scaling the "
        "projection by the factor that minimises it. 0 = every pairwise distance is kept up to "
        "one scale factor; 1 = no better than a projection to a single point.",
    ),
    "msid": MetricDoc(
        "[0, infinity), lower is better",
        "Multi-scale intrinsic distance (Tsitsulin et al., ICLR 2020) between the data and the "
        "projection: the largest weighted difference, over diffusion times 0.1 to 10, of the "
        "heat-kernel traces of their 5-nearest-neighbour graphs (stochastic Lanczos "
        "quadrature, on a sample of up to 2,000 points). 0 = the same shape at every scale.",
    ),
    "auc_score": MetricDoc(
        "[0, 1], higher is better; 0.5 = chance",
        "How well the labels separate in the projection: ROC AUC (macro one-vs-rest for more "
        "than two classes) of a 15-nearest-neighbour classifier on the projected points, "
        "cross-validated over 5 stratified folds (sample of up to 5,000 points). Classes with a "
        "single point are left out. Null without labels.",
    ),
    "stability_score": MetricDoc(
        "[0, 1], higher is better",
        "1 - the Procrustes disparity between a projection of a seeded subsample (half the "
        "points, at most 1,000) made again with the same method and the same points in the "
        "full projection, after the best translation, rotation, reflection and scale. 1 = the "
        "method places the points the same way. Null when the method cannot be re-run.",
    ),
    "clustering": MetricDoc(
        "ARI in [-0.5, 1], AMI in about [0, 1]; higher is better; about 0 = chance",
        "k-means with k = the number of classes on the projected points (sample of up to "
        "5,000), compared with the labels: adjusted Rand index as `clustering` (the name "
        "hydro-visualization's document lists) and again as `clustering_ari`, adjusted mutual "
        "information as `clustering_ami`. 1 = the clusters are the classes. Null without labels.",
    ),
    "trustworthiness": MetricDoc(
        "[0, 1], higher is better",
        "Trustworthiness (Venna & Kaski 2001, scikit-learn's) of the 5 nearest neighbours on a "
        "sample of up to 2,000 points: penalises points that are neighbours in the projection "
        "but not in the data. 1 = no false neighbours.",
    ),
    "continuity": MetricDoc(
        "[0, 1], higher is better",
        "Continuity (Venna & Kaski 2001): trustworthiness with the roles of data and projection "
        "swapped, so it penalises neighbours in the data that the projection tears apart. "
        "1 = no missing neighbours.",
    ),
}

METRIC_NAMES: tuple[str, ...] = tuple(METRIC_DOCS)

# The keys each requested name contributes to the result of ``compute``.
RESULT_KEYS: Mapping[str, tuple[str, ...]] = {
    **{name: (name,) for name in METRIC_NAMES},
    "clustering": ("clustering", "clustering_ari", "clustering_ami"),
}

_LABEL_METRICS = frozenset({"auc_score", "clustering"})


# --- input checks ----------------------------------------------------------------------------


def _as_points(values: Any, what: str) -> FloatArray:
    try:
        points = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricInputError(f"{what} must be a numeric matrix") from exc
    if points.ndim != 2 or points.shape[1] < 1:
        raise MetricInputError(f"{what} must be a 2-D matrix (points x features)")
    if len(points) < MIN_POINTS:
        raise MetricInputError(
            f"{what} has {len(points)} points; the metrics need at least {MIN_POINTS}"
        )
    if not np.isfinite(points).all():
        raise MetricInputError(f"{what} contains NaN or infinite values")
    return points


def _as_pair(high: Any, low: Any) -> tuple[FloatArray, FloatArray]:
    x = _as_points(high, "the data")
    y = _as_points(low, "the projection")
    if len(x) != len(y):
        raise MetricInputError(f"the data has {len(x)} points but the projection has {len(y)}")
    if not np.ptp(x, axis=0).any():
        raise MetricInputError("the data has the same value in every point")
    return x, y


def _as_labels(labels: Any, n: int) -> np.ndarray:
    """Labels encoded as 0..C-1, checked to be n of them with at least two classes."""
    values = np.asarray(labels)
    if values.ndim != 1:
        raise MetricInputError("labels must be a flat list")
    if len(values) != n:
        raise MetricInputError(f"there are {len(values)} labels for {n} points")
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise MetricInputError("labels contain NaN")
    if values.dtype.kind == "O" and any(
        v is None or (isinstance(v, float) and math.isnan(v)) for v in values
    ):
        raise MetricInputError("labels contain null or NaN")
    try:
        classes, codes = np.unique(values, return_inverse=True)
    except TypeError as exc:
        raise MetricInputError("labels mix types that cannot be compared") from exc
    if len(classes) < 2:
        raise MetricInputError("labels have a single class; the metric needs at least two")
    return np.asarray(codes, dtype=np.int64).ravel()


def _sample(n: int, cap: int, seed: int) -> np.ndarray:
    """Row indices of a seeded sample of at most ``cap`` of ``n`` rows (all rows if n <= cap)."""
    if n <= cap:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=cap, replace=False))


# --- global score ----------------------------------------------------------------------------


def _linear_reconstruction_error(x_centred: FloatArray, y: FloatArray) -> float:
    # TriMap solves A = X^T Y (Y^T Y)^-1; least squares is the same fit without inverting a
    # singular Y^T Y when the projection is degenerate (a line, a point).
    yc = y - y.mean(axis=0)
    coef, *_ = np.linalg.lstsq(yc, x_centred, rcond=None)
    return float(np.mean((x_centred - yc @ coef) ** 2))


def _pca_scores(x_centred: FloatArray, components: int) -> FloatArray:
    n, d = x_centred.shape
    if d <= n:
        # Eigenvectors of the d x d scatter matrix: exact, deterministic and cheaper than an SVD
        # of the n x d matrix when there are more points than features.
        _, vectors = np.linalg.eigh(x_centred.T @ x_centred)
        basis = vectors[:, ::-1][:, :components]
    else:
        _, _, vt = np.linalg.svd(x_centred, full_matrices=False)
        basis = vt[:components].T
    return np.asarray(x_centred @ basis, dtype=np.float64)


def global_score(high: Any, low: Any, *, seed: int = 0, max_points: int = 5000) -> float:
    """TriMap's global score of a projection, in [0, 1]; 1 = as good as PCA.

    GS = exp(-(E(low) - E_pca) / E_pca), where E(Y) is the mean squared error of the
    least-squares linear reconstruction of the centred data from the centred projection Y, and
    E_pca is E of the data's first c principal components (c = the projection's dimension).
    PCA is the best linear reconstruction, so E >= E_pca and GS <= 1. When PCA reconstructs the
    data exactly (data of rank <= c), GS is 1 if the projection does too and about 0 otherwise.

    Source: Amid & Warmuth, "TriMap: Large-scale Dimensionality Reduction Using Triplets"
    (2019), and ``global_score`` in github.com/eamid/trimap ``trimap/trimap_.py``.
    """
    x, y = _as_pair(high, low)
    rows = _sample(len(x), max_points, seed)
    x, y = x[rows], y[rows]
    x_centred = x - x.mean(axis=0)
    components = min(y.shape[1], x.shape[1], len(x))
    error_pca = _linear_reconstruction_error(x_centred, _pca_scores(x_centred, components))
    error = _linear_reconstruction_error(x_centred, y)
    # A floor relative to the data's variance keeps 0/0 (data already c-dimensional) defined.
    floor = 1e-12 * float(np.mean(x_centred**2))
    excess = max(error - error_pca, 0.0) / max(error_pca, floor)
    return float(math.exp(-excess))


# --- Sammon's stress -------------------------------------------------------------------------


def sammon_error(high: Any, low: Any, *, seed: int = 0, max_points: int = 1000) -> float:
    """Sammon's stress over all pairs of a seeded sample, in [0, 1]; 0 = distances kept.

    E = sum_{i<j} (D_ij - a d_ij)^2 / D_ij / sum_{i<j} D_ij, with D the Euclidean distances in
    the data and d those in the projection, over every pair of a sample of at most
    ``max_points`` points. The scale a = sum d / sum (d^2 / D) is the one that minimises E
    (a t-SNE or UMAP map has no unit), so E is at most 1 (its value at a = 0) and invariant to
    scaling either space. Pairs of identical data points (D = 0) are left out.

    Source: J. W. Sammon, "A Nonlinear Mapping for Data Structure Analysis", IEEE Trans.
    Computers C-18(5), 1969. hydro-visualization summed only pairs of neighbouring rows.
    """
    from scipy.spatial.distance import pdist

    x, y = _as_pair(high, low)
    rows = _sample(len(x), max_points, seed)
    far = pdist(x[rows])
    near = pdist(y[rows])
    distinct = far > 0
    far, near = far[distinct], near[distinct]
    spread = float(np.sum(near**2 / far))
    scale = float(np.sum(near)) / spread if spread > 0 else 0.0
    return float(np.sum((far - scale * near) ** 2 / far) / np.sum(far))


# --- MSID ------------------------------------------------------------------------------------


def _knn_laplacian(points: FloatArray, k: int) -> sp.csr_matrix:
    """Symmetric normalised Laplacian of the (union) k-nearest-neighbour graph, unit weights."""
    import scipy.sparse as sp
    from sklearn.neighbors import NearestNeighbors

    n = len(points)
    neighbours = NearestNeighbors(n_neighbors=min(k, n - 1)).fit(points).kneighbors()[1]
    rows = np.repeat(np.arange(n), neighbours.shape[1])
    adjacency = sp.csr_matrix(
        (np.ones(rows.size), (rows, neighbours.ravel())), shape=(n, n), dtype=np.float64
    )
    adjacency = adjacency.maximum(adjacency.T).tocsr()
    inv_sqrt_degree = sp.diags(1.0 / np.sqrt(np.asarray(adjacency.sum(axis=1)).ravel()))
    laplacian = sp.identity(n, format="csr") - inv_sqrt_degree @ adjacency @ inv_sqrt_degree
    return sp.csr_matrix(laplacian)


def _lanczos(
    matrix: sp.csr_matrix, start: FloatArray, steps: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """``steps`` Lanczos steps from each column of ``start`` at once, fully reorthogonalised.

    Returns the diagonals (vectors x steps) and off-diagonals (vectors x steps-1) of the
    tridiagonal matrices.
    """
    n, count = start.shape
    basis = np.zeros((steps, n, count))
    basis[0] = start / np.linalg.norm(start, axis=0)
    alpha = np.zeros((count, steps))
    beta = np.zeros((count, steps - 1))
    for j in range(steps):
        w = matrix @ basis[j]
        alpha[:, j] = np.einsum("ij,ij->j", w, basis[j])
        if j == steps - 1:
            break
        # Twice is enough (Kahan-Parlett) to keep the basis orthogonal in floating point.
        for _ in range(2):
            w -= np.einsum("kij,kj->ij", basis[: j + 1], np.einsum("kij,ij->kj", basis[: j + 1], w))
        norm = np.linalg.norm(w, axis=0)
        # A vanishing residual means the Krylov space is invariant and the quadrature already
        # exact: beta = 0 decouples the rest, which a fresh orthogonal vector fills.
        broken = norm <= 1e-10
        if broken.any():
            fresh = rng.standard_normal((n, int(broken.sum())))
            for _ in range(2):
                previous = basis[: j + 1][:, :, broken]
                fresh -= np.einsum("kij,kj->ij", previous, np.einsum("kij,ij->kj", previous, fresh))
            w[:, broken] = fresh
            norm[broken] = 0.0
        beta[:, j] = norm
        basis[j + 1] = w / np.where(broken, np.linalg.norm(w, axis=0), norm)
    return alpha, beta


def _heat_traces(
    laplacian: sp.csr_matrix, times: FloatArray, steps: int, vectors: int, seed: int
) -> FloatArray:
    """tr(exp(-t L)) for each t by stochastic Lanczos quadrature, with the reference's control
    variate (exactly known tr(L) = n of a normalised Laplacian without isolated nodes)."""
    n = laplacian.shape[0]
    rng = np.random.default_rng(seed)
    start = rng.standard_normal((n, vectors))
    alpha, beta = _lanczos(laplacian, start, min(steps, n), rng)
    tridiagonal = np.zeros((vectors, alpha.shape[1], alpha.shape[1]))
    idx = np.arange(alpha.shape[1])
    tridiagonal[:, idx, idx] = alpha
    tridiagonal[:, idx[:-1], idx[1:]] = beta
    tridiagonal[:, idx[1:], idx[:-1]] = beta
    nodes, eigvecs = np.linalg.eigh(tridiagonal)
    weights = eigvecs[:, 0, :] ** 2  # vectors x steps: Gauss quadrature weights
    heat = n * np.einsum("vj,tvj->t", weights, np.exp(-times[:, None, None] * nodes[None]))
    heat /= vectors
    trace_l = n * float(np.sum(weights * nodes)) / vectors
    return np.asarray(heat + times * np.exp(-times) * (trace_l - n), dtype=np.float64)


def msid(
    high: Any,
    low: Any,
    *,
    seed: int = 0,
    max_points: int = 2000,
    k: int = 5,
    lanczos_steps: int = 10,
    vectors: int = 100,
) -> float:
    """Multi-scale intrinsic distance between the data and its projection; 0 = same shape.

    For each point cloud (a seeded sample of at most ``max_points`` rows, the same rows of
    both): the k-nearest-neighbour graph (unit weights, made symmetric), its normalised
    Laplacian L, and the heat-kernel trace h(t) = tr(exp(-t L)) / n * 1e6 for 256 times t from
    0.1 to 10 (log-spaced), estimated by stochastic Lanczos quadrature (``lanczos_steps`` steps,
    ``vectors`` Gaussian probes, the same probes for both clouds). The distance is
    max_t exp(-2 (t + 1/t)) |h_data(t) - h_projection(t)|. In [0, infinity); the graphs, hence
    the value, do not change when either space is moved or uniformly scaled.

    Source: Tsitsulin, Munkhoeva, Mottin, Karras, Bronstein, Oseledets, Müller, "The Shape of
    Data: Intrinsic Distance for Data Distributions", ICLR 2020; the authors' code
    (github.com/xgfs/imd ``msid/``, also google-research ``msid/``) with its defaults: k=5,
    m=10, 100 probes, normalised Laplacian, "empty" normalisation, "max" mode. The kNN graph is
    built with scikit-learn and Lanczos fully reorthogonalised.
    """
    x, y = _as_pair(high, low)
    rows = _sample(len(x), max_points, seed)
    times = np.logspace(-1, 1, 256)
    descriptors = []
    for cloud in (x[rows], y[rows]):
        traces = _heat_traces(_knn_laplacian(cloud, k), times, lanczos_steps, vectors, seed)
        descriptors.append(traces / len(rows) * 1e6)
    weight = np.exp(-2 * (times + 1 / times))
    return float(np.max(weight * np.abs(descriptors[0] - descriptors[1])))


# --- label separation ------------------------------------------------------------------------


def auc_score(
    low: Any, labels: Any, *, seed: int = 0, max_points: int = 5000, n_neighbors: int = 15
) -> float:
    """How well the labels separate in the projection: cross-validated kNN ROC AUC, in [0, 1].

    A k-nearest-neighbour classifier (``n_neighbors``, uniform weights, Euclidean) predicts
    each projected point's class probabilities from the other folds of a stratified,
    seeded 5-fold split (fewer folds when a class has fewer than 5 points); the score is the ROC
    AUC of these out-of-fold probabilities, macro-averaged one-vs-rest for more than two
    classes. 1 = the classes occupy separate regions, 0.5 = no better than chance. Classes with
    a single point are left out (no fold could learn them). Sample of at most ``max_points``.

    Source: the area under the ROC curve as in scikit-learn's ``roc_auc_score`` (Hand & Till
    2001 for the multi-class average); hydro-visualization computed an AUC of hard kNN/SVM
    predictions on a single split, for two classes only.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier

    y_points = _as_points(low, "the projection")
    codes = _as_labels(labels, len(y_points))
    rows = _sample(len(y_points), max_points, seed)
    points, codes = y_points[rows], codes[rows]
    counts = np.bincount(codes)
    kept = np.isin(codes, np.flatnonzero(counts >= 2))
    points, codes = points[kept], np.unique(codes[kept], return_inverse=True)[1].ravel()
    counts = np.bincount(codes)
    if len(counts) < 2:
        raise MetricInputError("auc_score needs at least two classes with two points or more")
    folds = int(min(5, counts.min()))
    largest_test = math.ceil(len(points) / folds)
    model = KNeighborsClassifier(n_neighbors=max(1, min(n_neighbors, len(points) - largest_test)))
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(model, points, codes, cv=split, method="predict_proba")
    if len(counts) == 2:
        return float(roc_auc_score(codes, proba[:, 1]))
    return float(roc_auc_score(codes, proba, multi_class="ovr", average="macro"))


def clustering(low: Any, labels: Any, *, seed: int = 0, max_points: int = 5000) -> ClusteringScores:
    """ARI and AMI of k-means on the projection (k = number of classes) against the labels.

    k-means (k-means++ seeding, 10 seeded restarts) on a sample of at most ``max_points``
    projected points; the clusters are compared with the labels by the adjusted Rand index
    (in [-0.5, 1]) and the adjusted mutual information (at most 1, about 0 for chance, can be
    slightly negative). 1 = the clusters are exactly the classes.

    Source: Hubert & Arabie, "Comparing partitions" (1985) for ARI; Vinh, Epps & Bailey (2010)
    for AMI; scikit-learn's implementations. As hydro-visualization's ``clustering_score``.
    """
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    y_points = _as_points(low, "the projection")
    codes = _as_labels(labels, len(y_points))
    rows = _sample(len(y_points), max_points, seed)
    points, codes = y_points[rows], codes[rows]
    k = len(np.unique(codes))
    with warnings.catch_warnings():
        # Fewer distinct projected points than classes still gives a valid (poor) clustering.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clusters = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(points)
    return ClusteringScores(
        ari=float(adjusted_rand_score(codes, clusters)),
        ami=float(adjusted_mutual_info_score(codes, clusters)),
    )


# --- stability -------------------------------------------------------------------------------


def stability_score(
    high: Any, low: Any, refit: Refit, *, seed: int = 0, sample_size: int = 1000
) -> float:
    """1 - Procrustes disparity between a re-projected subsample and the full projection.

    ``refit`` projects a seeded subsample of the data (half the points, at most
    ``sample_size``, at least ``MIN_POINTS``) again with the same method; scipy's
    ``procrustes`` centres and scales both to unit norm, rotates/reflects the new projection
    onto the same rows of ``low``, and returns the remaining sum of squared differences (the
    disparity, in [0, 1]). Score in [0, 1]: 1 = the method places the points the same way
    (up to translation, rotation, reflection and scale); 0 for a collapsed projection.

    Source: the stability experiment of McInnes, Healy & Melville, "UMAP" (arXiv:1802.03426,
    section 5); hydro-visualization's ``stability_score`` (which returned a mean distance).
    """
    from scipy.spatial import procrustes

    x, y = _as_pair(high, low)
    size = min(len(x), max(MIN_POINTS, min(sample_size, len(x) // 2)))
    rows = _sample(len(x), size, seed)
    again = np.asarray(refit(x[rows]), dtype=np.float64)
    if again.shape != (size, y.shape[1]):
        raise MetricInputError(
            f"the re-projection has shape {again.shape}, expected {(size, y.shape[1])}"
        )
    if not np.isfinite(again).all():
        raise MetricInputError("the re-projection contains NaN or infinite values")
    reference = y[rows]
    if not np.ptp(reference, axis=0).any() or not np.ptp(again, axis=0).any():
        return 0.0
    _, _, disparity = procrustes(reference, again)
    return float(min(1.0, max(0.0, 1.0 - disparity)))


# --- neighbourhoods --------------------------------------------------------------------------


def _neighbour_count(n: int, n_neighbors: int) -> int:
    # scikit-learn's normalisation only holds for k < n / 2; tiny samples get a smaller k.
    return max(1, min(n_neighbors, (n - 1) // 2))


def trustworthiness(
    high: Any, low: Any, *, n_neighbors: int = 5, seed: int = 0, max_points: int = 2000
) -> float:
    """Trustworthiness of the projection's ``n_neighbors`` nearest neighbours, in [0, 1].

    Penalises points among a point's k nearest neighbours in the projection that are not
    among its k nearest in the data, by how far down the data's ranking they are. 1 = no false
    neighbours; random placement gives about 0.5. Seeded sample of at most ``max_points``
    (the computation holds an n x n distance matrix); k is lowered to (n - 1) // 2 for tiny
    samples.

    Source: Venna & Kaski, "Neighborhood preservation in nonlinear projection methods"
    (ICANN 2001); ``sklearn.manifold.trustworthiness``.
    """
    from sklearn.manifold import trustworthiness as _sklearn_trustworthiness

    x, y = _as_pair(high, low)
    rows = _sample(len(x), max_points, seed)
    k = _neighbour_count(len(rows), n_neighbors)
    return float(_sklearn_trustworthiness(x[rows], y[rows], n_neighbors=k))


def continuity(
    high: Any, low: Any, *, n_neighbors: int = 5, seed: int = 0, max_points: int = 2000
) -> float:
    """Continuity of the projection, in [0, 1]: trustworthiness with the roles swapped.

    Penalises points among a point's k nearest neighbours in the data that the projection
    moves out of its k nearest. 1 = no missing neighbours. Same sample and k as
    ``trustworthiness``.

    Source: Venna & Kaski (2001), as ``trustworthiness``.
    """
    from sklearn.manifold import trustworthiness as _sklearn_trustworthiness

    x, y = _as_pair(high, low)
    rows = _sample(len(x), max_points, seed)
    k = _neighbour_count(len(rows), n_neighbors)
    return float(_sklearn_trustworthiness(y[rows], x[rows], n_neighbors=k))


# --- entry point -----------------------------------------------------------------------------


def compute(
    names: Sequence[str],
    high: Any,
    low: Any,
    labels: Any = None,
    *,
    seed: int,
    refit: Refit | None = None,
    n_neighbors: int = 5,
) -> dict[str, float | None]:
    """Compute the named metrics (see ``METRIC_NAMES``) of the projection ``low`` of ``high``.

    Returns one entry per key of ``RESULT_KEYS[name]`` in the order asked (``clustering``
    gives ``clustering``, the ARI under the requested name, ``clustering_ari`` and
    ``clustering_ami``). A metric whose extra input is missing is
    None: ``auc_score`` and ``clustering`` without ``labels``, ``stability_score`` without
    ``refit``. ``n_neighbors`` is the k of trustworthiness and continuity. Raises
    ``MetricInputError`` for an unknown name or bad data, before computing anything; an error
    raised by ``refit`` propagates unchanged.
    """
    unknown = [name for name in names if name not in METRIC_DOCS]
    if unknown:
        raise MetricInputError(
            f"unknown visualization metrics {unknown}; known: {list(METRIC_NAMES)}"
        )
    wanted = list(dict.fromkeys(names))
    x, y = _as_pair(high, low)
    if labels is not None and _LABEL_METRICS.intersection(wanted):
        _as_labels(labels, len(x))

    result: dict[str, float | None] = {}
    for name in wanted:
        if name == "global_score":
            result[name] = global_score(x, y, seed=seed)
        elif name == "sammon_error":
            result[name] = sammon_error(x, y, seed=seed)
        elif name == "msid":
            result[name] = msid(x, y, seed=seed)
        elif name == "auc_score":
            result[name] = None if labels is None else auc_score(y, labels, seed=seed)
        elif name == "stability_score":
            result[name] = None if refit is None else stability_score(x, y, refit, seed=seed)
        elif name == "clustering":
            scores = None if labels is None else clustering(y, labels, seed=seed)
            # Under the name asked for (the document lists it so), and each score by its own.
            result["clustering"] = None if scores is None else scores.ari
            result["clustering_ari"] = None if scores is None else scores.ari
            result["clustering_ami"] = None if scores is None else scores.ami
        elif name == "trustworthiness":
            result[name] = trustworthiness(x, y, n_neighbors=n_neighbors, seed=seed)
        elif name == "continuity":
            result[name] = continuity(x, y, n_neighbors=n_neighbors, seed=seed)
    return result
