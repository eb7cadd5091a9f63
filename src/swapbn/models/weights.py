"""A model's weights in a file: the one place a checkpoint or state-dict file is loaded.

Files are read with weights_only=True, so a file never runs code (a run folder or a weights
file may come from anyone), and weights go only into the model they fit; a bad file is one
line naming it (`RecordError`), never a traceback from inside torch.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from ..errors import RecordError


def read_weights(path: str | Path, map_location: str | torch.device = "cpu") -> object:
    """What torch.save wrote into `path`: tensors and plain containers only."""
    try:
        with warnings.catch_warnings():  # torch's notes on odd pickles: we say it in one line
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        what = ("it holds objects other than tensors" if "GLOBAL" in str(exc)
                else "it is not a checkpoint of tensors (corrupt or crafted)")
        raise RecordError(f"{path}: refused to load: {what}") from None
    except (EOFError, RuntimeError, ValueError, zipfile.BadZipFile):
        raise RecordError(f"{path}: not a complete checkpoint (truncated or corrupt)") from None
    except OSError as exc:
        raise RecordError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # unpickling fails in many more ways than the ones above
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RecordError(f"cannot read {path}: {first}") from None


def read_state_dict(path: str | Path) -> dict:
    """The model state dict in `path`: torch.save(model.state_dict(), path), or a swapbn
    checkpoint.pt (its model state)."""
    state = read_weights(path)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise RecordError(f"{path} holds no state dict")
    return state


def load_weights(model: nn.Module, weights: dict, misfit: str) -> nn.Module:
    """Load `weights` (a state dict) into `model`; weights of another model (architecture,
    width, class count) are a RecordError `{misfit}: ` and the first parameter that does not
    fit."""
    problem = weights_mismatch(model.state_dict(), weights)
    if problem is None:
        try:
            model.load_state_dict(weights)
        except (RuntimeError, KeyError, TypeError) as exc:
            problem = str(exc).strip().splitlines()[0] if str(exc).strip() \
                else type(exc).__name__
    if problem is not None:
        raise RecordError(f"{misfit}: {problem}")
    return model


def weights_mismatch(expected: dict, found: dict) -> str | None:
    """The first difference between a model's state dict and checkpoint weights: a parameter
    or buffer missing, one the model lacks, or a shape that differs; None when they fit."""
    for key, tensor in expected.items():
        if key not in found:
            return f"the checkpoint lacks {key!r}"
        other = found[key]
        if not isinstance(other, torch.Tensor):
            return f"{key!r} is not a tensor in the checkpoint"
        if other.shape != tensor.shape:
            return (f"{key!r} is {tuple(other.shape)} in the checkpoint but "
                    f"{tuple(tensor.shape)} in the model")
    extra = [key for key in found if key not in expected]
    if extra:
        return f"the checkpoint holds {extra[0]!r}, which the model lacks"
    return None
