"""The module system: :class:`Parameter`, :class:`Module` and :class:`Sequential`.

A small mirror of ``torch.nn.Module`` for layers with an explicit ``backward``: each layer
remembers what its last ``forward`` needs, ``backward(grad_output)`` returns the gradient
with respect to its input and adds the parameters' gradients into ``param.grad``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np


class Parameter(np.ndarray):
    """A learnable array: an ``ndarray`` with a ``grad`` attribute (``None`` until backward).

    ``np.asarray(p)`` is the plain array; arithmetic on a parameter gives plain arrays, while
    in-place updates (``p -= lr * p.grad``) keep the parameter.

    Examples
    --------
    >>> p = Parameter(np.zeros(3))
    >>> p.grad is None, type(p + 1).__name__
    (True, 'ndarray')
    """

    grad: np.ndarray | None

    def __new__(cls, data: Any) -> Parameter:
        obj = np.array(data, copy=True).view(cls)
        obj.grad = None
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.grad = None

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        if arr is self:
            return self
        out = arr.view(np.ndarray)
        return out[()] if return_scalar else out

    def __repr__(self) -> str:
        return "Parameter containing:\n" + repr(np.asarray(self))

    def accumulate(self, grad: np.ndarray) -> None:
        """Add ``grad`` into ``self.grad`` (created on first use)."""
        if self.grad is None:
            self.grad = np.array(grad, dtype=self.dtype, copy=True)
        else:
            self.grad += grad


class Module:
    """Base class for layers: ``forward``, ``backward`` and PyTorch's parameter bookkeeping.

    Parameters and sub-modules are found from the instance's attributes, in the order they
    were set, so state-dict keys follow PyTorch's (``weight``, ``0.weight``, ``enc.bias``).
    Attributes named in ``_transient`` hold what the last forward remembered for backward;
    they are not pickled (a pickled layer, e.g. shipped to a Dask worker, starts fresh).
    """

    _transient: tuple[str, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self._transient:
            if name in state:
                state[name] = None
        return state

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def stream(self) -> Any:
        """Chunk-by-chunk inference (see :mod:`conv1d.stream`); modules that can override it."""
        raise TypeError(
            f"{type(self).__name__} cannot stream: only modules whose output runs along the "
            "input's time axis can (Conv1d, ReLU, and Sequential stacks of them)"
        )

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs, with dotted names for nested modules."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value.named_parameters(prefix + name + ".")

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def zero_grad(self) -> None:
        """Clear every parameter's gradient (back to ``None``, as PyTorch's default)."""
        for p in self.parameters():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters under PyTorch's keys."""
        return {name: np.array(p) for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Module:
        """Copy arrays into the parameters, in place; all are checked before any is written.

        Raises
        ------
        KeyError
            For missing or unexpected keys (only when ``strict``).
        ValueError, TypeError
            For a wrong shape, or an array that is not floating point.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
        params = dict(self.named_parameters())
        if strict:
            missing = sorted(set(params) - set(state_dict))
            unexpected = sorted(set(state_dict) - set(params))
            if missing or unexpected:
                raise KeyError(
                    f"load_state_dict: missing keys {missing}, unexpected keys {unexpected} "
                    f"(expected exactly {sorted(params)})"
                )
        staged = []
        for name, p in params.items():
            if name not in state_dict:
                continue
            value = np.asarray(state_dict[name])
            # ml_dtypes' bfloat16 is a floating type NumPy files under kind "V".
            if value.dtype.kind != "f" and value.dtype.name != "bfloat16":
                raise TypeError(
                    f"load_state_dict: {name!r} must be a floating-point array, "
                    f"got dtype {value.dtype}"
                )
            if value.shape != p.shape:
                raise ValueError(
                    f"load_state_dict: {name!r} must have shape {p.shape}, got {value.shape}"
                )
            staged.append((p, value))
        for p, value in staged:
            p[...] = value
        return self

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order; ``backward`` runs them in reverse.

    Examples
    --------
    >>> from conv1d import Conv1d, ReLU
    >>> net = Sequential(Conv1d(1, 4, 3, rng=0), ReLU(), Conv1d(4, 2, 3, rng=0))
    >>> list(net.state_dict())
    ['0.weight', '0.bias', '2.weight', '2.bias']
    >>> net(np.zeros((5, 1, 20))).shape
    (5, 2, 16)
    """

    def __init__(self, *modules: Module) -> None:
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential takes Modules, got {type(m).__name__} at position {i}")
            setattr(self, str(i), m)

    def __len__(self) -> int:
        return sum(1 for _ in self.named_children())

    def __getitem__(self, i: int) -> Module:
        return list(self)[i]

    def __iter__(self) -> Iterator[Module]:
        return (m for _, m in self.named_children())

    def forward(self, x: Any) -> Any:
        for m in self:
            x = m(x)
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        for m in reversed(list(self)):
            grad_output = m.backward(grad_output)
        return grad_output

    def stream(self) -> Any:
        """Stream the whole stack: a :class:`conv1d.stream.SequentialStream`."""
        from .stream import SequentialStream

        return SequentialStream.of(list(self))
