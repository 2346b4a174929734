"""Search sharded over processes with ``torch.distributed``: each process searches its rows, the top-k are merged.

A database too large for one machine is cut into shards, rows ``offset`` to
``offset + len(shard) - 1`` of the global database on each process. Every process
gets the same queries, searches its own shard (`sharded_exact_search` with
`embedkit.search.exact_search`, `sharded_ivf_search` with an `embedkit.search.IVFFlat`),
turns its row numbers into global ids by adding its ``offset``, and the per-shard
top-k lists are exchanged (``all_gather``) and merged into the global top-k, which
every process returns. The k best of the whole database are among the union of
each shard's k best, so the merge is exact: the result is the single-process one.
For IVF-Flat this holds when the shards share one coarse quantiser, so that a query
probes the same lists everywhere: train once and build each shard's index with
`embedkit.search.IVFFlat.from_centroids` (or train on the same data with the same
seed in every process).

The functions work in any process group: gloo (CPU tensors) or NCCL (each
process's tensors on its own GPU). `run_local` starts ``world_size`` processes on
this machine (gloo on a free localhost port), runs a function in each and returns
rank 0's result; `shard_bounds` splits ``n`` rows evenly.

Left out: sharding across machines (the same calls, with ``init_process_group``
given the address of rank 0), replicas for throughput, queries that arrive at one
process and are broadcast, and fault tolerance (a process that fails leaves the
others waiting until the group's timeout; `run_local` stops them).
"""

from __future__ import annotations

import datetime
import numbers
import os
import pickle
import socket
import tempfile
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from .device import get_device
from .errors import is_whole
from .kmeans import Vectors, check_vectors
from .search import IVFFlat, _check_metric, _finish, exact_search


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """The rows ``start:end`` of shard ``rank`` when ``n`` rows are split into ``world_size`` near-equal shards."""
    if not is_whole(n) or n < 0:
        raise ValueError(f"n (the number of rows) must be a whole number of at least 0; got {n!r}.")
    if (not isinstance(world_size, numbers.Integral) or not isinstance(rank, numbers.Integral)
            or isinstance(rank, bool) or world_size < 1 or not 0 <= rank < world_size):
        raise ValueError(f"need 0 <= rank < world_size with world_size >= 1; got rank={rank}, world_size={world_size}.")
    size, extra = divmod(n, world_size)
    start = rank * size + min(rank, extra)
    return start, start + size + (rank < extra)


def _total(n: int, device: torch.device, group) -> int:
    """The sum of ``n`` over the processes of the group."""
    total = torch.tensor([n], dtype=torch.long, device=device)
    dist.all_reduce(total, group=group)
    return int(total)


def _comm_device(device: torch.device, group) -> torch.device:
    """Where the collective runs: gloo needs CPU tensors, NCCL the process's GPU."""
    return torch.device("cpu") if dist.get_backend(group) == "gloo" else device


def _check_global_k(k: int, n_local: int, device: torch.device, group) -> int:
    """The global number of vectors, after checking ``k`` against it (the same answer in every process)."""
    if not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    total = _total(n_local, _comm_device(device, group), group)
    if k > total:
        raise ValueError(f"k={k} is larger than the sharded database ({total} vectors in all); ask for k <= {total}.")
    return total


def _pad(scores: torch.Tensor, ids: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Larger-is-better ``(n, k)`` lists: a shard with fewer than ``k`` vectors fills in -inf and id -1."""
    missing = k - scores.shape[1]
    if missing > 0:
        scores = torch.nn.functional.pad(scores, (0, missing), value=-torch.inf)
        ids = torch.nn.functional.pad(ids, (0, missing), value=-1)
    return scores, ids


def _gather_merge(scores: torch.Tensor, ids: torch.Tensor, k: int, metric: str,
                  group) -> tuple[torch.Tensor, torch.Tensor]:
    """Every process's ``(scores, global ids)`` gathered and merged into the global top-``k``."""
    device = scores.device
    best = scores.neg() if metric == "l2" else scores  # larger is better
    best, ids = _pad(best, ids, k)
    comm = _comm_device(device, group)
    best, ids = best.to(comm).contiguous(), ids.to(comm).contiguous()
    world = dist.get_world_size(group)
    all_scores, all_ids = [torch.empty_like(best) for _ in range(world)], [torch.empty_like(ids) for _ in range(world)]
    dist.all_gather(all_scores, best, group=group)
    dist.all_gather(all_ids, ids, group=group)
    merged = torch.cat(all_scores, dim=1)
    top = merged.topk(k, dim=1)
    result = (top.values.to(device), torch.cat(all_ids, dim=1).gather(1, top.indices).to(device))
    return _finish(result, metric)


def sharded_exact_search(queries: Vectors, shard: Vectors, k: int, metric: str = "ip", offset: int = 0,
                         group=None, device: str | torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact global top-``k`` when each process holds rows ``offset..offset + len(shard) - 1``.

    Call it in every process of ``group`` (the default group if None) with the same queries; each gets
    the same ``(scores, ids)`` as `embedkit.search.exact_search` on the whole database, ids global.
    """
    dev = get_device(device)
    x = check_vectors(shard, "the shard's vectors", dev)
    q = check_vectors(queries, "the query vectors", dev, dim=x.shape[1])
    _check_metric(metric)  # checked before the exchange: queries bad in every process stop them all
    _check_global_k(k, x.shape[0], dev, group)
    k = int(k)
    scores, ids = exact_search(q, x, min(k, x.shape[0]), metric, device=dev)
    return _gather_merge(scores, ids + offset, k, metric, group)


def sharded_ivf_search(queries: Vectors, index: IVFFlat, k: int, nprobe: int, offset: int = 0,
                       group=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The global IVF-Flat top-``k`` when each process's ``index`` holds rows ``offset..offset + ntotal - 1``.

    The indexes must share their centroids (see `embedkit.search.IVFFlat.from_centroids`); then the result
    is that of one index holding the whole database. Places no probed list fills hold id -1, as in `IVFFlat`.
    """
    _check_global_k(k, index.ntotal, index.device, group)
    k = int(k)
    if index.ntotal:
        scores, ids = index.search(queries, min(k, index.ntotal), nprobe)
        ids = torch.where(ids >= 0, ids + offset, ids)
    else:  # an empty shard still takes part in the exchange
        n = torch.as_tensor(queries).shape[0]
        fill = torch.inf if index.metric == "l2" else -torch.inf
        scores = torch.full((n, k), fill, device=index.device)
        ids = torch.full((n, k), -1, dtype=torch.long, device=index.device)
    return _gather_merge(scores, ids, k, index.metric, group)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _to_cpu(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.cpu()
    if isinstance(x, (list, tuple)):
        return type(x)(_to_cpu(v) for v in x)
    if isinstance(x, dict):
        return {key: _to_cpu(v) for key, v in x.items()}
    return x


def _worker(rank: int, world_size: int, port: int, backend: str, threads: int, timeout: float, out: str,
            payload: bytes, args: tuple) -> None:
    torch.set_num_threads(threads)
    if backend == "nccl":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=timeout))
    try:
        result = pickle.loads(payload)(rank, world_size, *args)
        if rank == 0:
            torch.save(_to_cpu(result), out)
    finally:
        dist.destroy_process_group()


def run_local(fn: Callable[..., Any], world_size: int, *args: Any, backend: str = "gloo",
              threads: int | None = None, timeout: float = 300.0) -> Any:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` new processes joined in one process group.

    Returns rank 0's return value (tensors moved to the CPU). ``fn`` may be defined in a notebook (it is
    sent with cloudpickle); ``args`` go through shared memory. Each process uses ``threads`` torch threads
    (default: the CPU cores shared out). ``backend="nccl"`` puts process ``r`` on GPU ``r``.
    """
    if not isinstance(world_size, numbers.Integral) or world_size < 1:
        raise ValueError(f"world_size must be a positive integer, got {world_size!r}.")
    if backend == "nccl" and torch.cuda.device_count() < world_size:
        raise ValueError(f"backend='nccl' needs one GPU per process: {world_size} processes, "
                         f"{torch.cuda.device_count()} GPUs; use backend='gloo' or fewer processes.")
    try:  # cloudpickle (in requirements.lock) sends functions defined in a notebook or script by value
        from cloudpickle import dumps
    except ImportError:  # without it, fn must be importable: defined at the top level of a module
        dumps = pickle.dumps
    threads = threads or max(1, (os.cpu_count() or 1) // world_size)
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "rank0.pt")
        mp.spawn(_worker, args=(world_size, _free_port(), backend, threads, timeout, out, dumps(fn), args),
                 nprocs=world_size, join=True)
        return torch.load(out, weights_only=False)
