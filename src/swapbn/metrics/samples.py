"""Values of a few channels per layer, for distribution plots (paper Figures 1 and 8).

Memory stays bounded by a seeded reservoir: every value gets a uniform random key and the
`max_values` values with the smallest keys are kept, which is a uniform sample without
replacement of everything seen, whatever the batch sizes. One extra reservoir per layer
samples all channels together (the layer distribution of Figure 1, left).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..atomic import atomic_write
from ..fx import model_points
from ..points import points_module, resolve_points
from .batches import evaluating, hooked, input_batches

SITES = ("act", "block")


class Reservoir:
    """A uniform random sample of at most `size` values per row, kept with random keys."""

    def __init__(self, size: int, generator: torch.Generator) -> None:
        self.size = size
        self.generator = generator
        self.values: torch.Tensor | None = None
        self.keys: torch.Tensor | None = None

    def add(self, rows: torch.Tensor) -> None:
        """rows: (R, n) new values for each of R rows."""
        rows = rows.detach().to("cpu", torch.float32)
        keys = torch.rand(rows.shape, generator=self.generator)
        if self.values is not None:
            rows = torch.cat([self.values, rows], dim=1)
            keys = torch.cat([self.keys, keys], dim=1)
        if rows.shape[1] > self.size:
            keys, idx = keys.topk(self.size, dim=1, largest=False, sorted=False)
            rows = rows.gather(1, idx)
        self.values, self.keys = rows, keys


class ChannelSamples:
    """Sampled values per (site, layer): `channels(site, layer)` -> indices, `values` -> (k, n)."""

    def __init__(self, arrays: dict[str, np.ndarray] | None = None) -> None:
        self.arrays: dict[str, np.ndarray] = dict(arrays or {})

    @property
    def layers(self) -> list[str]:
        names = [str(n) for n in self.arrays.get("layers", np.array([], dtype=str))]
        return names

    def channels(self, layer: str) -> np.ndarray:
        return self.arrays[f"channels/{layer}"]

    def values(self, site: str, layer: str) -> np.ndarray:
        """(k, n) float32 samples of the chosen channels at `site` ('act' or 'block')."""
        return self.arrays[f"{site}/{layer}"]

    def layer_values(self, site: str, layer: str) -> np.ndarray:
        """Samples over all channels of the layer together."""
        return self.arrays[f"{site}_layer/{layer}"]

    def save(self, path: str | os.PathLike) -> Path:
        """Write a .npz atomically (temporary file in the same folder, then rename)."""
        return atomic_write(path, lambda tmp: np.savez_compressed(tmp, **self.arrays))

    @classmethod
    def load(cls, path: str | os.PathLike) -> ChannelSamples:
        with np.load(path, allow_pickle=False) as data:
            return cls({k: data[k] for k in data.files})


def _choose(channels: int | Sequence[int], total: int, generator: torch.Generator,
            random: bool) -> torch.Tensor:
    if isinstance(channels, int):
        k = min(channels, total)
        if random:
            return torch.randperm(total, generator=generator)[:k].sort().values
        return torch.arange(k)
    idx = torch.as_tensor(list(channels), dtype=torch.long)
    if len(idx) and (idx.min() < 0 or idx.max() >= total):
        raise ValueError(f"channel indices must lie in 0..{total - 1}")
    return idx


class ChannelSampler:
    """Hooks that sample a few channels of every layer, at activation and block outputs.

    `attach` adds its hooks to a forward pass that someone else drives, so the samples can be
    taken in the same pass as `measure` (see its `also` argument); `result` collects them.
    """

    def __init__(self, *, channels: int | Sequence[int] = 4, max_values: int = 20000,
                 seed: int = 0, random_channels: bool = False) -> None:
        if max_values < 1:
            raise ValueError(f"max_values must be at least 1, got {max_values}")
        self.channels, self.max_values, self.random_channels = channels, max_values, random_channels
        self.gen = torch.Generator().manual_seed(seed)
        self.state: dict[str, dict] = {}
        self.names: list[str] = []

    def _hook(self, name: str, site: str):
        def on_output(module, inputs, output):
            y = output.detach()
            entry = self.state.setdefault(name, {})
            if "channels" not in entry:
                entry["channels"] = _choose(self.channels, y.shape[1], self.gen,
                                            self.random_channels)
            key = (site, "res")
            if key not in entry:
                entry[key] = Reservoir(self.max_values, self.gen)
                entry[(site, "layer")] = Reservoir(self.max_values, self.gen)
            idx = entry["channels"].to(y.device)
            picked = y.index_select(1, idx).transpose(0, 1).reshape(len(idx), -1)
            entry[key].add(picked)
            entry[(site, "layer")].add(y.reshape(1, -1))
        return on_output

    def attach(self, points: Sequence, handles: list) -> None:
        self.names = [p.name for p in points]
        for p in points:
            handles.append(p.act.register_forward_hook(self._hook(p.name, "act")))
            handles.append(p.output.register_forward_hook(self._hook(p.name, "block")))

    def result(self) -> ChannelSamples:
        arrays: dict[str, np.ndarray] = {
            "layers": np.array([n for n in self.names if n in self.state])}
        for name, entry in self.state.items():
            arrays[f"channels/{name}"] = entry["channels"].numpy()
            for site in SITES:
                if (site, "res") in entry:
                    arrays[f"{site}/{name}"] = entry[(site, "res")].values.numpy()
                    arrays[f"{site}_layer/{name}"] = entry[(site, "layer")].values[0].numpy()
        return ChannelSamples(arrays)


def channel_samples(model: nn.Module, data, *, channels: int | Sequence[int] = 4,
                    max_values: int = 20000, seed: int = 0, random_channels: bool = False,
                    points: Iterable | None = None, device: torch.device | str | None = None,
                    max_samples: int | None = None, batch_size: int = 256) -> ChannelSamples:
    """Sample the values of a few channels of every layer, at activation and block outputs.

    `channels` is a count (the first k channels, as the paper's consecutive channels, or k
    seeded random ones with `random_channels=True`) or explicit indices. At most `max_values`
    values are kept per channel, and per layer for the all-channel sample. Same seed and
    data, same samples.
    """
    sampler = ChannelSampler(channels=channels, max_values=max_values, seed=seed,
                             random_channels=random_channels)
    points = model_points(model) if points is None else points
    run = points_module(model, points)  # the observed graph of find_points' points
    with evaluating(run, device) as dev, hooked([]) as handles:
        sampler.attach(resolve_points(model, points), handles)
        for x in input_batches(data, batch_size=batch_size, max_samples=max_samples, device=dev):
            run(x)
    return sampler.result()
