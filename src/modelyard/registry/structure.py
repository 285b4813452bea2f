"""Structure checks of the Cython-backed estimators a skops file may hold.

skops' type allow-list says which classes a file may build, not what their arrays hold, and
scikit-learn's compiled predict loops trust those arrays: a tree whose child index points past
its nodes reads (and, in gradient boosting, writes) outside its memory and kills the process.
So after a skops load, and before anything predicts, every such structure the loaded object
holds is checked for what the compiled code assumes:

* ``sklearn.tree._tree.Tree`` (decision trees, forests, extra trees, isolation forests, gradient
  boosting): children either both -1 (a leaf) or both after their parent and before
  ``node_count`` (so no cycle and no way out), split features within the estimator's input
  width, the value array sized for the nodes, outputs and classes;
* ensembles that call their trees' compiled code without checking the input again (forests,
  gradient boosting): every tree as wide as the ensemble's input (or its bagging subset);
  gradient boosting's stage matrix as wide as its output;
* ``TreePredictor`` (HistGradientBoosting): the same for its ``nodes`` array, categorical
  splits on categorical features only and bitset rows that exist;
* libsvm models (SVC, NuSVC, SVR, NuSVR, OneClassSVM, trusted by skops by default): libsvm
  sizes its reads by the class counts, so support vectors, coefficients, intercepts and
  probability parameters must agree with them and with the input's width;
* k-means (cluster centres) and neighbours models (the training rows kept for brute-force
  search; KDTree/BallTree are refused as untrusted types): their compiled distance loops read
  as many columns as the input has, so the stored arrays must be as wide as the input.

KDTree/BallTree are not checked: they are neither on skops' default list nor on the server's
allow-list, so a file holding one is refused before it is loaded.

This is the first line of defence; users' models also run outside the API process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["StructureError", "check_structure"]

_TREE_LEAF = -1
# Enough for any real model (a 500-tree forest holds some 10,000 objects); a file that nests
# deeper or wider is refused rather than walked for ever.
_MAX_OBJECTS = 1_000_000


class StructureError(ValueError):
    """A loaded estimator's arrays are not what its compiled code assumes; the message says
    which estimator and what is wrong."""


def check_structure(obj: Any) -> None:
    """Raise ``StructureError`` if anything ``obj`` holds would drive native code out of bounds."""
    from sklearn.cluster._kmeans import _BaseKMeans
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.neighbors._base import NeighborsBase
    from sklearn.svm._base import BaseLibSVM
    from sklearn.tree._tree import Tree

    for path, item, owner in _walk(obj):
        if isinstance(item, Tree):
            width = getattr(owner, "n_features_in_", None) if owner is not None else None
            _check_tree(item, path, int(width) if isinstance(width, int | np.integer) else None)
        elif isinstance(item, TreePredictor):
            _check_predictor(item, path, owner)
        elif isinstance(item, BaseLibSVM) and hasattr(item, "support_"):
            _check_libsvm(item, path)
        elif isinstance(item, _BaseKMeans) and hasattr(item, "cluster_centers_"):
            _check_width(item, path, "cluster_centers_")
        elif isinstance(item, NeighborsBase) and hasattr(item, "_fit_X"):
            _check_neighbors(item, path)
        elif hasattr(item, "estimators_") and hasattr(item, "n_features_in_"):
            _check_ensemble(item, path)


def _walk(root: Any) -> Iterator[tuple[str, Any, Any]]:
    """Every object ``root`` holds, once each: (a path naming it, the object, the estimator
    whose attribute or container holds it)."""
    seen: set[int] = set()
    stack: list[tuple[str, Any, Any]] = [(type(root).__name__, root, None)]
    while stack:
        path, item, owner = stack.pop()
        if id(item) in seen or item is None or isinstance(item, str | bytes | int | float):
            continue
        seen.add(id(item))
        if len(seen) > _MAX_OBJECTS:
            raise StructureError(f"the model holds more than {_MAX_OBJECTS} objects")
        yield path, item, owner
        if isinstance(item, dict):
            stack.extend((f"{path}[{k!r}]", v, owner) for k, v in item.items())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend((f"{path}[{i}]", v, owner) for i, v in enumerate(item))
        elif isinstance(item, np.ndarray):
            if item.dtype == object:
                stack.extend(
                    (f"{path}[{', '.join(map(str, i))}]", v, owner) for i, v in np.ndenumerate(item)
                )
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            # An estimator's attributes: the estimator is their owner (a tree's width is its
            # estimator's ``n_features_in_``).
            stack.extend((f"{path}.{k}", v, item) for k, v in vars(item).items())
        if hasattr(item, "tree_") and "tree_" not in getattr(item, "__dict__", {}):
            stack.append((f"{path}.tree_", item.tree_, item))


def _fail(path: str, problem: str) -> StructureError:
    return StructureError(f"{path}: {problem}")


def _check_tree(tree: Any, path: str, width: int | None) -> None:
    count, capacity = int(tree.node_count), int(tree.capacity)
    # The node and value arrays are views of ``node_count`` entries over ``capacity`` allocated:
    # read them only once that holds.
    if not 1 <= count <= capacity:
        raise _fail(path, f"node_count {count} does not fit the {capacity} nodes stored")
    n_features = int(tree.n_features)
    if width is not None and n_features != int(width):
        raise _fail(path, f"the tree takes {n_features} features; its estimator {int(width)}")
    left = np.asarray(tree.children_left, dtype=np.int64)
    right = np.asarray(tree.children_right, dtype=np.int64)
    feature = np.asarray(tree.feature, dtype=np.int64)
    _check_children(path, left, right, left == _TREE_LEAF, right == _TREE_LEAF)
    split = left != _TREE_LEAF
    bad = np.flatnonzero(split & ((feature < 0) | (feature >= n_features)))
    if bad.size:
        node = int(bad[0])
        raise _fail(path, f"node {node} splits on feature {int(feature[node])} of {n_features}")
    n_classes = np.asarray(tree.n_classes)
    expected = (count, int(tree.n_outputs), int(tree.max_n_classes))
    if n_classes.shape != (expected[1],) or (n_classes.size and n_classes.max() > expected[2]):
        raise _fail(path, f"n_classes {n_classes.tolist()} does not fit {expected[1]} outputs")
    if tuple(tree.value.shape) != expected:
        raise _fail(path, f"the values are shaped {tree.value.shape}, not {expected}")


def _check_children(
    path: str, left: np.ndarray, right: np.ndarray, left_leaf: np.ndarray, right_leaf: np.ndarray
) -> None:
    """Leaves have no children; a split has two, each after it (so the walk down ends) and
    inside the tree; no node has two parents."""
    count = left.size
    lopsided = np.flatnonzero(left_leaf != right_leaf)
    if lopsided.size:
        raise _fail(path, f"node {int(lopsided[0])} has one child")
    index = np.arange(count)
    split = ~left_leaf
    for side, children in (("left", left), ("right", right)):
        bad = np.flatnonzero(split & ((children <= index) | (children >= count)))
        if bad.size:
            node = int(bad[0])
            raise _fail(
                path,
                f"node {node}'s {side} child {int(children[node])} is not a later node of the"
                f" tree's {count}",
            )
    parents = np.bincount(np.concatenate([left[split], right[split]]), minlength=count)
    shared = np.flatnonzero(parents > 1)
    if shared.size:
        raise _fail(path, f"node {int(shared[0])} is the child of two nodes")


def _check_predictor(predictor: Any, path: str, owner: Any) -> None:
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    nodes = predictor.nodes
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE:
        raise _fail(path, "its nodes are not an array of predictor records")
    if nodes.ndim != 1 or nodes.size == 0:
        raise _fail(path, f"its nodes are shaped {nodes.shape}")
    leaf = nodes["is_leaf"].astype(bool)
    left = nodes["left"].astype(np.int64)
    right = nodes["right"].astype(np.int64)
    _check_children(path, np.where(leaf, -1, left), np.where(leaf, -1, right), leaf, leaf)
    width = getattr(owner, "n_features_in_", None)
    feature = nodes["feature_idx"].astype(np.int64)
    if isinstance(width, int | np.integer):
        bad = np.flatnonzero(~leaf & ((feature < 0) | (feature >= int(width))))
        if bad.size:
            node = int(bad[0])
            raise _fail(path, f"node {node} splits on feature {int(feature[node])} of {width}")
    categorical = ~leaf & nodes["is_categorical"].astype(bool)
    if not categorical.any():
        return
    for name in ("raw_left_cat_bitsets", "binned_left_cat_bitsets"):
        bitsets = getattr(predictor, name, None)
        if not isinstance(bitsets, np.ndarray) or bitsets.ndim != 2 or bitsets.shape[1] != 8:
            raise _fail(path, f"{name} is not an array of 8-word bitsets")
        rows = nodes["bitset_idx"][categorical].astype(np.int64)
        if rows.max() >= bitsets.shape[0]:
            raise _fail(path, f"a categorical split uses bitset {int(rows.max())} of {name}")
    mapper = getattr(owner, "_bin_mapper", None)
    is_categorical = getattr(mapper, "is_categorical_", None)
    if not isinstance(is_categorical, np.ndarray) or (
        isinstance(width, int | np.integer) and is_categorical.size != int(width)
    ):
        raise _fail(path, "a categorical split in a model with no categorical features")
    used = feature[categorical]
    if used.max() >= is_categorical.size or not is_categorical[used].all():
        raise _fail(path, "a categorical split on a feature that is not categorical")


def _check_ensemble(ensemble: Any, path: str) -> None:
    """Forests and gradient boosting check the input's width once, against their own (or
    their first tree's) ``n_features_in_``, then hand it to every tree's compiled code."""
    width = ensemble.n_features_in_
    members = ensemble.estimators_
    if not isinstance(width, int | np.integer):
        return
    if isinstance(members, np.ndarray):
        flat = members.ravel().tolist()
    elif isinstance(members, list | tuple):
        flat = list(members)
    else:
        return
    subsets = getattr(ensemble, "estimators_features_", None)
    if subsets is not None and len(subsets) != len(flat):
        raise _fail(path, f"{len(flat)} estimators but {len(subsets)} feature subsets")
    for i, member in enumerate(flat):
        if not hasattr(member, "tree_"):
            continue  # anything else checks its own input when called
        expected = int(width)
        if subsets is not None:
            subset = np.asarray(subsets[i])
            if subset.size and (subset.min() < 0 or subset.max() >= int(width)):
                raise _fail(path, f"estimator {i}'s features are outside the input")
            expected = subset.size
        member_width = getattr(member, "n_features_in_", None)
        if member_width != expected:
            raise _fail(
                path,
                f"estimator {i} takes {member_width} features; the ensemble gives it {expected}",
            )
    stages = getattr(ensemble, "n_trees_per_iteration_", None)
    # Gradient boosting writes stage k's tree into column k of its output.
    if (
        isinstance(members, np.ndarray)
        and isinstance(stages, int | np.integer)
        and (members.ndim != 2 or members.shape[1] != int(stages))
    ):
        raise _fail(
            path, f"estimators_ is shaped {members.shape} for {int(stages)} trees per stage"
        )


def _shape(array: Any) -> tuple[int, ...]:
    shape = getattr(array, "shape", None)
    return tuple(int(n) for n in shape) if shape is not None else ()


def _check_libsvm(model: Any, path: str) -> None:
    """libsvm takes the class count from ``_n_support`` and reads every other array by it
    (and the support vectors by the input's width) without checking their sizes."""
    n_support = np.asarray(getattr(model, "_n_support", ()))
    support = np.asarray(model.support_)
    precomputed = getattr(model, "kernel", None) == "precomputed"
    vectors = _shape(getattr(model, "support_vectors_", None))
    count = support.size if precomputed else (vectors[0] if vectors else -1)
    width = getattr(model, "n_features_in_", None)
    fit_shape = _shape(np.asarray(getattr(model, "shape_fit_", ())))
    classification = getattr(model, "_impl", None) in ("c_svc", "nu_svc")
    k = int(n_support.size)
    pairs = k * (k - 1) // 2 if classification else 1
    problems = []
    if n_support.ndim != 1 or (n_support < 0).any() or k < 2 or (not classification and k != 2):
        problems.append(f"_n_support {n_support.tolist()} is not a count per class")
    elif classification and int(n_support.sum()) != count:
        problems.append(f"_n_support adds up to {int(n_support.sum())}, not {count} vectors")
    if support.shape != (count,):
        problems.append(f"support_ holds {support.size} indices for {count} vectors")
    if precomputed:
        rows = int(np.asarray(model.shape_fit_)[0]) if fit_shape else 0
        if support.size and (support.min() < 0 or support.max() >= rows):
            problems.append(f"support_ indexes outside the {rows} training rows")
    elif isinstance(width, int | np.integer) and vectors[1:] != (int(width),):
        problems.append(f"support vectors are shaped {vectors} for {int(width)} features")
    coefficients = (k - 1 if classification else 1, count)
    if _shape(model._dual_coef_) != coefficients:
        problems.append(f"dual_coef_ is shaped {_shape(model._dual_coef_)}, not {coefficients}")
    if _shape(model._intercept_) != (pairs,):
        problems.append(f"intercept_ is shaped {_shape(model._intercept_)}, not ({pairs},)")
    for name in ("_probA", "_probB"):
        size = _shape(getattr(model, name, np.empty(0)))
        if size not in ((0,), (pairs,)):
            problems.append(f"{name} is shaped {size}, not (0,) or ({pairs},)")
    if problems:
        raise _fail(path, "; ".join(problems))


def _check_width(model: Any, path: str, name: str) -> None:
    """``model.<name>`` holds rows as wide as the model's input."""
    width = getattr(model, "n_features_in_", None)
    shape = _shape(getattr(model, name))
    if isinstance(width, int | np.integer) and (len(shape) != 2 or shape[1] != int(width)):
        raise _fail(path, f"{name} is shaped {shape} for {int(width)} features")


def _check_neighbors(model: Any, path: str) -> None:
    if isinstance(model._fit_X, np.ndarray) or hasattr(model._fit_X, "shape"):
        _check_width(model, path, "_fit_X")
        rows = _shape(model._fit_X)[0]
        fitted = getattr(model, "n_samples_fit_", rows)
        if fitted != rows:
            raise _fail(path, f"n_samples_fit_ is {fitted} for {rows} stored rows")
