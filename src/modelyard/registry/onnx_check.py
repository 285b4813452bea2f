"""Checks of a parsed ONNX model before onnxruntime sees it.

onnxruntime reads a tensor's bytes from another file when the tensor says so (``data_location:
EXTERNAL`` or ``external_data`` entries naming a ``location``), relative to the model's folder
or, for a model loaded from bytes, the server's working directory: a user's model could read
any file the server can (a sparse initializer pointing at the JWT signing key did). Tensors
hide in many places besides the graph's initializers, so every one is visited: sparse
initializers (values and indices), node attributes of every tensor kind, subgraphs (If, Loop,
Scan bodies, to any depth), model-local functions (their nodes and attribute defaults) and
training-info graphs.

Nodes must also use operator domains onnxruntime runs (or a function the model defines):
anything else would need a custom-op library, which the server never loads.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

__all__ = ["ExternalData", "UnsupportedDomain", "check_onnx_model", "runnable_domains"]


class ExternalData(ValueError):
    """A tensor of the model keeps its data outside the file."""


class UnsupportedDomain(ValueError):
    """A node uses an operator domain onnxruntime cannot run."""


@functools.cache
def runnable_domains() -> frozenset[str]:
    """The operator domains this onnxruntime has kernels' schemas for ("" is ONNX's own)."""
    from onnxruntime.capi.onnxruntime_pybind11_state import get_all_operator_schema

    return frozenset({schema.domain for schema in get_all_operator_schema()} | {"", "ai.onnx"})


def _is_external(tensor: Any) -> bool:
    from onnx import TensorProto

    # ``external_data`` alone is enough: what onnxruntime does with entries under another
    # ``data_location`` is not ours to guess.
    return tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data) > 0


def _tensors_of_attribute(attribute: Any, where: str) -> Iterator[tuple[str, Any]]:
    # Every field, whatever ``attribute.type`` claims: a reader may look at the one it expects.
    name = f"{where} attribute {attribute.name!r}"
    if attribute.HasField("t"):
        yield f"tensor of {name}", attribute.t
    for tensor in attribute.tensors:
        yield f"tensor of {name}", tensor
    sparse = [attribute.sparse_tensor] if attribute.HasField("sparse_tensor") else []
    for item in [*sparse, *attribute.sparse_tensors]:
        yield f"sparse tensor of {name}", item.values
        yield f"sparse tensor indices of {name}", item.indices


def _walk(model: Any) -> Iterator[tuple[str, Any]]:
    """(what, tensor) for every tensor, and (where, node) for every node, of the model; an
    explicit stack, so a deeply nested graph cannot exhaust Python's recursion."""
    graphs: list[tuple[str, Any]] = [("graph", model.graph)]
    graphs += [(f"training graph {i}", t.initialization) for i, t in enumerate(model.training_info)]
    graphs += [(f"training algorithm {i}", t.algorithm) for i, t in enumerate(model.training_info)]
    nodes: list[tuple[str, Any]] = []
    for function in model.functions:
        where = f"function {function.name!r}"
        nodes += [(where, node) for node in function.node]
        for attribute in function.attribute_proto:
            yield from _tensors_of_attribute(attribute, where)
            graphs += _subgraphs(attribute, where)
    while graphs or nodes:
        while graphs:
            where, graph = graphs.pop()
            for tensor in graph.initializer:
                yield f"initializer {tensor.name!r}", tensor
            for sparse in graph.sparse_initializer:
                yield f"sparse initializer {sparse.values.name!r}", sparse.values
                yield f"indices of sparse initializer {sparse.values.name!r}", sparse.indices
            nodes += [(where, node) for node in graph.node]
        while nodes:
            where, node = nodes.pop()
            label = f"node {node.name or node.op_type!r} ({where})"
            yield label, node
            for attribute in node.attribute:
                yield from _tensors_of_attribute(attribute, label)
                graphs += _subgraphs(attribute, label)


def _subgraphs(attribute: Any, where: str) -> list[tuple[str, Any]]:
    name = f"subgraph {attribute.name!r} of {where}"
    found = [(name, attribute.g)] if attribute.HasField("g") else []
    return found + [(name, graph) for graph in attribute.graphs]


def check_onnx_model(model: Any) -> None:
    """Raise ``ExternalData`` or ``UnsupportedDomain`` for the first offending part of ``model``
    (an ``onnx.ModelProto``); the message names it."""
    from onnx import NodeProto

    local = {(function.domain, function.name) for function in model.functions}
    domains = runnable_domains()
    for what, item in _walk(model):
        if isinstance(item, NodeProto):
            if item.domain not in domains and (item.domain, item.op_type) not in local:
                raise UnsupportedDomain(
                    f"{what} uses operator {item.op_type!r} of domain {item.domain!r}, which"
                    " onnxruntime cannot run here"
                )
        elif _is_external(item):
            raise ExternalData(f"{what} stores its data outside the file")
