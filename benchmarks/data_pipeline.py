"""Images per second of one training epoch's input pipeline on CIFAR-10: swapbn's batched
loader (whole set as one uint8 tensor; shuffle, crop, flip and normalise on whole batches)
against a torchvision DataLoader with per-image PIL transforms, side by side in one run.

    python benchmarks/data_pipeline.py [--data-root DIR] [--limit N] [--device cpu]

Without --data-root the shared ../shared/data/cifar10-jpeg.tar.gz is extracted once into the
swapbn cache folder. Both pipelines read the same in-memory images (the baseline gets them as
PIL images), so the comparison covers augmentation and batching, not file decoding. By default
the batched loader runs on one torch thread while the baseline uses two worker processes.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import torch
from torchvision import transforms

from swapbn.data import load_dataset
from swapbn.data.cache import cache_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import record  # noqa: E402

TARBALL = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"


def default_root() -> Path:
    """The shared tarball, extracted once into the cache folder (a marker records success)."""
    root = cache_dir() / "cifar10-jpeg-source"
    marker = root / ".extracted"
    if not marker.is_file():
        if not TARBALL.is_file():
            sys.exit(f"no --data-root given and {TARBALL} is absent")
        print(f"extracting {TARBALL} into {root} ...", flush=True)
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        if shutil.which("tar"):
            subprocess.run(["tar", "-xzf", str(TARBALL), "-C", str(root)], check=True)
        else:
            with tarfile.open(TARBALL) as tar:
                tar.extractall(root)  # noqa: S202 - our own archive
        marker.touch()
    return root


class PILImages(torch.utils.data.Dataset):
    """The baseline: PIL images with per-image torchvision transforms."""

    def __init__(self, images: list, labels: list[int], transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), self.labels[i]


def time_epoch(batches, device: torch.device) -> tuple[float, int]:
    """Seconds and images for one pass; each batch is moved to `device` as training would."""
    start = time.perf_counter()
    count = 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        count += x.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None, help="use the first N train images")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2, help="baseline DataLoader workers")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for the batched loader (default 1: one core against the "
        "baseline's worker processes; 0 keeps torch's default)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    start = time.perf_counter()
    data = load_dataset("cifar10", args.data_root or default_root())
    print(f"loaded {data} in {time.perf_counter() - start:.1f} s")
    if args.limit:
        data.train = data.train.subset(torch.arange(min(args.limit, len(data.train))))
    n = len(data.train)

    # ours: the first pass also copies the set to the device once; time the second
    time_epoch(data.loader("train", args.batch_size, train=True, device=device, seed=0), device)
    ours_s, ours_n = time_epoch(
        data.loader("train", args.batch_size, train=True, device=device, seed=1), device
    )

    to_pil = transforms.ToPILImage()
    pil_images = [to_pil(img) for img in data.train.images]
    baseline = PILImages(
        pil_images,
        data.train.labels.tolist(),
        transforms.Compose(
            [
                transforms.RandomCrop(32, padding=4),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize(data.mean, data.std),
            ]
        ),
    )
    loader = torch.utils.data.DataLoader(
        baseline,
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(1),
    )
    base_s, base_n = time_epoch(loader, device)

    assert ours_n == base_n == n
    ours_rate, base_rate = ours_n / ours_s, base_n / base_s
    print(
        f"images: {n}, batch size {args.batch_size}, device {device}, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"swapbn batched loader:              {ours_rate:10.0f} images/s ({ours_s:.2f} s)")
    print(
        f"torchvision DataLoader ({args.workers} workers, PIL): "
        f"{base_rate:10.0f} images/s ({base_s:.2f} s)"
    )
    print(f"ratio (swapbn / torchvision): {ours_rate / base_rate:.1f}x")
    record(f"data_pipeline: CIFAR-10, {n} training images, batch {args.batch_size}, {device}",
           {"swapbn loader / DataLoader + PIL": ours_rate / base_rate})
    return 0


if __name__ == "__main__":
    sys.exit(main())
