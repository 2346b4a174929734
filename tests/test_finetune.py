"""Contrastive training: the cached top layers reproduce the shipped encoder before training and train alone,
the bag of word pieces by hand, and the training loop on a tiny problem."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from embedkit.bert import SentenceEncoder
from embedkit.errors import EmptyInputError
from embedkit.finetune import BagOfPieces, TopLayers, train_pairs
from embedkit.layerwise import layer_features

TITLES = ["Central bank raises rates", "Earthquake survivors found", "Team wins the cup final", "New vaccine approved"]
OPENINGS = ["The central bank raised its main interest rate by half a point on Thursday, the third rise this year.",
            "Rescuers pulled two survivors from the rubble three days after the earthquake struck the city.",
            "The home team won the cup final on penalties after a goalless draw in front of a full stadium.",
            "Regulators approved a new vaccine on Monday after trials showed it prevented most infections."]


@pytest.fixture(scope="module")
def minilm_cpu():
    return SentenceEncoder.minilm(device="cpu")


def test_cached_top_layer_reproduces_the_encoder(device):
    model = SentenceEncoder.minilm(device=device)
    top = TopLayers(model, trainable=2)
    cache = top.cache(OPENINGS + TITLES, batch_size=3, poolings=("mean", "cls"))
    assert len(cache.states) == 8 and cache.states[0].device.type == torch.device(device).type
    assert cache.states[-1].shape == (len(model.tokenizer.encode(TITLES[-1])), 384)
    with torch.no_grad():
        got = top.embed(cache.states)
    expected = model.embed(OPENINGS + TITLES)
    assert got.device == expected.device and float((got - expected).abs().max()) <= 1e-5
    features = layer_features(model, OPENINGS + TITLES, poolings=("mean", "cls"))
    for pooling in ("mean", "cls"):
        assert float((cache.features[pooling] - features[pooling]).abs().max()) <= 1e-4
    # without poolings only the lower layers run, and the states are the same
    lower = top.cache(OPENINGS, max_length=12)
    assert lower.features == {} and all(len(s) <= 12 for s in lower.states)


def test_training_moves_only_the_copied_top_layer(minilm_cpu):
    top = TopLayers(minilm_cpu, trainable=1)
    before = [p.detach().clone() for p in minilm_cpu.encoder.parameters()]
    queries, documents = top.cache(TITLES).states, top.cache(OPENINGS).states
    losses = train_pairs(lambda i: top.embed([queries[j] for j in i]), lambda i: top.embed([documents[j] for j in i]),
                         top.parameters(), n_pairs=4, steps=6, batch_size=4, lr=1e-3)
    assert losses[-1] < losses[0]
    assert all(torch.equal(a, b) for a, b in zip(before, minilm_cpu.encoder.parameters()))  # the shipped model is untouched
    assert sum(p.numel() for p in top.parameters()) < sum(p.numel() for p in minilm_cpu.encoder.parameters()) / 6
    with pytest.raises(ValueError, match="trainable"):
        TopLayers(minilm_cpu, trainable=0)
    with pytest.raises(ValueError, match="pooling"):
        top.embed(queries, pooling="last")
    with pytest.raises(EmptyInputError):
        top.cache([])


def test_bag_of_pieces_by_hand(device):
    torch.manual_seed(0)
    bag = BagOfPieces(vocab_size=5, dim=3).to(device)
    table = bag.table.weight.detach()
    got = bag([[1, 2], [4], []])
    assert torch.allclose(got[0], (table[1] + table[2]) / 2) and torch.allclose(got[1], table[4])
    assert torch.equal(got[2], torch.zeros(3, device=got.device))  # an empty text
    assert torch.equal(bag.embed([[1, 2], [4], []]), got)  # embed, as every model of inputs names it
    with pytest.raises(EmptyInputError):
        bag([])


def test_train_pairs_learns_a_tiny_matching_and_repeats_with_its_seed(device):
    def run(seed: int) -> tuple[list[float], torch.Tensor]:
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(1)
        queries = torch.randn(16, 4, generator=g).to(device)
        documents = (queries @ torch.randn(4, 4, generator=g).to(device))  # a linear map hides the match
        linear = nn.Linear(4, 4, bias=False).to(device)
        calls = []
        losses = train_pairs(lambda i: linear(queries[i]), lambda i: documents[i], linear.parameters(), n_pairs=16,
                             steps=60, batch_size=8, lr=0.05, seed=seed, on_step=lambda step, loss: calls.append(step))
        assert calls == list(range(1, 61))
        scores = F.normalize(linear(queries), dim=-1) @ F.normalize(documents, dim=-1).T
        return losses, scores.argmax(1).cpu()

    losses, found = run(seed=0)
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    assert float((found == torch.arange(16)).float().mean()) >= 0.75  # most queries find their own document
    assert run(seed=0)[0] == losses and run(seed=1)[0] != losses
    with pytest.raises(ValueError, match="batch_size"):
        train_pairs(lambda i: i, lambda i: i, [], n_pairs=4, steps=1, batch_size=5)


def tiny_model(device) -> SentenceEncoder:
    """A random 3-layer encoder with a 13-piece vocabulary: no download, any device."""
    from embedkit.bert import BertConfig, BertEncoder
    from embedkit.wordpiece import WordPieceTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "bank", "rates", "rise", "fall", "##s", "storm", "hit", "coast"]
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=8, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=16)
    return SentenceEncoder(BertEncoder(config), WordPieceTokenizer(vocab), device=device)


def test_cache_features_and_training_on_a_tiny_encoder(device):
    from embedkit.layerwise import POOLINGS

    model = tiny_model(device)
    texts = ["the bank rates rise", "storm hits the coast", "rates fall", "the storm"]
    top = TopLayers(model, trainable=2)
    cache = top.cache(texts, batch_size=3, poolings=POOLINGS)
    with torch.no_grad():
        got = top.embed(cache.states)
    assert got.device.type == torch.device(device).type
    assert torch.allclose(got, model.embed(texts), atol=1e-5)
    features = layer_features(model, texts, spans=[(1, 2), (2, 4), (1, 3), (2, 3)], batch_size=3)
    assert features["span"].shape == (4, 4, 8) and features["span"].device.type == torch.device(device).type
    for pooling in POOLINGS:
        assert torch.allclose(cache.features[pooling], features[pooling], atol=1e-5), pooling
    before = [p.detach().clone() for p in top.parameters()]
    losses = train_pairs(lambda i: top.embed([cache.states[j] for j in i]),
                         lambda i: top.embed([cache.states[(j + 1) % 4] for j in i]),
                         top.parameters(), n_pairs=4, steps=3, batch_size=4, lr=1e-2)
    assert len(losses) == 3 and all(not torch.equal(a, b) for a, b in zip(before, top.parameters()))


def test_bag_of_pieces_refuses_ids_out_of_range_and_a_flat_list():
    from embedkit.errors import UnknownIDError

    bag = BagOfPieces(vocab_size=8, dim=3)
    for ids in ([[20]], [[1, -1]]):
        with pytest.raises(UnknownIDError, match=r"must lie in 0\.\.7; .*Map pieces to the table's rows first"):
            bag(ids)
    with pytest.raises(TypeError, match=r"list of id lists.*\[ids\]"):
        bag([1, 2, 3])
    assert bag([[7], [0, 1]]).shape == (2, 3)


def test_cache_needs_a_positive_batch_size():
    top = TopLayers(tiny_model("cpu"), trainable=1)
    for batch_size in (0, -1):
        with pytest.raises(ValueError, match="batch_size must be a whole number of at least 1"):
            top.cache(["the bank", "storm"], batch_size=batch_size)


def test_train_pairs_refuses_no_steps_and_bad_learning_rates():
    bag = BagOfPieces(vocab_size=10, dim=4)
    before = bag.table.weight.detach().clone()

    def run(**settings):
        return train_pairs(lambda i: bag([[j] for j in i]), lambda i: bag([[j + 1] for j in i]), bag.parameters(),
                           n_pairs=8, batch_size=4, **settings)

    for steps in (0, -1, 2.5):  # 0 returned [] and the untrained model, silently
        with pytest.raises(ValueError, match="steps must be a whole number of at least 1"):
            run(steps=steps)
    for lr in (0, -1e-3, float("nan")):
        with pytest.raises(ValueError, match="lr must be a positive finite number"):
            run(steps=1, lr=lr)
    assert torch.equal(before, bag.table.weight)
    assert len(run(steps=1, lr=1e-3)) == 1


def test_bag_of_pieces_refuses_fractional_ids():
    bag = BagOfPieces(vocab_size=8, dim=3)
    for ids in ([[1.5, 2]], [[1.0]], [torch.tensor([1.0])], [[True]]):  # 1.5 was cut to 1, silently
        with pytest.raises(TypeError, match="word-piece ids must be integers"):
            bag(ids)
    import numpy as np

    expected = bag([[1, 2], [], [7]])
    for ids in ([torch.tensor([1, 2]), torch.tensor([], dtype=torch.long), torch.tensor([7])],
                [np.array([1, 2], dtype=np.int32), [], np.array([7])]):
        assert torch.equal(bag(ids), expected)
    assert torch.equal(bag([[], []]), torch.zeros(2, 3))
