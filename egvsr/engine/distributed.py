"""torchrun support: one code path for a single process and for DistributedDataParallel.

`torchrun` sets RANK / LOCAL_RANK / WORLD_SIZE; without them everything runs as rank 0 of 1. gloo is used on
CPU, NCCL on CUDA. Only rank 0 logs and writes checkpoints.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from egvsr.errors import ConfigError, EgvsrError
from egvsr.process import whole_number_variable


#: how long the other ranks wait at `barrier` while rank 0 validates and writes checkpoints alone: a
#: whole-frame validation of CED takes longer than the process group's own timeout
WAIT_FOR_MAIN = timedelta(days=7)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    wait_group: object = None  # the process group `barrier` waits on (None: the default group)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str | torch.device | int, local_rank: int = 0, where: str = "device") -> torch.device:
    """`auto` picks CUDA (this process's local GPU) when available, else CPU. Anything else must name a
    device this machine has, refused otherwise in one line naming `where` (the key or the parameter)."""
    if isinstance(name, torch.device):
        name = str(name)  # named as the user would write it: 'cuda:1', not device(type='cuda', index=1)
    if not isinstance(name, (str, int)):  # an array is not compared by element below
        raise ConfigError(f"{where} {name!r:.60}: expected auto, cpu, cuda, cuda:N or mps, got {type(name).__name__}")
    if name in ("auto", "cuda") and torch.cuda.is_available():  # this process's local GPU, which must exist
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"{where} {name!r}: this process's LOCAL_RANK {local_rank} (torchrun) needs CUDA "
                              f"device {local_rank}, but this machine has {torch.cuda.device_count()}; start at "
                              "most that many processes per node")
        return torch.device(f"cuda:{local_rank}")
    if name == "auto":
        return torch.device("cpu")
    try:
        if isinstance(name, bool):
            dev = None
        else:  # an int is a CUDA index (torch's own lookup of one fails on a machine without CUDA)
            dev = torch.device("cuda", name) if isinstance(name, int) else torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"{where} {name!r}: expected auto, cpu, cuda, cuda:N or mps")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{where} {name!r} requested but CUDA is not available; use cpu or auto instead")
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"{where} {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(f"{where} {name!r} requested but MPS is not available; use cpu or auto instead")
    return dev


def torchrun_environment(environ: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """(world size, rank, local rank) from torchrun's variables (1, 0, 0 without them), checked before the
    process group is joined: a value that is not a whole number, a rank outside the job, or a job of
    several processes without the rendezvous address torchrun sets is refused in one line naming the
    variable, not a traceback of int() or of torch's rendezvous (a division by zero for WORLD_SIZE=0)."""
    env = os.environ if environ is None else environ
    advice = " (torchrun sets it; unset it to run as one process)"
    world = whole_number_variable(env, "WORLD_SIZE", 1, 1, advice=advice)
    rank = whole_number_variable(env, "RANK", 0, 0, world - 1, advice=advice)
    local_rank = whole_number_variable(env, "LOCAL_RANK", 0, 0, world - 1, advice=advice)
    if world > 1:
        whole_number_variable(env, "MASTER_PORT", 0, 1, 65535, advice=advice)
        missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not env.get(k)]
        if missing:
            raise ConfigError(f"environment variable WORLD_SIZE={world} without {', '.join(missing)}: a job of "
                              "several processes is started by torchrun, which sets them (unset WORLD_SIZE to "
                              "run as one process)")
    return world, rank, local_rank


def init_distributed(device_name: str = "auto") -> DistInfo:
    """Join the torchrun process group if launched by torchrun, else a 1-process 'group'."""
    world, rank, local_rank = torchrun_environment()
    device = resolve_device(device_name, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    wait_group = dist.new_group(backend="gloo", timeout=WAIT_FOR_MAIN) if world > 1 else None  # (collective)
    return DistInfo(rank, local_rank, world, device, wait_group)


def barrier(info: DistInfo) -> None:
    """Wait until every rank gets here, however long rank 0 spends validating or saving alone: on
    `info.wait_group` (gloo, `WAIT_FOR_MAIN`) when it has one, where the process group's own timeout
    (NCCL's 10 minutes, gloo's 30) would stop the other ranks amid a long validation. A peer that died still
    ends the wait at once (its connection closes)."""
    if info.distributed:
        dist.barrier(group=info.wait_group)


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over ranks (identity in a single process)."""
    if not info.distributed:
        return value
    v = value.detach().clone()
    dist.all_reduce(v, op=dist.ReduceOp.SUM)
    return v / info.world_size


# what gloo and NCCL say when a peer process of the job has gone (it exited on its own error)
_PEER_GONE = ("connection closed by peer", "connection reset by peer", "broken pipe", "socket closed",
              "nccl communicator was aborted", "connection refused")


def peer_stopped(exc: BaseException, info: DistInfo) -> EgvsrError | None:
    """One line for a collective that failed because another process of the torchrun job stopped (its
    own error is printed by that process), instead of the backend's traceback on every other rank; None
    for any other error."""
    if not info.distributed or not isinstance(exc, RuntimeError) or isinstance(exc, EgvsrError):
        return None
    if not any(k in str(exc).lower() for k in _PEER_GONE):
        return None
    return EgvsrError(f"rank {info.rank} of {info.world_size}: another process of this torchrun job stopped "
                      "(its error is printed above by that process), so this one stops too")


def shutdown(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()
