"""Run directories as the report sees them: found and read through `swapbn.rundir`, never
written. The report needs nothing else, so runs from any machine combine by copying folders
under one root.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import rundir
from ..errors import RecordError
from ..metrics import ChannelSamples
from ..rundir import RunDir


@dataclass
class Run:
    path: Path
    config: dict
    final: dict = field(default_factory=dict)
    epochs: list[dict] = field(default_factory=list)

    @property
    def tags(self) -> dict:
        return self.config.get("tags") or {}

    @property
    def experiment(self) -> str:
        return str(self.tags.get("experiment") or "untagged")

    @property
    def variant(self) -> str:
        """tags.variant; untagged runs are grouped by their setting and lr, wd."""
        if self.tags.get("variant"):
            return str(self.tags["variant"])
        return f"{self.setting}/lr={self.config.get('lr')},wd={self.config.get('wd')}"

    @property
    def setting(self) -> str:
        """tags.setting (or tags.variant); untagged runs: arch/act/order/dataset."""
        if self.tags.get("setting") or self.tags.get("variant"):
            return str(self.tags.get("setting") or self.tags["variant"])
        return "/".join(str(self.key(k)) for k in ("arch", "act", "order", "dataset"))

    @property
    def scale(self) -> str | None:
        return self.tags.get("scale")

    @property
    def seed(self) -> int | None:
        return self.config.get("seed")

    @property
    def status(self) -> str:
        """completed | diverged | failed from final.json; incomplete while it has none."""
        return str(self.final.get("status") or "incomplete")

    @property
    def test_acc(self) -> float | None:
        acc = self.final.get("final_test_acc")
        return float(acc) if isinstance(acc, (int, float)) and math.isfinite(acc) else None

    @property
    def completed(self) -> bool:
        return self.status == "completed" and self.test_acc is not None

    @property
    def stats(self) -> dict:
        return self.final.get("stats") or {}

    def channels(self) -> ChannelSamples | None:
        """The channel samples of the final model (None when the run has none)."""
        return RunDir(self.path).channels()

    def key(self, name: str):
        """A setting key (arch, act, order, dataset, depth, bn_wd, bn_beta_wd): tags first."""
        if name in self.tags:
            return self.tags[name]
        c = self.config
        if name == "order":
            return "nwdbn" if c.get("nwdbn") else c.get("order")
        if name == "depth":
            m = re.fullmatch(r"vgg16_(\d+)", str(c.get("arch", "")))
            return int(m.group(1)) if m else (16 if c.get("arch") == "vgg16" else None)
        if name == "bn_wd":
            return c.get("bn_gamma_wd") if c.get("bn_gamma_wd") == c.get("bn_beta_wd") else None
        return c.get(name)

    def record(self) -> dict:
        """The {config, final, run_dir} record grid selection reads (setting and variant
        filled in for untagged runs)."""
        tags = {**self.tags, "setting": self.setting, "variant": self.variant}
        return {"config": {**self.config, "tags": tags}, "final": self.final,
                "run_dir": str(self.path)}


def load_run(path: Path) -> Run | None:
    """The report's view of a run directory; None when it has no readable configuration."""
    run = RunDir(path)
    config, final = run.config, run.final
    if not config:
        return None
    return Run(path=run.path, config=config, final=final.to_dict() if final else {},
               epochs=run.metrics())


def find_runs(root: Path) -> list[Run]:
    """Every run directory under root (including root itself), in path order. A run whose
    records cannot be read is left out with one line on stderr naming it and the reason."""
    runs = []
    for run in rundir.find_runs(root):
        try:
            runs.append(load_run(run.path))
        except RecordError as exc:
            print(f"swapbn report: left out {run.path}: {exc}", file=sys.stderr)
    return [r for r in runs if r is not None]
