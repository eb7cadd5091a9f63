"""The paper's published numbers (the project's own copy, published.json) and look-ups."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

KEYS = ("dataset", "arch", "act", "order")


@cache
def published_records() -> tuple[dict, ...]:
    """Every published number: {metric, dataset, arch, act, [order], value, source}."""
    text = resources.files(__package__).joinpath("published.json").read_text()
    return tuple(json.loads(text)["records"])


def lookup(metric: str, source: str | None = None, **keys: str | None) -> dict | None:
    """The record of `metric` whose keys all equal `keys` (None when the paper has none).

    A setting reported in several places (Table 2 and Table 7 both hold swap VGG16_11) gives
    the record whose source starts with `source`, else the first one.
    """
    if any(v is None for v in keys.values()):
        return None
    if keys.get("arch") == "vgg16_16":  # the full VGG16 under its depth name
        keys = {**keys, "arch": "vgg16"}
    found = [rec for rec in published_records()
             if rec["metric"] == metric and all(rec.get(k) == v for k, v in keys.items())
             and all(k in keys for k in KEYS if k in rec)]
    preferred = [rec for rec in found if source and rec["source"].startswith(source)]
    return (preferred or found or [None])[0]


def published_value(metric: str, source: str | None = None, **keys: str | None) -> float | None:
    rec = lookup(metric, source, **keys)
    return None if rec is None else float(rec["value"])
