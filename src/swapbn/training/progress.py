"""What a run shows while it trains: epoch lines, and a bar within epochs on a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm


class Progress:
    """Epoch lines on `stream`; a tqdm bar within epochs when stderr is a terminal."""

    def __init__(self, enabled: bool, stream: TextIO | None) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stdout
        self.bars = enabled and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()

    def print(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.stream, flush=True)

    def wrap(self, loader, desc: str):
        if not self.bars:
            return loader
        return tqdm(loader, desc=desc, leave=False, file=sys.stderr, unit="batch")


def epoch_text(line: dict, epochs: int) -> str:
    """One metrics.jsonl line as the epoch line a run prints."""
    text = (f"epoch {line['epoch']:>3}/{epochs}  loss {line['train_loss']:.4f}  "
            f"train {line['train_acc']:5.1f}%  test {line['test_acc']:5.1f}%")
    if "val_acc" in line:
        text += f"  val {line['val_acc']:5.1f}%"
    return text + f"  lr {line['lr']:.3g}  {line['images_per_s']:,.0f} img/s  {line['seconds']:.1f}s"


def eta_text(seconds: float | None) -> str:
    """'1m05s' (or '-' before anything is known)."""
    if seconds is None:
        return "-"
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def overall_text(k: int, n: int, what: str, elapsed: float, finished: int) -> str:
    """The line before run k of n: elapsed time and the remaining time at the pace so far
    (`finished` runs in `elapsed` seconds)."""
    eta = elapsed / finished * (n - finished) if finished else None
    return f"[{k}/{n}] {what}  elapsed {eta_text(elapsed)}, eta {eta_text(eta)}"
