"""Build step for the one optional native part: the Winograd transforms (C, no Python headers).

Everything else is in pyproject.toml. ``optional=True``: where no C compiler (or no OpenMP)
is available (or the compiler is not GCC or Clang, whose vector extensions the transforms
use) the install still succeeds and ``yolov4.runtime.winograd`` uses its torch fallback.
"""
import sys

from setuptools import Extension, setup

if sys.platform == "win32":
    flags, link = ["/O2", "/openmp"], []
elif sys.platform == "darwin":  # Apple clang has no OpenMP by default: one thread
    flags, link = ["-O3"], []
else:
    flags, link = ["-O3", "-fopenmp"], ["-fopenmp"]

# loaded with ctypes by yolov4/runtime/winograd_native.py (importlib finds it by this name)
setup(ext_modules=[Extension("yolov4.runtime._winograd_native",
                             ["src/yolov4/runtime/_winograd.c"],
                             extra_compile_args=flags, extra_link_args=link, optional=True)])
