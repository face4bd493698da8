"""ONNX Runtime as ``conv1d bench``'s second rival for the forward pass.

Each case becomes a one-node ONNX graph built with :mod:`onnx.helper`: ``Conv`` with the
weight and bias as initializers, as an exported model holds them, preceded by a ``Pad`` node
for the padding modes other than zeros (PyTorch pads those with ``F.pad`` before its
convolution too). The session runs on ONNX Runtime's CPU provider (its MLAS kernels) with
the bench's thread count, one inter-op thread and sequential execution: one call at a time,
like the other two libraries. ``onnx`` and ``onnxruntime`` are optional (the ``bench``
extra) and imported only here, only when asked.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

#: The ONNX opset of the graphs: 19 is the first whose ``Pad`` has the mode ``"wrap"``.
OPSET = 19
#: IR version 9 goes with opset 19 (onnx's table in ``onnx/helper.py``, VERSION_TABLE).
IR_VERSION = 9
#: PyTorch's padding modes -> ``Pad``'s (``"edge"`` repeats the edge sample, ``"wrap"`` is
#: circular; ``"reflect"`` mirrors without repeating the edge, as PyTorch's does).
PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def unavailable() -> str | None:
    """Why ONNX Runtime cannot be timed here (a missing package), or ``None``.

    Examples
    --------
    >>> unavailable() in (None, "onnx is not installed", "onnxruntime is not installed")
    True
    """
    for name in ("onnx", "onnxruntime"):
        if importlib.util.find_spec(name) is None:
            return f"{name} is not installed"
    return None


def conv_model(x_shape: tuple[int, int, int], weight: np.ndarray, bias: np.ndarray | None, *,
               stride: int = 1, padding: int = 0, dilation: int = 1, groups: int = 1,
               padding_mode: str = "zeros") -> Any:
    """The ONNX model (``onnx.ModelProto``) of ``torch.nn.functional.conv1d`` on ``x_shape``.

    Input ``"x"`` of shape ``(N, C_in, L)`` float32, output ``"y"``. ``padding`` is added on
    both sides: inside ``Conv`` for ``"zeros"``, by a ``Pad`` node first otherwise.

    Examples
    --------
    >>> w = np.ones((4, 2, 3), np.float32)
    >>> model = conv_model((1, 2, 8), w, None, padding=1, padding_mode="circular")
    >>> [node.op_type for node in model.graph.node]
    ['Pad', 'Conv']
    """
    from onnx import TensorProto, helper, numpy_helper

    if padding_mode != "zeros" and padding_mode not in PAD_MODES:
        raise ValueError(f"padding_mode must be one of {('zeros', *PAD_MODES)}, "
                         f"got {padding_mode!r}")
    nodes, inits = [], [numpy_helper.from_array(np.ascontiguousarray(weight, np.float32), "w")]
    conv_in, pads = "x", [padding, padding]
    if padding_mode != "zeros" and padding:
        # pads: begin of every axis, then end of every axis; only the length axis is padded.
        inits.append(numpy_helper.from_array(np.array([0, 0, padding, 0, 0, padding], np.int64),
                                             "pads"))
        nodes.append(helper.make_node("Pad", ["x", "pads"], ["x_padded"],
                                      mode=PAD_MODES[padding_mode]))
        conv_in, pads = "x_padded", [0, 0]
    conv_inputs = [conv_in, "w"]
    if bias is not None:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(bias, np.float32), "b"))
        conv_inputs.append("b")
    nodes.append(helper.make_node(
        "Conv", conv_inputs, ["y"], kernel_shape=[weight.shape[2]], strides=[stride],
        pads=pads, dilations=[dilation], group=groups))
    graph = helper.make_graph(
        nodes, "conv1d", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                             ir_version=IR_VERSION, producer_name="conv1d bench")


def session(model: Any, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """An ONNX Runtime CPU session of ``model`` as a function ``x -> y``.

    ``threads`` intra-op threads (the calling thread is one of them), one inter-op thread,
    sequential execution, every graph optimisation (the default). ORT's own defaults
    otherwise: its memory arena, and worker threads that spin a while after each call
    (``conv1d bench`` leaves an idle gap before each timed block for that).

    Examples
    --------
    >>> w = np.ones((1, 1, 2), np.float32)
    >>> run = session(conv_model((1, 1, 4), w, None), threads=1)
    >>> run(np.arange(4, dtype=np.float32).reshape(1, 1, 4))
    array([[[1., 3., 5.]]], dtype=float32)
    """
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: no notes about unused initializers
    sess = ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        return sess.run(None, {"x": x})[0]

    return run
