"""Scale-out through torch.distributed (``torchrun``): shards of every (dataset, condition)
are dealt round-robin to the ranks, each rank writes its shards into the one shared store, and
rank 0 reads them all back and writes the results once.

Nothing here is home-made transport: ``torchrun`` sets RANK / WORLD_SIZE / MASTER_ADDR (one
node or many, with its usual flags) and we use the process group it describes (gloo on CPU,
NCCL on GPUs). The shard list is decided by rank 0 and broadcast, so no shard is forwarded
twice or forgotten even when another rank has already written one. The store must be on a
file system every rank sees (the same folder on one node; a shared mount across nodes).

A run leaves the process group it joined (``Ranks.leave``) as soon as its last collective is
behind it, on every rank, while Python is still whole. A rank that exits with the group alive
tears gloo's worker threads down during interpreter finalisation, and under load that ends in
``terminate called without an active exception`` (SIGABRT), torchrun then killing the other
rank: the follower, which stops after the forward passes while rank 0 evaluates, hit it first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    # the process group was joined for this run (``ranks_from_environment``), so the run leaves
    # it; a group the caller made stays the caller's to destroy
    joined: bool = False

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def mine(self, shards: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return shards[self.rank :: self.world]

    def agree(self, value: Any) -> Any:
        """Rank 0's value on every rank."""
        if self.world == 1:
            return value
        payload = [value if self.leader else None]
        torch.distributed.broadcast_object_list(payload, src=0)
        return payload[0]

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def total(self, count: int) -> int:
        if self.world == 1:
            return count
        tensor = torch.tensor([count], dtype=torch.int64)
        torch.distributed.all_reduce(tensor)
        return int(tensor.item())

    def leave(self) -> None:
        """Destroy the process group this run joined, once no collective is left to make.

        Every collective before it has completed on this rank, and each rank calls it after
        the same last collective, so nothing is in flight between the ranks: a follower may
        leave while rank 0 goes on evaluating (which needs no group). Leaving here, not at
        exit, joins gloo's threads while the interpreter is alive (issue 22, item 7). Calling
        it twice, or on a group the caller made, does nothing."""
        import torch.distributed as dist

        if self.joined and dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def ranks_from_environment(device: str) -> Ranks:
    """The process group torchrun describes, joined once; a plain run is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    import torch.distributed as dist

    joined = not dist.is_initialized()
    if joined:
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), joined)


def rank_device(device: str, ranks: Ranks) -> str:
    """``--device cuda`` under torchrun: each process takes the GPU of its local rank."""
    return f"cuda:{ranks.local_rank}" if device == "cuda" and ranks.world > 1 else device
