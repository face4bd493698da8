"""conv1d: PyTorch's ``Conv1d`` layer on NumPy arrays, exact forward and backward.

>>> import numpy as np, conv1d
>>> m = conv1d.Conv1d(16, 33, 3, stride=2, rng=0)
>>> m(np.zeros((20, 16, 50), np.float32)).shape
(20, 33, 24)
"""

from . import algorithms, functional, lr_scheduler, optim
from . import dask as _dask  # noqa: F401  (fills functional's Dask slot; imports no Dask itself)
from . import dask_transpose as _dask_transpose  # noqa: F401  (the same for functional_transpose)
from . import graph_stream as _graph_stream  # noqa: F401  (fills Module.stream's slot)
from .activation import ELU, GELU, Dropout, Flatten, Identity, LeakyReLU, ReLU, Sigmoid, SiLU, Tanh
from .autotune import autotune  # the function; its module stays importable as conv1d.autotune
from .conv import Conv1d
from .conv_transpose import ConvTranspose1d
from .io import load, save
from .layers import CrossEntropyLoss
from .linear import Linear
from .module import Module, ModuleList, Parameter, Sequential
from .norm import BatchNorm1d, GroupNorm
from .pooling import AdaptiveAvgPool1d, AvgPool1d, GlobalAvgPool1d, MaxPool1d
from .residual import Residual
from .spec import ConvSpec
from .threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

__all__ = [
    "ELU",
    "GELU",
    "AdaptiveAvgPool1d",
    "AvgPool1d",
    "BatchNorm1d",
    "Conv1d",
    "ConvSpec",
    "ConvTranspose1d",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "GlobalAvgPool1d",
    "GroupNorm",
    "Identity",
    "LeakyReLU",
    "Linear",
    "MaxPool1d",
    "Module",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Residual",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Tanh",
    "algorithms",
    "autotune",
    "functional",
    "get_num_threads",
    "load",
    "lr_scheduler",
    "optim",
    "save",
    "set_num_threads",
]
