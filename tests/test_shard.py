"""Sharded search: 2 processes (gloo) return exactly the single-process result, for exact search and IVF-Flat."""

import pytest
import torch

from embedkit.search import IVFFlat, exact_search
from embedkit.shard import run_local, shard_bounds, sharded_exact_search, sharded_ivf_search

METRICS = ("cosine", "l2")


def _job(rank, world_size, queries, database, centroids, device):
    """Each process searches its half of the database; also an uneven split (rows 0-4 and 5-...) and a too-large k."""
    start, end = shard_bounds(len(database), rank, world_size)
    out = {}
    for metric in METRICS:
        out[metric, "exact"] = sharded_exact_search(queries, database[start:end], 10, metric, offset=start, device=device)
        index = IVFFlat.from_centroids(centroids[metric], metric, device=device).add(database[start:end])
        out[metric, "ivf"] = sharded_ivf_search(queries, index, 10, nprobe=4, offset=start)
    uneven = 0 if rank == 0 else 5
    out["uneven"] = sharded_exact_search(queries, database[uneven:5 if rank == 0 else None], 10, "ip",
                                         offset=uneven, device=device)
    try:
        sharded_exact_search(queries, database[start:end], len(database) + 1, device=device)
    except ValueError as error:  # raised in every process, after they agree on the total
        out["error"] = str(error)
    return out


def test_shard_bounds_by_hand():
    assert [shard_bounds(10, r, 3) for r in range(3)] == [(0, 4), (4, 7), (7, 10)]
    assert shard_bounds(5, 0, 1) == (0, 5)
    with pytest.raises(ValueError, match="rank"):
        shard_bounds(10, 3, 3)


def test_two_processes_return_the_single_process_result(glove_data, device):
    database, queries = glove_data[0][:4000], glove_data[1][:50]
    centroids = {m: IVFFlat(16, m, device="cpu").train(database).centroids for m in METRICS}
    sharded = run_local(_job, 2, queries, database, centroids, device)
    for metric in METRICS:
        single = exact_search(queries, database, 10, metric, device=device)
        index = IVFFlat.from_centroids(centroids[metric], metric, device=device).add(database)
        for kind, (scores, ids) in (("exact", single), ("ivf", index.search(queries, 10, nprobe=4))):
            got_scores, got_ids = sharded[metric, kind]
            assert torch.equal(got_ids, ids.cpu()), (metric, kind)
            assert (got_scores - scores.cpu()).abs().max() <= 1e-6 * max(1.0, float(scores.abs().max())), (metric, kind)
    scores, ids = sharded["uneven"]  # the first process holds 5 rows, fewer than k = 10
    assert torch.equal(ids, exact_search(queries, database, 10, "ip", device="cpu")[1])
    assert "larger than the sharded database (4000 vectors" in sharded["error"]
    # the IVF search probes 4 of 16 lists: not the exact result, which is why both are checked
    assert not torch.equal(sharded["l2", "ivf"][1], sharded["l2", "exact"][1])
