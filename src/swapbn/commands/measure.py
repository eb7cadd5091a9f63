"""`swapbn measure RUN_DIR`: saturation, skewness and sparsity of a trained run, per layer;
`swapbn measure --arch NAME --dataset D [--weights FILE]`: of a model without a run directory
(e.g. torchvision:resnet18 or timm:efficientnet_b0, untrained or with a state-dict file)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UsageError
from ..metrics import ChannelSampler, format_table, measure
from ..models import OWN_ACT, is_zoo_model
from ..models.weights import load_weights, read_state_dict
from ..rundir import RunDir
from ..training import resolve_device
from ..training.rebuild import data_fields, load_model, run_data, run_model

HELP = "measure saturation, channel skewness and sparsity of a trained run, per layer"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", default=None,
                   help="run directory written by `swapbn train` (or give --arch)")
    g = p.add_argument_group("a model without a run directory")
    g.add_argument("--arch", default=None,
                   help="model name, e.g. torchvision:resnet18 or timm:efficientnet_b0")
    g.add_argument("--act", default=None, help="activation (default: tanh for swapbn's "
                   "models; a torchvision: or timm: model keeps its own)")
    g.add_argument("--order", default=None, help="convention (default) or swap")
    g.add_argument("--dataset", default=None, help="data set whose test split is measured")
    g.add_argument("--weights", default=None, metavar="FILE",
                   help="state dict file of the model (default: untrained)")
    p.add_argument("--json", action="store_true", help="print the measure record as JSON")
    p.add_argument("--max-samples", type=int, default=None, metavar="N",
                   help="measure only the first N test images")
    p.add_argument("--split", choices=("test", "val", "train"), default="test",
                   help="data split to measure (default: test, as the paper)")
    p.add_argument("--figures", type=Path, default=None, metavar="DIR",
                   help="write per-layer and channel-distribution figures (PNG) into DIR")
    p.add_argument("--data-root", default=None, help="data set location (default: the run's)")
    p.add_argument("--batch-size", type=int, default=256,
                   help="images per forward pass (default %(default)s)")
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"),
                   help="where the model runs (default %(default)s)")
    p.add_argument("--fused", action="store_true",
                   help="reduce each batch with one compiled kernel (torch.compile): a few "
                        "seconds of compilation, then about the cost of an evaluation; pays "
                        "off on long passes (docs/speed.md)")


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir) if args.run_dir is not None else None
    if args.max_samples is not None and args.max_samples < 1:
        raise UsageError(f"--max-samples must be at least 1, got {args.max_samples}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    args.device = str(resolve_device(args.device))
    if (args.run_dir is None) == (args.arch is None):
        raise UsageError("give a run directory or --arch (with --dataset), not both")
    model_flags = [f"--{name}" for name in ("act", "order", "dataset", "weights")
                   if getattr(args, name) is not None]
    if args.run_dir is not None and model_flags:
        raise UsageError(f"{', '.join(model_flags)} describe a model without a run directory "
                         "(with --arch); a run directory brings its own")
    if args.arch is not None:
        model, config, data = _bare_model(args)
    else:
        run_record = RunDir(run_dir)
        model = load_model(run_record, args.device)
        config = run_record.config
        data = run_data(config, args.data_root)
    if args.split == "val" and data.val is None:
        raise UsageError("the run has no validation split (val_images=0); use --split test")
    loader = data.loader(args.split, args.batch_size, train=False, device=args.device)
    # --figures: the channel samples ride along in the measuring pass.
    sampler = ChannelSampler() if args.figures is not None else None
    result = measure(model, loader, device=args.device, max_samples=args.max_samples,
                     also=(sampler,) if sampler is not None else (), fused=args.fused)
    record = result.to_dict()
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(f"{run_dir or 'model'}: {config['arch']} {config['act']} {config['order']}, "
              f"{record['samples']} {args.split} images")
        print(format_table(record))
    if args.figures is not None:
        from ..report.figures import channel_distributions, layer_metric_figures  # matplotlib

        label = f"{config['order']} ({config['act']})"
        paths = layer_metric_figures({label: record}, args.figures)
        samples = sampler.result()
        # The paper's Figure 1 shows a deep conv layer: take the last one.
        convs = [r["name"] for r in record["layers"] if r["kind"] == "conv"]
        layer = (convs or samples.layers or [None])[-1]
        if layer is not None:
            for site in ("act", "block"):
                paths.append(channel_distributions({label: samples},
                                                   args.figures / f"channels_{site}.png",
                                                   layer=layer, site=site))
        if not args.json:
            for p in paths:
                print(f"wrote {p}")
    return 0


def _bare_model(args: argparse.Namespace) -> tuple:
    """The model named by --arch for --dataset's shape, with --weights loaded, a config that
    reads like a run's (the model and data are built from it as from a run's), and the data
    set (loaded once)."""
    if args.dataset is None:
        raise UsageError("--arch needs --dataset (the data set to measure on)")
    args.act = args.act or (OWN_ACT if is_zoo_model(args.arch) else "tanh")
    args.order = args.order or "convention"
    config = {"arch": args.arch, "act": args.act, "order": args.order, "dataset": args.dataset,
              "data_root": args.data_root}
    data = run_data(config)
    config.update(data_fields(data))
    model = run_model(config)
    if args.weights is not None:
        load_weights(model, read_state_dict(args.weights),
                     f"weights {args.weights} do not fit the model")
    return model.to(args.device), config, data
