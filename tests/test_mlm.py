"""Masked and causal language models: the same outputs as Hugging Face's BERT heads, BERT's masking
statistics, the causal mask by hand, the word windows, and a short training run that learns."""

import math

import pytest
import torch

from embedkit.bert import BertConfig
from embedkit.errors import DataIntegrityError, EmptyInputError
from embedkit.mlm import (IGNORE, MASK, UNK, MaskedLM, causal_lm_loss, mask_tokens, mlm_loss, vocabulary_words,
                          word_windows)
from embedkit.vocab import Vocabulary
from embedkit.train import fit

SIZES = dict(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
             max_position_embeddings=20)


def reference(decoder: bool):
    import transformers  # pinned in requirements.lock: a missing one is a failure, not a skip
    config = transformers.BertConfig(**SIZES, is_decoder=decoder, hidden_dropout_prob=0.0,
                                     attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    model = (transformers.BertLMHeadModel if decoder else transformers.BertForMaskedLM)(config).eval()
    with torch.no_grad():  # non-trivial LayerNorm and bias values, so that a misplaced tensor shows
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model


def ours_from(model) -> MaskedLM:
    return MaskedLM(BertConfig(**SIZES)).load(model.state_dict()).eval()


def test_masked_lm_matches_hugging_face():
    theirs = reference(decoder=False)
    ours = ours_from(theirs)
    ids = torch.randint(3, 50, (3, 12), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0  # padding in one row
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask).logits
        got = ours(ids, mask)
    assert got.shape == (3, 12, 50)
    assert torch.allclose(got[mask.bool()], expected[mask.bool()], atol=1e-5)


def test_causal_lm_matches_hugging_face_decoder():
    theirs = reference(decoder=True)
    ours = ours_from(theirs)
    ids = torch.randint(3, 50, (2, 10), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = theirs(input_ids=ids, labels=ids)  # HF shifts the labels by one inside
        hidden = ours.encoder(ids, torch.ones_like(ids), causal=True)
        assert torch.allclose(ours.predict(hidden), expected.logits, atol=1e-5)
        assert float(causal_lm_loss(ours, ids)) == pytest.approx(float(expected.loss), abs=1e-5)


def test_causal_loss_skips_padding_and_is_zero_on_padding_alone():
    """The full causal loss is the mean over the next words that are not [PAD]; a batch of padding alone has
    none, so its loss is 0 with zero gradients (it was NaN, which poisons every parameter at the next step)."""
    from embedkit.mlm import PAD
    model = MaskedLM(BertConfig(**SIZES))
    ids = torch.randint(3, 50, (2, 8), generator=torch.Generator().manual_seed(5))
    ids[1, 4:] = PAD
    with torch.no_grad():
        logits = model.predict(model.encoder(ids[:, :-1], (ids[:, :-1] != PAD).long(), causal=True))
        real = ids[:, 1:] != PAD
        expected = torch.nn.functional.cross_entropy(logits[real], ids[:, 1:][real])
        assert float(causal_lm_loss(model, ids)) == pytest.approx(float(expected), abs=1e-6)
    padding = torch.full((2, 6), PAD)
    padding[:, 0] = 7  # a first word, then nothing to predict
    loss = causal_lm_loss(model, padding)
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert all(torch.equal(p.grad, torch.zeros_like(p)) for p in model.parameters() if p.grad is not None)


def test_causal_mask_hides_the_future():
    model = MaskedLM(BertConfig(**SIZES)).eval()
    a = torch.tensor([[5, 6, 7, 8, 9]])
    b = a.clone()
    b[0, 3:] = torch.tensor([20, 21])
    with torch.no_grad():
        ha, hb = (model.encoder(x, torch.ones_like(x), causal=True) for x in (a, b))
        full_a, full_b = (model.encoder(x, torch.ones_like(x)) for x in (a, b))
    assert torch.allclose(ha[0, :3], hb[0, :3]) and not torch.allclose(ha[0, 3], hb[0, 3])
    assert not torch.allclose(full_a[0, 0], full_b[0, 0])  # without the mask the first position sees the change


def test_untied_head_is_refused():
    state = reference(decoder=False).state_dict()
    state["cls.predictions.decoder.weight"] = state["cls.predictions.decoder.weight"] + 1
    with pytest.raises(DataIntegrityError, match="tied"):
        MaskedLM(BertConfig(**SIZES)).load(state)


def test_masking_follows_bert():
    ids = torch.randint(0, 1000, (400, 500), generator=torch.Generator().manual_seed(0))
    corrupted, labels = mask_tokens(ids, 1000, generator=torch.Generator().manual_seed(1))
    picked = labels != IGNORE
    ordinary = ids >= 3
    assert not picked[~ordinary].any()  # special tokens are never picked
    assert float(picked.sum() / ordinary.sum()) == pytest.approx(0.15, abs=0.003)
    assert torch.equal(labels[picked], ids[picked])
    masked = (corrupted == MASK) & picked
    kept = (corrupted == ids) & picked
    assert float(masked.sum() / picked.sum()) == pytest.approx(0.8, abs=0.01)
    # 10% keep their word; of the 10% random words, 1/997 happen to be the same word
    assert float(kept.sum() / picked.sum()) == pytest.approx(0.1 + 0.1 / 997, abs=0.01)
    assert torch.equal(corrupted[~picked], ids[~picked])
    # the random words: vocabulary words only (never a special token), drawn evenly over ids 3..999
    replaced = picked & ~masked & (corrupted != ids)
    assert float(replaced.sum() / picked.sum()) == pytest.approx(0.1 * 996 / 997, abs=0.01)
    words = corrupted[replaced]
    assert int(words.min()) >= 3 and float(words.float().mean()) == pytest.approx((3 + 999) / 2, abs=25)
    assert len(torch.unique(words)) > 850  # about 2,990 draws over 997 words: about 947 distinct ones
    with pytest.raises(ValueError, match="rate"):
        mask_tokens(ids, 1000, rate=0.0)
    with pytest.raises(ValueError, match="vocab_size counts the 3 special tokens"):
        mask_tokens(ids, 3)  # no word to draw a random replacement from


def test_word_windows_by_hand():
    vocab = Vocabulary(["the", "cat"], torch.tensor([3, 2]))
    windows = word_windows([["the", "cat", "sat"], ["the", "cat", "the", "end"]], vocab, length=3)
    assert windows.tolist() == [[3, 4, UNK], [3, 4, 3]]  # "end" is dropped: incomplete window
    assert vocabulary_words(vocab)[3:] == ["the", "cat"]
    with pytest.raises(EmptyInputError):
        word_windows([["the"]], vocab, length=3)


@pytest.mark.parametrize("loss_fn, epochs, lr", [(causal_lm_loss, 15, 1e-2), (mlm_loss, 80, 3e-3)], ids=["causal", "masked"])
def test_short_training_beats_the_uniform_guess(loss_fn, epochs, lr, device):
    """Each word follows its predecessor (w3 after w2): after some epochs the loss is far below
    log(vocab), the uniform guess. Masking predicts 15% of the positions, so it needs more epochs."""
    vocab = Vocabulary([f"w{i}" for i in range(20)], torch.arange(20, 0, -1))
    sentences = [[f"w{(i * 7 + j) % 20}" for j in range(16)] for i in range(200)]
    data = word_windows(sentences, vocab, length=16)
    model = MaskedLM(BertConfig(vocab_size=23, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=16))
    history = fit(model, loss_fn, (data,), epochs=epochs, batch_size=32, lr=lr, device=device)
    assert history.train[0] > 0.7 * math.log(23)
    assert history.train[-1] < 0.3 * math.log(23), history.train


def test_causal_loss_on_a_share_of_positions():
    """``rate`` scores a random share of the next words: the same cross-entropy as the full loss, taken
    only at the picked positions (drawn as the generator says), never at [UNK]; rate=1 is the full loss."""
    model = MaskedLM(BertConfig(**SIZES)).eval()
    ids = torch.randint(3, 50, (4, 12), generator=torch.Generator().manual_seed(3))
    ids[0, 5] = UNK
    with torch.no_grad():
        logits = model.predict(model.encoder(ids[:, :-1], torch.ones_like(ids[:, :-1]), causal=True))
        targets = ids[:, 1:]
        picked = (torch.rand(targets.shape, generator=torch.Generator().manual_seed(4)) < 0.3) & (targets != UNK)
        expected = torch.nn.functional.cross_entropy(logits[picked], targets[picked])
        got = causal_lm_loss(model, ids, rate=0.3, generator=torch.Generator().manual_seed(4))
        assert float(got) == pytest.approx(float(expected), abs=1e-6)
        no_unk = ids.clone()
        no_unk[0, 5] = 7
        assert float(causal_lm_loss(model, no_unk, rate=1.0)) == pytest.approx(float(causal_lm_loss(model, no_unk)), abs=1e-6)
    all_unk = torch.full((2, 6), UNK)
    zero = causal_lm_loss(model, all_unk, rate=0.5)
    assert float(zero.detach()) == 0.0 and zero.requires_grad  # nothing to predict, but a loss fit can step on
    for rate in (0.0, 1.5):
        with pytest.raises(ValueError, match="rate"):
            causal_lm_loss(model, ids, rate=rate)


def test_share_of_positions_follows_the_rate():
    ids = torch.randint(3, 50, (300, 41), generator=torch.Generator().manual_seed(5))
    ids[:, ::4] = UNK  # a quarter of the positions hold [UNK] and are never scored
    scored = []

    class Count(MaskedLM):
        def predict(self, hidden):
            scored.append(hidden.shape[0])
            return super().predict(hidden)

    model = Count(BertConfig(**{**SIZES, "max_position_embeddings": 41}))
    with torch.no_grad():
        causal_lm_loss(model, ids, rate=0.15, generator=torch.Generator().manual_seed(6))
    words = int((ids[:, 1:] != UNK).sum())
    assert scored[0] / words == pytest.approx(0.15, abs=0.01)


def test_word_windows_refuse_unsplit_strings():
    vocab = Vocabulary(["hello", "world"], torch.tensor([2, 2]))
    with pytest.raises(TypeError, match=r"not strings; use tokenize\(text\) first"):
        word_windows(["hello world hello world", "hello world"], vocab, length=4)  # all [UNK] before
    assert word_windows([["hello", "world"], ["hello", "world"]], vocab, length=4).tolist() == [[3, 4, 3, 4]]


def test_chapter_10_trains_at_the_rate_chosen_on_validation_windows():
    """Chapter 10 says its learning rate is the one scripts/lm_learning_rate.py chose on validation windows for all
    three objectives; the stored report's last line holds the choices, and the chapter's fit uses that rate."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    report = (root / "benchmarks" / "results" / "lm_learning_rate.txt").read_text().strip().splitlines()
    assert report[-1].startswith("lowest mean validation loss:"), report[-1]
    chosen = ast.literal_eval(report[-1].split(":", 1)[1].strip())
    assert set(chosen) == {"next word", "masked words", "next word, 15% of positions"}
    assert set(chosen.values()) == {0.003}, chosen
    import jupytext

    rates = []  # the lr of each train.fit call on the language models (the objectives' loss_fn)
    for cell in jupytext.read(root / "chapters" / "10_self_supervised.md").cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "train.fit" and \
                    ast.unparse(node.args[1]) == "loss_fn":
                rates += [ast.literal_eval(k.value) for k in node.keywords if k.arg == "lr"]
    assert rates == list(set(chosen.values())), rates


def test_masked_loss_draws_its_masks_from_the_generator_given():
    """With a generator the masks are its draws alone: the same loss whatever the global generator holds,
    the same masks as `mask_tokens` with that generator, and not the global generator's masks."""
    model = MaskedLM(BertConfig(**SIZES)).eval()
    ids = torch.randint(3, 50, (8, 12), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        losses = []
        for global_seed in (0, 1):
            torch.manual_seed(global_seed)
            losses.append(float(mlm_loss(model, ids, generator=torch.Generator().manual_seed(9))))
        corrupted, labels = mask_tokens(ids, 50, generator=torch.Generator().manual_seed(9))
        picked = labels != IGNORE
        hidden = model.encoder(corrupted, torch.ones_like(ids))
        expected = torch.nn.functional.cross_entropy(model.predict(hidden[picked]), labels[picked])
        torch.manual_seed(0)
        from_global = float(mlm_loss(model, ids))
    assert losses[0] == losses[1] == pytest.approx(float(expected), abs=1e-6)
    assert from_global != losses[0]
