"""The shared training loop: it learns, it is repeatable, early stopping keeps the best weights, bad input."""

import math

import pytest
import torch
from torch import nn

from embedkit import train
from embedkit.errors import EmptyInputError, ShapeError


def regression(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.01 * torch.randn(n, 1, generator=g)


def mse(model, x, y):
    return (model(x) - y).pow(2).mean()


def test_fit_learns_a_linear_map_and_is_repeatable(device):
    x, y = regression()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = nn.Linear(3, 1)
        history = train.fit(model, mse, (x, y), epochs=40, batch_size=32, lr=0.05, seed=3, device=device)
        runs.append((history.train, model.weight.detach().clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
    assert history.train[-1] < 1e-3 < history.train[0]
    assert next(model.parameters()).device.type == device
    assert torch.allclose(model.weight.cpu(), torch.tensor([[1.0, -2.0, 0.5]]), atol=0.02)
    assert train.evaluate(model, mse, (x, y)) < 1e-3


def test_early_stopping_restores_the_best_epoch():
    x, y = regression()
    xv, yv = regression(64, seed=1)
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    # a learning rate this large makes the loss jump around: the best epoch is not the last
    history = train.fit(model, mse, (x, y), val=(xv, yv), epochs=30, batch_size=256, lr=3.0, patience=3, device="cpu")
    assert len(history.val) == len(history.train) <= 30
    best = min(history.val)
    assert history.val[history.best_epoch - 1] == best  # epochs count from 1
    assert train.evaluate(model, mse, (xv, yv)) == pytest.approx(best, rel=1e-6)
    if history.best_epoch < len(history.val):
        assert len(history.val) - history.best_epoch == 3  # stopped after `patience` epochs without gain


def test_cosine_schedule_by_hand():
    """With a constant gradient every Adam step moves a weight by exactly the learning rate of that step."""
    x = torch.zeros(64, 3)
    for cosine, expected in [(False, 4 * 0.1), (True, 0.1 * sum(0.5 * (1 + math.cos(math.pi * s / 4)) for s in range(4)))]:
        model = nn.Linear(3, 1)
        start = float(model.bias.detach())
        train.fit(model, lambda m, x: m.bias.sum(), (x,), epochs=1, batch_size=16, lr=0.1, cosine=cosine, device="cpu")
        assert start - float(model.bias.detach()) == pytest.approx(expected, rel=1e-5)
    assert expected == pytest.approx(0.25)


def test_batched_equals_one_call(device):
    model = nn.Linear(3, 2).to(device)
    x = torch.randn(1000, 3, device=device)
    with torch.no_grad():
        out = train.batched(model, x, batch_size=64)
        assert out.device.type == device and torch.allclose(out, model(x))


def test_batched_returns_results_where_the_input_is(device):
    """CPU data streamed through a model on ``device`` come back on the CPU (ready for numpy), tuples too."""
    model = nn.Linear(3, 2).to(device)
    x = torch.randn(300, 3)
    with torch.no_grad():
        out = train.batched(model, x, batch_size=64)
        both = train.batched(lambda b: (model(b), model(b).sum(1)), x, batch_size=64, device=device)
        expected = model(x.to(device)).cpu()
    assert out.device.type == "cpu" and torch.allclose(out, expected, atol=1e-6)
    assert all(t.device.type == "cpu" for t in both) and torch.allclose(both[1], expected.sum(1), atol=1e-6)


def test_bad_input():
    model = nn.Linear(3, 1)
    x, y = regression()
    with pytest.raises(ShapeError, match="different lengths"):
        train.fit(model, mse, (x, y[:10]), device="cpu")
    with pytest.raises(EmptyInputError, match="holds no examples"):
        train.fit(model, mse, (x[:0], y[:0]), device="cpu")
    with pytest.raises(TypeError, match="must be a tuple of tensors.*got a single tensor"):
        train.fit(model, mse, x, device="cpu")
    with pytest.raises(FloatingPointError, match="lower lr"):
        train.fit(model, mse, (x * 1e30, y), lr=1e10, epochs=3, device="cpu")
    for batch_size in (0, -1, 2.5):  # 0 gave range()'s error, -1 an IndexError from batched
        with pytest.raises(ValueError, match="batch_size must be a whole number of at least 1"):
            train.fit(model, mse, (x, y), batch_size=batch_size, device="cpu")
        with pytest.raises(ValueError, match="batch_size must be a whole number"):
            train.evaluate(model, mse, (x, y), batch_size=batch_size)
        with pytest.raises(ValueError, match="batch_size must be a whole number"):
            train.batched(model, x, batch_size=batch_size)
    with pytest.raises(ValueError, match="epochs must be a whole number"):
        train.fit(model, mse, (x, y), epochs=0, device="cpu")


def test_on_epoch_sees_every_epoch_in_training_mode_afterwards():
    x, y = regression(64)
    model = nn.Sequential(nn.Linear(3, 1), nn.Dropout(0.0))
    seen = []

    def on_epoch(epoch, m):
        was_training = m.training
        m.eval()  # a probe may switch to evaluation mode; fit switches back
        seen.append((epoch, train.evaluate(m, mse, (x, y)), was_training))

    history = train.fit(model, mse, (x, y), epochs=3, batch_size=16, lr=0.05, device="cpu", on_epoch=on_epoch)
    assert [e for e, _, _ in seen] == [1, 2, 3] and seen[-1][1] < seen[0][1]
    assert all(was_training for _, _, was_training in seen)  # each epoch trained, and was probed, in training mode
    assert len(history.train) == 3


def test_progress_bars_follow_the_environment(monkeypatch, capsys):
    """EMBEDKIT_PROGRESS=0 silences the bars (tests, builds), 1 forces them, unset shows them in IPython."""
    import sys

    from embedkit import progress

    monkeypatch.setenv("EMBEDKIT_PROGRESS", "0")
    assert not progress.enabled() and list(progress.progress(range(3), desc="quiet")) == [0, 1, 2]
    assert "quiet" not in capsys.readouterr().err
    monkeypatch.setenv("EMBEDKIT_PROGRESS", "1")
    assert progress.enabled() and list(progress.progress(range(3), total=3, desc="shown")) == [0, 1, 2]
    assert "shown" in capsys.readouterr().err  # tqdm drew its bar
    monkeypatch.delenv("EMBEDKIT_PROGRESS")
    monkeypatch.setitem(sys.modules, "IPython", sys)  # as inside a notebook kernel
    assert progress.enabled()


def test_best_epoch_counts_from_one_like_on_epoch():
    x, y = regression()
    seen = []
    torch.manual_seed(0)
    history = train.fit(nn.Linear(3, 1), mse, (x, y), val=(x, y), epochs=4, batch_size=64, lr=1e-2, device="cpu",
                        on_epoch=lambda epoch, model: seen.append(epoch))
    assert seen == [1, 2, 3, 4]
    assert history.val == sorted(history.val, reverse=True)  # a small step: every epoch improves
    assert history.best_epoch == seen[-1] == 4


def test_every_training_function_returns_a_history():
    """One return type: rows per epoch (epoch from 1), best_epoch, seconds; a DataFrame of it is a table."""
    import pandas as pd

    from embedkit.glove import GloVe, cooccurrence
    from embedkit.mf import BiasedMF, fit_als, fit_sgd
    from embedkit.ratings import Ratings
    from embedkit.word2vec import Word2VecConfig, train_word2vec

    x, y = regression()
    histories = {"fit": train.fit(nn.Linear(3, 1), mse, (x, y), val=(x, y), epochs=2, device="cpu")}
    _, histories["word2vec"] = train_word2vec([["a", "b", "c", "a", "b"]] * 20, Word2VecConfig(dim=4, min_count=1, epochs=2), device="cpu")
    ids = torch.tensor([0, 1, 2, 0, 1, 2, 1])
    histories["glove"] = GloVe(3, dim=2, device="cpu").train(cooccurrence(ids, torch.zeros(7, dtype=torch.long), 3, 2), epochs=2)
    ratings = Ratings(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1]), torch.tensor([5.0, 3.0, 4.0, 2.0]),
                      torch.zeros(4, dtype=torch.long), [10, 11], [20, 21])
    histories["fit_sgd"] = fit_sgd(BiasedMF(2, 2, factors=1), ratings, epochs=2, device="cpu")
    histories["fit_als"] = fit_als(BiasedMF(2, 2, factors=1), ratings, epochs=2, device="cpu")
    for name, history in histories.items():
        assert isinstance(history, train.History), name
        assert [row["epoch"] for row in history] == [1, 2], name
        assert history.best_epoch in (1, 2) and 0 < history.seconds < 30, name  # a real duration
        assert list(pd.DataFrame(history)["epoch"]) == [1, 2], name
    assert histories["fit"].train == histories["fit"].column("train loss") and len(histories["fit"].val) == 2


def test_fit_refuses_a_learning_rate_that_is_not_positive_and_finite():
    x, y = regression()
    for lr in (0.0, -1e-3, float("nan"), float("inf"), "1e-3"):  # 0 returned the model unchanged, silently
        with pytest.raises(ValueError, match="lr must be a positive finite number"):
            train.fit(nn.Linear(3, 1), mse, (x, y), epochs=1, lr=lr, device="cpu")
    assert len(train.fit(nn.Linear(3, 1), mse, (x, y), epochs=1, lr=1e-9, device="cpu")) == 1


def test_batched_takes_numpy_arrays_and_lists():
    import numpy as np

    model = nn.Linear(3, 2)
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    expected = train.batched(model, torch.from_numpy(x), batch_size=3, device="cpu")
    assert torch.equal(train.batched(model, x, batch_size=3, device="cpu"), expected)
    assert torch.equal(train.batched(model, x.tolist(), batch_size=3, device="cpu"), expected)
