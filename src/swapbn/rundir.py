"""The run directory, the unit of record: its file names, formats, readers and writers.

A run directory holds
- `config.json`: the resolved TrainConfig plus what the data set and machine added;
- `metrics.jsonl`: one JSON line per finished epoch;
- `checkpoint.pt`: model, optimizer, scheduler and RNG states after the last finished epoch;
- `final.json`: the `FinalRecord` of the run once it ends;
- `channels.npz`: channel samples of the final model (Figures 1 and 8).

This module is the only one that knows these names (docs/architecture.md, "Run directory");
training, sweeps, reports and `swapbn measure` all go through `RunDir`. Every file is written
atomically, so a run killed at any moment leaves either the old file or the new one; every file
is read through a validating reader, so a corrupt or hand-edited one is one line naming it
(`RecordError`), never a traceback; a run holds the folder's lock (`RunDir.lock`) for its life,
so two processes never write one run (docs/faults.md). No file of a run directory is read or
written through a symbolic link: a folder copied in may carry one, and following it would read
or write outside the folder (a link where a record belongs is a `RecordError`). Records only:
the model and data a run's records describe are rebuilt by `training.rebuild`, and which
process may write a run is the trainer's decision (`Ranks.leader`), not this module's.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from .atomic import atomic_write, json_text, refuse_link, write_bytes, write_json, write_text
from .errors import RecordError, RunBusy, quoted
from .metrics.samples import ChannelSamples
from .models.weights import read_weights

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
FINAL = "final.json"
CHANNELS = "channels.npz"
RUN_FILES = (CONFIG, METRICS, CHECKPOINT, FINAL, CHANNELS)
LOCK = ".lock"  # flock'ed by the process that writes the run; never removed (see RunDir.lock)
SMALL_FILES = (CONFIG, METRICS, FINAL, CHANNELS)  # the record without the checkpoint

STATUSES = ("completed", "diverged", "failed", "interrupted")
FINISHED = ("completed", "diverged")  # a result of its configuration, not an accident
NUMBER = (int, float)
# The types of the fields a reader relies on (absent fields are allowed: records of older
# versions lack some); a bool is never taken for a number. config.json holds a TrainConfig,
# whose fields' types training/config.py adds here from their annotations (swapbn imports it
# before any record is read), and what the run adds about its data.
CONFIG_TYPES: dict[str, tuple] = {
    "num_classes": (int,), "in_channels": (int,), "image_size": (int,), "test_images": (int,),
}
FINAL_TYPES: dict[str, tuple] = {
    "status": (str,), "final_test_acc": (*NUMBER, type(None)),
    "best_test_acc": (*NUMBER, type(None)), "final_val_acc": (*NUMBER, type(None)),
    "epochs_completed": (int,),
    "seconds": (*NUMBER, type(None)), "error": (str, type(None)), "stats": (dict, type(None)),
    "gradients": (dict, type(None)), "channels": (str, type(None)),
}
METRICS_TYPES: dict[str, tuple] = {
    "epoch": (int,), "train_loss": (*NUMBER, type(None)), "train_acc": NUMBER,
    "test_loss": (*NUMBER, type(None)), "test_acc": NUMBER, "lr": NUMBER,
    "seconds": NUMBER, "stats": (dict,),
}
# The measure record (final.json `stats`, a metrics line's `stats`; metrics/measure.py) and
# the gradient probe record (final.json `gradients`), checked down to each layer, so a reader
# (report, resume) never meets a string where a number belongs.
OPTIONAL_NUMBER = (*NUMBER, type(None))
STATS_TYPES: dict[str, tuple] = {
    "layers": (list,), "avg_saturation": OPTIONAL_NUMBER, "avg_skewness": OPTIONAL_NUMBER,
    "avg_sparsity": OPTIONAL_NUMBER, "samples": (int,),
}
LAYER_TYPES: dict[str, tuple] = {
    "name": (str,), "kind": (str,), "channels": (int,), "constant_channels": (int,),
    **{k: OPTIONAL_NUMBER for k in ("saturation", "skewness", "skewness_signed", "sparsity",
                                    "empirical_saturation", "act_empirical_saturation",
                                    "bound")},
}
GRADIENT_TYPES: dict[str, tuple] = {"batches": (int,), "samples": (int,), "layers": (list,)}
GRADIENT_LAYER_TYPES: dict[str, tuple] = {
    "name": (str,), **{k: OPTIONAL_NUMBER for k in ("input_abs_mean", "weight_grad_abs_mean",
                                                    "act_input_grad_abs_mean")},
}
CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "rng", "epoch")
RENAMED = {"val_split": "val_images", "track_stats": "stats_every"}  # config.json of 0.1.0
# config.json before --precision: `amp` (bool) chose bf16 autocast and `precision` named the
# compute mode; now `precision` is the setting (float32 | bf16) and `compute` the mode.
OLD_COMPUTE = {"bf16 autocast": "bf16", "tf32": "float32", "float32": "float32"}


def migrate_config(value: dict) -> dict:
    """config.json as this version writes it, from a record of an earlier version."""
    value = {RENAMED.get(k, k): v for k, v in value.items()}
    if "amp" in value and "compute" not in value:
        amp = value.pop("amp")
        compute = value.get("precision")
        if compute in OLD_COMPUTE:
            value["compute"] = compute
        value["precision"] = "bf16" if amp is True else OLD_COMPUTE.get(compute, "float32")
    return value


@dataclass(frozen=True)
class FinalRecord:
    """final.json: how a run ended. `status` is completed, diverged, failed or interrupted
    (SIGTERM or Ctrl-C; `--resume` continues it); `error` is one line (None when completed);
    stats, gradients and channels exist for completed runs."""

    status: str
    final_test_acc: float | None = None
    best_test_acc: float | None = None
    final_val_acc: float | None = None  # runs with a validation split (grid selection)
    epochs_completed: int = 0
    seconds: float | None = None
    error: str | None = None
    stats: dict | None = None
    gradients: dict | None = None
    channels: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_dict(cls, d: dict) -> FinalRecord:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def failed(cls, exc: BaseException, **known) -> FinalRecord:
        return cls(status="failed", error=error_line(exc), **known)


def error_line(exc: BaseException) -> str:
    """`Type: first line of the message`, as final.json and sweep summaries show errors."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


def read_record(path: Path, types: dict[str, tuple], required: tuple[str, ...] = ()) -> dict:
    """A JSON object whose known fields have the types given; RecordError (one line naming the
    file and what is wrong) for anything else. The caller checks that the file exists."""
    refuse_link(path)
    try:
        value = json.loads(Path(path).read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise RecordError(f"cannot read {path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise RecordError(f"cannot read {path}: not valid JSON ({exc.msg} at line "
                          f"{exc.lineno})") from None
    except OSError as exc:
        raise RecordError(f"cannot read {path}: {exc.strerror or exc}") from None
    return check_fields(value, types, required, str(path))


def check_fields(value: object, types: dict[str, tuple], required: tuple[str, ...],
                 where: str) -> dict:
    """`value` if it is a JSON object with the required fields and known fields of the right
    types (NaN and infinities are refused: JSON records them as null)."""
    if not isinstance(value, dict):
        raise RecordError(f"{where}: a JSON object expected, found {type(value).__name__}")
    missing = [k for k in required if k not in value]
    if missing:
        raise RecordError(f"{where}: lacks {', '.join(missing)}")
    for key, allowed in types.items():
        if key not in value:
            continue
        v = value[key]
        if isinstance(v, bool) and bool not in allowed or not isinstance(v, allowed) or \
                isinstance(v, float) and not math.isfinite(v):
            names = "/".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise RecordError(f"{where}: field {quoted(key)} must be {names}, found {quoted(v, 40)}")
    return value


def check_nested(record: dict, key: str, types: dict[str, tuple],
                 layer_types: dict[str, tuple], where: str) -> None:
    """record[key] (a measure or gradient record, or null) checked down to each of its
    layers: RecordError naming the file, the field and the layer."""
    value = record.get(key)
    if value is None:
        return
    check_fields(value, types, (), f"{where}: {key}")
    for i, layer in enumerate(value.get("layers", [])):
        check_fields(layer, layer_types, ("name",), f"{where}: {key} layer {i}")


def check_final(value: dict, where: str) -> dict:
    """final.json's nested records (stats, gradients) checked like its top-level fields."""
    check_nested(value, "stats", STATS_TYPES, LAYER_TYPES, where)
    check_nested(value, "gradients", GRADIENT_TYPES, GRADIENT_LAYER_TYPES, where)
    return value


def read_json_lines(path: Path) -> list[tuple[str, object]]:
    """(where, value) for each line of a JSON-lines record, where naming the file and line;
    RecordError (one line) for a file that cannot be read or a line that is not JSON."""
    refuse_link(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError(f"cannot read {path}: not UTF-8 text") from None
    except OSError as exc:
        raise RecordError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{path} line {number}"
        try:
            lines.append((where, json.loads(line)))
        except json.JSONDecodeError:
            raise RecordError(f"{where}: not valid JSON (cut or corrupt)") from None
    return lines


def read_metrics(path: Path) -> list[dict]:
    """metrics.jsonl checked line by line: every line an epoch record, epochs 1, 2, 3, ... in
    order (a history with holes is refused, never read up to the hole)."""
    lines = []
    for number, (where, value) in enumerate(read_json_lines(path), 1):
        lines.append(check_fields(value, METRICS_TYPES, ("epoch", "test_acc"), where))
        check_nested(value, "stats", STATS_TYPES, LAYER_TYPES, where)
        if value["epoch"] != number:
            raise RecordError(f"{where}: epoch {value['epoch']} where epoch {number} belongs "
                              "(the history has a hole or is out of order)")
    return lines


def zip_problem(path: Path) -> str | None:
    """Why a zip file (checkpoint.pt, channels.npz) cannot be read, or None; reads only its
    directory, so a truncated file is caught without loading it."""
    try:
        with zipfile.ZipFile(path) as archive:
            if not archive.namelist():
                return "an empty archive"
    except (OSError, zipfile.BadZipFile, ValueError):
        return "not a complete archive (truncated or corrupt)"
    return None


class RunDir:
    """One run directory; reading never writes, and every write is atomic."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- reading ------------------------------------------------------------------------------

    @property
    def config(self) -> dict | None:
        """config.json (with the field names of this version), or None while the run has none;
        RecordError when it is there but not a valid configuration."""
        path = self.path / CONFIG
        if not self._exists(path):
            return None
        value = migrate_config(read_record(path, {}))
        return check_fields(value, CONFIG_TYPES, (), str(path))

    @property
    def final(self) -> FinalRecord | None:
        """final.json, or None while the run has not ended; RecordError when it is not a valid
        record. A run recorded as completed whose promised files are missing or unreadable
        (a full disk while it finished, a file removed by hand) is read as failed."""
        path = self.path / FINAL
        if not self._exists(path):
            return None
        value = check_final(read_record(path, FINAL_TYPES, ("status",)), str(path))
        if value["status"] not in STATUSES:
            raise RecordError(f"{path}: unknown status {quoted(value['status'])}; one of "
                              f"{', '.join(STATUSES)} expected")
        final = FinalRecord.from_dict(value)
        problem = self.incomplete(final) if final.status == "completed" else None
        if problem:
            return FinalRecord(status="failed", epochs_completed=final.epochs_completed,
                               error=f"incomplete record: {problem}")
        return final

    def incomplete(self, final: FinalRecord) -> str | None:
        """What a completed run promised but does not hold: config.json, one metrics line per
        epoch and the final statistics, each readable, and a readable checkpoint.pt and
        channels file where they are kept (published or copied runs may leave the two large
        files out; final.json is written after both, so a run that failed writing them never
        reads as completed)."""
        if not final.stats or not final.stats.get("layers"):  # a model has measured layers
            return f"{FINAL} has no final statistics"
        try:
            if self.config is None:
                return f"{CONFIG} is missing"
            if len(self.metrics()) != final.epochs_completed:
                return f"{METRICS} does not hold {final.epochs_completed} epochs"
        except RecordError as exc:
            return str(exc)
        for name in (CHECKPOINT, *([final.channels] if final.channels else [])):
            path = self.path / name
            if path.is_symlink():
                return f"{name} is a symbolic link"
            if not path.is_file():
                continue
            problem = zip_problem(path)
            if problem:
                return f"{name} is {problem}"
        return None

    def metrics(self) -> list[dict]:
        """The epoch lines in order ([] while there are none); RecordError for a line that is
        not an epoch record or a history with holes."""
        path = self.path / METRICS
        return read_metrics(path) if self._exists(path) else []

    def channels(self) -> ChannelSamples | None:
        """The channel samples of the final model, or None when the run has none."""
        path = self.path / CHANNELS
        return ChannelSamples.load(refuse_link(path)) if self._exists(path) else None

    @staticmethod
    def _exists(path: Path) -> bool:
        """Whether a record is there to read: a regular file, or a link (which its reader
        refuses in one line, never follows)."""
        return path.is_symlink() or path.is_file()

    def present(self) -> list[str]:
        """The run files this folder holds (links included: they are refused, not ignored)."""
        return [name for name in RUN_FILES
                if (self.path / name).is_symlink() or (self.path / name).exists()]

    @property
    def has_checkpoint(self) -> bool:
        return self._exists(self.path / CHECKPOINT)

    def checkpoint(self, map_location: str | torch.device = "cpu") -> dict:
        """checkpoint.pt, loaded with weights_only=True (`models.weights.read_weights`):
        tensors and plain containers only. RecordError (one line) for a file that is
        truncated, corrupt or holds anything else."""
        path = refuse_link(self.path / CHECKPOINT)
        if not path.is_file():
            raise RecordError(f"{path}: missing")
        state = read_weights(path, map_location)
        if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
            raise RecordError(f"{path}: not a swapbn checkpoint (no model state)")
        return state

    def resume_point(self) -> tuple[dict, list[dict]]:
        """(checkpoint, metrics lines up to its epoch) of an interrupted run; RecordError when
        the history is shorter than the checkpoint (resuming would leave holes in it)."""
        state = self.checkpoint()
        missing = [k for k in CHECKPOINT_KEYS if k not in state]
        if missing or isinstance(state["epoch"], bool) or not isinstance(state["epoch"], int):
            raise RecordError(f"{self.path / CHECKPOINT}: lacks {', '.join(missing) or 'epoch'}"
                              " (not a checkpoint of `swapbn train`)")
        lines = self.metrics()
        if len(lines) < state["epoch"]:
            raise RecordError(f"{self.path / METRICS} holds {len(lines)} epochs but "
                              f"{CHECKPOINT} is at epoch {state['epoch']}: resuming would "
                              "leave holes in the history; pass --force to start over")
        return state, lines[:state["epoch"]]

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    def small_files(self) -> dict[str, bytes]:
        """The run's record without its checkpoint (config, metrics, final, channels), as
        bytes: what a cluster node sends back to the sweep's driver."""
        return {name: refuse_link(self.path / name).read_bytes() for name in SMALL_FILES
                if self._exists(self.path / name)}


    # -- writing ------------------------------------------------------------------------------

    def start(self, config: dict, lines: list[dict]) -> None:
        """Begin (or resume) the record of a run: config.json, the metrics lines kept from an
        interrupted attempt, and no final record or channel samples of an earlier one. The
        configuration comes first: a kill before the rest leaves a folder `--resume` reads."""
        self.remove((FINAL, CHANNELS))
        self.write_config(config)
        self.write_metrics(lines)

    def write_config(self, config: dict) -> None:
        write_json(self.path / CONFIG, config)

    def write_metrics(self, lines: list[dict]) -> None:
        """Rewrite metrics.jsonl with these lines (appending rewrites the file: it stays small,
        and a kill mid-write cannot leave half a line)."""
        write_text(self.path / METRICS, "".join(json_text(line, indent=None) + "\n"
                                                for line in lines))

    def write_final(self, final: FinalRecord) -> None:
        write_json(self.path / FINAL, final.to_dict())

    def save_checkpoint(self, state: dict) -> None:
        """checkpoint.pt; a write that fails (full disk, `ulimit -f`) is the OSError of the
        failed write, naming the file, not torch's RuntimeError from inside its zip writer.

        torch writes into a file this method opens and closes, and the error is raised outside
        the handler that caught torch's: a traceback kept alive would keep torch's writer, and
        with it the removed temporary file and its disk space, until the process ends, and the
        final record written next would find the disk still full."""
        path = self.path / CHECKPOINT
        failure: OSError | None = None
        try:
            atomic_write(path, lambda tmp: _torch_save(state, tmp))
        except RuntimeError as exc:
            cause = _os_error(exc)
            failure = (OSError(cause.errno, cause.strerror, str(path)) if cause is not None
                       else OSError(errno.EIO, f"cannot write: {error_line(exc)}", str(path)))
        if failure is not None:
            raise failure

    def save_channels(self, samples: ChannelSamples) -> str:
        """Write channels.npz; returns the name final.json records."""
        samples.save(self.path / CHANNELS)
        return CHANNELS

    def receive(self, files: dict[str, bytes]) -> list[str]:
        """Write the small files of this run made on another machine (`small_files` there);
        files already here with the same bytes (a shared filesystem) are left alone. Returns
        the names written."""
        written = []
        for name, data in files.items():
            if name not in SMALL_FILES:
                raise ValueError(f"{name!r} is not a small file of a run directory")
            path = self.path / name
            if not path.is_symlink() and path.is_file() and path.read_bytes() == data:
                continue
            write_bytes(path, data)
            written.append(name)
        return written

    def remove(self, names: tuple[str, ...] = RUN_FILES) -> None:
        for name in names:
            (self.path / name).unlink(missing_ok=True)

    def stale_temporaries(self) -> list[Path]:
        """Temporary files of atomic writes that a killed process left (`.checkpoint.*.pt`,
        `.final.*.json`, ...); stale whenever no process holds the lock."""
        found = []
        for name in RUN_FILES:
            stem, suffix = name.rsplit(".", 1)
            found += self.path.glob(f".{stem}.*.{suffix}")
        return sorted(found)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run directory for the life of a run: an exclusive flock on `.lock`, which
        the kernel releases when the process ends however it ends (no stale lock after a
        kill). A second process gets a UsageError naming the holder's PID. Once held, the
        temporaries of killed writers are removed."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = open_lock(self.path / LOCK)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                raise RunBusy(f"{self.path} is in use by process {holder} (another run "
                                 "writes it); wait for it or choose another folder") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            for tmp in self.stale_temporaries():
                tmp.unlink(missing_ok=True)
            yield
        finally:
            os.close(fd)  # releases the lock


def open_lock(path: Path) -> int:
    """A descriptor of the lock file `path`, a regular file with no other name. The lock is
    written (the holder's PID), so it is never opened through a symbolic link (O_NOFOLLOW) nor
    kept when it is a hard link, a folder or anything but a plain file: a run folder copied in
    may carry any of them, and writing the PID into it would overwrite whatever it shares with.
    Such an entry is not a lock of ours and is replaced by a fresh file; the one a live run
    holds is always plain, so it is never replaced."""
    for _ in range(3):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                raise RecordError(f"cannot open {path}: {exc.strerror or exc}") from None
        else:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
                return fd
            os.close(fd)
        try:
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            raise RecordError(f"{path} is not a lock file and cannot be replaced: "
                              f"{exc.strerror or exc}") from None
    raise RecordError(f"{path} keeps being replaced by something other than a plain file")


def _torch_save(state: dict, path: Path) -> None:
    with open(path, "wb") as fh:  # closed here on any error, so its space is freed with it
        torch.save(state, fh)


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError with an errno behind an exception (torch wraps a failed write in a
    RuntimeError whose context is the OSError), or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return current
        current = current.__cause__ or current.__context__
    return None


def find_runs(root: str | Path) -> list[RunDir]:
    """Every run directory (a folder with config.json) under root, root included, in path
    order."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    return [RunDir(p.parent) for p in sorted(root.rglob(CONFIG))]
