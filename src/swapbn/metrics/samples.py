"""Values of a few channels per layer, for distribution plots (paper Figures 1 and 8).

Memory stays bounded by a seeded skip-based reservoir (`SkipReservoir`, Li's Algorithm L): a
uniform sample without replacement of at most `max_values` values of each chosen channel,
whatever the batch sizes, whose cost grows with the values kept rather than the values seen.
One extra stream per layer samples all channels together (the layer distribution of Figure 1,
left). Samples stay on the device of the activations until `result()`.
"""

from __future__ import annotations

import math
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


class SkipReservoir:
    """Uniform samples without replacement of at most `size` values from each of R streams.

    Li's Algorithm L (ACM TOMS 20(4), 1994): once `size` values fill a sample, the position
    of the next value to enter it follows from a random skip, so the work grows with the
    number of replacements (about size * ln(n / size)), not with the n values seen. In the
    random-key view of reservoir sampling (keep the `size` smallest of n uniform keys), the
    kept set is a uniform subset independent of W, the largest kept key, which follows
    Beta(size, n - size + 1); so a batch that carries a stream past `size` takes a uniform
    subset of everything so far in one draw and starts Algorithm L from that W, instead of
    replaying the thousands of replacements a first large batch would need. Skips and slots
    are drawn on the host from a seeded NumPy generator, vectorised in chunks (log W is a
    cumulative sum), and each batch costs one gather and one indexed write of the chosen
    values on their own device: no host sync, no key per value.
    """

    CHUNK = 256  # fewest replacements drawn at once
    _FAR = 2 ** 62  # a position past any stream (reached when W underflows to 0)

    def __init__(self, rows: int, size: int, rng: np.random.Generator) -> None:
        self.rows, self.size, self.rng = rows, size, rng
        self.seen = np.zeros(rows, dtype=np.int64)  # values of each stream so far
        self.values: torch.Tensor | None = None  # (rows, size) float32 on the batch's device
        self._log_w = np.zeros(rows)  # log W for the next skip, per stream (set once full)
        self._last = np.zeros(rows, dtype=np.int64)  # last drawn replacement position
        self._pending: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(rows)]

    def _draw(self, row: int, count: int) -> None:
        """Append `count` further (position, slot) replacements of stream `row`."""
        k = self.size
        steps = np.log(self.rng.random(count)) / k  # W <- W * U^(1/k) after each replacement
        log_w = self._log_w[row] + np.concatenate(([0.0], np.cumsum(steps[:-1])))
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            skip = np.floor(np.log(self.rng.random(count)) / np.log1p(-np.exp(log_w)))
        skip[~(skip < self._FAR)] = self._FAR  # inf or NaN once W underflows
        # float64 sums of whole numbers are exact below 2**53; beyond, no stream reaches
        positions = (self._last[row] + np.cumsum(skip + 1.0)).clip(max=self._FAR)
        positions = positions.astype(np.int64)
        slots = self.rng.integers(0, k, count)
        self._log_w[row], self._last[row] = log_w[-1] + steps[-1], positions[-1]
        self._pending[row].append((positions, slots))

    def _jump(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """A stream that held start < size values reaches end > size: a uniform `size`-subset
        of 0..end-1 (values already kept keep their slots; slot == position below size)."""
        k = self.size
        chosen = np.sort(self.rng.choice(end, k, replace=False))
        stay = chosen[chosen < start]
        free = np.setdiff1d(np.arange(k), stay, assume_unique=True)
        return chosen[chosen >= start], free

    def take(self, row: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions within the next `count` values of stream `row`, slots they go to), with
        only the last write to each slot kept; advances the stream."""
        start = int(self.seen[row])
        end = start + count
        self.seen[row] = end
        k = self.size
        if start < k:
            if end <= k:  # the first `size` values fill the sample in order
                pos = slot = np.arange(start, end)
            else:  # this batch fills the sample and goes on: one uniform draw
                pos, slot = self._jump(start, end)
            if end >= k:  # full: Algorithm L goes on from W ~ Beta(k, end - k + 1)
                self._log_w[row] = math.log(self.rng.beta(k, end - k + 1))
                self._last[row] = end - 1
            return pos - start, slot
        while self._last[row] < end:  # about size * ln(end / start) replacements
            # enough to reach about twice `end`: a handful of draws over a whole stream
            expected = k * math.log(2 * end / max(self._last[row] + 1, k))
            self._draw(row, max(self.CHUNK, int(1.1 * expected) + 64))
        pos, slot = [], []
        pending = self._pending[row]
        while pending:
            p, s = pending[0]
            keep = p < end
            pos.append(p[keep])
            slot.append(s[keep])
            if keep.all():
                pending.pop(0)
            else:
                pending[0] = (p[~keep], s[~keep])
                break
        p, s = np.concatenate(pos), np.concatenate(slot)
        writer = np.full(k, -1)
        writer[s] = np.arange(len(s))  # NumPy keeps the last of repeated indices
        last = writer[writer >= 0]
        return p[last] - start, s[last]

    def sample(self, row: int) -> torch.Tensor:
        """The sample of stream `row` (fewer than `size` values if the stream was shorter)."""
        count = min(int(self.seen[row]), self.size)
        if self.values is None:
            return torch.zeros(0)
        return self.values[row, :count]


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
        self.rng = np.random.default_rng(seed)
        self.state: dict[str, dict] = {}
        self.names: list[str] = []

    def _hook(self, name: str, site: str):
        def on_output(module, inputs, output):
            y = output.detach()
            y3 = y.unsqueeze(-1) if y.dim() == 2 else y.flatten(2)  # (N, C, S); a view
            n, c, s = y3.shape
            entry = self.state.setdefault(name, {})
            if "channels" not in entry:
                entry["channels"] = _choose(self.channels, c, self.gen, self.random_channels)
                entry["chosen"] = entry["channels"].numpy()
            chosen = entry["chosen"]
            if site not in entry:  # one stream per chosen channel, then the whole layer
                entry[site] = SkipReservoir(len(chosen) + 1, self.max_values, self.rng)
            res: SkipReservoir = entry[site]
            # (image, channel, position) of each value taken, and where it goes in the sample
            rows = []
            for row, channel in enumerate(chosen):
                pos, slot = res.take(row, n * s)
                rows.append((pos // s, np.full(len(pos), channel), pos % s,
                             row * res.size + slot))
            pos, slot = res.take(len(chosen), n * c * s)  # layer stream in (N, C, S) order
            rows.append((pos // (c * s), pos // s % c, pos % s, len(chosen) * res.size + slot))
            if res.values is None:
                res.values = torch.zeros(res.rows, res.size, dtype=torch.float32,
                                         device=y.device)
            index = torch.from_numpy(np.concatenate([np.stack(r) for r in rows], axis=1))
            index = index.to(y.device, non_blocking=True)  # one host-to-device copy
            res.values.view(-1)[index[3]] = y3[index[0], index[1], index[2]].float()
        return on_output

    def attach(self, points: Sequence, handles: list) -> None:
        self.names = [p.name for p in points]
        for p in points:
            handles.append(p.act.register_forward_hook(self._hook(p.name, "act")))
            if p.output is p.act:  # one output: its block samples are its act samples
                self.state.setdefault(p.name, {})["block"] = "act"
            else:
                handles.append(p.output.register_forward_hook(self._hook(p.name, "block")))

    def result(self) -> ChannelSamples:
        """The samples so far, copied to the host (one copy per layer and site)."""
        arrays: dict[str, np.ndarray] = {
            "layers": np.array([n for n in self.names if n in self.state])}
        for name, entry in self.state.items():
            chosen = entry["channels"]
            arrays[f"channels/{name}"] = chosen.numpy()
            for site in SITES:
                if isinstance(entry.get(site), SkipReservoir):
                    res: SkipReservoir = entry[site]
                    k = len(chosen)
                    rows = torch.stack([res.sample(r) for r in range(k)]) if k else \
                        torch.zeros(0, 0)
                    arrays[f"{site}/{name}"] = rows.cpu().numpy()
                    arrays[f"{site}_layer/{name}"] = res.sample(k).cpu().numpy()
            if entry.get("block") == "act" and "act/" + name in arrays:
                arrays[f"block/{name}"] = arrays[f"act/{name}"]
                arrays[f"block_layer/{name}"] = arrays[f"act_layer/{name}"]
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
