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
from ..fx import resolve_points
from .batches import evaluating, input_batches, known_images
from .hooks import Hooks
from .moments import view3

SITES = ("act", "block")


class SkipReservoir:
    """Uniform samples without replacement of at most `size` values from each of R streams
    that advance together (the chosen channels of a layer see the same number of values).

    Li's Algorithm L (ACM TOMS 20(4), 1994): once `size` values fill a sample, the position
    of the next value to enter it follows from a random skip, so the work grows with the
    number of replacements (about size * ln(n / size)), not with the n values seen. In the
    random-key view of reservoir sampling (keep the `size` smallest of n uniform keys), the
    kept set is a uniform subset independent of W, the largest kept key, which follows
    Beta(size, n - size + 1); so a batch that carries the streams past `size` takes a
    uniform subset of everything so far in one draw and starts Algorithm L from that W,
    instead of replaying the thousands of replacements a first large batch would need.
    Skips and slots are drawn on the host from a seeded NumPy generator for all streams at
    once, in chunks that reach about twice the streams' length (log W is a cumulative sum),
    and each batch costs one gather and one indexed write of the chosen values on their own
    device: no host sync, no key per value.
    """

    CHUNK = 256  # fewest replacements drawn at once
    _FAR = 2 ** 62  # a position past any stream (reached when W underflows to 0)

    def __init__(self, rows: int, size: int, rng: np.random.Generator) -> None:
        self.rows, self.size, self.rng = rows, size, rng
        self.seen = 0  # values of each stream so far
        self.values: torch.Tensor | None = None  # (rows, size) float32 on the batch's device
        self._log_w = np.zeros(rows)  # log W for the next skip, per stream (set once full)
        # drawn replacements not yet reached: (rows, m) positions, increasing along each row,
        # and the slots they go to; `_head` counts each row's columns already used
        self._pos = np.zeros((rows, 0), dtype=np.int64)
        self._slot = np.zeros((rows, 0), dtype=np.int64)
        self._head = np.zeros(rows, dtype=np.int64)
        self._planned = False  # positions chosen up front (`expect`)
        self._replaced = False  # Algorithm L has drawn replacements (slots written again)

    def _draw(self, count: int, after: np.ndarray) -> None:
        """Append `count` further replacements to every stream, the first after `after`."""
        k = self.size
        self._replaced = True
        steps = np.log(self.rng.random((self.rows, count))) / k  # W *= U^(1/k) each time
        log_w = self._log_w[:, None] + np.concatenate(
            [np.zeros((self.rows, 1)), np.cumsum(steps[:, :-1], axis=1)], axis=1)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            skip = np.floor(np.log(self.rng.random((self.rows, count)))
                            / np.log1p(-np.exp(log_w)))
        skip[~(skip < self._FAR)] = self._FAR  # inf or NaN once W underflows
        # float64 sums of whole numbers are exact below 2**53; beyond, no stream reaches
        positions = (after[:, None] + np.cumsum(skip + 1.0, axis=1)).clip(max=self._FAR)
        self._log_w = log_w[:, -1] + steps[:, -1]
        drop = int(self._head.min())  # columns every row has used
        self._pos = np.concatenate([self._pos[:, drop:], positions.astype(np.int64)], axis=1)
        self._slot = np.concatenate([self._slot[:, drop:],
                                     self.rng.integers(0, k, (self.rows, count))], axis=1)
        self._head -= drop

    def expect(self, total: int) -> None:
        """Announce, before the first value, that the streams will be `total` values long:
        the samples are then chosen up front as uniform subsets of 0..total-1, each value
        written once when its batch passes, with no replacement drawn. A stream that turns
        out shorter keeps the chosen positions it reached (still a uniform subset of it); one
        that runs longer goes on by Algorithm L from W ~ Beta(size, total - size + 1)."""
        k = self.size
        if self.seen or self.rows == 0 or total <= k:
            return  # too late, nothing to sample, or the whole stream fits
        chosen = np.sort(np.stack([self.rng.choice(total, k, replace=False)
                                   for _ in range(self.rows)]), axis=1)
        # a last column at total - 1 that writes nothing: the skips go on from there
        self._pos = np.concatenate([chosen, np.full((self.rows, 1), total - 1)], axis=1)
        self._slot = np.concatenate([np.tile(np.arange(k), (self.rows, 1)),
                                     np.full((self.rows, 1), -1)], axis=1)
        self._head = np.zeros(self.rows, dtype=np.int64)
        self._log_w = np.log(self.rng.beta(k, total - k + 1, self.rows))
        self._planned = True

    def take(self, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(stream, position within the next `count` values, slot it goes to) of every value
        that enters a sample, with only the last write to each slot kept; advances every
        stream by `count`."""
        start, end, k = self.seen, self.seen + count, self.size
        self.seen = end
        if self.rows == 0 or count == 0:
            return (np.zeros(0, dtype=np.int64),) * 3
        if start < k and not self._planned:
            if end <= k:  # the first `size` values fill the samples in order
                pos = np.tile(np.arange(start, end), self.rows)
                taken = np.repeat(np.arange(self.rows), end - start), pos - start, pos
            else:  # this batch fills the samples and goes on: one uniform draw each
                rows, pos, slot = [], [], []
                for row in range(self.rows):
                    chosen = np.sort(self.rng.choice(end, k, replace=False))
                    stay = chosen[chosen < start]  # already kept, in slot == position
                    rows.append(np.full(k - len(stay), row))
                    pos.append(chosen[chosen >= start])
                    slot.append(np.setdiff1d(np.arange(k), stay, assume_unique=True))
                taken = (np.concatenate(rows), np.concatenate(pos) - start,
                         np.concatenate(slot))
            if end >= k:  # full: Algorithm L goes on from W ~ Beta(k, end - k + 1)
                self._log_w = np.log(self.rng.beta(k, end - k + 1, self.rows))
                self._pos = np.full((self.rows, 1), end - 1)  # where the skips start from
                self._slot = np.zeros((self.rows, 1), dtype=np.int64)
                self._head = np.ones(self.rows, dtype=np.int64)
            return taken
        last = self._pos[:, -1]  # the next replacement of each stream comes after it
        if (last < end - 1).any():  # about size * ln(end / start) replacements per stream
            expected = k * math.log(2 * end / max(int(last.min()) + 1, k))
            self._draw(max(self.CHUNK, int(1.1 * expected) + 64), last)
            while (self._pos[:, -1] < end - 1).any():
                self._draw(self.CHUNK, self._pos[:, -1])
        reach = np.array([np.searchsorted(p, end) for p in self._pos])  # rows are sorted
        counts = reach - self._head
        rows = np.repeat(np.arange(self.rows), counts)  # row by row, positions increasing
        col = np.arange(len(rows)) + np.repeat(self._head - np.cumsum(counts) + counts, counts)
        self._head = reach
        slots = self._slot[rows, col]
        if not self._replaced:  # positions chosen up front: each slot written once
            keep = slots >= 0
            rows, col, slots = rows[keep], col[keep], slots[keep]
            return rows, self._pos[rows, col] - start, slots
        writer = np.full(self.rows * k + 1, -1)
        # NumPy keeps the last of repeated indices; slot -1 (the anchor) goes to a spare cell
        writer[np.where(slots >= 0, rows * k + slots, self.rows * k)] = np.arange(len(rows))
        last = writer[:-1][writer[:-1] >= 0]
        rows, col = rows[last], col[last]
        return rows, self._pos[rows, col] - start, self._slot[rows, col]

    def samples(self) -> torch.Tensor:
        """(rows, n) samples of the streams (n < `size` if the streams were shorter)."""
        if self.values is None:
            return torch.zeros(self.rows, 0)
        return self.values[:, :min(self.seen, self.size)]


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
        self.images: int | None = None
        self.shared: set[str] = set()  # points whose block output is their act output

    def _hook(self, name: str, site: str):
        def on_output(module, inputs, output):
            y = output.detach()
            y3 = view3(y, 1)  # (N, C, S)
            n, c, s = y3.shape
            entry = self.state.setdefault(name, {})
            if "channels" not in entry:
                entry["channels"] = _choose(self.channels, c, self.gen,
                                            self.random_channels).numpy()
            chosen = entry["channels"]
            if site not in entry:  # a stream per chosen channel, and one of the whole layer
                entry[site] = (SkipReservoir(len(chosen), self.max_values, self.rng),
                               SkipReservoir(1, self.max_values, self.rng))
                if self.images:
                    entry[site][0].expect(self.images * s)
                    entry[site][1].expect(self.images * c * s)
            channels, layer = entry[site]
            # (image, channel, position) of each value taken, and where it goes
            row, pos, slot = channels.take(n * s)
            picks = [(pos // s, chosen[row], pos % s, row * channels.size + slot)]
            _, pos, slot = layer.take(n * c * s)  # the layer stream in (N, C, S) order
            picks.append((pos // (c * s), pos // s % c, pos % s, slot))
            for res in (channels, layer):
                if res.values is None:
                    res.values = torch.zeros(res.rows, res.size, dtype=torch.float32,
                                             device=y.device)
            index = torch.from_numpy(np.concatenate([np.stack(p) for p in picks], axis=1))
            index = index.to(y.device, non_blocking=True)  # one host-to-device copy
            values = y3[index[0], index[1], index[2]].float()
            split = len(picks[0][0])
            channels.values.view(-1)[index[3, :split]] = values[:split]
            layer.values.view(-1)[index[3, split:]] = values[split:]
        return on_output

    def attach(self, points: Sequence, hooks: Hooks, images: int | None = None) -> None:
        """Hooks at every point, put in `hooks`; `images`, when the pass's length is known
        (measure works it out), lets each stream choose its sample up front
        (`SkipReservoir.expect`)."""
        self.names = [p.name for p in points]
        self.images = images
        for p in points:
            hooks.forward(p.act, self._hook(p.name, "act"))
            if p.output is p.act:  # one output: its block samples are its act samples
                self.shared.add(p.name)
            else:
                hooks.forward(p.output, self._hook(p.name, "block"))

    def result(self) -> ChannelSamples:
        """The samples so far, copied to the host (one copy per layer and site)."""
        arrays: dict[str, np.ndarray] = {
            "layers": np.array([n for n in self.names if n in self.state])}
        for name, entry in self.state.items():
            arrays[f"channels/{name}"] = entry["channels"]
            for site in SITES:
                if site in entry:
                    channels, layer = entry[site]
                    rows = channels.samples() if len(entry["channels"]) else torch.zeros(0, 0)
                    arrays[f"{site}/{name}"] = rows.cpu().numpy()
                    arrays[f"{site}_layer/{name}"] = layer.samples()[0].cpu().numpy()
            if name in self.shared and "act/" + name in arrays:
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
    points = resolve_points(model, points)
    with evaluating(points.module, device) as dev, Hooks() as hooks:
        sampler.attach(points, hooks, known_images(data, max_samples=max_samples))
        for x in input_batches(data, batch_size=batch_size, max_samples=max_samples, device=dev):
            points.module(x)
    return sampler.result()
