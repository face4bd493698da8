"""Residual connections: :class:`Residual`, ``y = body(x) + shortcut(x)``, trainable and streamable."""

from __future__ import annotations

from typing import Any

import numpy as np

from .graph_stream import ResidualStream, time_axis
from .module import Module

__all__ = ["Residual"]


class Residual(Module):
    """``y = body(x) + shortcut(x)``; the shortcut is the identity when ``None``.

    The block of ResNets and TCNs, with ``backward`` (the input's gradient is the sum of the
    two branches' gradients, and each branch adds its parameters' gradients) and
    :meth:`stream`. ``body`` and ``shortcut`` are any modules (a :class:`~conv1d.Sequential`,
    a ``Conv1d``, a user module); their outputs must have the same shape.

    Parameters
    ----------
    body : Module
        The residual branch.
    shortcut : Module or None, default None
        The skip branch, e.g. a 1x1 ``Conv1d`` where the body changes the channels or the
        length; ``None`` adds the input itself.

    Attributes
    ----------
    body, shortcut : Module
        State-dict keys ``body.*`` and ``shortcut.*``, as the PyTorch module::

            class Residual(torch.nn.Module):
                def __init__(self, body, shortcut=None):
                    super().__init__()
                    self.body, self.shortcut = body, shortcut

                def forward(self, x):
                    return self.body(x) + (x if self.shortcut is None else self.shortcut(x))

    Examples
    --------
    >>> import numpy as np
    >>> from conv1d import Conv1d, ReLU, Sequential
    >>> block = Residual(Sequential(Conv1d(4, 8, 3, padding=1, rng=0), ReLU(),
    ...                             Conv1d(8, 8, 3, padding=1, rng=1)),
    ...                  shortcut=Conv1d(4, 8, 1, rng=2))
    >>> x = np.random.default_rng(0).standard_normal((2, 4, 16), dtype=np.float32)
    >>> y = block(x)
    >>> y.shape, block.backward(np.ones_like(y)).shape
    ((2, 8, 16), (2, 4, 16))
    >>> list(block.state_dict())[-2:]
    ['shortcut.weight', 'shortcut.bias']
    """

    _transient = ("_out_shape",)

    def __init__(self, body: Module, shortcut: Module | None = None) -> None:
        if not isinstance(body, Module):
            raise TypeError(f"Residual: body must be a conv1d.Module, got {type(body).__name__}")
        if shortcut is not None and not isinstance(shortcut, Module):
            raise TypeError(
                f"Residual: shortcut must be a conv1d.Module or None, got {type(shortcut).__name__}"
            )
        self.body = body
        self.shortcut = shortcut
        self._out_shape: tuple[int, ...] | None = None

    def forward(self, x: Any) -> Any:
        """``body(x) + shortcut(x)``, remembering the output's shape for :meth:`backward`.

        Raises
        ------
        ValueError
            If the two branches' outputs differ in shape.

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d import Conv1d
        >>> block = Residual(Conv1d(2, 2, 3, padding=1, rng=0))
        >>> x = np.ones((1, 2, 6), np.float32)
        >>> np.allclose(block(x), block.body(x) + x)
        True
        """
        y = self.body(x)
        s = x if self.shortcut is None else self.shortcut(x)
        if np.shape(y) != np.shape(s):
            which = "the input (identity shortcut)" if self.shortcut is None else "shortcut(x)"
            raise ValueError(
                f"Residual: body(x) has shape {np.shape(y)} but {which} has shape {np.shape(s)}; "
                "they must be equal (use a shortcut, e.g. a 1x1 Conv1d, that maps the input to "
                "the body's output shape)"
            )
        self._out_shape = tuple(np.shape(y))
        return y + s

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """The input's gradient: ``body.backward(g) + shortcut.backward(g)`` (``g`` for identity).

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d import Conv1d
        >>> block = Residual(Conv1d(2, 2, 1, bias=False, rng=0))
        >>> w = block.body.weight[:, :, 0]  # the 1x1 body is x -> w @ x
        >>> y = block(np.ones((1, 2, 6), np.float32))
        >>> gx = block.backward(np.ones_like(y))
        >>> np.allclose(gx[0, :, 0], w.sum(axis=0) + 1)
        True
        """
        if self._out_shape is None:
            raise RuntimeError("Residual.backward called before forward")
        g = np.asarray(grad_output)
        if g.shape != self._out_shape:
            raise ValueError(
                f"Residual.backward: grad_output must have the last output's shape "
                f"{self._out_shape}, got {g.shape}"
            )
        gx = self.body.backward(g)
        return gx + (g if self.shortcut is None else self.shortcut.backward(g))

    def stream(self) -> ResidualStream:
        """Chunk-by-chunk inference equal to ``forward``: a :class:`conv1d.graph_stream.ResidualStream`.

        Raises
        ------
        TypeError, ValueError
            If a branch cannot stream (naming it), or the branches' strides differ.

        Examples
        --------
        >>> import numpy as np
        >>> from conv1d import Conv1d
        >>> block = Residual(Conv1d(1, 1, 3, padding="causal", rng=0))
        >>> s = block.stream()
        >>> x = np.arange(8.0, dtype=np.float32).reshape(1, 1, 8)
        >>> y = np.concatenate([s(x[..., :3]), s(x[..., 3:]), s.flush()], axis=-1)
        >>> np.allclose(y, block(x))
        True
        """
        streams: list[Any] = []
        for name, branch in (("body", self.body), ("shortcut", self.shortcut)):
            if branch is None:
                streams.append(None)
                continue
            try:
                streams.append(branch.stream())
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"Residual {name}: {exc}") from None
        return ResidualStream(streams[0], streams[1], time_axis(self))
