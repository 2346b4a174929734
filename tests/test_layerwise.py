"""Pooled vectors of every layer: max pooling against sentence-transformers, every pooling against Hugging Face's
hidden states on real sentences, word spans by hand, and whitening against scikit-learn."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from embedkit.bert import SentenceEncoder
from embedkit.errors import EmptyInputError, ShapeError
from embedkit.layerwise import Whitening, layer_features, max_pool, pool, truncate, word_span


@pytest.fixture(scope="module")
def minilm():
    return SentenceEncoder.minilm(device="cpu")


SENTENCES = ["The central bank raised interest rates again on Thursday.",
             "Rescuers searched the rubble for survivors after the earthquake.",
             "A short one.",
             "Unbelievably, the spokeswoman's statement contradicted yesterday's announcement."]


def test_max_pool_by_hand_and_equals_sentence_transformers():
    hidden = torch.tensor([[[1.0, -5.0], [3.0, -4.0], [100.0, 100.0]]])
    assert max_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[3.0, -4.0]]  # padding (100) ignored
    from sentence_transformers.sentence_transformer.modules import Pooling

    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    expected = Pooling(4, pooling_mode="max")({"token_embeddings": hidden, "attention_mask": mask})["sentence_embedding"]
    assert torch.allclose(max_pool(hidden, mask), expected)
    assert torch.equal(pool(hidden, mask, "cls"), hidden[:, 0])
    with pytest.raises(ValueError, match="unknown pooling"):
        pool(hidden, mask, "last")


def test_every_layer_and_pooling_equals_hugging_face(minilm):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    from embedkit.data import data_path

    reference = SentenceTransformer(str(data_path("minilm-weights").parent), device="cpu")
    batch = reference.tokenize(SENTENCES)
    with torch.no_grad():
        expected = reference[0].auto_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                           output_hidden_states=True).hidden_states
    got = layer_features(minilm, SENTENCES, batch_size=3)  # two batches, so rows must be put back in order
    assert set(got) == {"cls", "mean", "max"} and got["mean"].shape == (7, len(SENTENCES), 384)
    for mode in ("cls", "mean", "max"):
        module = Pooling(384, pooling_mode=mode)
        for layer, states in enumerate(expected):
            want = module({"token_embeddings": states, "attention_mask": batch["attention_mask"]})["sentence_embedding"]
            assert float((got[mode][layer] - want).abs().max()) <= 3e-5, (mode, layer)
    # the last layer, mean-pooled and normalised, is the shipped sentence embedding
    assert float((F.normalize(got["mean"][-1], dim=-1) - minilm.embed(SENTENCES)).abs().max()) <= 1e-6


def test_word_span_by_hand_and_span_vectors(minilm):
    words = ["the", "spokeswoman", "contradicted", "it"]
    ids = minilm.tokenizer.encode(" ".join(words))
    start, end = word_span(minilm.tokenizer, words, 1)
    pieces = minilm.tokenizer.tokenize("spokeswoman")
    assert (start, end) == (2, 2 + len(pieces)) and ids[start:end] == [minilm.tokenizer.vocab[p] for p in pieces]
    assert word_span(minilm.tokenizer, words, 0) == (1, 2)
    text = " ".join(words)
    got = layer_features(minilm, [text], spans=[(start, end)], poolings=())
    _, hidden = minilm.token_vectors(text)  # last layer, one vector per piece
    assert float((got["span"][-1, 0] - hidden[start:end].mean(0)).abs().max()) <= 1e-5
    for outside in (4, -1):  # -1 would otherwise read the last word
        with pytest.raises(IndexError, match="outside the sentence"):
            word_span(minilm.tokenizer, words, outside)
    with pytest.raises(IndexError, match="span"):
        layer_features(minilm, [text], spans=[(0, 2)])


def test_truncation_keeps_the_final_sep(minilm):
    ids = minilm.tokenizer.encode(SENTENCES[1])
    cut = truncate(ids, 6)
    assert cut == ids[:5] + [minilm.tokenizer.sep_id] and truncate(ids, None) == ids
    short = layer_features(minilm, [SENTENCES[1]], max_length=6, poolings=("mean",))["mean"][-1]
    with torch.no_grad():
        expected = minilm.encoder(torch.tensor([cut]), torch.ones(1, 6, dtype=torch.long)).mean(1)
    assert float((short - expected).abs().max()) <= 1e-5


def test_bad_input(minilm):
    with pytest.raises(EmptyInputError, match="no texts given"):
        layer_features(minilm, [])
    with pytest.raises(TypeError, match=r"texts must be a list of strings; wrap a single text as \[text\]"):
        layer_features(minilm, "one text")
    with pytest.raises(ValueError, match="pooling"):
        layer_features(minilm, ["a"], poolings=("last",))
    with pytest.raises(ShapeError, match="one span per text"):
        layer_features(minilm, ["a", "b"], spans=[(1, 2)])


def test_whitening_equals_scikit_learn_and_gives_identity_covariance(device):
    from sklearn.decomposition import PCA

    g = torch.Generator().manual_seed(0)
    x = (torch.randn(500, 6, generator=g, dtype=torch.float64) @ torch.randn(6, 6, generator=g, dtype=torch.float64)
         + 3.0).to(device)
    white = Whitening.fit(x)
    z = white(x)
    assert z.device.type == torch.device(device).type
    assert torch.allclose(z.mean(0), torch.zeros(6, dtype=z.dtype, device=z.device), atol=1e-9)
    assert torch.allclose(z.T @ z / len(z), torch.eye(6, dtype=z.dtype, device=z.device), atol=1e-8)
    # scikit-learn whitens with the n - 1 covariance and may flip a component's sign: compare Gram matrices
    reference = PCA(whiten=True).fit_transform(x.cpu().numpy()) * np.sqrt(len(x) / (len(x) - 1))
    assert np.allclose((z @ z.T).cpu().numpy(), reference @ reference.T, atol=1e-8)
    reduced = Whitening.fit(x, dims=2)(x).cpu().numpy()
    assert np.allclose(reduced @ reduced.T, reference[:, :2] @ reference[:, :2].T, atol=1e-8)
    centred = Whitening.fit(x, whiten=False)
    assert torch.allclose(centred(x), x - x.mean(0))


def test_whitening_by_hand_and_bad_input():
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])  # variances 1/2 and 2, mean 0
    white = Whitening.fit(x)
    assert torch.allclose(white.matrix.abs(), torch.tensor([[0.0, 2 ** 0.5], [2 ** -0.5, 0.0]]), atol=1e-6)
    with pytest.raises(ShapeError, match="matrix with n >= 2 rows"):
        Whitening.fit(x[:1])
    with pytest.raises(ValueError, match="dims"):
        Whitening.fit(x, dims=3)
    with pytest.raises(ShapeError, match=r"expected \(n, 2\) vectors like those fitted"):
        white(torch.ones(2, 3))


def tiny_encoder() -> SentenceEncoder:
    """A random 2-layer encoder with a 9-piece vocabulary: no download."""
    from embedkit.bert import BertConfig, BertEncoder
    from embedkit.wordpiece import WordPieceTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "the", "bank", "##s"]
    config = BertConfig(vocab_size=len(vocab), hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=16)
    return SentenceEncoder(BertEncoder(config), WordPieceTokenizer(vocab), device="cpu")


def test_batch_size_and_word_lists_are_checked():
    model = tiny_encoder()
    for batch_size in (0, -1):  # -1 returned uninitialised memory, 0 a range() error
        with pytest.raises(ValueError, match="batch_size must be a whole number of at least 1"):
            layer_features(model, ["hello world", "the banks"], batch_size=batch_size)
    with pytest.raises(TypeError, match=r"not a string; split the text first"):
        word_span(model.tokenizer, "hello world", 1)
    assert word_span(model.tokenizer, ["hello", "world"], 1) == (2, 3)


def test_whitening_refuses_non_finite_data():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="NaN or infinity; remove or impute"):
            Whitening.fit(torch.tensor([[1.0, bad], [0.0, 1.0], [2.0, 3.0]]))


def test_whitening_of_integer_features_and_other_dtypes_casts_as_pca_does():
    """Integer features used to give an all-zero integer matrix; float64 vectors on a float32 fit, a dtype error."""
    counts = torch.randint(0, 10, (20, 3), generator=torch.Generator().manual_seed(0))
    for whiten in (True, False):
        ints, floats = Whitening.fit(counts, whiten=whiten), Whitening.fit(counts.float(), whiten=whiten)
        assert ints.matrix.dtype == ints.mean.dtype == torch.float32
        assert torch.equal(ints.matrix, floats.matrix) and torch.equal(ints.mean, floats.mean)
        assert torch.equal(ints(counts), floats(counts.float()))
    white = Whitening.fit(torch.randn(20, 3))  # float32, applied to float64 vectors
    x = torch.randn(4, 3, dtype=torch.float64)
    assert white(x).dtype == torch.float32 and torch.equal(white(x), white(x.float()))
