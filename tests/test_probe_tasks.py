"""Probing tasks: real examples, splits by group, and the ridge probe against scikit-learn's RidgeClassifier."""

import numpy as np
import pytest
import torch

from embedkit.errors import EmptyInputError, ShapeError
from embedkit.probe_tasks import ProbeTask, outlet_task, probe_layers, ridge_probe, word_in_context_task


@pytest.fixture(scope="module")
def words():
    return word_in_context_task()


def test_word_task_holds_real_sentences_and_splits_by_word(words):
    assert len(words) > 1500 and len(words.classes) >= 15
    for sentence, position, group in zip(words.sentences[:200], words.positions, words.groups):
        assert sentence[position] == group  # the probed word is where the task says
    train, val, test = words.split(seed=0)
    assert len(train) + len(val) + len(test) == len(words)
    sides = [{words.groups[i] for i in part.tolist()} for part in (train, val, test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert not torch.equal(words.split(seed=1)[2], test)


def test_outlet_task_is_balanced_and_one_sentence_per_article():
    task = outlet_task(per_outlet=40)
    assert len(task.classes) == 9 and torch.bincount(task.labels).tolist() == [40] * 9
    assert len(set(task.groups)) == len(task) and set(task.positions) == {-1}


def test_ridge_probe_equals_scikit_learn_on_real_vectors(words):
    from sklearn.linear_model import RidgeClassifier

    from embedkit.data import load_glove_arrays

    vocabulary, vectors = load_glove_arrays()
    row = {w: i for i, w in enumerate(vocabulary)}
    kept = [i for i, g in enumerate(words.groups) if g in row]
    x = torch.from_numpy(vectors[[row[words.groups[i]] for i in kept]]).double()
    y = words.labels[kept]
    for l2 in (0.1, 10.0):
        weight, bias = ridge_probe(x, y, len(words.classes), [l2])[0]
        reference = RidgeClassifier(alpha=l2, solver="cholesky").fit(x.numpy(), y.numpy())
        np.testing.assert_allclose(weight.T.numpy(), reference.coef_, atol=1e-8)
        np.testing.assert_allclose(bias.numpy(), reference.intercept_, atol=1e-8)


def test_tiny_example_by_hand():
    # one feature: class 0 at -1, class 1 at +1; with l2 = 0 the fit is exact: w = [-1, 1], b = 0
    x = torch.tensor([[-1.0], [1.0]], dtype=torch.float64)
    weight, bias = ridge_probe(x, torch.tensor([0, 1]), 2, [0.0])[0]
    assert torch.allclose(weight, torch.tensor([[-1.0, 1.0]], dtype=torch.float64)) and torch.allclose(bias, torch.zeros(2, dtype=torch.float64))


def test_probe_layers_reads_labels_and_ignores_noise(words):
    y = words.labels
    informative = torch.nn.functional.one_hot(y).float() + 0.01 * torch.randn(len(y), len(words.classes))
    noise = torch.randn(len(y), 20, generator=torch.Generator().manual_seed(0))
    scores = probe_layers([informative, noise], words, seeds=(0, 1))
    assert scores.shape == (2, 2) and bool((scores[0] == 1).all())
    assert float(scores[1].max()) < 0.35  # the largest class holds about 1/6 of the examples


def test_bad_input():
    task = ProbeTask("t", [["a"], ["b"]], [0, 0], torch.tensor([0, 1]), ["x", "y"], ["a", "b"])
    with pytest.raises(ShapeError, match="features"):
        probe_layers([torch.zeros(3, 2)], task)
    with pytest.raises(EmptyInputError):
        probe_layers([], task)
    with pytest.raises(ValueError, match="fractions"):
        task.split(fractions=(0.5, 0.5, 0.0))
    with pytest.raises(ValueError, match="non-negative"):
        ridge_probe(torch.zeros(2, 1), torch.tensor([0, 1]), 2, [-1.0])


def test_non_finite_features_empty_training_sets_and_nan_penalties_are_refused():
    """NaN features used to end in an eigh convergence error, no rows in NaN weights, l2=NaN in NaN weights."""
    y = torch.arange(40) % 2
    x = torch.randn(40, 10, generator=torch.Generator().manual_seed(0))
    task = ProbeTask("t", [["a"]] * 40, [0] * 40, y, ["a", "b"], [str(i) for i in range(40)])
    for bad in (float("nan"), float("inf")):
        broken = x.clone()
        broken[3, 2] = bad
        with pytest.raises(ValueError, match="layer 1: features contain NaN or infinity"):
            probe_layers([x, broken], task, seeds=(0,))
        with pytest.raises(ValueError, match="x_train contains NaN or infinity"):
            ridge_probe(broken, y, 2, [1.0])
    with pytest.raises(EmptyInputError, match="x_train has no rows"):
        ridge_probe(x[:0], y[:0], 2, [1.0])
    with pytest.raises(ValueError, match="non-negative numbers"):
        ridge_probe(x, y, 2, [1.0, float("nan")])
    assert probe_layers([x], task, seeds=(0,)).shape == (1, 1)
    assert all(bool(torch.isfinite(w).all()) for w, _ in ridge_probe(x, y, 2, [0.0, 1.0, float("inf")]))


def test_outlet_task_counts_are_checked():
    """sentence_index=-1 used to fail with an IndexError on a short article; per_outlet=-1 in random.sample."""
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="sentence_index must be a whole number of at least 0"):
            outlet_task(per_outlet=2, sentence_index=bad)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="per_outlet must be a whole number of at least 1"):
            outlet_task(per_outlet=bad)


def test_splits_with_an_empty_part_are_refused():
    task = ProbeTask("t", [["a"]] * 6, [0] * 6, torch.tensor([0, 1] * 3), ["x", "y"], ["a", "a", "b", "b", "c", "c"])
    with pytest.raises(EmptyInputError, match="leaves the test part empty; use more groups"):
        task.split()
    with pytest.raises(EmptyInputError, match="use more groups"):
        probe_layers([torch.randn(6, 2)], task, seeds=(0,))  # gave tensor([[nan]]) before
    with pytest.raises(EmptyInputError, match=r"seeds=\(0,\)"):
        probe_layers([torch.randn(6, 2)], task, seeds=())


def test_labels_and_penalties_are_checked():
    x = torch.randn(4, 2, dtype=torch.float64)
    for labels in (torch.tensor([0, 1, -1, 0]), torch.tensor([0, 1, 2, 0])):
        with pytest.raises(ValueError, match=r"labels must lie in 0..1"):
            ridge_probe(x, labels, 2, [1.0])
    with pytest.raises(ShapeError, match="one label per row"):
        ridge_probe(x, torch.tensor([0, 1]), 2, [1.0])
    with pytest.raises(TypeError, match=r"labels \(class ids\) must be integers"):
        ridge_probe(x, torch.tensor([0.0, 1.0, 0.0, 1.0]), 2, [1.0])
    with pytest.raises(EmptyInputError, match="at least one penalty"):
        ridge_probe(x, torch.tensor([0, 1, 0, 1]), 2, [])
    with pytest.raises(ShapeError, match="one position, label and group per sentence"):
        ProbeTask("t", [["a"], ["b"]], [0, 0], torch.tensor([0]), ["x", "y"], ["a", "b"])
    with pytest.raises(ValueError, match="Map class names to indices"):
        ProbeTask("t", [["a"], ["b"]], [0, 0], torch.tensor([0, 2]), ["x", "y"], ["a", "b"])


def test_l2_zero_is_the_minimum_norm_least_squares_fit():
    """More features than examples: X^T X is singular; l2 = 0 gave NaN weights, now the pseudo-inverse's fit."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 5, generator=g, dtype=torch.float64), torch.tensor([0, 1, 0])
    weight, bias = ridge_probe(x, y, 2, [0.0])[0]
    targets = torch.tensor([[1.0, -1], [-1, 1], [1, -1]], dtype=torch.float64)
    xc = x - x.mean(0)
    expected = torch.linalg.pinv(xc) @ (targets - targets.mean(0))
    assert torch.isfinite(weight).all() and torch.allclose(weight, expected, atol=1e-10)
    assert torch.allclose(x @ weight + bias, targets, atol=1e-10)  # three points, five features: an exact fit
    zero, _ = ridge_probe(torch.ones(4, 2, dtype=torch.float64), torch.tensor([0, 1, 1, 1]), 2, [0.0])[0]
    assert torch.equal(zero, torch.zeros(2, 2, dtype=torch.float64))  # constant features carry nothing
