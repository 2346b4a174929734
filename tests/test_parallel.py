"""Jobs side by side, one core each: the results of a one-thread run in this thread, in the jobs' order."""

import pytest
import torch

from embedkit import parallel
from embedkit.glove import Cooccurrence, GloVe


def fit(seed: int) -> torch.Tensor:
    """A small GloVe fit; it draws from its own generator, so threads side by side do not mix its draws."""
    g = torch.Generator().manual_seed(100)
    rows, cols = torch.randint(0, 300, (20_000,), generator=g), torch.randint(0, 300, (20_000,), generator=g)
    x = Cooccurrence(rows, cols, torch.rand(20_000, dtype=torch.float64, generator=g) * 5 + 0.1, 300)
    model = GloVe(300, dim=40, seed=seed, device="cpu")
    model.train(x, epochs=2, batch_size=2048)
    return model.vectors()


def test_results_are_those_of_one_thread_in_the_jobs_order():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected = [fit(seed) for seed in (3, 1, 2, 0)]
    finally:
        torch.set_num_threads(threads)
    for workers in (1, 2, 3):
        got = parallel.side_by_side(fit, [3, 1, 2, 0], device="cpu", workers=workers)
        assert all(torch.equal(a, b) for a, b in zip(got, expected)), workers
    assert torch.get_num_threads() == threads  # the caller's thread count is left alone


def test_each_worker_computes_on_one_core_and_errors_surface():
    assert parallel.side_by_side(lambda _: torch.get_num_threads(), range(4), device="cpu", workers=2) == [1] * 4
    assert parallel.side_by_side(lambda job: job * 2, [], device="cpu") == []

    def fails(job):
        raise KeyError(f"job {job}")

    with pytest.raises(KeyError, match="job 0"):
        parallel.side_by_side(fails, [0, 1], device="cpu")
    with pytest.raises(ValueError, match="workers must be at least 1"):
        parallel.side_by_side(fit, [0], device="cpu", workers=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_the_jobs_run_in_this_thread():
    import threading
    main = threading.get_ident()
    assert parallel.side_by_side(lambda _: threading.get_ident(), range(3), device="cuda") == [main] * 3
