"""Build the native kernels: the same C sources once per instruction-set level.

``conv1d.algorithms.native`` imports the best level the CPU supports at run time. Every
extension is optional: if the compiler is missing or fails, the package installs without it
and runs its NumPy algorithms. Everything else about the package is in pyproject.toml.
"""

import platform

from setuptools import Extension, setup

SOURCES = [f"src/conv1d/_native/{name}.c"
           for name in ("module", "forward", "depthwise", "grad_input", "grad_weight",
                        "grad_weight_dense")]
HEADERS = [f"src/conv1d/_native/{name}.h"
           for name in ("kernels", "instantiate", "forward_impl", "depthwise_impl",
                        "grad_input_impl", "grad_weight_impl", "grad_weight_dense_impl")]
# -ffp-contract=fast: a*b+c becomes one FMA where the level has it (GCC's default in GNU C,
# but not under -std=c99/c11). No -ffast-math: NaN and Inf must propagate as in the reference.
COMMON = ["-O3", "-ffp-contract=fast", "-std=gnu11"]
X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "i386")
# (module suffix, vector bytes, flags); the baseline uses the compiler's default target.
LEVELS = [("avx512", 64, ["-mavx512f", "-mavx2", "-mfma"]),
          ("avx2", 32, ["-mavx2", "-mfma"])] if X86 else []
LEVELS.append(("base", 16, []))

setup(ext_modules=[
    Extension(
        f"conv1d._native_{level}", SOURCES, depends=HEADERS,
        define_macros=[("CONV1D_MODULE", f"_native_{level}"), ("CONV1D_VEC_BYTES", str(width))],
        extra_compile_args=COMMON + flags, optional=True,
    )
    for level, width, flags in LEVELS
])
