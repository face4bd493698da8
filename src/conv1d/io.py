"""Weight files: :func:`save` and :func:`load` in safetensors, under PyTorch's state-dict keys.

A ``.safetensors`` file is a JSON header (names, dtypes, shapes, offsets) followed by the raw
little-endian tensor bytes: reading one runs no code, unlike PyTorch's pickled ``.pt`` files,
which this module refuses. The keys are PyTorch's (``weight``, ``0.bias``,
``encoder.conv.weight``), so a file written in PyTorch by
``safetensors.torch.save_file(model.state_dict(), path)`` loads into the equivalent ``conv1d``
model, and one written here loads into the PyTorch model with
``model.load_state_dict(safetensors.torch.load_file(path))``.

safetensors is an optional dependency (``pip install conv1d[safetensors]``), imported on the
first call; bfloat16 tensors need ``ml_dtypes`` as well.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .module import Module

__all__ = ["load", "save"]

M = TypeVar("M", bound=Module)

#: Suffixes of PyTorch's pickle-based checkpoints: loading them can run arbitrary code.
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle")

#: What to tell the owner of such a file (run in PyTorch, where the file came from).
CONVERT_HINT = (
    "convert it once in PyTorch, from a source you trust: "
    "import torch, safetensors.torch; "
    "safetensors.torch.save_file(torch.load(path), 'model.safetensors') "
    "(for a whole pickled model, torch.load(path).state_dict())"
)

#: safetensors' names of the floating dtypes a parameter can be read from.
FLOAT_DTYPES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64"}


def _safetensors() -> Any:
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise ImportError(
            "conv1d.save and conv1d.load need the safetensors package: "
            "pip install conv1d[safetensors] (or pip install safetensors)"
        ) from None
    return safetensors


def _check_module(module: Any, func: str) -> None:
    if not isinstance(module, Module):
        raise TypeError(
            f"{func}: module must be a conv1d.Module (e.g. conv1d.Conv1d or conv1d.Sequential), "
            f"got {type(module).__name__}"
        )


def _refuse_pickle_suffix(path: Path, func: str) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        what = "reads" if func == "load" else "writes"
        raise ValueError(
            f"{func}: {str(path)!r} looks like a pickled PyTorch checkpoint ({path.suffix}); "
            f"conv1d only {what} safetensors files (*.safetensors), never pickle"
            + (f"; {CONVERT_HINT}" if func == "load" else "")
        )


def save(module: Module, path: str | os.PathLike[str]) -> None:
    """Write ``module``'s parameters to a safetensors file, under PyTorch's state-dict keys.

    The file is written to a temporary name beside ``path`` and renamed over it at the end,
    so a failed save leaves no half-written file. Its header metadata says
    ``{"format": "pt"}`` (the keys and layouts are PyTorch's), as ``transformers`` expects.

    Parameters
    ----------
    module : conv1d.Module
        A layer, a :class:`~conv1d.Sequential` or a user-defined module holding them.
    path : str or os.PathLike
        The file to write, conventionally ``*.safetensors``; pickle suffixes (``.pt``,
        ``.pth``, ``.bin``, ``.ckpt``) are refused, so that no reader mistakes it for one.

    Raises
    ------
    ImportError
        If safetensors is not installed.
    TypeError
        If ``module`` is not a ``conv1d.Module``.
    ValueError
        If ``path`` has a pickle suffix.

    Examples
    --------
    >>> import os, tempfile, conv1d
    >>> net = conv1d.Sequential(conv1d.Conv1d(1, 4, 3, rng=0), conv1d.ReLU())
    >>> path = os.path.join(tempfile.mkdtemp(), "net.safetensors")
    >>> conv1d.save(net, path)
    >>> other = conv1d.load(conv1d.Sequential(conv1d.Conv1d(1, 4, 3, rng=1), conv1d.ReLU()), path)
    >>> bool((other[0].weight == net[0].weight).all())
    True
    """
    _check_module(module, "save")
    path = Path(path)
    _refuse_pickle_suffix(path, "save")
    st = _safetensors()
    tensors = {name: np.ascontiguousarray(p) for name, p in module.named_parameters()}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        st.numpy.save_file(tensors, tmp, metadata={"format": "pt"})
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _read_tensors(path: Path) -> dict[str, np.ndarray | str]:
    """The file's tensors as arrays; a tensor whose dtype cannot be a parameter's as its dtype name."""
    st = _safetensors()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file {str(path)!r}") from None
    # A safetensors file starts with its header's length (u64, little-endian), then '{'.
    if not (len(data) >= 9 and data[8:9] == b"{"):
        if data[:4] == b"PK\x03\x04" or (data[:1] == b"\x80" and data[1:2] in b"\x02\x03\x04\x05"):
            raise ValueError(
                f"load: {str(path)!r} is a pickled PyTorch checkpoint (zip/pickle data), not a "
                f"safetensors file; conv1d never unpickles; {CONVERT_HINT}"
            )
        raise ValueError(
            f"load: {str(path)!r} is not a safetensors file (it does not start with a "
            f"safetensors header; empty, truncated or another format)"
        )
    try:
        # safetensors.numpy.load is this plus a dtype table without bfloat16.
        entries = st.deserialize(data)
    except st.SafetensorError as exc:
        raise ValueError(
            f"load: {str(path)!r} is a corrupt or truncated safetensors file ({exc})"
        ) from None
    tensors: dict[str, np.ndarray | str] = {}
    for name, entry in entries:
        dtype_name = FLOAT_DTYPES.get(entry["dtype"])
        if dtype_name is None:
            tensors[name] = entry["dtype"]
            continue
        if dtype_name == "bfloat16":
            from .functional import bfloat16

            dtype = bfloat16()
        else:
            dtype = np.dtype(dtype_name)
        # The file is little-endian; frombuffer of bytes gives a read-only view, copied below.
        arr = np.frombuffer(entry["data"], dtype=dtype.newbyteorder("<")).reshape(entry["shape"])
        # bfloat16 -> float32 is exact, and load_state_dict takes NumPy's floating kinds.
        tensors[name] = arr.astype(np.float32) if dtype_name == "bfloat16" else arr
    return tensors


def load(module: M, path: str | os.PathLike[str], *, strict: bool = True) -> M:
    """Load a safetensors file's tensors into ``module``'s parameters, in place.

    Every tensor is checked (names, dtypes, shapes) before any parameter is written, so a
    failed load leaves ``module`` exactly as it was. Values are cast to each parameter's dtype,
    as ``torch.nn.Module.load_state_dict`` does (a float64 or bfloat16 file loads into a
    float32 model).

    Parameters
    ----------
    module : conv1d.Module
        The model, built with the same architecture as the one saved.
    path : str or os.PathLike
        A ``.safetensors`` file, from :func:`save` or from PyTorch's
        ``safetensors.torch.save_file(model.state_dict(), path)``.
    strict : bool, default True, keyword-only
        Require the file's keys to be exactly the module's parameter names. With ``False``,
        missing and unexpected keys are ignored (shapes and dtypes are still checked).

    Returns
    -------
    conv1d.Module
        ``module`` itself.

    Raises
    ------
    ImportError
        If safetensors is not installed.
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        For a pickle checkpoint (``.pt``, ``.pth``, ``.bin``, ``.ckpt`` or zip/pickle bytes;
        the message says how to convert it), a file that is not safetensors, a truncated or
        corrupt one, or a tensor of the wrong shape.
    KeyError
        For missing or unexpected tensors (when ``strict``), naming them.
    TypeError
        For a tensor that is not floating point (e.g. int64), naming it; or a ``module`` that
        is not a ``conv1d.Module``.

    Examples
    --------
    >>> import os, tempfile, conv1d
    >>> path = os.path.join(tempfile.mkdtemp(), "conv.safetensors")
    >>> conv1d.save(conv1d.Conv1d(2, 3, 5, rng=0), path)
    >>> m = conv1d.load(conv1d.Conv1d(2, 3, 5), path)
    >>> m.weight.shape, bool((m.weight == conv1d.Conv1d(2, 3, 5, rng=0).weight).all())
    ((3, 2, 5), True)
    """
    _check_module(module, "load")
    if not isinstance(strict, (bool, np.bool_)):
        raise TypeError(f"load: strict must be True or False, got {strict!r}")
    path = Path(path)
    _refuse_pickle_suffix(path, "load")
    tensors = _read_tensors(path)
    params = dict(module.named_parameters())
    if strict:
        missing = sorted(set(params) - set(tensors))
        unexpected = sorted(set(tensors) - set(params))
        if missing or unexpected:
            raise KeyError(
                f"load: {str(path)!r} does not match the module: missing keys {missing}, "
                f"unexpected keys {unexpected} (the module has {sorted(params)})"
            )
    wanted = {name: value for name, value in tensors.items() if name in params}
    for name, value in wanted.items():
        if isinstance(value, str):
            raise TypeError(
                f"load: tensor {name!r} in {str(path)!r} has dtype {value}; parameters are "
                f"read from floating-point tensors ({', '.join(FLOAT_DTYPES)})"
            )
        if value.shape != params[name].shape:
            raise ValueError(
                f"load: tensor {name!r} in {str(path)!r} has shape {value.shape}, the module's "
                f"parameter has shape {params[name].shape}"
            )
    # Everything is checked; load_state_dict checks again and writes all or nothing.
    module.load_state_dict(wanted, strict=strict)
    return module  # typed as the caller's module class (M), which load_state_dict's isn't
