"""Under torchrun, `auto` and `cuda` give each process the GPU of its LOCAL_RANK: on a node with fewer GPUs than
processes, the rank without a GPU is refused in one line before the process group is joined (it was handed
`cuda:N` for a GPU that does not exist, and `torch.cuda.set_device` failed with a CUDA traceback). CUDA is
faked: the check reads only `is_available` and `device_count`."""

from __future__ import annotations

import pytest
import torch

from egvsr.engine import distributed
from egvsr.engine.distributed import init_distributed, resolve_device
from egvsr.errors import ConfigError


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.mark.parametrize("name", ["auto", "cuda"])
def test_local_rank_takes_its_own_gpu(name, two_gpus) -> None:
    assert resolve_device(name, 0) == torch.device("cuda:0")
    assert resolve_device(name, 1) == torch.device("cuda:1")


@pytest.mark.parametrize("name", ["auto", "cuda"])
@pytest.mark.parametrize("rank", [2, 5])
def test_local_rank_without_a_gpu_is_refused(name, rank, two_gpus) -> None:
    with pytest.raises(ConfigError, match=rf"^device '{name}': .*LOCAL_RANK {rank} .*this machine has 2"):
        resolve_device(name, rank)


def test_init_distributed_refuses_before_joining(two_gpus, monkeypatch) -> None:
    joined = []
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda *a, **k: joined.append(a))
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: joined.append(d))
    for key, value in {"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "3", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match="LOCAL_RANK 3"):
        init_distributed("auto")
    assert joined == []


def test_without_cuda_auto_is_the_cpu_for_every_rank(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", 3) == torch.device("cpu")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda", 0)
