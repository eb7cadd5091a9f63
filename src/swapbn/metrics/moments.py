"""Per-channel statistics that merge exactly: the one-pass basis of every metric.

The paper (Algorithms 1 and 2) needs one pass over the data for the mean, one for the
variance, one for the skewness and more for saturation and sparsity. Everything they
compute follows from per-channel count, mean, second and third central moment sums,
sum and maximum of absolute values. Those merge exactly with the pairwise update
formulas of Chan et al. (1979) and Pebay (2008), so batches, processes and
data-parallel ranks can each keep their own and combine them at the end.

Each batch is reduced on its own device, around a per-channel shift (the mean of the batch's
first eighth: it depends on nothing but the batch, so the statistics of a sharded pass equal
one process's), so `x - shift` is exact or correctly rounded relative to the spread, not to
the offset. By default PyTorch's own reductions do the work: float32 maps are summed one map
at a time in float32 and everything after that is float64, which keeps a float32 channel
sitting at 0.999 with a spread of 1e-3 within about 1e-8 of the float64 two-pass answer (the
tests ask 1e-6) where the textbook power sums E[x^3] - 3 mu E[x^2] + 2 mu^3 lose every digit;
tensors with fewer than 16 values per map (fully connected outputs) are reduced in float64
throughout. With `fused=True` one kernel compiled by torch.compile reads each batch once and
sums in float64 (docs/speed.md: when that pays off).
"""

from __future__ import annotations

import math
import threading
import warnings

import torch
import torch.distributed as dist

# Rows of the stacked state used by all_reduce (count is broadcast over channels).
_FIELDS = ("mean", "m2", "m3", "sum_abs", "max_abs", "min", "max")


def view3(x: torch.Tensor, channel_dim: int) -> torch.Tensor:
    """(A, C, B) view of x with the channel axis in the middle, without copying when possible."""
    if x.dim() == 0:
        raise ValueError("need a tensor with a channel axis, got a scalar")
    channel_dim = channel_dim % x.dim()
    if channel_dim == 1 and x.dim() >= 3:
        return x.flatten(2)  # a view for NCHW and channels_last alike (no copy of the batch)
    shape = x.shape
    a = math.prod(shape[:channel_dim])
    b = math.prod(shape[channel_dim + 1:])
    return x.contiguous().view(a, shape[channel_dim], b)


class ChannelMoments:
    """Count, mean, M2, M3, sum |x|, max |x|, min and max of every channel, in float64.

    `moments=False` keeps only count, sum |x| and max |x| (all that sparsity needs),
    which is cheaper for block outputs. Channels are fixed by the first update unless
    given up front (all_reduce needs them on every rank, even one that saw no data).
    """

    def __init__(self, channels: int | None = None, *, moments: bool = True,
                 device: torch.device | str | None = None) -> None:
        self.moments = moments
        self.count = 0
        self.channels = channels
        self.mean = self.m2 = self.m3 = self.min = self.max = None
        self.sum_abs = self.max_abs = None
        if channels is not None:
            self._allocate(channels, torch.device(device or "cpu"))

    def _allocate(self, channels: int, device: torch.device) -> None:
        z = torch.zeros(channels, dtype=torch.float64, device=device)
        self.channels = channels
        self.sum_abs, self.max_abs = z.clone(), z.clone()
        if self.moments:
            self.mean, self.m2, self.m3 = z.clone(), z.clone(), z.clone()
            self.min = torch.full_like(z, math.inf)
            self.max = torch.full_like(z, -math.inf)

    # ------------------------------------------------------------------ building
    @classmethod
    def of(cls, x: torch.Tensor, channel_dim: int = 1, *, moments: bool = True) -> ChannelMoments:
        """Statistics of one tensor."""
        return cls(moments=moments).update(x, channel_dim)

    def update(self, x: torch.Tensor, channel_dim: int = 1, *,
               fused: bool = False) -> ChannelMoments:
        """Add every value of x (channels along `channel_dim`) and return self.

        `fused=True` reduces the batch with one compiled kernel in float64 (torch.compile;
        seconds to compile once per process, then one read of the batch instead of nine);
        without a working compiler it falls back to the default reductions, with a warning.
        """
        batch, _ = _batch_stats(x.detach(), channel_dim, self.moments, fused)
        if batch is not None:
            self.merge(batch)
        return self

    def update_affine(self, x: torch.Tensor, scale: torch.Tensor,
                      bias: torch.Tensor) -> ChannelMoments | None:
        """`update(x, fused=True)` (channels along dim 1) that also returns, from the same
        read of x, the sum and maximum of |scale * x + bias| per channel (moments=False
        statistics): the output of an eval-mode BatchNorm applied to x costs no second pass.
        None where the fused kernels do not run (x is then added all the same)."""
        if not self.moments:
            raise ValueError("update_affine needs moments=True")
        batch, folded = _batch_stats(x.detach(), 1, self.moments, True,
                                     (scale.to(torch.float64), bias.to(torch.float64)))
        if batch is not None:
            self.merge(batch)
        return folded

    def merge(self, other: ChannelMoments) -> ChannelMoments:
        """Combine `other` into self exactly (Chan / Pebay pairwise formulas); returns self."""
        if other.count == 0:
            return self
        if self.moments and not other.moments:
            raise ValueError("cannot merge statistics without moments into ones with moments")
        if self.channels is not None and other.channels != self.channels:
            raise ValueError(f"channel counts differ: {self.channels} and {other.channels}")
        if self.count == 0:
            self.channels = other.channels
            self.count = other.count
            for f in _FIELDS:
                value = getattr(other, f)
                if f in ("sum_abs", "max_abs") or self.moments:
                    setattr(self, f, None if value is None else value.clone())
            return self
        if self.sum_abs.device != other.sum_abs.device:
            other = other.to(self.sum_abs.device)
        na, nb = float(self.count), float(other.count)
        n = na + nb
        if self.moments:
            delta = other.mean - self.mean
            m3 = (self.m3 + other.m3 + delta ** 3 * (na * nb * (na - nb) / n ** 2)
                  + 3.0 * delta * (na * other.m2 - nb * self.m2) / n)
            m2 = self.m2 + other.m2 + delta ** 2 * (na * nb / n)
            self.mean = self.mean + delta * (nb / n)
            self.m2, self.m3 = m2, m3
            self.min = torch.minimum(self.min, other.min)
            self.max = torch.maximum(self.max, other.max)
        self.sum_abs = self.sum_abs + other.sum_abs
        self.max_abs = torch.maximum(self.max_abs, other.max_abs)
        self.count += other.count
        return self

    def all_reduce(self, group=None) -> ChannelMoments:
        """Merge the statistics of every rank of torch.distributed (no-op when not initialised).

        Gathers each rank's stacked state and merges them in rank order, so every rank ends
        with the same result as one process that saw all the data.
        """
        if not (dist.is_available() and dist.is_initialized()):
            return self
        if self.channels is None:
            raise ValueError("all_reduce needs the channel count on every rank: "
                             "construct ChannelMoments(channels) up front")
        device = self.sum_abs.device if self.sum_abs is not None else torch.device("cpu")
        if self.sum_abs is None:
            self._allocate(self.channels, device)
        local = self.stacked().to(collective_device(group, device))
        gathered = [torch.empty_like(local) for _ in range(dist.get_world_size(group))]
        dist.all_gather(gathered, local, group=group)
        total = ChannelMoments(self.channels, moments=self.moments, device=device)
        for state in gathered:
            total.merge(ChannelMoments.from_stacked(state.to(device), moments=self.moments))
        self.__dict__.update(total.__dict__)
        return self

    # --------------------------------------------------------------- state I/O
    def stacked(self) -> torch.Tensor:
        """State as one (8, C) float64 tensor: count row, then mean, M2, M3, sum|x|, max|x|, min, max."""
        rows = [torch.full_like(self.sum_abs, float(self.count))]
        for f in _FIELDS:
            value = getattr(self, f)
            rows.append(torch.zeros_like(self.sum_abs) if value is None else value)
        return torch.stack(rows)

    @classmethod
    def from_stacked(cls, state: torch.Tensor, *, moments: bool = True) -> ChannelMoments:
        out = cls(moments=moments)
        out.count = int(round(state[0, 0].item())) if state.shape[1] else 0
        out.channels = state.shape[1]
        for i, f in enumerate(_FIELDS, start=1):
            if f in ("sum_abs", "max_abs") or moments:
                setattr(out, f, state[i].clone())
        return out

    def to(self, device: torch.device | str) -> ChannelMoments:
        """A copy on another device."""
        out = ChannelMoments(moments=self.moments)
        out.count, out.channels = self.count, self.channels
        for f in _FIELDS:
            value = getattr(self, f)
            setattr(out, f, None if value is None else value.to(device))
        return out

    def copy(self) -> ChannelMoments:
        device = self.sum_abs.device if self.sum_abs is not None else "cpu"
        return self.to(device)

    # ------------------------------------------------------------ derived values
    def _need(self, what: str) -> None:
        if not self.moments:
            raise ValueError(f"{what} needs moments=True")
        if self.count == 0:
            raise ValueError(f"{what} of no data")

    @property
    def variance(self) -> torch.Tensor:
        """Population variance m2 = M2 / count (the paper's and scipy's biased moment)."""
        self._need("variance")
        return self.m2 / self.count

    def constant(self) -> torch.Tensor:
        """Channels with no skewness: variance <= 1e-12 mean^2 + 1e-30, or fewer than 3 values."""
        self._need("constant")
        flat = self.variance <= 1e-12 * self.mean ** 2 + 1e-30
        return flat | torch.full_like(flat, self.count < 3)

    def skewness(self) -> torch.Tensor:
        """Adjusted Fisher-Pearson skewness per channel (scipy.stats.skew(bias=False)); NaN if constant."""
        self._need("skewness")
        n = float(self.count)
        m2 = self.m2 / n
        m3 = self.m3 / n
        constant = self.constant()
        safe_m2 = torch.where(constant, torch.ones_like(m2), m2)
        g1 = m3 / safe_m2 ** 1.5
        k = g1 * (math.sqrt(n * (n - 1)) / (n - 2)) if n > 2 else g1
        return torch.where(constant, torch.full_like(k, math.nan), k)

    def normalised_mass(self) -> torch.Tensor:
        """Per channel, sum over values of |x| / max_c |x| (0 for an all-zero channel)."""
        nonzero = self.max_abs > 0
        return torch.where(nonzero, self.sum_abs / torch.where(nonzero, self.max_abs, 1.0), 0.0)

    def __repr__(self) -> str:
        return (f"ChannelMoments(channels={self.channels}, count={self.count}, "
                f"moments={self.moments})")


def collective_device(group=None, device: torch.device | None = None) -> torch.device:
    """Where a tensor must be for a collective of `group`: NCCL moves only GPU tensors."""
    if dist.get_backend(group) == "nccl":
        return device if device is not None and device.type == "cuda" else \
            torch.device("cuda", torch.cuda.current_device())
    return device if device is not None else torch.device("cpu")


_LOCAL = threading.local()


def _scratch(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device,
             slot: int) -> torch.Tensor:
    """A reusable contiguous buffer of `shape` (slot 0 or 1).

    Each statistic needs an elementwise temporary the size of the batch; on the CPU a fresh
    allocation of that size costs page faults that outweigh the arithmetic, so hooks share
    two growing buffers per device and dtype (per thread: DataParallel replicas run hooks
    in threads).
    """
    cache = _LOCAL.__dict__.setdefault("scratch", {})
    key = (device, dtype)
    n = math.prod(shape)
    buf = cache.get(key)
    if buf is None or buf.shape[1] < n:
        buf = torch.empty((2, n), dtype=dtype, device=device)
        cache[key] = buf
    return buf[slot, :n].view(shape)


def release_scratch() -> None:
    """Free this thread's buffers (measure() calls this when it is done)."""
    _LOCAL.__dict__.pop("scratch", None)


def _shift(xs: torch.Tensor, maps: int = 2) -> torch.Tensor:
    """Float64 centre of each channel of an (A, C, B) batch, shaped to broadcast against it
    (or against (A, B, C) with maps=1): the mean of the batch's first eighth.

    Any value near the channel's mean makes the centred sums exact relative to the spread;
    an eighth of the batch is enough for that, and it depends on nothing but the batch, so a
    sharded pass centres its batches as one process would.
    """
    return xs[: -(-xs.shape[0] // 8)].mean(dim=(0, maps), keepdim=True, dtype=torch.float64)


def _eager_sums(xs: torch.Tensor, moments: bool) -> dict[str, torch.Tensor]:
    """Per-channel sums of one (A, C, B) batch with PyTorch's own reductions.

    Float32 maps of 16+ values are reduced map by map in float32 (partial sums over one map,
    then float64), everything else in float64: nine passes over the batch, three of them
    writing (|x| and its sum, min, max, d = x - shift with its sum and its sum of squares
    as a norm, d^3 and its sum). A channels_last batch is reduced in place as (A, B, C), with
    d^2 written out (one pass more) and min and max taken over (A, B * C) rows: reductions
    over a strided map, or over B rows of a few channels, run several times slower on the
    CPU than over wide contiguous rows.
    """
    a, c, b = xs.shape
    dtype = torch.float64 if (xs.dtype == torch.float64 or b < 16) else torch.float32
    nhwc = xs.dtype == dtype and xs.transpose(1, 2).is_contiguous()
    if nhwc:
        xs, maps = xs.transpose(1, 2), 1  # (A, B, C), a view of the channels_last batch
    else:
        if xs.dtype != dtype or not xs.is_contiguous():
            xs = _scratch((a, c, b), dtype, xs.device, 1).copy_(xs)
        maps = 2

    def total(partial: torch.Tensor) -> torch.Tensor:
        """Sum an (A, C) array of per-map partial sums in float64."""
        return partial.to(torch.float64).sum(0)

    def extreme(t: torch.Tensor, op) -> torch.Tensor:
        if nhwc:  # over (A, B * C) rows, then the (B, C) result
            return op(op(t.reshape(a, b * c), 0).view(b, c), 0).to(torch.float64)
        return op(op(t, 2), 0).to(torch.float64)

    work = _scratch(xs.shape, dtype, xs.device, 0)
    torch.abs(xs, out=work)
    out = {"sum_abs": total(work.sum(maps))}
    if not moments:
        out["max_abs"] = extreme(work, torch.amax)
        return out
    out["min"], out["max"] = extreme(xs, torch.amin), extreme(xs, torch.amax)
    shift = _shift(xs, maps).to(dtype)
    d = torch.sub(xs, shift, out=work)
    out["shift"] = shift.view(c).to(torch.float64)
    out["s1"] = total(d.sum(maps))
    if nhwc:  # slot 1 is free (a channels_last batch is never copied): d^2 goes there
        d2 = torch.mul(d, d, out=_scratch(xs.shape, dtype, xs.device, 1))
        out["s2"] = total(d2.sum(maps))
        out["s3"] = total(d2.mul_(d).sum(maps))
    else:  # vector_norm(ord=2) squares and sums along a map in one pass, no write
        out["s2"] = torch.linalg.vector_norm(d, 2, dim=2).to(torch.float64).square().sum(0)
        out["s3"] = total(d.pow_(3).sum(2))
    return out


def _fused_moments(xs: torch.Tensor, scale: torch.Tensor | None = None,
                   bias: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The sums of `_eager_sums` in float64, written for torch.compile to fuse into one read
    of the batch (and one of its first eighth, for the shift). With (1, C, 1) `scale` and
    `bias`, also the sum and maximum of |scale * x + bias|, from the same read."""
    shift = xs[: (xs.shape[0] + 7) // 8].to(torch.float64).mean(dim=(0, 2), keepdim=True)
    x = xs.to(torch.float64)
    d = x - shift
    d2 = d * d
    out = {"sum_abs": x.abs().sum((0, 2)), "min": xs.amin((0, 2)), "max": xs.amax((0, 2)),
           "s1": d.sum((0, 2)), "s2": d2.sum((0, 2)), "s3": (d2 * d).sum((0, 2)),
           "shift": shift}  # (1, C, 1): flattening it here makes inductor's loop 1.8x slower
    if scale is not None:
        ay = (x * scale + bias).abs()
        out.update(affine_sum_abs=ay.sum((0, 2)), affine_max_abs=ay.amax((0, 2)))
    return out


def _fused_abs(xs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Sum and maximum of |x| (all that sparsity needs), fused in the same way."""
    ax = xs.abs()
    return {"sum_abs": ax.to(torch.float64).sum((0, 2)), "max_abs": ax.amax((0, 2))}


class _Fused:
    """`_fused_moments` and `_fused_abs` compiled on first use; PyTorch's eager reductions
    wherever they cannot run (no C++ compiler, a compile error: said once; a thread other
    than the main one; a single image, which would compile a kernel of its own)."""

    def __init__(self) -> None:
        self.kernels: dict[bool, object] = {}
        self.broken: str | None = None

    def usable(self, xs: torch.Tensor) -> bool:
        return (self.broken is None and xs.shape[0] > 1
                and threading.current_thread() is threading.main_thread())

    def __call__(self, xs: torch.Tensor, moments: bool,
                 affine: tuple[torch.Tensor, torch.Tensor] = ()) -> dict[str, torch.Tensor]:
        if moments not in self.kernels:
            self.kernels[moments] = torch.compile(_fused_moments if moments else _fused_abs,
                                                  dynamic=True)
        try:
            out = self.kernels[moments](xs, *affine)
        except Exception as exc:  # noqa: BLE001 - any compiler failure falls back to eager
            self.broken = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
            warnings.warn(f"fused statistics are not available here ({self.broken}); "
                          "measuring with PyTorch's eager reductions", stacklevel=2)
            return _eager_sums(xs, moments)
        for key in ("min", "max", "max_abs", "affine_max_abs"):
            if key in out:
                out[key] = out[key].to(torch.float64)
        if "shift" in out:
            out["shift"] = out["shift"].view(-1)
        return out


_FUSED = _Fused()


def _batch_stats(x: torch.Tensor, channel_dim: int, moments: bool, fused: bool = False,
                 affine: tuple[torch.Tensor, torch.Tensor] = ()
                 ) -> tuple[ChannelMoments | None, ChannelMoments | None]:
    """Statistics of one batch, reduced on its device around a shift (see the module text),
    and with `affine` = (scale, bias) the |y| statistics of y = scale * x + bias from the same
    read (None where the fused kernels do not run); (None, None) for an empty batch."""
    xs = view3(x, channel_dim)
    a, c, b = xs.shape
    n = a * b
    if n == 0:
        return None, None
    if not xs.is_floating_point():
        xs = xs.to(torch.float64)
    folded = None
    if fused and _FUSED.usable(xs):
        sums = _FUSED(xs, moments, tuple(t.view(1, c, 1) for t in affine))
        if "affine_sum_abs" in sums:
            folded = ChannelMoments(moments=False)
            folded.count, folded.channels = n, c
            folded.sum_abs, folded.max_abs = sums["affine_sum_abs"], sums["affine_max_abs"]
    else:
        sums = _eager_sums(xs, moments)
    out = ChannelMoments(moments=moments)
    out.count, out.channels = n, c
    out.sum_abs = sums["sum_abs"]
    if not moments:
        out.max_abs = sums["max_abs"]
        return out, folded
    s1, s2, s3 = sums["s1"], sums["s2"], sums["s3"]
    mean_d = s1 / n
    out.mean = sums["shift"] + mean_d
    out.m2 = s2 - s1 * mean_d
    out.m3 = s3 - 3.0 * mean_d * s2 + 2.0 * n * mean_d ** 3
    out.min, out.max = sums["min"], sums["max"]
    out.max_abs = torch.maximum(-out.min, out.max)
    return out, folded
