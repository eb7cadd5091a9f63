"""Hooks: a set of forward hooks that owns its handles, so that leaving a `with` block removes
every one of them, whether the body ended or raised (fastai's `Hooks` works so)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torch.utils.hooks import RemovableHandle


class Hooks:
    """Forward hooks put on modules through this object; `remove()` (or the end of a `with`
    block) takes every one of them off again. It can be filled, removed and filled again."""

    def __init__(self) -> None:
        self._handles: list[RemovableHandle] = []

    def forward(self, module: nn.Module, hook: Callable, *, always_call: bool = False) -> None:
        """`hook(module, inputs, output)` after each call of `module` (`always_call`: also
        after a call that raised)."""
        self._handles.append(module.register_forward_hook(hook, always_call=always_call))

    def forward_pre(self, module: nn.Module, hook: Callable) -> None:
        """`hook(module, inputs)` before each call of `module`."""
        self._handles.append(module.register_forward_pre_hook(hook))

    def remove(self) -> None:
        """Take every hook off its module; safe to call again."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __len__(self) -> int:
        return len(self._handles)

    def __enter__(self) -> Hooks:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
