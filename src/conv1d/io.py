"""Weight files: :func:`save` and :func:`load` in safetensors, under PyTorch's state-dict keys.

A ``.safetensors`` file is a JSON header (names, dtypes, shapes, offsets) followed by the raw
little-endian tensor bytes: reading one runs no code, unlike PyTorch's pickled ``.pt`` files,
which this module refuses. The keys are PyTorch's (``weight``, ``0.bias``,
``encoder.conv.weight``), so a file written in PyTorch by
``safetensors.torch.save_file(model.state_dict(), path)`` loads into the equivalent ``conv1d``
model, and one written here loads into the PyTorch model with
``model.load_state_dict(safetensors.torch.load_file(path))``.

The file holds the parameters and the persistent buffers (``running_mean``,
``num_batches_tracked``, ...), as PyTorch's ``state_dict()``. Weights saved from a model using
PyTorch's weight normalisation load into the plain layer: see :func:`fold_weight_norm`.

safetensors is an optional dependency (``pip install conv1d[safetensors]``), imported on the
first call; bfloat16 tensors need ``ml_dtypes`` as well.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from .module import Module

__all__ = ["fold_weight_norm", "load", "save"]

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

#: safetensors' names of the integer dtypes an integer buffer (``num_batches_tracked``) can be
#: read from.
INT_DTYPES = {"I8": "int8", "I16": "int16", "I32": "int32", "I64": "int64", "U8": "uint8",
              "U16": "uint16", "U32": "uint32", "U64": "uint64"}

#: Key suffixes of PyTorch's weight normalisation: (magnitude g, direction v), in
#: ``torch.nn.utils.parametrizations.weight_norm`` and the older ``torch.nn.utils.weight_norm``.
WEIGHT_NORM_KEYS = (
    ("parametrizations.weight.original0", "parametrizations.weight.original1"),
    ("weight_g", "weight_v"),
)


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
    """Write ``module``'s state dict (parameters and persistent buffers) to a safetensors file.

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
    tensors = {name: np.ascontiguousarray(a) for name, a in module.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        st.numpy.save_file(tensors, tmp, metadata={"format": "pt"})
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _read_tensors(path: Path) -> dict[str, tuple[np.ndarray | None, str]]:
    """The file's tensors as ``(array, safetensors dtype name)``; ``None`` for an array of a
    dtype no parameter or buffer can take (kept to name it in the error)."""
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
    tensors: dict[str, tuple[np.ndarray | None, str]] = {}
    for name, entry in entries:
        code = entry["dtype"]
        dtype_name = FLOAT_DTYPES.get(code) or INT_DTYPES.get(code)
        if dtype_name is None:
            tensors[name] = (None, code)
            continue
        if dtype_name == "bfloat16":
            from .functional import bfloat16

            dtype = bfloat16()
        else:
            dtype = np.dtype(dtype_name)
        # The file is little-endian; frombuffer of bytes gives a read-only view, copied below.
        arr = np.frombuffer(entry["data"], dtype=dtype.newbyteorder("<")).reshape(entry["shape"])
        # bfloat16 -> float32 is exact, and load_state_dict takes NumPy's floating kinds.
        tensors[name] = (arr.astype(np.float32) if dtype_name == "bfloat16" else arr, code)
    return tensors


def fold_weight_norm(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Replace PyTorch's weight-normalisation pairs by the weight they stand for.

    ``torch.nn.utils.parametrizations.weight_norm`` stores a layer's weight as
    ``<prefix>parametrizations.weight.original0`` (the magnitude ``g``) and ``...original1``
    (the direction ``v``); the older ``torch.nn.utils.weight_norm`` as ``<prefix>weight_g``
    and ``<prefix>weight_v``. Either pair becomes ``<prefix>weight = g * v / ||v||``, the
    norm taken over every axis where ``g`` has size 1 (all but axis 0 for the default
    ``dim=0``, whose ``g`` has shape ``(out_channels, 1, 1)``; all axes for ``dim=None``),
    computed in float64 and cast back to ``v``'s dtype. Inference needs only the folded
    weight, so a plain ``Conv1d`` or ``Linear`` takes it; :func:`load` folds on its own.

    Parameters
    ----------
    state_dict : mapping of str to array
        E.g. ``{k: v.numpy() for k, v in torch_model.state_dict().items()}``.

    Returns
    -------
    dict
        The same entries in the same order, each pair replaced by its ``weight`` where the
        first of the two was.

    Raises
    ------
    KeyError
        If one of a pair is present without the other.
    ValueError
        If ``g``'s shape does not broadcast against ``v``'s as weight normalisation's does.

    Examples
    --------
    >>> v = np.array([[[3.0, 4.0]], [[1.0, 0.0]]])  # (out_channels=2, in_channels=1, K=2)
    >>> g = np.array([[[10.0]], [[2.0]]])
    >>> sd = fold_weight_norm({"0.weight_g": g, "0.weight_v": v, "0.bias": np.zeros(2)})
    >>> list(sd), sd["0.weight"].tolist()
    (['0.weight', '0.bias'], [[[6.0, 8.0]], [[2.0, 0.0]]])
    """
    out: dict[str, Any] = {}
    for key, value in state_dict.items():
        for g_suffix, v_suffix in WEIGHT_NORM_KEYS:
            if key.endswith(g_suffix) or key.endswith(v_suffix):
                g_key_is = key.endswith(g_suffix)
                prefix = key[: -len(g_suffix if g_key_is else v_suffix)]
                g_key, v_key = prefix + g_suffix, prefix + v_suffix
                if g_key not in state_dict or v_key not in state_dict:
                    missing = v_key if g_key_is else g_key
                    raise KeyError(f"weight normalisation: {key!r} without {missing!r}")
                if prefix + "weight" not in out:
                    out[prefix + "weight"] = _fold(np.asarray(state_dict[g_key]),
                                                   np.asarray(state_dict[v_key]), prefix)
                break
        else:
            out[key] = value
    return out


def _fold(g: np.ndarray, v: np.ndarray, prefix: str) -> np.ndarray:
    fits = g.ndim == 0 or (g.ndim == v.ndim and all(
        a in (1, b) for a, b in zip(g.shape, v.shape, strict=True)))
    if not fits:
        raise ValueError(
            f"weight normalisation of {prefix + 'weight'!r}: the magnitude's shape {g.shape} "
            f"does not fit the direction's {v.shape} (expected size 1 or the direction's size "
            "on each axis)"
        )
    axes = tuple(i for i in range(v.ndim) if g.ndim == 0 or g.shape[i] == 1)
    v64 = v.astype(np.float64)
    norm = np.sqrt((v64 * v64).sum(axis=axes, keepdims=True))
    return (g.astype(np.float64) * v64 / norm).astype(v.dtype)


def load(module: M, path: str | os.PathLike[str], *, strict: bool = True) -> M:
    """Load a safetensors file's tensors into ``module``'s parameters and buffers, in place.

    Every tensor is checked (names, dtypes, shapes) before any array is written, so a
    failed load leaves ``module`` exactly as it was. Values are cast to each parameter's dtype,
    as ``torch.nn.Module.load_state_dict`` does (a float64 or bfloat16 file loads into a
    float32 model). Integer buffers (``num_batches_tracked``) take integer tensors. Weights
    stored by PyTorch's weight normalisation (``...parametrizations.weight.original0/1`` or
    ``...weight_g``/``...weight_v``) are folded into ``...weight`` first, ``w = g * v / ||v||``
    (see :func:`fold_weight_norm`), so a TCN trained with ``weight_norm`` loads into plain
    ``Conv1d`` layers.

    Parameters
    ----------
    module : conv1d.Module
        The model, built with the same architecture as the one saved.
    path : str or os.PathLike
        A ``.safetensors`` file, from :func:`save` or from PyTorch's
        ``safetensors.torch.save_file(model.state_dict(), path)``.
    strict : bool, default True, keyword-only
        Require the file's keys to be exactly the module's state-dict keys. With ``False``,
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
        For a parameter's tensor that is not floating point (e.g. int64), naming it; or a
        ``module`` that is not a ``conv1d.Module``.

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
    codes = {name: code for name, (_, code) in tensors.items()}
    try:
        arrays = fold_weight_norm({name: arr for name, (arr, _) in tensors.items()})
    except (KeyError, ValueError) as exc:
        raise type(exc)(f"load: {str(path)!r}: {exc.args[0]}") from None
    targets = {key: (value, is_param) for key, value, is_param in module._state_items()}
    if strict:
        missing = [k for k in targets if k not in arrays]
        unexpected = sorted(set(arrays) - set(targets))
        if missing or unexpected:
            hint = ("; only weight normalisation is folded, other parametrizations are not "
                    "supported" if any("parametrizations." in k for k in unexpected) else "")
            raise KeyError(
                f"load: {str(path)!r} does not match the module: missing keys {missing}, "
                f"unexpected keys {unexpected} (the module has {list(targets)}){hint}"
            )
    wanted = {name: value for name, value in arrays.items() if name in targets}
    for name, value in wanted.items():
        target, is_param = targets[name]
        code = codes.get(name, "F64")  # a folded weight is floating point
        floating = is_param or target.dtype.kind == "f"
        if value is None or (floating and code not in FLOAT_DTYPES) or (
                not floating and code not in INT_DTYPES):
            what = (f"{'parameters' if is_param else 'floating-point buffers'} are read from "
                    f"floating-point tensors ({', '.join(FLOAT_DTYPES)})" if floating else
                    f"integer buffers are read from integer tensors ({', '.join(INT_DTYPES)})")
            raise TypeError(
                f"load: tensor {name!r} in {str(path)!r} has dtype {code}; {what}"
            )
        if value.shape != target.shape:
            raise ValueError(
                f"load: tensor {name!r} in {str(path)!r} has shape {value.shape}, the module's "
                f"{'parameter' if is_param else 'buffer'} has shape {target.shape}"
            )
    # Everything is checked; load_state_dict checks again and writes all or nothing.
    module.load_state_dict(wanted, strict=strict)
    return module  # typed as the caller's module class (M), which load_state_dict's isn't
