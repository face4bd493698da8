"""The module system: :class:`Parameter`, :class:`Module` and :class:`Sequential`.

A small mirror of ``torch.nn.Module`` for layers with an explicit ``backward``: each layer
remembers what its last ``forward`` needs, ``backward(grad_output)`` returns the gradient
with respect to its input and adds the parameters' gradients into ``param.grad``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, overload

import numpy as np

if TYPE_CHECKING:
    from .stream import Stream

_F = TypeVar("_F", covariant=True)
_T = TypeVar("_T")
_C = TypeVar("_C", bound="_Container")

#: Makes the stream of a module of your own (:class:`conv1d.graph_stream.ModuleStream`). A slot
#: that conv1d.graph_stream fills when imported (the package's ``__init__`` imports it), not an
#: import of it, because conv1d.graph_stream builds on this module; imports stay a tree.
module_stream: Callable[[Module], Stream] | None = None


def _module_stream(module: Module) -> Stream:
    """``module_stream(module)``: the stream of a module whose own ``forward`` runs per chunk."""
    if module_stream is None:  # pragma: no cover - conv1d's __init__ imports conv1d.graph_stream
        raise RuntimeError("streaming a Module needs conv1d.graph_stream: import conv1d first")
    return module_stream(module)


class _HasForward(Protocol[_F]):
    @property
    def forward(self) -> _F: ...


class _CallsForward(Generic[_F]):
    """How type checkers see ``Module.__call__``: as the instance's own ``forward``.

    ``m(x)`` then has the signature and return type of ``type(m).forward`` (its overloads
    too), for every subclass, without each subclass repeating them; a ``Module`` seen only
    as ``Module`` gives ``Any``, as PyTorch's. Only type checkers read this class; at run
    time ``Module.__call__`` is an ordinary method.
    """

    @overload
    def __get__(self, obj: None, owner: Any) -> _CallsForward[_F]: ...
    @overload
    def __get__(self, obj: _HasForward[_T], owner: Any) -> _T: ...
    def __get__(self, obj: Any, owner: Any) -> Any: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


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
        """Add ``grad`` into ``self.grad`` (a copy of ``grad`` on first use, in this dtype).

        Examples
        --------
        >>> p = Parameter(np.zeros(2))
        >>> p.accumulate(np.ones(2)); p.accumulate(np.ones(2))
        >>> p.grad.tolist()
        [2.0, 2.0]
        """
        if self.grad is None:
            self.grad = np.array(grad, dtype=self.dtype, copy=True)
        else:
            self.grad += grad


class Module:
    """Base class for layers: ``forward``, ``backward`` and PyTorch's bookkeeping.

    Parameters, buffers and sub-modules are found from the instance's attributes, in the
    order they were set, and the state-dict keys are PyTorch's (``weight``, ``0.weight``,
    ``enc.bias``, ``bn.running_mean``). A subclass need not call ``super().__init__()``.
    Attributes named in ``_transient`` hold what the last forward remembered for backward;
    they are not pickled (a pickled layer, e.g. shipped to a Dask worker, starts fresh).

    Examples
    --------
    >>> class Scale(Module):
    ...     def __init__(self):
    ...         self.gain = Parameter(np.ones(2))
    ...         self.register_buffer("calls", np.zeros((), np.int64))
    ...     def forward(self, x):
    ...         self.calls += 1
    ...         return x * self.gain
    >>> m = Scale()
    >>> m(np.ones(2)).tolist(), list(m.state_dict()), m.training
    ([1.0, 1.0], ['gain', 'calls'], True)
    >>> m.eval().training
    False
    """

    _transient: tuple[str, ...] = ()
    #: True after ``train()``, False after ``eval()``; the class default serves layers whose
    #: ``__init__`` never calls ``super().__init__()``.
    training: bool = True

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self._transient:
            if name in state:
                state[name] = None
        return state

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        # Fast path (forward stores what backward needs on every call): nothing to check
        # unless a Parameter, a buffer or a list/tuple is involved.
        if (isinstance(value, (Parameter, list, tuple)) or isinstance(d.get(name), Parameter)
                or name in d.get("_buffer_names", ())):
            self._check_assignment(name, value)
        object.__setattr__(self, name, value)

    def _check_assignment(self, name: str, value: Any) -> None:
        """PyTorch's assignment rules for parameters, buffers and lists of modules."""
        old = self.__dict__.get(name)
        if isinstance(value, Parameter):
            self._check_parameter(name, value)
        elif isinstance(old, Parameter) and value is not None:
            # torch.nn.Module's rule and message: a parameter's name takes a Parameter or None.
            raise TypeError(
                f"cannot assign {type(value).__module__}.{type(value).__qualname__} as parameter "
                f"{name!r} (conv1d.Parameter or None expected); to change its values in place, "
                f"use m.{name}[...] = array"
            )
        elif name in self.__dict__.get("_buffer_names", ()):
            if value is not None and not isinstance(value, np.ndarray):
                raise TypeError(
                    f"cannot assign {type(value).__name__} as buffer {name!r} "
                    "(numpy.ndarray or None expected)"
                )
        elif isinstance(value, (list, tuple)) and any(isinstance(v, Module) for v in value):
            raise TypeError(
                f"cannot assign a plain {type(value).__name__} of modules to {name!r}: its "
                "modules would be invisible to parameters(), state_dict() and repr; use "
                f"conv1d.ModuleList(...) (or conv1d.Sequential(...)) instead"
            )

    def _check_parameter(self, name: str, value: Parameter) -> None:
        """Hook run before a :class:`Parameter` is assigned; layers check shapes here."""

    if TYPE_CHECKING:
        # Type checkers see ``m(...)`` as ``m.forward(...)`` (see _CallsForward); a subclass
        # should override ``forward``, not ``__call__``.
        __call__: _CallsForward[Any]

        def __getattr__(self, name: str) -> Any:
            """Sub-modules and parameters are found at run time (``net[0].weight``), as
            PyTorch's ``Module.__getattr__`` lets type checkers see them."""
    else:
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            """Run :meth:`forward`: ``m(x)`` is ``m.forward(x)``.

            Type checkers give ``m(x)`` the signature and return type of the subclass's
            ``forward``.

            Examples
            --------
            >>> from conv1d import Conv1d
            >>> m = Conv1d(2, 4, 3, rng=0)
            >>> m(np.zeros((1, 2, 10), np.float32)).shape
            (1, 4, 8)
            """
            return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The layer's computation; subclasses define it (``m(x)`` calls it).

        A layer that trains also remembers here what its :meth:`backward` needs.

        Raises
        ------
        NotImplementedError
            On a module that does not define it.

        Examples
        --------
        >>> class Double(Module):
        ...     def forward(self, x):
        ...         return 2 * x
        ...     def backward(self, grad_output):
        ...         return 2 * grad_output
        >>> Double()(np.arange(3)).tolist()
        [0, 2, 4]
        """
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """The gradient of the loss with respect to the last :meth:`forward`'s input.

        ``grad_output`` is the gradient with respect to that forward's output; a layer with
        parameters also adds their gradients into ``param.grad`` (see
        :meth:`Parameter.accumulate`).

        Raises
        ------
        NotImplementedError
            On a module that does not define it.

        Examples
        --------
        >>> from conv1d import Conv1d
        >>> m = Conv1d(2, 4, 3, rng=0)
        >>> y = m(np.zeros((1, 2, 10), np.float32))
        >>> m.backward(np.ones_like(y)).shape, m.weight.grad.shape
        ((1, 2, 10), (4, 2, 3))
        """
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def stream(self) -> Stream:
        """Chunk-by-chunk inference equal to ``forward`` (see :mod:`conv1d.stream`).

        Layers that can stream override this. A module of your own, whose ``forward``
        combines streamable layers (causal ``Conv1d``, activations, ...) with NumPy operations
        pointwise in time, streams through a :class:`conv1d.graph_stream.ModuleStream`.

        Returns
        -------
        conv1d.stream.Stream
            ``s(chunk)`` returns the outputs each chunk completes, ``s.flush()`` the rest.

        Raises
        ------
        TypeError, ValueError
            For a layer that cannot stream, or a layer inside a module that cannot stream
            there (naming it).

        Examples
        --------
        >>> from conv1d import Conv1d
        >>> m = Conv1d(1, 2, 3, padding="causal", rng=0)
        >>> s = m.stream()
        >>> x = np.arange(10.0).reshape(1, 1, 10)
        >>> y = np.concatenate([s(x[..., :4]), s(x[..., 4:]), s.flush()], axis=-1)
        >>> y.shape, np.allclose(y, m(x), atol=1e-5)
        ((1, 2, 10), True)
        """
        if any(True for _ in self.named_children()):
            return _module_stream(self)
        raise TypeError(
            f"{type(self).__name__} cannot stream: only modules whose output runs along the "
            "input's time axis can (Conv1d, activations, Sequential and Residual stacks of "
            "them, and modules of your own combining those with NumPy operations pointwise "
            "in time)"
        )

    # -- buffers ---------------------------------------------------------------------------

    def register_buffer(self, name: str, array: np.ndarray | None, persistent: bool = True) -> None:
        """Add a buffer: an array that is state but not a parameter (e.g. ``running_mean``).

        Buffers are saved in :meth:`state_dict` (unless ``persistent=False``) and loaded by
        :meth:`load_state_dict`, but not returned by :meth:`parameters` nor trained.

        Parameters
        ----------
        name : str
            The attribute name, also the state-dict key's last part.
        array : numpy.ndarray or None
            The value; integer arrays are allowed (``num_batches_tracked``). ``None`` registers
            the name without a value (left out of the state dict).
        persistent : bool, default True
            Whether the buffer is part of :meth:`state_dict`.

        Raises
        ------
        TypeError
            If ``name`` is not a string, ``array`` not an ndarray or None, ``persistent`` not
            a bool.
        KeyError
            If ``name`` is empty, contains ``"."`` or is already another attribute.

        Examples
        --------
        >>> m = Module()
        >>> m.register_buffer("running_mean", np.zeros(3))
        >>> list(m.state_dict()), list(m.parameters())
        (['running_mean'], [])
        """
        if not isinstance(name, str):
            raise TypeError(f"buffer name must be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"buffer name must be non-empty and contain no '.', got {name!r}")
        if name in self.__dict__ and name not in self.__dict__.get("_buffer_names", ()):
            raise KeyError(f"attribute {name!r} already exists")
        if (array is not None and not isinstance(array, np.ndarray)) or isinstance(array, Parameter):
            raise TypeError(
                f"cannot assign {type(array).__name__} as buffer {name!r} "
                "(numpy.ndarray or None expected)"
            )
        if not isinstance(persistent, (bool, np.bool_)):
            raise TypeError(f"persistent must be True or False, got {persistent!r}")
        if "_buffer_names" not in self.__dict__:
            object.__setattr__(self, "_buffer_names", {})
        self.__dict__["_buffer_names"][name] = bool(persistent)
        object.__setattr__(self, name, array)

    def _own_buffers(self, persistent_only: bool = False) -> Iterator[tuple[str, np.ndarray]]:
        for name, persistent in self.__dict__.get("_buffer_names", {}).items():
            value = self.__dict__.get(name)
            if value is not None and (persistent or not persistent_only):
                yield name, value

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        """``(name, buffer)`` pairs, with dotted names for nested modules.

        Examples
        --------
        >>> net = Sequential(Module(), Module())
        >>> net[1].register_buffer("count", np.zeros((), np.int64))
        >>> [name for name, _ in net.named_buffers()]
        ['1.count']
        """
        modules = self.named_modules(prefix=prefix) if recurse else iter([(prefix, self)])
        for mod_prefix, m in modules:
            for name, b in m._own_buffers():
                yield (mod_prefix + "." if mod_prefix else "") + name, b

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        """The buffers (see :meth:`named_buffers`).

        Examples
        --------
        >>> m = Module(); m.register_buffer("b", np.ones(2))
        >>> [b.tolist() for b in m.buffers()]
        [[1.0, 1.0]]
        """
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # -- modes -----------------------------------------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Set training mode (``True``) or evaluation mode, on this module and all below it.

        Layers such as BatchNorm and Dropout behave differently in the two modes.

        Returns
        -------
        Module
            ``self``.

        Examples
        --------
        >>> net = Sequential(Module(), Module())
        >>> [m.training for m in net.train(False).modules()]
        [False, False, False]
        """
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"train: mode must be True or False, got {mode!r}")
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``self.train(False)``; returns ``self``.

        Examples
        --------
        >>> Module().eval().training
        False
        """
        return self.train(False)

    # -- the module tree -------------------------------------------------------------------

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for the direct sub-modules, in the order they were set.

        Examples
        --------
        >>> [name for name, _ in Sequential(Module(), Module()).named_children()]
        ['0', '1']
        """
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> Iterator[Module]:
        """The direct sub-modules.

        Examples
        --------
        >>> len(list(Sequential(Module(), Sequential(Module())).children()))
        2
        """
        for _, m in self.named_children():
            yield m

    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for this module (name ``prefix``) and every one below it.

        Depth first, parents before children, as PyTorch; a module reachable twice is listed
        once unless ``remove_duplicate=False``.

        Examples
        --------
        >>> [name for name, _ in Sequential(Module(), Sequential(Module())).named_modules()]
        ['', '0', '1', '1.0']
        """
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self.named_children():
            yield from m.named_modules(memo, prefix + "." + name if prefix else name,
                                       remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every one below it (see :meth:`named_modules`).

        Examples
        --------
        >>> len(list(Sequential(Module(), Module()).modules()))
        3
        """
        for _, m in self.named_modules():
            yield m

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every sub-module (children first) and then on ``self``; returns ``self``.

        Examples
        --------
        >>> seen = []
        >>> _ = Sequential(Module(), Module()).apply(lambda m: seen.append(type(m).__name__))
        >>> seen
        ['Module', 'Module', 'Sequential']
        """
        if not callable(fn):
            raise TypeError(f"apply: fn must be callable, got {fn!r}")
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- parameters and state --------------------------------------------------------------

    def _own_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield name, value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs, with dotted names for nested modules.

        As PyTorch: a module's own parameters, then its children's; a parameter shared by
        two modules is listed once.

        Examples
        --------
        >>> from conv1d import Conv1d
        >>> [name for name, _ in Sequential(Conv1d(1, 1, 1)).named_parameters()]
        ['0.weight', '0.bias']
        """
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix) if recurse else iter([(prefix, self)])
        for mod_prefix, m in modules:
            for name, p in m._own_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (mod_prefix + "." if mod_prefix else "") + name, p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters (see :meth:`named_parameters`), e.g. for an optimiser.

        Examples
        --------
        >>> from conv1d import Conv1d
        >>> [p.shape for p in Conv1d(2, 3, 5).parameters()]
        [(3, 2, 5), (3,)]
        """
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def zero_grad(self) -> None:
        """Clear every parameter's gradient (back to ``None``, as PyTorch's default).

        Examples
        --------
        >>> from conv1d import Conv1d
        >>> m = Conv1d(1, 1, 2)
        >>> y = m(np.ones((1, 1, 4), np.float32))
        >>> _ = m.backward(np.ones_like(y))
        >>> m.weight.grad is None
        False
        >>> m.zero_grad(); m.weight.grad is None
        True
        """
        for p in self.parameters():
            p.grad = None

    def _state_items(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray, bool]]:
        """``(key, array, is_parameter)`` in PyTorch's state-dict order: per module, its
        parameters, then its persistent buffers, then its children."""
        for name, p in self._own_parameters():
            yield prefix + name, p, True
        for name, b in self._own_buffers(persistent_only=True):
            yield prefix + name, b, False
        for name, m in self.named_children():
            yield from m._state_items(prefix + name + ".")

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters and persistent buffers, under PyTorch's keys and order.

        Examples
        --------
        >>> from conv1d import Conv1d
        >>> list(Sequential(Conv1d(1, 2, 3)).state_dict())
        ['0.weight', '0.bias']
        """
        return {key: np.array(value) for key, value, _ in self._state_items()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Module:
        """Copy arrays into the parameters and buffers, in place; all are checked first.

        Values are cast to each target's dtype, as PyTorch's ``copy_``. Parameters and
        floating buffers take floating-point arrays; integer buffers (``num_batches_tracked``)
        take integer arrays.

        Returns
        -------
        Module
            ``self``.

        Raises
        ------
        KeyError
            For missing or unexpected keys (only when ``strict``).
        ValueError, TypeError
            For a wrong shape, or an array of the wrong kind (integer for a parameter).

        Examples
        --------
        >>> from conv1d import Conv1d
        >>> m = Conv1d(1, 1, 2).load_state_dict({"weight": np.ones((1, 1, 2)), "bias": np.zeros(1)})
        >>> m.weight.tolist()
        [[[1.0, 1.0]]]
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
        targets = {key: (value, is_param) for key, value, is_param in self._state_items()}
        if strict:
            missing = [k for k in targets if k not in state_dict]
            unexpected = sorted(set(state_dict) - set(targets))
            if missing or unexpected:
                raise KeyError(
                    f"load_state_dict: missing keys {missing}, unexpected keys {unexpected} "
                    f"(expected exactly {list(targets)})"
                )
        staged = []
        for name, (target, is_param) in targets.items():
            if name not in state_dict:
                continue
            value = np.asarray(state_dict[name])
            # ml_dtypes' bfloat16 is a floating type NumPy files under kind "V".
            is_float = value.dtype.kind == "f" or value.dtype.name == "bfloat16"
            if is_param or target.dtype.kind == "f" or target.dtype.name == "bfloat16":
                if not is_float:
                    raise TypeError(
                        f"load_state_dict: {name!r} must be a floating-point array, "
                        f"got dtype {value.dtype}"
                    )
            elif value.dtype.kind not in "iub":
                raise TypeError(
                    f"load_state_dict: {name!r} must be an integer array (the buffer's dtype is "
                    f"{target.dtype}), got dtype {value.dtype}"
                )
            if value.shape != target.shape:
                raise ValueError(
                    f"load_state_dict: {name!r} must have shape {target.shape}, got {value.shape}"
                )
            staged.append((target, value))
        for target, value in staged:
            target[...] = value
        return self

    def extra_repr(self) -> str:
        """What the ``repr`` shows in parentheses; layers list their non-default arguments.

        Examples
        --------
        >>> from conv1d import Conv1d
        >>> Module().extra_repr(), Conv1d(2, 3, 5, bias=False).extra_repr()
        ('', '2, 3, kernel_size=(5,), stride=(1,), bias=False')
        """
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


class _Container(Module):
    """Modules held under the names ``"0"``, ``"1"``, ...: indexing, slicing, editing."""

    def __init__(self, *modules: Module) -> None:
        self._renumber(self._checked(modules))

    def _checked(self, modules: Iterable[Any]) -> list[Module]:
        if isinstance(modules, Module):  # a Module is not a list of modules
            raise TypeError(f"{type(self).__name__} takes an iterable of Modules, got a single "
                            f"{type(modules).__name__}")
        out = list(modules)
        for i, m in enumerate(out):
            if not isinstance(m, Module):
                raise TypeError(
                    f"{type(self).__name__} takes Modules, got {type(m).__name__} at position {i}"
                )
        return out

    def _renumber(self, modules: list[Module]) -> None:
        for name in [n for n, _ in self.named_children() if n.isdigit()]:
            del self.__dict__[name]
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def _new(self: _C, modules: list[Module]) -> _C:
        """A container of this type holding ``modules`` (a slice's result)."""
        return type(self)(*modules)

    def _index(self, i: Any) -> int:
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(
                f"{type(self).__name__} indices must be integers or slices, got {type(i).__name__}"
            )
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for {type(self).__name__} of length {n}")
        return int(i) % n

    def __len__(self) -> int:
        return sum(1 for name, _ in self.named_children() if name.isdigit())

    def __iter__(self) -> Iterator[Module]:
        return (m for name, m in self.named_children() if name.isdigit())

    @overload
    def __getitem__(self, i: int) -> Module: ...
    @overload
    def __getitem__(self: _C, i: slice) -> _C: ...

    def __getitem__(self, i: int | slice) -> Module | _Container:
        if isinstance(i, slice):
            return self._new(list(self)[i])
        return getattr(self, str(self._index(i)))

    def __setitem__(self, i: int, module: Module) -> None:
        (module,) = self._checked([module])
        setattr(self, str(self._index(i)), module)

    def __delitem__(self, i: int | slice) -> None:
        items = list(self)
        if isinstance(i, slice):
            del items[i]
        else:
            del items[self._index(i)]
        self._renumber(items)

    def append(self: _C, module: Module) -> _C:
        """Add ``module`` at the end; returns ``self``.

        Examples
        --------
        >>> from conv1d import ReLU
        >>> len(Sequential(ReLU()).append(ReLU()))
        2
        """
        (module,) = self._checked([module])
        setattr(self, str(len(self)), module)
        return self

    def extend(self: _C, modules: Iterable[Module]) -> _C:
        """Add ``modules`` at the end; returns ``self``.

        Examples
        --------
        >>> from conv1d import ReLU, Tanh
        >>> Sequential(ReLU()).extend([Tanh(), ReLU()])
        Sequential(
          (0): ReLU()
          (1): Tanh()
          (2): ReLU()
        )
        """
        self._renumber(list(self) + self._checked(modules))
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index`` (as ``list.insert``).

        Examples
        --------
        >>> from conv1d import ReLU, Tanh
        >>> net = Sequential(ReLU(), ReLU())
        >>> net.insert(1, Tanh()); [type(m).__name__ for m in net]
        ['ReLU', 'Tanh', 'ReLU']
        """
        items = list(self)
        items.insert(index, *self._checked([module]))
        self._renumber(items)


class ModuleList(_Container):
    """A list of modules whose parameters, buffers and ``repr`` the parent sees.

    Like ``torch.nn.ModuleList``: index it, slice it (a ``ModuleList``), iterate, ``append``,
    ``extend``, ``insert``; state-dict keys are ``blocks.0.weight``. It has no ``forward``:
    the parent's ``forward`` decides how its modules are combined.

    Parameters
    ----------
    modules : iterable of Module, optional

    Examples
    --------
    >>> from conv1d import Conv1d
    >>> class Net(Module):
    ...     def __init__(self):
    ...         self.blocks = ModuleList([Conv1d(2, 2, 3, padding=1) for _ in range(3)])
    ...     def forward(self, x):
    ...         for block in self.blocks:
    ...             x = x + block(x)
    ...         return x
    >>> net = Net()
    >>> list(net.state_dict())[:3], len(net.blocks), net(np.zeros((1, 2, 8))).shape
    (['blocks.0.weight', 'blocks.0.bias', 'blocks.1.weight'], 3, (1, 2, 8))
    """

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        self._renumber(self._checked(modules))

    def _new(self, modules: list[Module]) -> ModuleList:
        return ModuleList(modules)

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __repr__(self) -> str:
        # torch.nn.ModuleList's repr: runs of equal reprs are shown once, as "(0-2): 3 x ...".
        reprs = [repr(m) for m in self]
        if not reprs:
            return "ModuleList()"
        runs: list[list[Any]] = []
        for i, r in enumerate(reprs):
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        lines = []
        for start, end, r in runs:
            line = f"({start}): {r}" if start == end else f"({start}-{end}): {end - start + 1} x {r}"
            lines.append("  " + line.replace("\n", "\n  "))
        return "ModuleList(\n" + "\n".join(lines) + "\n)"


class Sequential(_Container):
    """Modules applied in order; ``backward`` runs them in reverse.

    Indexing, negative indices, ``len``, iteration and ``append``/``insert``/``extend`` as
    ``torch.nn.Sequential``; a slice is a ``Sequential`` of the same modules (not copies).

    Examples
    --------
    >>> from conv1d import Conv1d, ReLU
    >>> net = Sequential(Conv1d(1, 4, 3, rng=0), ReLU(), Conv1d(4, 2, 3, rng=0))
    >>> list(net.state_dict())
    ['0.weight', '0.bias', '2.weight', '2.bias']
    >>> net(np.zeros((5, 1, 20))).shape
    (5, 2, 16)
    >>> net[:2]
    Sequential(
      (0): Conv1d(1, 4, kernel_size=(3,), stride=(1,))
      (1): ReLU()
    )
    >>> net[-1] is net[2], len(net)
    (True, 3)
    """

    def forward(self, x: Any) -> Any:
        """Each module's ``forward`` in turn, on the previous one's output.

        Examples
        --------
        >>> from conv1d import Conv1d, ReLU
        >>> net = Sequential(Conv1d(1, 4, 3, rng=0), ReLU())
        >>> y = net(np.ones((2, 1, 10), np.float32))
        >>> y.shape, bool((y >= 0).all())
        ((2, 4, 8), True)
        """
        for m in self:
            x = m(x)
        return x

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """Each module's ``backward`` in reverse order; the gradient w.r.t. the stack's input.

        Examples
        --------
        >>> from conv1d import Conv1d, ReLU
        >>> net = Sequential(Conv1d(1, 4, 3, rng=0), ReLU())
        >>> y = net(np.ones((2, 1, 10), np.float32))
        >>> net.backward(np.ones_like(y)).shape, net[0].weight.grad.shape
        ((2, 1, 10), (4, 1, 3))
        """
        for m in reversed(list(self)):
            grad_output = m.backward(grad_output)
        return grad_output

    def stream(self) -> Stream:
        """Stream the whole stack: a :class:`conv1d.stream.SequentialStream`.

        A subclass with a ``forward`` of its own streams as a user module
        (:class:`conv1d.graph_stream.ModuleStream`).

        Examples
        --------
        >>> from conv1d import Conv1d, ReLU
        >>> net = Sequential(Conv1d(1, 2, 5, padding="same", rng=0), ReLU())
        >>> s = net.stream()
        >>> type(s).__name__, s.delay  # output j comes with input sample j + 2
        ('SequentialStream', 2)
        >>> x = np.random.default_rng(0).standard_normal((1, 1, 12), dtype=np.float32)
        >>> y = np.concatenate([s(x[..., :5]), s(x[..., 5:]), s.flush()], axis=-1)
        >>> np.allclose(y, net(x), atol=1e-6)
        True
        """
        if type(self).forward is not Sequential.forward:
            return _module_stream(self)
        from .stream import SequentialStream

        return SequentialStream.of(list(self))
