"""conv1d: PyTorch's ``Conv1d`` layer on NumPy arrays, exact forward and backward.

>>> import numpy as np, conv1d
>>> m = conv1d.Conv1d(16, 33, 3, stride=2, rng=0)
>>> m(np.zeros((20, 16, 50), np.float32)).shape
(20, 33, 24)
"""

from . import algorithms, functional, optim
from . import dask as _dask  # noqa: F401  (fills functional's Dask slot; imports no Dask itself)
from .autotune import autotune  # the function; its module stays importable as conv1d.autotune
from .conv import Conv1d
from .io import load, save
from .layers import CrossEntropyLoss, GlobalAvgPool1d, ReLU
from .module import Module, Parameter, Sequential
from .spec import ConvSpec
from .threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "Conv1d",
    "ConvSpec",
    "CrossEntropyLoss",
    "GlobalAvgPool1d",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "algorithms",
    "autotune",
    "functional",
    "get_num_threads",
    "load",
    "optim",
    "save",
    "set_num_threads",
]
