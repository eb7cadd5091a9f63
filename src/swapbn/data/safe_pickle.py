"""Reading pickles that come from outside (CIFAR's batch files) without running their code.

`pickle.load` calls whatever a file names, so a crafted `data_batch_1` in a data root runs code.
The CIFAR files need only builtin containers, bytes, str, numbers and NumPy arrays; this
unpickler resolves those names and refuses every other one (docs/faults.md).
"""

from __future__ import annotations

import pickle
from typing import BinaryIO

# (module, name) pairs a CIFAR pickle may name: the NumPy array reconstruction (NumPy 1 and 2
# module paths), bytes as Python 2 wrote them, and the builtin value types.
ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
    *(("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "bytes",
                                      "bytearray", "str", "int", "float", "complex", "bool")),
    *(("__builtin__", name) for name in ("set", "frozenset", "bytearray", "complex")),
}


class RefusedPickle(pickle.UnpicklingError):
    """The file names a callable outside ALLOWED."""


class DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED:
            raise RefusedPickle(f"it names {module}.{name}, which a data file has no need of")
        return super().find_class(module, name)


def load(fh: BinaryIO, *, encoding: str = "ASCII") -> object:
    """pickle.load restricted to builtin containers, bytes, str, numbers and NumPy arrays."""
    return DataUnpickler(fh, encoding=encoding).load()
