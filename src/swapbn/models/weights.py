"""A model's weights from a state-dict file (`swapbn measure --weights FILE`), read with
weights_only=True so the file never runs code; a bad file is one line, not a traceback."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load the state dict saved in `path` (torch.save(model.state_dict(), path)) into model."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"cannot read weights {path}: {first}") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a swapbn checkpoint.pt
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds no state dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or ["mismatch"])[0]
        raise ValueError(f"weights {path} do not fit the model: {first}") from None
    return model
