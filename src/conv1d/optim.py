"""Optimisers that update :class:`~conv1d.module.Parameter` arrays in place from ``.grad``.

The API and update rules are ``torch.optim``'s: parameter groups (``param_groups``, a list of
dicts whose ``"lr"`` and other options may be changed between steps), per-parameter state
(``state[p]``: Adam's step count, moments, SGD's momentum buffer; a parameter without a
gradient is skipped and its state not advanced), ``state_dict()`` / ``load_state_dict()`` in
PyTorch's layout (parameters numbered across the groups in order). Learning-rate schedules
are in :mod:`conv1d.lr_scheduler` (also ``conv1d.optim.lr_scheduler``).
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .module import Parameter

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]


def check_number(name: str, value: Any, *, minimum: float = 0.0, below: float | None = None,
                 maximum: float | None = None, owner: str = "") -> float:
    """``value`` as a float: a real number (not a bool, not a string), ``>= minimum`` and
    ``< below`` or ``<= maximum`` when given.

    Examples
    --------
    >>> check_number("lr", "0.1")
    Traceback (most recent call last):
    ...
    TypeError: lr must be a real number, got '0.1' (str)
    """
    where = f"{owner}: " if owner else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}{name} must be a real number, got {value!r} "
                        f"({type(value).__name__})")
    v = float(value)
    ok = v >= minimum and (below is None or v < below) and (maximum is None or v <= maximum)
    if not ok:  # NaN fails every comparison
        allowed = (f"in [{minimum:g}, {below:g})" if below is not None
                   else f"in [{minimum:g}, {maximum:g}]" if maximum is not None
                   else f">= {minimum:g}")
        raise ValueError(f"{where}{name} must be {allowed}, got {value!r}")
    return v


class ParamState(MutableMapping[Parameter, dict[str, Any]]):
    """Per-parameter state, keyed by the parameter itself (by identity: arrays don't hash)."""

    def __init__(self) -> None:
        self._data: dict[int, tuple[Parameter, dict[str, Any]]] = {}

    def __getitem__(self, p: Parameter) -> dict[str, Any]:
        return self._data[id(p)][1]

    def __setitem__(self, p: Parameter, value: dict[str, Any]) -> None:
        self._data[id(p)] = (p, value)

    def __delitem__(self, p: Parameter) -> None:
        del self._data[id(p)]

    def __iter__(self) -> Iterator[Parameter]:
        return (p for p, _ in self._data.values())

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, p: object) -> bool:
        return id(p) in self._data

    def __repr__(self) -> str:
        return f"ParamState({len(self)} parameters)"


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad``, state dicts.

    Parameters
    ----------
    params : iterable of Parameter, or iterable of dict
        The parameters to update, or parameter groups: dicts with a ``"params"`` entry and any
        of the optimiser's options, which override ``defaults`` for that group.
    defaults : dict
        The optimiser's options (``lr`` and the rest), checked by the subclass.

    Examples
    --------
    A subclass defines ``step`` (here plain gradient descent without options beyond ``lr``):

    >>> class Descent(Optimizer):
    ...     def __init__(self, params, lr):
    ...         super().__init__(params, {"lr": lr})
    ...     def step(self):
    ...         for group in self.param_groups:
    ...             for p in group["params"]:
    ...                 if p.grad is not None:
    ...                     p -= group["lr"] * p.grad
    >>> p = Parameter(np.ones(2)); p.grad = np.full(2, 0.5)
    >>> Descent([p], lr=0.1).step(); p.tolist()
    [0.95, 0.95]
    """

    #: Options checked as numbers: name -> keyword arguments of :func:`check_number`.
    _limits: ClassVar[dict[str, dict[str, float]]] = {"lr": {}}

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self._check_options(self.defaults)
        self.state = ParamState()
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, (Parameter, np.ndarray)):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of Parameters or of dicts, "
                "got a single array (wrap it in a list)"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def _check_options(self, options: Mapping[str, Any]) -> None:
        owner = type(self).__name__
        for name, limits in self._limits.items():
            if name in options:
                check_number(name, options[name], owner=owner, **limits)

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group: a dict with ``"params"`` and options overriding the defaults.

        Examples
        --------
        >>> a, b = Parameter(np.zeros(2)), Parameter(np.zeros(3))
        >>> opt = SGD([a], lr=0.1)
        >>> opt.add_param_group({"params": [b], "lr": 0.01})
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
        """
        owner = type(self).__name__
        if not isinstance(param_group, Mapping) or "params" not in param_group:
            raise TypeError(f"{owner}: a parameter group must be a dict with a 'params' entry, "
                            f"got {param_group!r}")
        unknown = sorted(set(param_group) - set(self.defaults) - {"params", "initial_lr"})
        if unknown:
            raise ValueError(f"{owner}: unknown options {unknown} in a parameter group "
                             f"(allowed: {sorted(self.defaults)})")
        params = param_group["params"]
        params = [params] if isinstance(params, np.ndarray) else list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"{owner}: parameters must be conv1d.Parameter, got "
                                f"{type(p).__name__}")
        if not params:
            raise ValueError(f"{owner}: a parameter group has an empty parameter list")
        ids = {id(p) for p in params}
        if len(ids) != len(params) or any(id(q) in ids for g in self.param_groups
                                           for q in g["params"]):
            raise ValueError(f"{owner}: some parameters appear more than once (in one group or "
                             "in more than one)")
        group = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}}
        self._check_options(group)
        group["params"] = params
        self.param_groups.append(group)

    def zero_grad(self) -> None:
        """Set every parameter's gradient to ``None`` (PyTorch's default, ``set_to_none``).

        Examples
        --------
        >>> p = Parameter(np.zeros(2)); p.grad = np.ones(2)
        >>> SGD([p], lr=0.1).zero_grad(); p.grad is None
        True
        """
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        """One update of every parameter that has a gradient; subclasses define the rule.

        Examples
        --------
        >>> p = Parameter(np.ones(2)); p.grad = np.ones(2)
        >>> SGD([p], lr=0.5).step(); p.tolist()
        [0.5, 0.5]
        """
        raise NotImplementedError

    def _with_grads(self) -> Iterator[tuple[dict[str, Any], Parameter, np.ndarray, dict[str, Any]]]:
        """``(group, parameter, gradient, state)`` for each parameter with a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {}
                g = -p.grad if group.get("maximize") else p.grad
                yield group, p, g, state

    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state in ``torch.optim``'s layout (copies).

        ``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``, the
        parameters numbered 0, 1, ... across the groups in order.

        Examples
        --------
        >>> p = Parameter(np.ones(1)); p.grad = np.ones(1)
        >>> opt = Adam([p], lr=0.1); opt.step()
        >>> sd = opt.state_dict()
        >>> sd["state"][0]["step"], sd["param_groups"][0]["params"]
        (1.0, [0])
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: copy.deepcopy(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (ours, or PyTorch's with its tensors made arrays).

        The groups must hold as many parameters as this optimiser's, in the same order; array
        state is cast to each parameter's state dtype, ``step`` to a float.

        Raises
        ------
        ValueError
            If the number of groups or of parameters per group differs, or a state array's
            shape does not match its parameter's.

        Examples
        --------
        >>> p = Parameter(np.ones(1)); p.grad = np.ones(1)
        >>> a = Adam([p], lr=0.1); a.step()
        >>> b = Adam([p], lr=0.5); b.load_state_dict(a.state_dict())
        >>> b.param_groups[0]["lr"], b.state[p]["step"]
        (0.1, 1.0)
        """
        owner = type(self).__name__
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"state", "param_groups"}:
            raise TypeError(f"{owner}.load_state_dict takes a dict with 'state' and "
                            "'param_groups', as state_dict() returns")
        groups = list(state_dict["param_groups"])
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{owner}.load_state_dict: {len(groups)} parameter groups given, "
                             f"the optimizer has {len(self.param_groups)}")
        params: dict[int, Parameter] = {}
        new_groups = []
        for i, (saved, group) in enumerate(zip(groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{owner}.load_state_dict: group {i} has {len(saved['params'])} parameters, "
                    f"the optimizer's has {len(group['params'])}"
                )
            params.update(zip((int(k) for k in saved["params"]), group["params"], strict=True))
            options = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            self._check_options(options)
            new_groups.append({**options, "params": group["params"]})
        new_state = ParamState()
        for key, saved_state in state_dict["state"].items():
            p = params.get(int(key))
            if p is None:
                raise ValueError(f"{owner}.load_state_dict: state for parameter {key}, which no "
                                 "group holds")
            new_state[p] = self._restore_state(p, saved_state)
        self.param_groups, self.state = new_groups, new_state

    def _restore_state(self, p: Parameter, saved: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in saved.items():
            if name == "step":
                out[name] = float(np.asarray(value))
            elif value is None:
                out[name] = None
            else:
                arr: np.ndarray = np.array(value, dtype=_state_dtype(p))
                if arr.shape != p.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: state {name!r} has "
                                     f"shape {arr.shape}, its parameter {p.shape}")
                out[name] = arr
        return out

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def _state_dtype(p: np.ndarray) -> type:
    # Moments of half-precision parameters live in float32: in float16, g*g underflows and
    # the default eps rounds to 0 (torch.optim.Adam has that problem; we don't).
    return np.float64 if p.dtype == np.float64 else np.float32


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

    The update of ``torch.optim.SGD``: ``g = grad + weight_decay * p``; with momentum,
    ``buf = g`` on the parameter's first step, then ``buf = momentum * buf + (1 - dampening) * g``,
    and ``g = g + momentum * buf`` (Nesterov) or ``g = buf``; finally ``p -= lr * g``.

    Parameters
    ----------
    params : iterable of Parameter or of dict
        Parameters, or parameter groups (see :class:`Optimizer`).
    lr : float, default 1e-3
        Learning rate, >= 0.
    momentum : float, default 0
        In ``[0, 1)``.
    dampening : float, default 0
        In ``[0, 1]``.
    weight_decay : float, default 0
        L2 penalty, >= 0.
    nesterov : bool, default False
        Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
    maximize : bool, default False
        Ascend instead of descend.

    Examples
    --------
    >>> p = Parameter(np.array([1.0])); p.grad = np.array([0.5])
    >>> SGD([p], lr=0.1).step(); p
    Parameter containing:
    array([0.95])
    """

    _limits: ClassVar[dict[str, dict[str, float]]] = {
        "lr": {}, "momentum": {"below": 1.0}, "dampening": {"maximum": 1.0}, "weight_decay": {},
    }

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
        dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
        maximize: bool = False,
    ) -> None:
        for name, flag in (("nesterov", nesterov), ("maximize", maximize)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"SGD: {name} must be True or False, got {flag!r}")
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": bool(nesterov),
                                  "maximize": bool(maximize)})
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening == 0, got "
                             f"momentum={momentum!r}, dampening={dampening!r}")

    def step(self) -> None:
        """Update each parameter that has a gradient, with its group's options.

        Examples
        --------
        >>> p = Parameter(np.array([1.0])); opt = SGD([p], lr=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     p.grad = np.array([1.0]); opt.step()
        >>> round(float(p[0]), 6)  # 1 - 0.1 * 1 - 0.1 * (0.9 + 1)
        0.71
        """
        for group, p, g, state in self._with_grads():
            if group["weight_decay"]:
                g = g + group["weight_decay"] * p
            momentum = group["momentum"]
            if momentum:
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = np.array(g, dtype=p.dtype)
                else:
                    buf *= momentum
                    buf += (1 - group["dampening"]) * g
                g = g + momentum * buf if group["nesterov"] else buf
            p -= group["lr"] * g


class Adam(Optimizer):
    """Adam (Kingma & Ba, arXiv:1412.6980) with bias correction, as ``torch.optim.Adam``.

    Each parameter counts its own steps (``state[p]["step"]``), so one whose first gradient
    arrives late gets a first step of size ``lr``, as in PyTorch. Moments of half-precision
    parameters are kept in float32.

    Parameters
    ----------
    params : iterable of Parameter or of dict
        Parameters, or parameter groups (see :class:`Optimizer`).
    lr : float, default 1e-3
        Learning rate, >= 0.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the moment estimates, each in ``[0, 1)``.
    eps : float, default 1e-8
        Added to the denominator, >= 0.
    weight_decay : float, default 0
        L2 penalty added to the gradient, >= 0 (:class:`AdamW` decouples it).
    amsgrad : bool, default False
        Use the maximum of past second moments (Reddi et al., 2018).
    maximize : bool, default False
        Ascend instead of descend.

    Examples
    --------
    >>> p = Parameter(np.array([1.0])); p.grad = np.array([3.0])
    >>> Adam([p], lr=0.1).step(); p  # the first step of Adam moves by lr
    Parameter containing:
    array([0.9])
    """

    _limits: ClassVar[dict[str, dict[str, float]]] = {"lr": {}, "eps": {}, "weight_decay": {}}
    _decoupled = False

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
        weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
    ) -> None:
        name = type(self).__name__
        for flag_name, flag in (("amsgrad", amsgrad), ("maximize", maximize)):
            if not isinstance(flag, (bool, np.bool_)):
                raise TypeError(f"{name}: {flag_name} must be True or False, got {flag!r}")
        self._check_betas(betas)
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay, "amsgrad": bool(amsgrad),
                                  "maximize": bool(maximize)})

    def _check_options(self, options: Mapping[str, Any]) -> None:
        super()._check_options(options)
        if "betas" in options:
            self._check_betas(options["betas"])

    def _check_betas(self, betas: Any) -> None:
        name = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name}: betas must be a pair of numbers in [0, 1), got {betas!r}")
        for i, b in enumerate(betas):
            check_number(f"betas[{i}]", b, minimum=0.0, below=1.0, owner=name)

    def step(self) -> None:
        """Update each parameter that has a gradient, advancing its own step count.

        Examples
        --------
        >>> a, b = Parameter(np.array([1.0])), Parameter(np.array([1.0]))
        >>> opt = Adam([a, b], lr=0.1)
        >>> for t in range(3):
        ...     a.grad = np.array([1.0]); b.grad = np.array([1.0]) if t == 2 else None
        ...     opt.step()
        >>> opt.state[a]["step"], opt.state[b]["step"], round(float(b[0]), 6)
        (3.0, 1.0, 0.9)
        """
        for group, p, g, state in self._with_grads():
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            dt = _state_dtype(p)
            g = np.asarray(g, dtype=dt)
            if not state:
                state["step"] = 0.0
                state["exp_avg"] = np.zeros(p.shape, dt)
                state["exp_avg_sq"] = np.zeros(p.shape, dt)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = np.zeros(p.shape, dt)
            if wd and self._decoupled:
                p *= 1 - lr * wd
            elif wd:
                g = g + wd * np.asarray(p, dtype=dt)
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m += (1 - b1) * (g - m)  # torch's lerp
            v *= b2
            v += (1 - b2) * g * g
            if group["amsgrad"]:
                np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                v = state["max_exp_avg_sq"]
            denom = np.sqrt(v) / math.sqrt(1 - b2**t) + eps
            p -= (lr / (1 - b1**t) * m / denom).astype(p.dtype, copy=False)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, arXiv:1711.05101).

    As ``torch.optim.AdamW``: each step first shrinks the parameter, ``p *= 1 - lr *
    weight_decay``, then takes Adam's step on the plain gradient. Parameters as :class:`Adam`,
    except ``weight_decay`` defaults to 0.01.

    Examples
    --------
    >>> p = Parameter(np.array([1.0])); p.grad = np.array([0.0])
    >>> AdamW([p], lr=0.1, weight_decay=0.5).step(); p
    Parameter containing:
    array([0.95])
    """

    _decoupled = True

    def __init__(
        self, params: Iterable[Any], lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
        weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


# ``conv1d.optim.lr_scheduler``, as ``torch.optim.lr_scheduler``: conv1d.lr_scheduler builds on
# this module, so it puts itself here when imported (the package's __init__ imports it);
# type checkers see it through this import. Imports stay a tree.
if TYPE_CHECKING:
    from . import lr_scheduler
