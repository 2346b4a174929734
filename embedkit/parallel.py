"""Independent training runs side by side, one CPU core each.

A small model's operations are too short to split well over two threads, so on
a 2-core CPU two such models trained at once, each on one thread, finish sooner
than the same two one after another on both cores (`benchmarks/side_by_side.py`
measures it on the chapters' runs; benchmarks/results/ holds a run). The
chapters train several runs this way (GloVe in chapter 3, the language models of
chapter 10); Word2Vec's Hogwild workers (`embedkit.hogwild`), which share their
vectors on purpose, use the same threads. It pays only where the work is torch
operations, which release Python's lock: loops of many tiny operations (an IVF
search) hold it too often.

`side_by_side` maps a function over a list of jobs in worker threads, each
limited to one core (torch releases Python's lock inside its operations, and the
thread limit of torch, OpenMP and MKL is per thread). Every job computes on one
thread, so its result is the same for any number of workers and on any machine
with the same code path: one job's numbers do not depend on which others ran
beside it. That holds only if a job draws its random numbers from its own
``torch.Generator`` (as `embedkit.word2vec.Word2Vec`, `embedkit.glove.GloVe` and
the ``generator=`` of `embedkit.mlm`'s losses do): torch's global generator is
shared by all threads, and the order in which they draw from it changes run to run.

Left out: processes (threads share the data without copies), and GPUs: on a GPU
the jobs run one after another, each using the whole device.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

import torch

from .device import get_device

Job = TypeVar("Job")
Result = TypeVar("Result")


def side_by_side(fn: Callable[[Job], Result], jobs: Iterable[Job],
                 device: str | torch.device | None = None, workers: int | None = None) -> list[Result]:
    """``[fn(job) for job in jobs]``, computed in ``workers`` threads of one core each on a CPU.

    ``workers`` defaults to torch's thread count (the cores it would use for one job). On a GPU
    (``device``, or `get_device`'s choice) the jobs run one after another in this thread. Results
    come back in the order of ``jobs``; an exception in a job is raised here.
    """
    jobs = list(jobs)
    workers = torch.get_num_threads() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1; got {workers}.")
    if get_device(device).type != "cpu":
        return [fn(job) for job in jobs]

    def one_core(job: Job) -> Result:
        torch.set_num_threads(1)  # this worker thread's limit; the caller's is untouched
        return fn(job)

    with ThreadPoolExecutor(min(workers, max(len(jobs), 1))) as pool:
        return list(pool.map(one_core, jobs))
