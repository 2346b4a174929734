"""Word2Vec: one update checked by hand and against gensim's compiled loop, the window rule, bad input, and
quality next to gensim."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from embedkit.errors import EmptyInputError, UnknownIDError
from embedkit.evaluate import evaluate_word_pairs
from embedkit.corpora import wikipedia_sentences
from embedkit.vocab import Vocabulary
from embedkit.hogwild import default_block
from embedkit.word2vec import Word2Vec, Word2VecConfig, train_word2vec
from embedkit.word2vec_graph import FixedBlocks

ROOT = Path(__file__).resolve().parent.parent


TOY_SENTENCES = [["the", "cat", "sat", "on", "the", "mat"], ["the", "dog", "sat", "on", "the", "rug"]] * 50


def twelve_word_model(sg: bool, shared: bool) -> Word2Vec:
    """A 12-word model with blocks of 5, for the fixed-shape block tests."""
    vocab = Vocabulary([f"w{i}" for i in range(12)], torch.arange(12, 0, -1))
    return Word2Vec(vocab, Word2VecConfig(dim=6, window=3, negative=2, sample=0, min_count=1, sg=sg,
                                          shared_negatives=shared, block=5), device="cpu")


def twenty_three_positions(model: Word2Vec, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """23 random words in 4 sentences with random reaches, laid out by `Word2Vec.windows`."""
    return model.windows(torch.randint(12, (23,), generator=g), torch.arange(23) // 7,
                         torch.randint(1, 4, (23,), generator=g))


def tiny_model(**overrides) -> Word2Vec:
    vocab = Vocabulary(["a", "b", "c", "d"], torch.tensor([4, 3, 2, 1]))
    return Word2Vec(vocab, Word2VecConfig(dim=2, negative=1, sample=0, min_count=1, **overrides), device="cpu")


def test_one_negative_sampling_update_by_hand(monkeypatch):
    model = tiny_model()
    model.w_out[:] = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    h = torch.tensor([[[2.0, 0.0]]])
    monkeypatch.setattr(model, "noise_words", lambda shape: torch.tensor([[0, 2]]))  # column 0 becomes the target
    before = model.w_out.clone()
    grad, loss = model.negative_sampling(h, torch.tensor([1]), lr=0.1)  # predict 'b'
    s_pos, s_neg = torch.sigmoid(torch.tensor(2.0)), torch.sigmoid(torch.tensor(0.0))
    assert float(loss) == pytest.approx(float(-torch.log(s_pos) - torch.log(1 - s_neg)), rel=1e-6)
    assert torch.allclose(model.w_out[1], before[1] + 0.1 * (1 - s_pos) * h[0, 0])
    assert torch.allclose(model.w_out[2], before[2] - 0.1 * s_neg * h[0, 0])
    assert torch.allclose(grad[0, 0], 0.1 * ((1 - s_pos) * before[1] - s_neg * before[2]))
    assert torch.equal(model.w_out[[0, 3]], before[[0, 3]])


def test_one_cbow_update_by_hand(monkeypatch):
    """CBOW, window 1, corpus a b c d (ids 0-3): the centre 'c' is predicted from the mean of 'b' and 'd',
    against the noise word 'a'; the output vectors move as in skip-gram, and the whole input gradient goes to
    each context word (word2vec.c's rule)."""
    model = tiny_model(sg=False, window=1)
    model.w_in[:] = torch.tensor([[5.0, 5.0], [1.0, 0.0], [7.0, 7.0], [0.0, 2.0]])
    model.w_out[:] = torch.tensor([[0.5, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    monkeypatch.setattr(model, "noise_words", lambda shape: torch.tensor([[0, 0]]))  # column 0 becomes the target
    w_in, w_out = model.w_in.clone(), model.w_out.clone()
    laid_out = model.windows(torch.tensor([0, 1, 2, 3]), torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long))
    loss, examples = model.step(*laid_out, slice(2, 3), lr=0.1)  # the centre at position 2: 'c'
    h = (w_in[1] + w_in[3]) / 2  # (0.5, 1.0)
    s_pos, s_neg = torch.sigmoid(h @ w_out[2]), torch.sigmoid(h @ w_out[0])
    assert examples == 1 and float(loss) == pytest.approx(float(-torch.log(s_pos) - torch.log(1 - s_neg)), rel=1e-6)
    assert torch.allclose(model.w_out[2], w_out[2] + 0.1 * (1 - s_pos) * h)
    assert torch.allclose(model.w_out[0], w_out[0] - 0.1 * s_neg * h)
    grad = 0.1 * ((1 - s_pos) * w_out[2] - s_neg * w_out[0])
    assert torch.allclose(model.w_in[1], w_in[1] + grad) and torch.allclose(model.w_in[3], w_in[3] + grad)
    assert torch.equal(model.w_in[[0, 2]], w_in[[0, 2]])  # neither the noise word nor the centre is an input


def gensim_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """The logistic function as gensim's compiled loop (and word2vec.c) computes it: a 1,000-entry table of
    sigmoid(-6 + 12 i / 1000), looked up at index int((x + 6) * (1000 / 6 / 2)) where the division is C's integer
    division (83, not 83.33): in effect sigmoid(0.996 x - 0.024), up to 0.009 below the true value (0.494 at 0)."""
    i = torch.arange(1000, dtype=torch.float32) / 1000  # float32, as gensim's REAL_t
    e = torch.exp((i.double() * 2 - 1) * 6).float().double()
    table = (e / (e + 1)).float()
    assert bool((x.abs() < 6).all())  # gensim skips a term at |x| >= 6; our test vectors stay far below
    return table[((x.double() + 6) * 83).long()]


@pytest.mark.parametrize("sg, sentence", [(True, ["a", "b"]), (False, ["a", "b", "d"])], ids=["skip-gram", "cbow"])
def test_one_update_equals_gensims_compiled_loop(sg, sentence, monkeypatch):
    """One sentence trained by gensim's compiled inner loop (train_batch_sg / train_batch_cbow) and by our step, from
    the same vectors, with the same noise word ('c', forced on both sides), at the model's first rate (0.025
    skip-gram, 0.05 CBOW): the same updates of the input and output vectors, to float rounding.

    Window 1 (gensim's reduced window randint(0, 1) is always 0), one noise word per example. gensim trains the
    examples one after another, each seeing the last one's update (here through the shared noise row); our step
    trains a block from the same parameters, so we run one block per centre position, in gensim's order (skip-gram:
    two words, one pair per centre; CBOW: the middle centre predicts from the mean of two context words). Our
    sigmoid is swapped for gensim's table (`gensim_sigmoid`): with the true sigmoid the updates differ by 1-3%."""
    from gensim.models import Word2Vec as GensimWord2Vec
    from gensim.models.word2vec_inner import train_batch_cbow, train_batch_sg

    reference = GensimWord2Vec(vector_size=8, window=1, negative=1, hs=0, sample=0, min_count=1, sg=int(sg),
                               workers=1)
    reference.build_vocab([["c"] * 3 + sentence])  # 'c', the most frequent word, gets index 0
    words = list(reference.wv.index_to_key)
    vocab = Vocabulary(words, torch.tensor([reference.wv.get_vecattr(w, "count") for w in words]))
    model = Word2Vec(vocab, Word2VecConfig(dim=8, window=1, negative=1, sample=0, min_count=1, sg=sg), device="cpu")
    lr, noise = model.config.alpha, words.index("c")
    g = torch.Generator().manual_seed(0)
    model.w_in[:] = torch.randn(model.w_in.shape, generator=g) * 0.3  # scores of about +-0.3, far inside +-6
    model.w_out[:] = torch.randn(model.w_out.shape, generator=g) * 0.3
    w_in, w_out = model.w_in.clone(), model.w_out.clone()
    reference.wv.vectors[:], reference.syn1neg[:] = w_in.numpy(), w_out.numpy()
    # gensim draws a noise word as bisect_left(cum_table, r) with r < cum_table[-1]: this table gives index 0 always
    reference.cum_table = np.full(len(words), 2**31 - 1, dtype=np.uint32)
    assert noise == 0
    work, neu1 = np.zeros(8, dtype=np.float32), np.zeros(8, dtype=np.float32)
    trained = (train_batch_sg(reference, [sentence], lr, work, False) if sg else
               train_batch_cbow(reference, [sentence], lr, work, neu1, False))
    assert trained == len(sentence)  # no word dropped

    monkeypatch.setattr(model, "noise_words", lambda shape: torch.full(shape, noise))
    monkeypatch.setattr(torch, "sigmoid", gensim_sigmoid)
    ids = torch.tensor([vocab.id(w) for w in sentence])
    laid_out = model.windows(ids, torch.zeros(len(ids), dtype=torch.long), torch.ones(len(ids), dtype=torch.long))
    examples = sum(model.step(*laid_out, slice(p, p + 1), lr)[1] for p in range(len(ids)))
    assert examples == (2 if sg else 3)

    for ours, theirs, before in [(model.w_in, reference.wv.vectors, w_in), (model.w_out, reference.syn1neg, w_out)]:
        ours_delta, theirs_delta = ours - before, torch.from_numpy(theirs) - before
        moved = theirs_delta.norm(dim=1) > 0
        # inputs: the sentence's words; outputs: those and the noise word 'c'; each by more than 0.1 lr
        assert moved.tolist() == [w in sentence or ours is model.w_out for w in words]
        assert float(theirs_delta[moved].norm(dim=1).min()) > 0.1 * lr
        assert float((ours_delta - theirs_delta).norm()) < 1e-5 * float(theirs_delta.norm())


def test_gensims_sigmoid_table_is_close_to_the_sigmoid():
    """The stand-in of the test above: within 0.01 below the true sigmoid, sigmoid(-0.024) at 0."""
    x = torch.linspace(-5.9, 5.9, 10_001)
    error = gensim_sigmoid(x) - torch.sigmoid(x)
    assert -0.01 < float(error.min()) and float(error.max()) <= 0
    assert float(gensim_sigmoid(torch.zeros(1))) == pytest.approx(float(torch.sigmoid(torch.tensor(-0.024))),
                                                                  abs=1e-6)


def test_shared_negatives_equal_separate_pairs_with_the_same_draw(monkeypatch):
    """Two context words sharing one noise draw: the same update as two pairs drawing that word each;
    a masked (padding) context changes nothing."""
    shared, separate = tiny_model(shared_negatives=True), tiny_model()
    for m in (shared, separate):
        m.w_out[:] = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    h = torch.tensor([[[2.0, 0.0], [0.5, -1.0], [9.0, 9.0]]])  # the third is padding
    monkeypatch.setattr(shared, "noise_words", lambda shape: torch.tensor([[0, 2]]))
    monkeypatch.setattr(separate, "noise_words", lambda shape: torch.tensor([[0, 2], [0, 2]]))
    grad, loss = shared.negative_sampling(h, torch.tensor([1]), 0.1, mask=torch.tensor([[True, True, False]]))
    grad_pairs, loss_pairs = separate.negative_sampling(h[0, :2, None], torch.tensor([1, 1]), 0.1)
    assert torch.allclose(shared.w_out, separate.w_out)
    assert torch.allclose(grad[0, :2], grad_pairs[:, 0]) and torch.equal(grad[0, 2], torch.zeros(2))
    assert float(loss) == pytest.approx(float(loss_pairs), rel=1e-6)


def test_shared_negatives_draw_once_per_window(monkeypatch):
    model, shapes = tiny_model(window=2, shared_negatives=True), []
    draw = model.noise_words
    monkeypatch.setattr(model, "noise_words", lambda shape: shapes.append(shape) or draw(shape))
    laid_out = model.windows(torch.tensor([0, 1, 2, 3, 0, 1]), torch.zeros(6, dtype=torch.long), torch.full((6,), 2))
    _, examples = model.step(*laid_out, slice(0, 6), lr=0.1)
    assert shapes == [(6, 2)] and examples == 2 + 3 + 4 + 4 + 3 + 2  # 6 windows, 18 pairs


def test_noise_word_equal_to_target_is_skipped(monkeypatch):
    model = tiny_model()
    monkeypatch.setattr(model, "noise_words", lambda shape: torch.tensor([[0, 1]]))
    before = model.w_out.clone()
    model.negative_sampling(torch.tensor([[[1.0, 1.0]]]), torch.tensor([1]), lr=0.1)
    assert torch.allclose(model.w_out[1], before[1] + 0.1 * 0.5 * torch.tensor([1.0, 1.0]))  # positive only


@pytest.mark.parametrize("sg", [True, False])
def test_full_window_examples_respect_sentence_borders(sg):
    model = tiny_model(window=2, sg=sg)
    ids = torch.tensor([0, 1, 2, 3, 0, 1])
    sentence = torch.tensor([0, 0, 0, 1, 1, 1])
    reach = torch.full((6,), 2)
    _, examples = model.step(*model.windows(ids, sentence, reach), slice(0, 6), lr=0.0)
    # sentence 1: 3 words, each sees the other 2 -> 6 pairs; sentence 2 the same. CBOW: one example per word.
    assert examples == (12 if sg else 6)
    _, examples = model.step(*model.windows(ids, sentence, torch.ones(6, dtype=torch.long)), slice(0, 6), lr=0.0)
    assert examples == (8 if sg else 6)  # window 1: neighbours only


@pytest.mark.parametrize("sg", [True, False])
def test_a_strided_block_keeps_whole_windows(sg):
    """Centres 1 and 4 of two 3-word sentences: each still sees both neighbours in its sentence."""
    model = tiny_model(window=2, sg=sg)
    ids, sentence = torch.tensor([0, 1, 2, 3, 0, 1]), torch.tensor([0, 0, 0, 1, 1, 1])
    _, examples = model.step(*model.windows(ids, sentence, torch.full((6,), 2)), slice(1, None, 3), lr=0.0)
    assert examples == (4 if sg else 2)


def reference_and_fixed_models(sg: bool, shared: bool) -> tuple[Word2Vec, Word2Vec, torch.Tensor, torch.Tensor,
                                                                   torch.Generator]:
    """Two equal 12-word models with random output vectors, and the laid-out 23-position corpus."""
    reference, fixed = twelve_word_model(sg, shared), twelve_word_model(sg, shared)
    for m in (reference, fixed):
        m.w_out[:] = torch.randn(m.w_out.shape, generator=torch.Generator().manual_seed(1)) * 0.1
    g = torch.Generator().manual_seed(2)
    return reference, fixed, *twenty_three_positions(reference, g), g


def run_fixed_block(model: Word2Vec, e_ids: torch.Tensor, context: torch.Tensor, n_blocks: int, j: int):
    """Train block ``j`` of ``n_blocks`` fixed-shape blocks at rate 0.05; return the `FixedBlocks`."""
    from embedkit.word2vec_graph import FixedBlocks

    blocks = FixedBlocks(model, e_ids, context, n_blocks)
    blocks.j.fill_(j)
    blocks.rates.fill_(0.05)
    blocks.step()
    assert int(blocks.j) == j + 1
    return blocks


def test_fixed_shape_skipgram_block_trains_every_nth_pair(monkeypatch):
    """Skip-gram's fixed-shape blocks list the epoch's (context word, centre word) pairs once, in corpus order;
    block j trains the pairs j, j + n_blocks, ... Checked against those pairs found by a loop over the windows and
    trained by `negative_sampling` with the same noise words: the same vectors, loss and number of examples."""
    reference, fixed, e_ids, context, g = reference_and_fixed_models(True, False)
    w = reference.config.window
    pairs = [(int(e_ids[p + s]), int(e_ids[p + w])) for p in range(len(context)) for s in range(2 * w + 1)
             if context[p, s]]
    n_blocks, j = 5, 4
    assert len(pairs) % n_blocks == 4  # 69 pairs: blocks 0-3 hold 14, block 4 holds 13 (one spare row)
    mine = pairs[j::n_blocks]
    noise = torch.randint(12, (len(mine) + 1, 3), generator=g)  # (pair, 1 + k)
    monkeypatch.setattr(fixed, "noise_words", lambda shape: noise.reshape(shape))
    monkeypatch.setattr(reference, "noise_words", lambda shape: noise[:len(mine)].reshape(shape))
    inputs, targets = torch.tensor([a for a, _ in mine]), torch.tensor([b for _, b in mine])
    grad, loss = reference.negative_sampling(reference.w_in[inputs][:, None], targets, 0.05)
    reference.w_in.index_add_(0, inputs, grad[:, 0])
    before = fixed.w_in.clone()
    blocks = run_fixed_block(fixed, e_ids, context, n_blocks, j)
    assert int(blocks.examples) == len(mine)
    assert float(blocks.loss) == pytest.approx(float(loss), rel=1e-6)
    assert torch.allclose(fixed.w_out, reference.w_out, atol=1e-7)
    assert torch.allclose(fixed.w_in, reference.w_in, atol=1e-7) and not torch.equal(fixed.w_in, before)


def test_grouped_pairs_share_one_noise_draw_per_group(monkeypatch):
    """``pairs_per_draw=4``: block j pads its pairs to whole groups of 4 (the padding masked out), and each group's
    pairs see the same ``negative`` noise words. Checked against `negative_sampling` on the same pairs, each given
    its group's noise words: the same vectors, loss and number of examples."""
    reference, fixed, e_ids, context, g = reference_and_fixed_models(True, False)
    fixed.config = Word2VecConfig(**{**vars(fixed.config), "graph": True, "pairs_per_draw": 4})
    w = reference.config.window
    pairs = [(int(e_ids[p + s]), int(e_ids[p + w])) for p in range(len(context)) for s in range(2 * w + 1)
             if context[p, s]]
    n_blocks, j = 5, 4
    mine = pairs[j::n_blocks]  # 13 pairs: 14 rows in the longest block, 16 in whole groups of 4
    noise = torch.randint(12, (4, 2), generator=g)  # (group, k)
    monkeypatch.setattr(fixed, "noise_words", lambda shape: noise.reshape(shape))
    per_pair = torch.cat([torch.zeros(len(mine), 1, dtype=torch.long), noise[torch.arange(len(mine)) // 4]], dim=1)
    monkeypatch.setattr(reference, "noise_words", lambda shape: per_pair.reshape(shape))
    inputs, targets = torch.tensor([a for a, _ in mine]), torch.tensor([b for _, b in mine])
    assert bool((per_pair[:, 1:] == targets[:, None]).any())  # a noise word equal to the true word is skipped
    grad, loss = reference.negative_sampling(reference.w_in[inputs][:, None], targets, 0.05)
    reference.w_in.index_add_(0, inputs, grad[:, 0])
    blocks = run_fixed_block(fixed, e_ids, context, n_blocks, j)
    assert len(blocks.offsets) == 16 and int(blocks.examples) == len(mine)
    assert float(blocks.loss) == pytest.approx(float(loss), rel=1e-6)
    assert torch.allclose(fixed.w_out, reference.w_out, atol=1e-7)
    assert torch.allclose(fixed.w_in, reference.w_in, atol=1e-7)


def test_pairs_per_draw_is_for_graph_skip_gram_only():
    assert Word2VecConfig(graph=True, pairs_per_draw=8).pairs_per_draw == 8
    for bad in (dict(pairs_per_draw=4), dict(graph=True, sg=False, pairs_per_draw=4),
                dict(graph=True, shared_negatives=True, pairs_per_draw=4)):
        with pytest.raises(ValueError, match="pairs_per_draw > 1 groups the pairs of graph=True skip-gram"):
            Word2VecConfig(**bad)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="pairs_per_draw must be a whole number"):
            Word2VecConfig(graph=True, pairs_per_draw=bad)


@pytest.mark.parametrize("sg", [True, False], ids=["shared-negatives", "cbow"])
def test_fixed_shape_window_blocks_update_as_the_step_methods(sg, monkeypatch):
    """word2vec_graph's fixed-shape window block (every window slot, masked), for CBOW and skip-gram with shared
    negatives, against the step method (context words only) on the same block with the same noise words: the
    same vectors, loss and number of examples."""
    compact, fixed, e_ids, context, g = reference_and_fixed_models(sg, sg)
    n_blocks, j = 5, 3  # block 3 holds positions 3, 8, 13, 18 (4 < 5 rows: one spare centre)
    noise = torch.randint(12, (5, 3), generator=g)  # (centre, 1 + k)
    monkeypatch.setattr(fixed, "noise_words", lambda shape: noise.reshape(shape))
    monkeypatch.setattr(compact, "noise_words", lambda shape: noise[:4].reshape(shape))
    before = fixed.w_in.clone()
    loss, examples = compact.step(e_ids, context, slice(j, None, n_blocks), 0.05)
    blocks = run_fixed_block(fixed, e_ids, context, n_blocks, j)
    assert int(blocks.examples) == examples > 0
    assert float(blocks.loss) == pytest.approx(float(loss), rel=1e-6)
    assert torch.allclose(fixed.w_out, compact.w_out, atol=1e-7)
    assert torch.allclose(fixed.w_in, compact.w_in, atol=1e-7) and not torch.equal(fixed.w_in, before)


@pytest.mark.parametrize("sg, shared, group", [(True, False, 1), (True, True, 1), (False, False, 1), (True, False, 4)],
                         ids=["skip-gram", "shared-negatives", "cbow", "pairs-per-draw"])
def test_fixed_shape_block_never_waits_for_the_device(sg, shared, group):
    """What a CUDA graph cannot hold, recorded here on a CPU from the operations torch dispatches: a value read
    back to Python (item, int, bool of a tensor) or a shape that depends on the data (boolean-mask indexing,
    nonzero, masked_select, repeat_interleave). The fixed-shape block has none; the step methods do."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from embedkit.word2vec_graph import FixedBlocks

    waits = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            bool_index = name == "index" and any(getattr(t, "dtype", None) == torch.bool for t in args[1])
            if bool_index or name in {"_local_scalar_dense", "nonzero", "masked_select", "repeat_interleave"}:
                waits.append(name)
            return func(*args, **(kwargs or {}))

    model = twelve_word_model(sg, shared)
    model.config.graph, model.config.pairs_per_draw = True, group
    e_ids, context = twenty_three_positions(model, torch.Generator().manual_seed(0))
    blocks = FixedBlocks(model, e_ids, context, 5)
    with Record():
        blocks.step()
    assert waits == []
    with Record():
        model.step(e_ids, context, slice(3, None, 5), 0.05)
    assert waits  # the step methods pick the context words by a boolean mask


def test_graph_replays_equal_the_same_blocks_run_one_by_one(device):
    """CUDA only: one epoch replayed from a captured graph against the same fixed-shape blocks launched one by one,
    from the same seed. The replays draw the same noise words (the registered generator advances as in eager
    runs), so the vectors differ only by the order of CUDA's atomic adds."""
    from embedkit.word2vec_graph import FixedBlocks

    if device == "cpu":
        pytest.skip("CUDA graphs need a CUDA GPU")
    sentences = TOY_SENTENCES
    vocab = Vocabulary.build(sentences, 1)
    ids, sentence = vocab.encode(sentences)
    vectors = []
    for graph in (False, True):
        model = Word2Vec(vocab, Word2VecConfig(dim=8, min_count=1, sample=0, block=32), device=device)
        e_ids, context = model.windows(ids.to(device), sentence.to(device),
                                       torch.full((len(ids),), 5, device=device))
        loss, examples = FixedBlocks(model, e_ids, context, 19).run(lambda j: 0.025 * (1 - j / 19), graph)
        vectors.append((model.w_in.cpu(), model.w_out.cpu(), float(loss), int(examples)))
    (a_in, a_out, a_loss, a_n), (b_in, b_out, b_loss, b_n) = vectors
    assert a_n == b_n and a_loss == pytest.approx(b_loss, rel=1e-4)
    assert torch.allclose(a_in, b_in, atol=1e-5) and torch.allclose(a_out, b_out, atol=1e-5)


def test_graph_option_learns_repeatably_and_refuses_callbacks(device):
    """graph=True: on CUDA a captured graph per epoch (19 blocks: 3 run before the capture, 16 replays), on a CPU
    the same fixed-shape blocks without one. Repeatable, it learns, and it sees the windows the step methods see."""
    sentences = TOY_SENTENCES
    config = Word2VecConfig(dim=8, min_count=1, epochs=5, sample=0, block=32, graph=True)
    first, history = train_word2vec(sentences, config, device=device)
    second, _ = train_word2vec(sentences, config, device=device)
    if device == "cpu":
        assert torch.equal(first.w_in, second.w_in)
    else:  # CUDA's index_add_ adds in no fixed order: the same run up to float rounding
        assert torch.allclose(first.w_in, second.w_in, atol=1e-4)
    assert history[-1]["loss"] < history[0]["loss"]
    plain, plain_history = train_word2vec(sentences, Word2VecConfig(dim=8, min_count=1, epochs=5, sample=0, block=32),
                                          device=device)
    assert history[0]["examples"] == plain_history[0]["examples"]  # the same windows (later: other random draws)
    with pytest.raises(ValueError, match="graph=True"):
        first.train(torch.arange(4), torch.zeros(4, dtype=torch.long), on_block=lambda *a: None)


def test_each_epoch_visits_every_position_once_in_spread_out_blocks(monkeypatch):
    model = tiny_model(window=1, block=4)
    seen = []
    original = model.step
    monkeypatch.setattr(model, "step", lambda ids, context, centres, lr:
                        seen.append(torch.arange(len(ids) - 2)[centres]) or original(ids, context, centres, lr))
    model.train(torch.arange(10) % 4, torch.zeros(10, dtype=torch.long), epochs=1)
    assert [b.tolist() for b in seen] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]  # 3 blocks of at most 4


def test_training_is_deterministic_and_lowers_the_loss(device):
    sentences = TOY_SENTENCES
    config = Word2VecConfig(dim=8, min_count=1, epochs=5, sample=0, block=32)
    first, history = train_word2vec(sentences, config, device=device)
    second, _ = train_word2vec(sentences, config, device=device)
    assert first.w_in.device.type == device
    if device == "cpu":
        assert torch.equal(first.w_in, second.w_in)
    else:  # CUDA's index_add_ adds in no fixed order: the same run up to float rounding
        assert torch.allclose(first.w_in, second.w_in, atol=1e-4)
    assert history[-1]["loss"] < history[0]["loss"]


def test_block_size_by_mode_and_device():
    assert [tiny_model(sg=sg, shared_negatives=sh).block for sg, sh in [(True, False), (True, True), (False, False)]] \
        == [256, 512, 1024]
    assert [default_block(sg, sh, torch.device("cuda")) for sg, sh in [(True, False), (True, True), (False, False)]] \
        == [2048, 2048, 2048]
    assert tiny_model(block=7).block == 7


def test_divergence_is_an_error_not_nan_vectors():
    """Vectors that overflow (here: a huge learning rate) stop training with advice, not NaN vectors later."""
    sentences = TOY_SENTENCES
    with pytest.raises(FloatingPointError, match="smaller block or alpha"):
        train_word2vec(sentences, Word2VecConfig(dim=8, min_count=1, epochs=3, sample=0, alpha=1e20), device="cpu")


def test_bad_input():
    with pytest.raises(ValueError, match="negative"):
        Word2VecConfig(negative=0)
    with pytest.raises(ValueError, match="window"):
        Word2VecConfig(window=0)
    with pytest.raises(ValueError, match="block"):
        Word2VecConfig(block=0)
    with pytest.raises(ValueError, match="skip-gram only"):
        Word2VecConfig(sg=False, shared_negatives=True)
    with pytest.raises(EmptyInputError):
        tiny_model().train(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long))
    with pytest.raises(EmptyInputError):
        train_word2vec([[]], Word2VecConfig(min_count=1))
    with pytest.raises(ValueError, match="workers"):
        Word2VecConfig(workers=0)
    with pytest.raises(ValueError, match="workers=1"):
        tiny_model(workers=2).train(torch.arange(4), torch.zeros(4, dtype=torch.long), on_block=lambda *a: None)
    with pytest.raises(ValueError, match="epochs must be at least 1"):  # not silently the config's 5
        tiny_model().train(torch.arange(4), torch.zeros(4, dtype=torch.long), epochs=0)
    for alpha in (0.0, -0.025, float("nan"), float("inf")):  # 0 would train nothing, < 0 climb the loss
        with pytest.raises(ValueError, match="alpha .the learning rate. must be a positive finite number"):
            Word2VecConfig(alpha=alpha)
    assert Word2VecConfig(alpha=1e-6).alpha == 1e-6 and Word2VecConfig(sg=False).alpha == 0.05


@pytest.mark.parametrize("flags, message", [
    (["--models", "cbow", "--cbow"], "--models names the models itself"),
    (["--models", "skip-gram", "--shared-negatives"], "--models names the models itself"),
    (["--cbow", "--shared-negatives"], "--shared-negatives is a skip-gram option"),
    (["--fused"], "--fused fuses --graph skip-gram blocks"),
    (["--graph", "--fused", "--pairs-per-draw", "4"], "--fused fuses --graph skip-gram blocks"),
    (["--graph", "--fused-pairs", "4"], "--fused-pairs is a positive number of pairs, for --fused"),
])
def test_the_benchmark_refuses_flags_it_would_ignore(flags, message):
    """`--models` beside `--cbow` once ran the listed models and silently dropped `--cbow`."""
    script = ROOT / "benchmarks" / "word2vec_vs_gensim.py"
    done = subprocess.run([sys.executable, str(script), *flags], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_an_epoch_that_subsampling_empties_trains_nothing():
    """Three occurrences of one word: each is kept with probability 0.033, so with this seed none is."""
    model, history = train_word2vec([["a", "a", "a"]], Word2VecConfig(dim=4, min_count=1, epochs=2), device="cpu")
    assert [(row["words"], row["examples"]) for row in history] == [(0, 0), (0, 0)]
    assert torch.equal(model.w_out, torch.zeros(1, 4))


def test_a_corpus_without_pairs_is_an_error():
    """Sentences of one word have no (context, centre) pair: an error, not untrained vectors."""
    with pytest.raises(EmptyInputError, match="two words"):
        train_word2vec([["a"], ["b"]] * 10, Word2VecConfig(dim=4, min_count=1, sample=0), device="cpu")


@pytest.mark.parametrize("sg", [True, False], ids=["skip-gram pairs", "cbow windows"])
def test_fixed_shape_blocks_without_context_train_nothing(sg):
    """An epoch whose words have no neighbour (as subsampling can leave): the fixed-shape blocks hold no pair
    (skip-gram) or only masked slots (CBOW); no example, no loss, no update."""
    model = twelve_word_model(sg=sg, shared=False)
    ids, context = model.windows(torch.arange(6), torch.arange(6), torch.full((6,), 3))
    blocks = FixedBlocks(model, ids, context, n_blocks=2)
    loss, examples = blocks.run(lambda j: 0.025, graph=False)
    assert (float(loss), int(examples)) == (0.0, 0)
    assert torch.equal(model.w_out, torch.zeros(12, 6))


def test_word_ids_outside_the_vocabulary_are_an_error():
    model = tiny_model()
    for bad in (torch.tensor([0, 1, 4]), torch.tensor([0, -1, 2])):
        with pytest.raises(UnknownIDError, match="vocab.encode"):
            model.train(bad, torch.zeros(3, dtype=torch.long))


def test_two_workers_learn_and_give_the_threads_back():
    sentences = TOY_SENTENCES
    threads = torch.get_num_threads()
    config = Word2VecConfig(dim=8, min_count=1, epochs=5, sample=0, block=32)
    _, one = train_word2vec(sentences, config, device="cpu")
    config.workers = 2
    _, two = train_word2vec(sentences, config, device="cpu")
    assert torch.get_num_threads() == threads
    assert two[-1]["loss"] < two[0]["loss"]
    # window sizes are drawn before the workers start, so both see the same examples: every block once
    assert [row["examples"] for row in two] == [row["examples"] for row in one]


@pytest.fixture(scope="module")
def wiki():
    return wikipedia_sentences()


def test_the_stored_block_experiment_reproduces(wiki, load_script, stored_glue):
    """Chapter 2 reads benchmarks/results/word2vec_block.txt (scripts/word2vec_block.py). Its runs with the page's
    settings (ours at the default block, gensim as it comes; seeds 0 and 1) must score what the page stored, and one
    run the page does not make, gensim with its starting vectors halved (seed 0), is rerun here from the script as
    it stands and must give the stored scores. (The page's own runs move under other random draws, on a GPU or in
    scripts/seed_sweep.py, so this comparison lives here, against its stored outputs.)"""
    import re

    script = load_script("scripts/word2vec_block.py")
    stored = (ROOT / "benchmarks" / "results" / "word2vec_block.txt").read_text()
    found = re.search(r"run, gensim, start x 0.5, seed 0: WordSim-353 ([\d.]+), SimLex-999 ([\d.]+)", stored)
    assert found, "the stored file lacks the halved-start gensim run of seed 0: rerun scripts/word2vec_block.py"
    ws, sl = script.scores(script.train(wiki, "gensim, start x 0.5", seed=0))
    assert (round(ws, 4), round(sl, 4)) == (float(found[1]), float(found[2]))
    runs = re.findall(r"^run, (.+?), seed (\d+):", stored, re.M)
    assert runs == [(name, str(s)) for name in script.RUNS for s in script.SEEDS], "rerun scripts/word2vec_block.py"
    glued = stored_glue("02_word2vec")
    for name, key in [("embedkit, block 256", "ours"), ("gensim, start x 1.0", "gensim")]:
        script_runs = {float(re.search(rf"run, {name}, seed {s}: WordSim-353 ([\d.]+)", stored)[1]) for s in (0, 1)}
        page_runs = {round(float(glued[f"sg_rho_{key}_{end}"]), 4) for end in ("lo", "hi")}  # seeds 0 and 1
        assert script_runs == page_runs, f"{name}: the script's seeds 0 and 1 differ from chapter 2's; rerun both"


@pytest.mark.parametrize("sg, shared, epochs, graph, group, fused",
                         [(True, False, 3, False, 1, False), (True, True, 3, False, 1, False),
                          (False, False, 10, False, 1, False), (True, False, 3, True, 1, False),
                          (False, False, 10, True, 1, False), (True, False, 3, True, 8, False),
                          (True, False, 3, True, 1, True)],
                         ids=["skip-gram", "skip-gram-shared-negatives", "cbow", "skip-gram-graph", "cbow-graph",
                              "skip-gram-graph-8-pairs-per-draw", "skip-gram-graph-fused"])
def test_quality_matches_gensim(wiki, sg, shared, epochs, graph, group, fused, device):
    """Same corpus, same hyperparameters, one worker each (reproducible): our scores against gensim's.

    gensim gets our learning rate (0.05 for CBOW, as word2vec.c; gensim's default is 0.025). On this
    small corpus the scores are noisy, so the bounds come from a seed sweep with a margin on both sides.
    Measured over seeds 0-4 (same seed for both), 2026-11-26:

    | mode | ours - gensim, WordSim-353 rho | ours / gensim, analogy accuracy |
    |---|---|---|
    | skip-gram | +0.020 to +0.059 | 0.82 to 1.51 |
    | shared negatives | +0.017 to +0.055 | 0.76 to 1.15 |
    | CBOW | -0.014 to +0.041 | 0.97 to 1.47 |

    (an earlier sweep, seeds 0-3: -0.03 to +0.06 and up to 1.8). The test asserts -0.05 < delta rho < 0.1,
    ours rho above 0.75 x gensim's (worst seen: 0.96 x), and 0.6 < accuracy ratio < 2.2: a model at a third
    of gensim's analogy accuracy, or with a much weaker correlation, fails. The "-graph" cases train the
    fixed-shape blocks of `embedkit.word2vec_graph` (on CUDA replayed as a CUDA graph) under the same bounds;
    with 8 pairs per noise draw, seeds 0-4 at blocks of 256 and 2,048 (2026-11-29, CPU): delta rho +0.003 to
    +0.045, accuracy ratio 0.87 to 1.35. "-fused" (two triton kernels per block) runs on CUDA only: on a CPU
    triton's interpreter would take many minutes, and tests/test_word2vec_fused.py checks there that its updates
    equal the "-graph" blocks' for the same noise words.
    """
    from gensim.models import Word2Vec as GensimWord2Vec

    if fused:
        pytest.importorskip("triton")
        if device == "cpu":
            pytest.skip("triton's interpreter is too slow for the whole slice; test_word2vec_fused checks the updates")

    from embedkit import EmbeddingTable
    from embedkit.evaluate import evaluate_analogies

    config = Word2VecConfig(dim=50, epochs=epochs, sg=sg, shared_negatives=shared, graph=graph,
                            pairs_per_draw=group, fused=fused)
    ours, _ = train_word2vec(wiki, config, device=device)  # on CUDA: the GPU's default block sizes
    reference = GensimWord2Vec(wiki, vector_size=50, window=5, min_count=5, sg=int(sg), negative=5, sample=1e-3,
                               alpha=config.alpha, epochs=epochs, workers=1, seed=0)
    theirs = EmbeddingTable(reference.wv.index_to_key, reference.wv.vectors, device="cpu")
    assert set(ours.vocab.words) == set(theirs.words)
    ours_rho = evaluate_word_pairs(ours.table().to("cpu"), "wordsim353").spearman
    theirs_rho = evaluate_word_pairs(theirs, "wordsim353").spearman
    assert -0.05 < ours_rho - theirs_rho < 0.1, (ours_rho, theirs_rho)
    assert ours_rho > 0.75 * theirs_rho, (ours_rho, theirs_rho)
    ours_acc, theirs_acc = evaluate_analogies(ours.table().to("cpu")).accuracy, evaluate_analogies(theirs).accuracy
    assert 0.6 < ours_acc / theirs_acc < 2.2, (ours_acc, theirs_acc)


def test_two_workers_on_real_text_smoke(wiki):
    """Hogwild CBOW (2 threads) is not reproducible, so it gets a smoke test, not parity: it must learn
    (one worker scores 0.33-0.38 on WordSim-353 and 3-4% on analogies; a model that learned nothing, 0)."""
    from embedkit.evaluate import evaluate_analogies

    model, _ = train_word2vec(wiki, Word2VecConfig(dim=50, epochs=10, sg=False, workers=2), device="cpu")
    assert evaluate_word_pairs(model.table(), "wordsim353").spearman > 0.2
    assert evaluate_analogies(model.table()).accuracy > 0.01


@pytest.mark.parametrize("min_alpha", [1e-4, 0.6])
def test_learning_rate_falls_linearly_with_words_processed_down_to_min_alpha(monkeypatch, min_alpha):
    """As in word2vec.c: alpha * (1 - words done / all words), never below alpha * min_alpha."""
    model = tiny_model(block=1, alpha=0.1, min_alpha=min_alpha, epochs=2)
    rates = []
    monkeypatch.setattr(model, "step", lambda e_ids, context, positions, lr: (rates.append(lr), (torch.zeros(()), 1))[1])
    ids = torch.arange(4).repeat(5)  # 20 words, none subsampled (sample=0): 20 blocks of one position per epoch
    model.train(ids, torch.zeros(20, dtype=torch.long))
    expected = [0.1 * max(1 - k / 40, min_alpha) for k in range(40)]
    assert rates == pytest.approx(expected)
    assert rates[0] == 0.1 and min(rates) == pytest.approx(0.1 * max(min_alpha, 1 / 40))


def test_noise_words_follow_the_unigram_distribution_to_the_three_quarters():
    """Every exact test above replaces `noise_words`; here the real draw: 10**6 noise words from the table built in
    `Word2Vec.__init__` against `Vocabulary.noise_distribution` (counts 12..1, so the most frequent word is drawn
    12**0.75 = 6.4 times as often as the rarest; a uniform table would give 1)."""
    model = twelve_word_model(sg=True, shared=False)
    drawn = torch.bincount(model.noise_words((10**6,)).flatten(), minlength=12).double() / 10**6
    expected = model.vocab.noise_distribution()
    assert float((drawn - expected).abs().max()) < 0.002  # a sampling sd of at most 0.0004, the table's rounding 1e-6
    assert float(drawn[0] / drawn[-1]) == pytest.approx(12**0.75, rel=0.05)


def test_each_position_draws_its_window_reach_evenly_from_one_to_window(monkeypatch):
    """The dynamic window (word2vec.c's ``b = next_random % window``): each kept position's reach is drawn anew each
    epoch, uniform in 1..window; the windows are cut to it, so the pairs per epoch are what the reaches allow."""
    words = [f"w{i}" for i in range(50)]
    g = torch.Generator().manual_seed(5)
    sentences = [[words[int(i)] for i in torch.randint(50, (40,), generator=g)] for _ in range(150)]  # 6,000 words
    model = Word2Vec(Vocabulary.build(sentences, 1), Word2VecConfig(dim=4, window=4, sample=0, min_count=1, epochs=2))
    reaches, windows = [], model.windows

    def record(ids, sentence, reach):
        reaches.append(reach.clone())
        return windows(ids, sentence, reach)

    monkeypatch.setattr(model, "windows", record)
    history = model.train(*model.vocab.encode(sentences))
    assert len(reaches) == 2 and all(len(r) == 6_000 for r in reaches)
    for reach, epoch in zip(reaches, history):
        share = torch.bincount(reach, minlength=5)[1:] / len(reach)
        assert set(reach.tolist()) == {1, 2, 3, 4} and float((share - 0.25).abs().max()) < 0.03, share
        # skip-gram pairs: each position pairs with up to reach words on each side, inside its sentence of 40
        position = torch.arange(6_000) % 40
        expected = (torch.minimum(reach, position) + torch.minimum(reach, 39 - position)).sum()
        assert epoch["examples"] == int(expected)
    assert not torch.equal(reaches[0], reaches[1])  # drawn anew each epoch
