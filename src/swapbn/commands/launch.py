"""`swapbn train --nproc-per-node N`: the command started again on N processes of this machine
by torchrun's own launcher, as `torchrun --standalone --nproc-per-node N -m swapbn train ...`
would start it; each process then joins the run's ranks (training/distributed.py)."""

from __future__ import annotations


def launch(nproc: int, argv: list[str]) -> int:
    """`swapbn ARGV` on `nproc` processes of this machine, started by torchrun's own launcher
    (torch.distributed.run, standalone rendezvous); returns the exit status of the first
    process that failed, else 0."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        torchrun(["--standalone", "--nproc-per-node", str(nproc), "-m", "swapbn", *argv])
    except ChildFailedError as exc:
        codes = [f.exitcode for f in exc.failures.values() if f.exitcode]
        return codes[0] if codes else 1
    return 0


def without_option(argv: list[str], option: str) -> list[str]:
    """argv without `option VALUE` / `option=VALUE`."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out
