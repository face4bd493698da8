"""Argument validation: every user-facing argument becomes one small frozen :class:`ConvSpec`.

Everything downstream (padding, the algorithms, streaming) trusts the spec and never
re-validates. Messages follow one pattern: the rule, the value given, what is allowed.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
PADDING_STRINGS = ("valid", "same", "causal")
#: Where the channels are: ``(N, C, L)`` as PyTorch, or ``(N, L, C)`` as Keras, TF and JAX allow.
DATA_FORMATS = ("channels_first", "channels_last")


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def as_int(name: str, value: Any, *, minimum: int) -> int:
    """Return ``value`` (an int or a 1-tuple of int) as an int ``>= minimum``.

    Raises
    ------
    TypeError
        If ``value`` is not an int or a one-element tuple/list of int.
    ValueError
        If it is below ``minimum``.

    Examples
    --------
    >>> as_int("stride", (2,), minimum=1)
    2
    >>> as_int("stride", 0, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: stride must be positive, got 0
    """
    v = value
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise ValueError(
                f"{name} must be an int or a 1-tuple for a 1D convolution, got {value!r}"
            )
        v = v[0]
    if not _is_int(v):
        raise TypeError(f"{name} must be an int or a 1-tuple of int, got {value!r}")
    v = int(v)
    if v < minimum:
        what = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return v


def check_data_format(data_format: Any) -> str:
    """Return ``data_format`` if it is one of :data:`DATA_FORMATS`, else raise ``ValueError``.

    Examples
    --------
    >>> check_data_format("channels_last")
    'channels_last'
    """
    if not isinstance(data_format, str) or data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")
    return data_format


def as_groups(groups: Any) -> int:
    """``groups`` as a positive int (PyTorch takes no tuple here).

    Examples
    --------
    >>> as_groups(4)
    4
    >>> as_groups((4,))
    Traceback (most recent call last):
    ...
    TypeError: groups must be an int, got (4,)
    """
    if isinstance(groups, (tuple, list)):
        raise TypeError(f"groups must be an int, got {groups!r}")
    return as_int("groups", groups, minimum=1)


def layer_ints(in_channels: Any, out_channels: Any, kernel_size: Any, stride: Any,
               dilation: Any, groups: Any) -> tuple[int, int, int, int, int, int]:
    """Validate a layer's integer arguments; return them as ints, in this order.

    Raises
    ------
    TypeError, ValueError
        Naming the argument, the value given and what is allowed (channels not divisible by
        ``groups`` included).

    Examples
    --------
    >>> layer_ints(4, 8, (5,), 1, 2, 2)
    (4, 8, 5, 1, 2, 2)
    >>> layer_ints(4, 6, 3, 1, 1, 4)
    Traceback (most recent call last):
    ...
    ValueError: out_channels must be divisible by groups, got 6 and groups=4
    """
    cin = as_int("in_channels", in_channels, minimum=1)
    cout = as_int("out_channels", out_channels, minimum=1)
    k = as_int("kernel_size", kernel_size, minimum=1)
    s = as_int("stride", stride, minimum=1)
    d = as_int("dilation", dilation, minimum=1)
    g = as_groups(groups)
    if cin % g:
        raise ValueError(f"in_channels must be divisible by groups, got {cin} and groups={g}")
    if cout % g:
        raise ValueError(f"out_channels must be divisible by groups, got {cout} and groups={g}")
    return cin, cout, k, s, d, g


def parse_padding(padding: Any, kernel_size: int, stride: int, dilation: int) -> tuple[int, int]:
    """Turn the ``padding`` argument into ``(left, right)`` sample counts.

    Accepts what PyTorch accepts (an int, a 1-tuple, ``"valid"``, ``"same"``) plus two
    additions of ours: ``"causal"`` (all of ``dilation*(kernel_size-1)`` on the left, as in
    Keras) and an explicit ``(left, right)`` pair.

    Examples
    --------
    >>> parse_padding("same", kernel_size=4, stride=1, dilation=1)  # the odd one on the right
    (1, 2)
    >>> parse_padding("causal", kernel_size=3, stride=1, dilation=2), parse_padding((3, 0), 3, 1, 1)
    ((4, 0), (3, 0))
    """
    if isinstance(padding, str):
        if padding not in PADDING_STRINGS:
            raise ValueError(
                f"padding must be an int, a (left, right) pair or one of {PADDING_STRINGS}, "
                f"got {padding!r}"
            )
        total = dilation * (kernel_size - 1)
        if padding == "valid":
            return 0, 0
        if padding == "causal":
            return total, 0
        if stride != 1:
            raise ValueError(
                f"padding='same' is not supported for strided convolutions (stride={stride}); "
                "use an explicit padding or padding='causal'"
            )
        # PyTorch puts the odd sample of an even kernel's padding on the right.
        return total // 2, total - total // 2
    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        left, right = (as_int("padding", p, minimum=0) for p in padding)
        return left, right
    p = as_int("padding", padding, minimum=0)
    return p, p


@dataclass(frozen=True)
class ConvSpec:
    """A validated 1D convolution: what every algorithm and padding routine relies on.

    Attributes are plain ints (``pad_left``/``pad_right`` are the samples actually added on
    each side) and the padding mode string.

    Examples
    --------
    >>> spec = ConvSpec.from_args(16, 33, 3, padding="causal", dilation=2)
    >>> spec.pad_left, spec.pad_right, spec.span, spec.output_length(50)
    (4, 0, 5, 50)
    """

    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    dilation: int = 1
    groups: int = 1
    pad_left: int = 0
    pad_right: int = 0
    padding_mode: str = "zeros"

    @classmethod
    def from_args(
        cls,
        in_channels: Any,
        out_channels: Any,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: Any = 1,
        padding_mode: Any = "zeros",
    ) -> ConvSpec:
        """Validate the layer's arguments (as ``torch.nn.Conv1d`` takes them) into a spec.

        Raises
        ------
        TypeError, ValueError
            Naming the argument, the value given and what is allowed.

        Examples
        --------
        >>> spec = ConvSpec.from_args(4, 8, (5,), padding=(3, 1))
        >>> spec.kernel_size, spec.pad_left, spec.pad_right
        (5, 3, 1)
        >>> ConvSpec.from_args(4, 8, 5, groups=3)
        Traceback (most recent call last):
        ...
        ValueError: in_channels must be divisible by groups, got 4 and groups=3
        """
        cin, cout, k, s, d, g = layer_ints(in_channels, out_channels, kernel_size, stride,
                                           dilation, groups)
        if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        left, right = parse_padding(padding, k, s, d)
        return cls(cin, cout, k, s, d, g, left, right, padding_mode)

    @property
    def span(self) -> int:
        """Samples one output looks at: ``dilation*(kernel_size-1) + 1``."""
        return self.dilation * (self.kernel_size - 1) + 1

    def output_length(self, length: int) -> int:
        """``L_out = floor((L + left + right - dilation*(K-1) - 1) / stride) + 1``.

        Examples
        --------
        >>> ConvSpec.from_args(16, 33, 3, stride=2).output_length(50)
        24
        """
        return (length + self.pad_left + self.pad_right - self.span) // self.stride + 1

    def check_length(self, length: int) -> None:
        """Raise ``ValueError`` if a signal of ``length`` samples cannot be convolved.

        Examples
        --------
        >>> spec = ConvSpec.from_args(1, 1, 3, padding=2, padding_mode="reflect")
        >>> spec.check_length(3)
        >>> spec.check_length(2)
        Traceback (most recent call last):
        ...
        ValueError: padding_mode='reflect' needs padding < input length, got padding (2, 2) for length 2
        """
        mode, left, right = self.padding_mode, self.pad_left, self.pad_right
        if mode == "reflect" and max(left, right) >= length:
            raise ValueError(
                f"padding_mode='reflect' needs padding < input length, got padding "
                f"({left}, {right}) for length {length}"
            )
        if mode == "circular" and max(left, right) > length:
            raise ValueError(
                f"padding_mode='circular' needs padding <= input length, got padding "
                f"({left}, {right}) for length {length}"
            )
        if mode == "replicate" and length == 0 and left + right > 0:
            raise ValueError("padding_mode='replicate' needs a non-empty input, got length 0")
        padded = length + left + right
        if padded < self.span:
            raise ValueError(
                f"kernel size can't be greater than the padded input: padded input length "
                f"{padded} (length {length} + padding {left}+{right}), kernel span {self.span} "
                f"(kernel_size={self.kernel_size}, dilation={self.dilation})"
            )
