"""BERT: the safetensors reader, weight checks, and agreement with sentence-transformers on real sentences."""

import dataclasses

import pytest
import torch

from embedkit.bert import BertConfig, BertEncoder, SentenceEncoder, mean_pool
from embedkit.data import data_path
from embedkit.errors import DataIntegrityError, EmptyInputError, ShapeError
from embedkit.corpora import split_sentences, wikipedia_articles

TINY = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16,
                  max_position_embeddings=10)


def test_mean_pool_by_hand():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]


def test_weights_are_checked():
    weights = BertEncoder(TINY).state_dict()
    hf = {("encoder.layer." + k[len("layers."):]) if k.startswith("layers.") else k: v for k, v in weights.items()}
    with pytest.raises(DataIntegrityError, match="lack"):
        BertEncoder(TINY).load({k: v for k, v in hf.items() if "embedding_norm" not in k})
    with pytest.raises(DataIntegrityError, match="wrong shape"):
        BertEncoder(TINY).load({**hf, "word_embeddings.weight": torch.zeros(21, 8)})


def test_shape_errors():
    model = BertEncoder(TINY)
    ids = torch.ones(2, 4, dtype=torch.long)
    assert model(ids, torch.ones_like(ids)).shape == (2, 4, 8)
    with pytest.raises(ShapeError, match="match"):
        model(ids, torch.ones(2, 3))
    with pytest.raises(ShapeError, match="input_ids must lie in 0..19; got 20 to 20"):
        model(ids * 20, torch.ones_like(ids))
    with pytest.raises(ShapeError, match="truncate"):
        model(torch.ones(1, 11, dtype=torch.long), torch.ones(1, 11))
    # attention_maps checks its mask as hidden_states does: a (1, 4) mask used to broadcast over the batch
    assert model.attention_maps(ids, torch.ones_like(ids)).shape == (2, 2, 2, 4, 4)
    for mask in (torch.ones(1, 4), torch.ones(2, 3)):
        with pytest.raises(ShapeError, match=r"attention_mask \(\d, \d\) must match input_ids \(2, 4\)"):
            model.attention_maps(ids, mask)


def test_float_or_one_dimensional_ids_and_masks_are_clear_errors():
    model = BertEncoder(TINY)
    ids = torch.ones(2, 4, dtype=torch.long)
    with pytest.raises(TypeError, match="input_ids must be integers; got dtype torch.float32.*WordPieceTokenizer"):
        model(ids.float(), torch.ones_like(ids))
    with pytest.raises(TypeError, match="input_ids must be integers; got dtype torch.float"):
        model.input_embeddings(ids.double())
    with pytest.raises(TypeError, match="input_ids must be integers; got dtype torch.float"):
        model.attention_maps(ids.float(), torch.ones_like(ids))
    for call in (model, model.attention_maps):
        with pytest.raises(ShapeError, match=r"input_ids must be \(batch, length\); got shape \(4,\)"):
            call(ids[0], torch.ones(4))  # used to be an IndexError at the mask
    assert model(ids.int(), torch.ones(2, 4)).shape == (2, 4, 8)  # int32 ids and a float mask still work


def test_bert_config_checks_its_sizes_and_its_file(tmp_path):
    with pytest.raises(ValueError, match="num_attention_heads must be a whole number of at least 1; got 0"):
        BertConfig(num_attention_heads=0)
    for bad in ("big", 2.5, -1, True):
        with pytest.raises(ValueError, match="BertConfig.hidden_size must be a whole number"):
            dataclasses.replace(TINY, hidden_size=bad)
    with pytest.raises(ValueError, match="layer_norm_eps must be a non-negative finite number"):
        BertConfig(layer_norm_eps=float("nan"))
    with pytest.raises(ValueError, match="not divisible by 5 heads"):  # the old check, kept
        BertEncoder(dataclasses.replace(TINY, num_attention_heads=5))
    source = data_path("minilm-config").read_text()
    truncated = tmp_path / "config.json"
    truncated.write_text(source[: len(source) // 2])
    with pytest.raises(DataIntegrityError, match="config.json is not valid JSON.*download the model's config.json"):
        BertConfig.from_json(truncated)
    listed = tmp_path / "list.json"
    listed.write_text("[384, 6]")
    with pytest.raises(DataIntegrityError, match="list.json holds a JSON list"):
        BertConfig.from_json(listed)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"hidden_size": "big"}')
    with pytest.raises(DataIntegrityError, match="wrong.json: BertConfig.hidden_size must be a whole number"):
        BertConfig.from_json(wrong)
    assert BertConfig.from_json(data_path("minilm-config")).hidden_size == 384


@pytest.fixture(scope="module")
def models():
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(data_path("minilm-weights").parent), device="cpu")
    return SentenceEncoder.minilm(device="cpu"), reference


@pytest.fixture(scope="module")
def sentences():
    return [s for _, text in wikipedia_articles(max_articles=20) for s in split_sentences(text)][:1200]


def test_equals_sentence_transformers_on_real_sentences(models, sentences):
    ours, reference = models
    assert len(sentences) >= 1000
    expected = torch.from_numpy(reference.encode(sentences, batch_size=32, convert_to_numpy=True))
    got = ours.embed(sentences, batch_size=32)
    assert got.shape == (len(sentences), 384)
    assert float((got - expected).abs().max()) <= 1e-5
    assert torch.allclose(got.norm(dim=1), torch.ones(len(sentences)), atol=1e-5)


def test_alone_or_in_a_padded_batch_gives_the_same_vector(models, sentences):
    ours, _ = models
    short, long = min(sentences, key=len), max(sentences, key=len)
    alone = ours.embed([short])
    with_long = ours.embed([short, long], batch_size=2)  # the short one is padded to the long one
    assert float((alone[0] - with_long[0]).abs().max()) <= 1e-6


def test_token_vectors_equal_the_reference_hidden_states(models, sentences):
    ours, reference = models
    tokens, hidden = ours.token_vectors(sentences[0])
    expected = reference.encode(sentences[0], output_value="token_embeddings", convert_to_tensor=True)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and hidden.shape == expected.shape
    assert float((hidden - expected.cpu()).abs().max()) <= 2e-5  # values up to ~6 in size


def test_edge_cases_behave_like_the_reference(models):
    ours, reference = models
    long_text = wikipedia_articles(max_articles=1)[0][1]  # thousands of tokens: truncated to 256
    texts = ["", long_text, long_text[:2000]]
    expected = torch.from_numpy(reference.encode(texts, convert_to_numpy=True))
    assert float((ours.embed(texts) - expected).abs().max()) <= 1e-5
    assert len(ours.tokenizer.encode(long_text)) == 256
    with pytest.raises(TypeError, match="expected a string"):
        ours.embed(["fine", 42])
    with pytest.raises(EmptyInputError):
        ours.embed([])


def test_attention_maps_are_distributions_that_ignore_padding(models):
    ours, _ = models
    batch = ours.tokenizer.batch(["A short one.", "A somewhat longer sentence than the first."])
    maps = ours.encoder.attention_maps(batch.input_ids, batch.attention_mask)
    assert maps.shape[:3] == (6, 2, 12)
    assert torch.allclose(maps.sum(-1), torch.ones(maps.shape[:-1]), atol=1e-5)
    padded = batch.attention_mask[0] == 0
    assert padded.any() and float(maps[:, 0, :, :, padded].abs().max()) == 0.0


def test_attention_weights_reproduce_the_fast_path():
    torch.manual_seed(0)
    attention = BertEncoder(TINY).layers[0].attention
    x = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool()[:, None, None, :]
    v = attention.value(x).view(2, 5, 2, 4).transpose(1, 2)
    by_hand = attention.output((attention.weights(x, mask) @ v).transpose(1, 2).reshape(2, 5, 8))
    assert torch.allclose(by_hand, attention(x, mask), atol=1e-6)


def test_unnormalised_vectors_are_the_mean_pool_and_can_train_a_probe(models, sentences):
    """normalize=False gives the mean-pooled vectors themselves; encode's output works as training input."""
    ours, _ = models
    plain = SentenceEncoder(ours.encoder, ours.tokenizer, normalize=False, device="cpu")
    raw, unit = plain.embed(sentences[:8]), ours.embed(sentences[:8])
    assert not torch.allclose(raw.norm(dim=1), torch.ones(8), atol=1e-2)
    torch.testing.assert_close(torch.nn.functional.normalize(raw, dim=1), unit, atol=1e-6, rtol=0)
    probe = torch.nn.Linear(raw.shape[1], 2)
    torch.nn.functional.cross_entropy(probe(unit), torch.tensor([0, 1] * 4)).backward()
    assert probe.weight.grad is not None


def test_hidden_states_of_every_layer_equal_hugging_face(models, sentences):
    ours, reference = models
    hf = reference[0].auto_model  # the transformers BertModel inside the SentenceTransformer
    batch = reference.tokenize(sentences[:8])
    with torch.no_grad():
        expected = hf(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                      output_hidden_states=True).hidden_states
        got = ours.encoder.hidden_states(batch["input_ids"], batch["attention_mask"])
    assert len(got) == len(expected) == ours.encoder.config.num_hidden_layers + 1
    keep = batch["attention_mask"].bool()  # padding positions are not compared
    for layer, (a, b) in enumerate(zip(got, expected)):
        assert float((a[keep] - b[keep]).abs().max()) <= 3e-5, f"layer {layer}"
    assert torch.equal(got[-1], ours.encoder(batch["input_ids"], batch["attention_mask"]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU here; the CUDA run is skipped")
def test_equals_sentence_transformers_on_the_same_gpu(sentences):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(data_path("minilm-weights").parent), device="cuda")
    ours = SentenceEncoder.minilm(device="cuda")
    expected = reference.encode(sentences[:300], batch_size=32, convert_to_tensor=True)
    got = ours.embed(sentences[:300], batch_size=32)
    assert got.device.type == "cuda" and float((got - expected).abs().max()) <= 1e-4


def test_embed_needs_a_positive_batch_size():
    from embedkit.wordpiece import WordPieceTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world"]
    encoder = SentenceEncoder(BertEncoder(dataclasses.replace(TINY, vocab_size=len(vocab))),
                              WordPieceTokenizer(vocab), device="cpu")
    for batch_size in (0, -1):  # -1 returned uninitialised memory (torch.empty), 0 a range() error
        with pytest.raises(ValueError, match="batch_size must be a whole number of at least 1"):
            encoder.embed(["hello world", "world"], batch_size=batch_size)
    assert encoder.embed(["hello world", "world"], batch_size=1).shape == (2, 8)


def test_embed_checks_the_ids_once_not_in_every_batch(monkeypatch):
    """The range check of the ids reads them back (on a GPU: a wait for the device). `embed` checks them on the CPU
    (`pad`, against the tokenizer, and the tokenizer against the model), so its batches skip the encoder's own."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from embedkit.wordpiece import WordPieceTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world"]
    encoder = BertEncoder(dataclasses.replace(TINY, vocab_size=len(vocab)))
    reads, forward = [], encoder.forward

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            reads.extend([func.overloadpacket.__name__] if func.overloadpacket.__name__ == "aminmax" else [])
            return func(*args, **(kwargs or {}))

    def recorded(*args, **kwargs):
        with Record():
            return forward(*args, **kwargs)

    encoder.forward = recorded
    monkeypatch.setattr("embedkit.bert.EMBED_BATCHES_PER_COPY", 3)  # two copies to the device: 3 batches, then 1
    texts = ["hello world", "world", "hello hello world", "hello"]
    got = SentenceEncoder(encoder, WordPieceTokenizer(vocab), device="cpu").embed(texts, batch_size=1)
    assert reads == []  # four batches, no read-back inside the encoder
    ids = WordPieceTokenizer(vocab).batch(texts[:1])
    recorded(ids.input_ids, ids.attention_mask)
    assert reads == ["aminmax"]  # a direct call checks its ids
    with pytest.raises(ShapeError, match=r"input_ids must lie in 0\.\.5; got 2 to 6"):
        encoder(torch.tensor([[2, 6, 3]]), torch.ones(1, 3, dtype=torch.long))
    single = SentenceEncoder(encoder, WordPieceTokenizer(vocab), device="cpu")
    assert torch.allclose(torch.cat([single.embed([t]) for t in texts]), got, atol=1e-6)
    with pytest.raises(DataIntegrityError, match="the tokenizer has 7 tokens, the model 6"):
        SentenceEncoder(encoder, WordPieceTokenizer([*vocab, "extra"]), device="cpu").embed(["hello"])
