"""Bad input that used to give a silently wrong answer (or a bare error from deep inside torch) now raises a
specific error whose message says what to do. One test per finding of an audit of `embedkit`'s public functions;
each input below once returned a result (a clamped prediction, a wrapped-around index, NaN) without complaint."""

import math

import numpy as np
import pytest
import torch

from embedkit.bpr import BPR, bpr_step, fit_bpr, sample_negatives
from embedkit.contrastive import nt_xent
from embedkit.errors import ShapeError
from embedkit.evaluate import pearson
from embedkit.glove import Cooccurrence, GloVe, cooccurrence
from embedkit.kmeans import assign, kmeans_plus_plus, squared_distances
from embedkit.mf import BiasedMF, fit_sgd, ridge_rows
from embedkit.ratings import Ratings
from embedkit.recsys import mae, rmse
from embedkit.shard import shard_bounds
from embedkit.vocab import Vocabulary
from embedkit.word2vec import Word2Vec, Word2VecConfig

NAN = float("nan")


def tiny_ratings() -> Ratings:
    users, items = torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 1, 1, 2, 0, 2])
    return Ratings.from_arrays(users.numpy(), items.numpy(), np.array([5.0, 3, 4, 1, 2, 5]))


def test_word2vec_subsampling_threshold_must_be_a_finite_non_negative_number():
    # NaN once trained nothing: every word was dropped by subsampling, and the history read loss 0.0
    for sample in (NAN, -1.0, math.inf):
        with pytest.raises(ValueError, match="sample .the subsampling threshold. must be a non-negative finite"):
            Word2VecConfig(sample=sample)
    vocab = Vocabulary.build([["a", "b", "a"]], min_count=1)
    for sample in (NAN, -1.0):  # -1 once kept every word, as 0 does
        with pytest.raises(ValueError, match="Use 0 to keep every word"):
            vocab.keep_probabilities(sample)
    assert torch.equal(vocab.keep_probabilities(0), torch.ones(len(vocab), dtype=torch.float64))
    with pytest.raises(ValueError, match="power must be a finite number"):
        vocab.noise_distribution(NAN)
    for name in ("dim", "window", "negative"):  # 2.5 once failed later, inside torch
        with pytest.raises(ValueError, match=f"{name}.* must be a whole number of at least 1"):
            Word2VecConfig(**{name: 2.5})


def test_word2vec_train_wants_flat_integer_ids():
    model = Word2Vec(Vocabulary.build([["a", "b", "c"]], min_count=1), Word2VecConfig(dim=4, min_count=1), "cpu")
    with pytest.raises(TypeError, match="ids must be integers"):
        model.train(torch.tensor([0.0, 1.0]), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ShapeError, match="must be 1-D"):  # once "no sentence has two words"
        model.train(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="word ids must be a tensor of integer ids; got ndarray. Wrap it with torch.as_tensor"):
        model.train(np.array([0, 1]), np.array([0, 0]))


def test_kmeans_rules_and_counts():
    x, c = torch.tensor([[0.0, 1.0], [0.0, 2.0]]), torch.tensor([[0.0, 1.0], [0.0, 10.0]])
    assert assign(x, c, rule="l2")[1].tolist() == [0, 0] and assign(x, c, rule="ip")[1].tolist() == [1, 1]
    with pytest.raises(ValueError, match="rule must be 'l2'"):  # "L2" once meant inner product
        assign(x, c, rule="L2")
    for k in (0, -3, 2.5):  # once returned one centroid
        with pytest.raises(ValueError, match="k must be a whole number of at least 1"):
            kmeans_plus_plus(x, k, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="at least k points"):
        kmeans_plus_plus(x, 3, torch.Generator().manual_seed(0))


def test_squared_distances_want_two_matrices_of_one_width():
    # was torch's "mat1 and mat2 shapes cannot be multiplied" or "Dimension out of range" from inside addmm
    x = torch.randn(3, 4)
    assert squared_distances(x, x).shape == (3, 3)
    for a, b in ((x, torch.randn(5, 6)), (torch.randn(4), x), (x, torch.randn(2, 3, 4))):
        with pytest.raises(ShapeError, match="of one width.*reshape"):
            squared_distances(a, b)


def test_matrix_factorisation_refuses_a_scale_that_clamps_everything_and_reports_divergence():
    with pytest.raises(ValueError, match="lowest < highest"):  # (5, 1) once clamped every prediction to 1
        BiasedMF(3, 3, scale=(5.0, 1.0))
    ratings = tiny_ratings()
    model = BiasedMF(ratings.n_users, ratings.n_items, factors=2)
    with pytest.raises(FloatingPointError, match="diverged in epoch 1 .* lower lr"):  # once a NaN train RMSE
        fit_sgd(model, ratings, epochs=2, lr=1e30, device="cpu")
    mask, target, fixed = torch.ones(2, 3), torch.ones(2, 3), torch.ones(3, 2)
    for l2 in (NAN, -1.0, 0.0):  # NaN once gave NaN solutions
        with pytest.raises(ValueError, match="l2 must be a positive finite number"):
            ridge_rows(mask, target, fixed, l2=l2)


def test_ratings_subset_refuses_negative_and_out_of_range_rows():
    ratings = tiny_ratings()
    assert len(ratings.subset(torch.tensor([0, 5]))) == 2 and len(ratings.subset(ratings.users == 0)) == 2
    with pytest.raises(IndexError, match="negative ids are not counted from the end"):  # -1 once was row 5
        ratings.subset(torch.tensor([-1]))
    with pytest.raises(IndexError, match=r"must lie in 0\.\.5"):
        ratings.subset(torch.tensor([6]))
    with pytest.raises(ShapeError, match="boolean mask"):
        ratings.subset(torch.tensor([True, False]))
    with pytest.raises(TypeError, match="row indices must be integers"):
        ratings.subset(torch.tensor([0.0]))


def test_bpr_checks_ids_rates_and_divergence():
    interacted = torch.zeros(3, 5, dtype=torch.bool)
    generator = torch.Generator().manual_seed(0)
    for users in (torch.tensor([-1]), torch.tensor([3])):  # -1 once drew for the last user
        with pytest.raises(IndexError, match=r"user ids must lie in 0\.\.2"):
            sample_negatives(interacted, users, generator)
    model = BPR(3, 5, factors=2)
    one = torch.tensor([0])
    for lr, l2, name in ((NAN, 0.01, "lr"), (0.1, NAN, "l2")):  # once a finite loss and NaN weights
        with pytest.raises(ValueError, match=f"^{name}.* must be a"):
            bpr_step(model, one, one, one + 1, lr=lr, l2=l2)
    with pytest.raises(ValueError, match="init_std must be a non-negative finite number"):
        BPR(3, 5, init_std=NAN)
    ratings = tiny_ratings()
    with pytest.raises(FloatingPointError, match="BPR diverged .* lower lr"):  # once loss inf in the history
        fit_bpr(BPR(ratings.n_users, ratings.n_items, factors=2), ratings, epochs=3, lr=1e30, device="cpu")


def test_glove_checks_its_counts_and_settings():
    with pytest.raises(ValueError, match="grad_clip must be a positive finite number"):  # NaN once NaN vectors
        GloVe(3, 2, grad_clip=NAN)
    with pytest.raises(TypeError, match="ids must be integers"):  # float ids once became float rows
        cooccurrence(torch.tensor([0.0, 1.0, 2.0]), torch.zeros(3, dtype=torch.long), 3)
    for bad in ([0, 1, 3], [-1, 0, 1]):  # an id beyond the vocabulary would index past the matrix
        with pytest.raises(ValueError, match=rf"word ids must lie in 0\.\.2; got {min(bad)} to {max(bad)}"):
            cooccurrence(torch.tensor(bad), torch.zeros(3, dtype=torch.long), 3)
    rows, cols = torch.tensor([0, 1]), torch.tensor([1, 0])
    with pytest.raises(ValueError, match="cols must lie in 0..2"):
        Cooccurrence(rows, torch.tensor([1, 5]), torch.ones(2, dtype=torch.float64), 3)
    with pytest.raises(ValueError, match="counts must be finite and above 0"):  # once "diverged ... lower lr"
        Cooccurrence(rows, cols, torch.tensor([1.0, 0.0], dtype=torch.float64), 3)
    with pytest.raises(ShapeError, match="equal length"):
        Cooccurrence(rows, cols, torch.ones(3, dtype=torch.float64), 3)


def test_metrics_refuse_nan_and_matrices():
    with pytest.raises(ValueError, match="predicted ratings hold NaN or infinity"):  # once returned nan
        rmse(torch.tensor([NAN, 1.0]), torch.tensor([1.0, 1.0]))
    with pytest.raises(ValueError, match="actual ratings hold NaN or infinity"):
        mae(torch.tensor([1.0, 1.0]), torch.tensor([math.inf, 1.0]))
    assert rmse(np.array([1.0, 3.0]), np.array([1.0, 1.0])) == pytest.approx(math.sqrt(2))  # numpy is fine
    with pytest.raises(ShapeError, match="must be 1-D"):  # once flattened silently
        pearson(np.eye(3), np.eye(3)[::-1])


def test_losses_and_splits_refuse_nan_settings():
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    for temperature in (NAN, math.inf, 0.0):
        with pytest.raises(ValueError, match="temperature must be a positive finite number"):
            nt_xent(z, z + 1, temperature=temperature)
    for n, rank, size in ((10, 0.5, 2), (-5, 0, 2), (10, True, 2)):  # (10, 0.5, 2) once gave (2.5, 7.5)
        with pytest.raises(ValueError, match=r"0 <= rank < world_size|n .the number of rows. must be"):
            shard_bounds(n, rank, size)
    assert shard_bounds(10, 1, 3) == (4, 7)


def test_chunk_and_stratified_subset_refuse_sizes_and_shapes_they_cannot_honour():
    from embedkit.corpora import chunk
    from embedkit.images import stratified_subset

    assert chunk(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    for size in (-1, 0, 1.5):  # -1 once returned [], dropping every word
        with pytest.raises(ValueError, match="size must be a whole number of at least 1"):
            chunk(["a", "b", "c"], size)
    with pytest.raises(ShapeError, match="labels must be a non-empty 1-D tensor"):  # once meaningless indices
        stratified_subset(torch.tensor([[0, 1], [1, 0]]), 1)
    with pytest.raises(ShapeError, match="labels must be a non-empty 1-D tensor"):
        stratified_subset(torch.tensor([], dtype=torch.long), 1)


def test_table_lookups_refuse_positions_mixed_queries_and_bad_pairs():
    from embedkit import EmbeddingTable

    table = EmbeddingTable(["a", "b", "c", "d"], torch.eye(4))
    assert torch.equal(table[np.array(["a", "b"])], torch.eye(4)[:2])  # words in a numpy array are fine
    with pytest.raises(TypeError, match="index by word, not by position"):  # once "iteration over a 0-d tensor"
        table[torch.tensor(0)]
    with pytest.raises(TypeError, match="not a mix"):  # once "too many dimensions 'str'"
        table.neighbours(["a", 1])
    with pytest.raises(ShapeError, match=r"pairs must be \(word, word\) tuples"):  # once an unpack error
        table.similarities([("a",)])


def test_vae_decode_wants_codes_of_the_models_dtype():
    from embedkit.vae import VAE

    model = VAE(in_features=4, code_size=2, hidden=3)
    assert model.decode(torch.zeros(1, 2)).shape == (1, 4)
    with pytest.raises(TypeError, match="convert with"):  # once torch's "mat1 and mat2 must have the same dtype"
        model.decode(torch.zeros(1, 2, dtype=torch.float64))


def test_check_ids_is_the_one_rule_for_integer_ids():
    """The shared check (embedkit.errors.check_ids) by hand: what passes, what is converted, what each error says."""
    from embedkit.errors import check_ids

    assert check_ids("ids", torch.tensor([3, 0], dtype=torch.uint8)).dtype == torch.int64  # a uint8 index is a mask
    same = torch.tensor([1, 2], dtype=torch.int32)
    assert check_ids("ids", same, 3) is same  # int32 and int64 pass as they are
    for bad in (torch.tensor([1.0]), torch.tensor([True]), torch.tensor([1j])):
        with pytest.raises(TypeError, match=f"ids must be integers; got dtype {bad.dtype}"):
            check_ids("ids", bad)
    with pytest.raises(TypeError, match="must be a tensor of integer ids; got list"):
        check_ids("ids", [1, 2])
    with pytest.raises(KeyError, match=r"ids must lie in 0\.\.2; got -1 to 2 .*Use vocab"):
        check_ids("ids", torch.tensor([2, -1]), 3, "Use vocab.encode.", KeyError)
    assert check_ids("ids", torch.tensor([], dtype=torch.long), 0).numel() == 0  # nothing to range-check


def test_word_pairs_numpy_scores_and_nested_piece_ids():
    """Three findings of the audit: a non-string word gave str.upper's descriptor error; numpy scores gave
    "'numpy.ndarray' object has no attribute 'is_complex'"; nested id lists gave EmbeddingBag's offsets error."""
    from embedkit import EmbeddingTable
    from embedkit.evaluate import evaluate_word_pairs
    from embedkit.finetune import BagOfPieces
    from embedkit.retrieval import retrieval_metrics

    table = EmbeddingTable(["a", "b", "c"], torch.eye(3))
    with pytest.raises(TypeError, match="the two words of a pair must be strings; got \\('a', 1, 2.0\\)"):
        evaluate_word_pairs(table, [("a", "b", 1.0), ("a", 1, 2.0)])
    scores = np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32)
    assert retrieval_metrics(scores, torch.tensor([0, 1]), ks=(1,))["recall@1"] == 1.0
    assert retrieval_metrics(scores, torch.tensor([1, 0]), ks=(1,))["recall@1"] == 0.0
    with pytest.raises(TypeError, match="flat list of integers; got nested lists"):
        BagOfPieces(10, 4)([[[1, 2]]])


def test_bert_token_ids_out_of_range_are_named():
    """The encoder reads the ids' range once per call (one device wait) and names it: a CUDA index out of range
    would end the process."""
    from embedkit.bert import BertConfig, BertEncoder

    encoder = BertEncoder(BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=16, max_position_embeddings=8))
    ids = torch.tensor([[1, 10, 3]])
    with pytest.raises(ShapeError, match=r"input_ids must lie in 0\.\.9; got 1 to 10"):
        encoder(ids, torch.ones_like(ids))
    with pytest.raises(ShapeError, match=r"got -1 to 3"):
        encoder(torch.tensor([[-1, 3]]), torch.ones(1, 2, dtype=torch.long))
    assert encoder(torch.tensor([[0, 9]]), torch.ones(1, 2, dtype=torch.long)).shape == (1, 2, 8)


def test_complex_numbers_are_refused_where_a_cast_would_drop_them():
    # each once returned an answer computed from the real parts alone (a numpy array: not even a warning)
    from embedkit import EmbeddingTable
    from embedkit.evaluate import spearman
    from embedkit.kmeans import kmeans
    from embedkit.pca import PCA
    from embedkit.probe import LinearProbe
    from embedkit.search import exact_search

    z = torch.randn(6, 3, dtype=torch.complex64)
    words = [f"w{i}" for i in range(6)]
    table = EmbeddingTable(words, torch.randn(6, 3), device="cpu")
    pca = PCA(2).fit(torch.randn(6, 3))
    calls = {
        "table": lambda: EmbeddingTable(words, z.numpy(), device="cpu"),
        "table query": lambda: table.neighbours(z[0].numpy(), k=2),
        "PCA fit": lambda: PCA(2).fit(z),
        "PCA inverse": lambda: pca.inverse_transform(z[:, :2]),
        "k-means": lambda: kmeans(z, 2),
        "search": lambda: exact_search(z[:2], torch.randn(6, 3), 2),
        "probe": lambda: LinearProbe().fit(z.numpy(), torch.tensor([0, 1] * 3)),
        "spearman": lambda: spearman(np.array([1, 2, 3j]), np.array([1.0, 2, 3])),
        "pearson": lambda: pearson([1.0, 2, 3], [1 + 1j, 2, 3]),
        "rmse": lambda: rmse(z[:, 0], torch.ones(6)),
        "ratings": lambda: Ratings.from_arrays([0, 1], [0, 1], np.array([4 + 1j, 3])),
    }
    for name, call in calls.items():
        with pytest.raises(TypeError, match="hold complex numbers.*x.real"):
            call()
            pytest.fail(name)


def test_audit_of_2026_11_29_shapes_dicts_and_settings():
    # each returned a wrong or meaningless answer before (see the comment on each)
    from embedkit.bert import BertConfig, BertEncoder, mean_pool
    from embedkit.layerwise import Whitening, max_pool, pool
    from embedkit.pca import PCA
    from embedkit.retrieval import retrieval_metrics

    scores = torch.tensor([[0.1, 0.2, 0.9], [0.9, 0.1, 0.2]])
    assert retrieval_metrics(scores, [{2}, {0}], ks=(1,))["recall@1"] == 1.0
    with pytest.raises(TypeError, match="not a dict"):  # its keys were read as document ids: recall 0
        retrieval_metrics(scores, {0: {2}, 1: {0}}, ks=(1,))
    for call in (lambda: mean_pool(torch.randn(3, 8), torch.ones(3)),  # one number per token, shape (3,)
                 lambda: max_pool(torch.randn(3, 8), torch.ones(3)),
                 lambda: pool(torch.randn(3, 8), torch.ones(3), "cls"),
                 lambda: mean_pool(torch.randn(2, 3, 8), torch.ones(2, 4))):
        with pytest.raises(ShapeError, match=r"h\[None\], mask\[None\]"):
            call()
    with pytest.raises(ShapeError, match=r"mask and target must be \(rows, cols\)"):  # the target was broadcast
        ridge_rows(torch.ones(2, 3), torch.tensor([1.0, 2, 3]), torch.ones(3, 2), l2=1.0)
    x4 = cooccurrence(torch.tensor([0, 1, 2, 3, 0, 1]), torch.zeros(6, dtype=torch.long), 4, window=2)
    with pytest.raises(ShapeError, match="for 4 words but the model has 10"):  # returned a loss
        GloVe(10, dim=2).loss(x4)
    with pytest.raises(ShapeError, match="ratings must be 1-D"):  # values of shape (2, 1) failed much later
        Ratings.from_arrays([0, 1], [0, 1], np.array([[5.0], [3.0]]))
    for eps in (0.0, -1.0, NAN):  # the whitening matrix held NaN and inf
        with pytest.raises(ValueError, match="eps must be a positive finite number"):
            Whitening.fit(torch.tensor([[1.0, 0], [2, 0], [3, 0]]), eps=eps)
    with pytest.raises(ValueError, match="coordinates contain NaN"):  # returned NaN vectors
        PCA(2).fit(torch.randn(5, 3)).inverse_transform(torch.tensor([[NAN, 1.0]]))
    encoder = BertEncoder(BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=16, max_position_embeddings=8))
    ids = torch.tensor([[2, 5, 6, 3]])
    with pytest.raises(ValueError, match="attention_mask must hold 1"):  # a 0 / -10000 mask was read inverted
        encoder(ids, torch.tensor([[0.0, 0, 0, -10000]]))
    assert encoder(ids, torch.tensor([[1.0, 1, 1, 0]])).shape == (1, 4, 8)  # a 0/1 float mask is fine


def test_counts_seeds_and_switches_are_checked_where_they_are_given():
    # each of these once failed deep inside torch ("'float' object cannot be interpreted as an integer",
    # "manual_seed expected a long"), or ran: a negative seed, warmup=-1, sg="false" read as True (skip-gram)
    from embedkit import cnn, concentration, contrastive, corpora, images, mlm, pca, pq, recsys, search, timing, vae
    from embedkit.kmeans import kmeans

    x = torch.randn(40, 4)
    vocab = Vocabulary.build([["a", "b", "c"]] * 3, min_count=1)
    calls = {
        "n_iter": [lambda v: kmeans(x, 2, n_iter=v, device="cpu"), lambda v: search.IVFFlat(2, n_iter=v),
                   lambda v: pq.ProductQuantizer(4, 2, n_iter=v), lambda v: pca.PCA(2, n_iter=v)],
        "pq_iter": [lambda v: pq.IVFPQ(2, 2, pq_iter=v)],
        "seed": [lambda v: kmeans(x, 2, seed=v, device="cpu"), lambda v: search.IVFFlat(2, seed=v),
                 lambda v: pq.ProductQuantizer(4, 2, seed=v), lambda v: GloVe(3, dim=2, seed=v),
                 lambda v: BiasedMF(2, 2, seed=v), lambda v: BPR(2, 2, seed=v), lambda v: Word2VecConfig(seed=v),
                 lambda v: recsys.random_split(tiny_ratings(), seed=v), lambda v: pca.PCA(2, seed=v),
                 lambda v: images.stratified_subset(torch.tensor([0, 1, 0, 1]), 1, seed=v),
                 lambda v: concentration.concentration_curve([2], n_points=4, n_queries=2, seed=v)],
        "window": [lambda v: cooccurrence(torch.tensor([0, 1, 2]), torch.zeros(3, dtype=torch.long), 3, window=v)],
        "steps": [lambda v: vae.VAE().interpolate(torch.rand(784), torch.rand(784), steps=v)],
        "code_size": [lambda v: vae.VAE(code_size=v)],
        "repeat": [lambda v: timing.measure(lambda: None, repeat=v, device="cpu")],
        "warmup": [lambda v: timing.measure(lambda: None, warmup=v, device="cpu")],
        "length": [lambda v: mlm.word_windows([["a", "b", "c"]], vocab, length=v)],
        "min_count": [lambda v: Vocabulary.build([["a"]], min_count=v)],
        "width": [lambda v: cnn.AlexNet(width=v), lambda v: contrastive.SmallConvEncoder(width=v)],
        "min_words": [lambda v: corpora.split_sentences("One two three four five six seven.", min_words=v)],
    }
    for name, fns in calls.items():
        for fn in fns:
            for bad in (2.5, True, "3", -1):
                with pytest.raises(ValueError, match=f"{name}.* must be a whole number of at least"):
                    fn(bad)
    assert Word2VecConfig(sg=0).sg is False and Word2VecConfig(sg=np.bool_(True)).sg is True  # gensim's sg=0 / 1
    for name in ("sg", "shared_negatives", "graph"):
        with pytest.raises(ValueError, match=f"{name} must be True or False; got 'false'"):
            Word2VecConfig(**{name: "false"})
    with pytest.raises(ValueError, match="keep_vectors must be True or False"):
        pq.IVFPQ(2, 2, keep_vectors="no")
    with pytest.raises(ValueError, match="width .the 5x5 branches have width // 4 channels. must be a whole number of at "
                                         "least 4"):
        cnn.Inception(width=2)  # once built a branch of 0 channels
    with pytest.raises(ValueError, match="min_words=9 is above max_words=5"):
        corpora.split_sentences("One two three.", min_words=9, max_words=5)
    assert timing.measure(lambda: None, repeat=np.int64(1), warmup=0, device="cpu") >= 0  # numpy integers are counts


def test_audit_leftovers_of_2026_11_29_now_refused():
    # each input below once returned an answer: invented angles, all-tie codes, a loss on 0..255 pixels, a probe
    # on no features, arbitrary neighbours of a zero query, untrained rows ranked, ids past the vocabulary...
    from embedkit import autoencoder, compress, probe, recsys, search, table, weights, wordpiece
    from embedkit.probe_tasks import ProbeTask

    basis = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"the 3 columns of a \(10, 3\) are linearly dependent \(rank 2\)"):
        autoencoder.principal_angles(torch.cat([basis[:, :2], basis[:, :1] + basis[:, 1:2]], dim=1), basis)
    with pytest.raises(ValueError, match="b holds NaN"):
        autoencoder.principal_angles(basis, torch.full((10, 3), NAN))
    assert float(autoencoder.principal_angles(basis, basis @ torch.randn(3, 3)).max()) < 1e-6  # same span
    for rows in (torch.randn(1, 4), torch.ones(5, 4)):
        with pytest.raises(ValueError, match="do not vary in any dimension"):
            compress.Int8Index("l2").train(rows)
    compress.Int8Index("l2").train(torch.tensor([[1.0, 2.0], [1.0, 3.0]]))  # a constant column alone is fine
    dense = autoencoder.DenseAutoencoder(4, 2, hidden=())
    for x in (torch.full((2, 4), 255.0), torch.full((2, 4), NAN)):
        with pytest.raises(ValueError, match=r"expected pixels in \[0, 1\]"):
            dense.encode(x)
    autoencoder.DenseAutoencoder(4, 2, hidden=(), linear=True).encode(torch.full((2, 4), -3.0))  # any real data
    y = torch.tensor([0, 1] * 5)
    for fn in (lambda: probe.LinearProbe().fit(torch.zeros(10, 0), y),
               lambda: probe.knn_predict(torch.zeros(10, 0), y, torch.zeros(2, 0))):
        with pytest.raises(ValueError, match=r"feature matrix \(10, 0\) is empty"):
            fn()
    with pytest.raises(ValueError, match="d >= 1"):
        nt_xent(torch.zeros(4, 0), torch.zeros(4, 0))
    db = torch.randn(20, 4, generator=torch.Generator().manual_seed(1))
    queries = torch.cat([db[:1], torch.zeros(1, 4)])
    for fn in (lambda: search.exact_search(queries, db, 3, metric="cosine"),
               lambda: search.IVFFlat(2, metric="cosine").train(db).add(db).search(queries, 3),
               lambda: compress.BinaryIndex("cosine").add(db).search(queries, 3)):
        with pytest.raises(ValueError, match=r"query rows \[1\] are all zeros"):
            fn()
    assert search.exact_search(queries, db, 3, metric="ip")[1].shape == (2, 3)  # "ip" takes a zero query
    ratings = tiny_ratings()
    for fn in (lambda: fit_sgd(BiasedMF(10, 10), ratings, epochs=1), lambda: fit_bpr(BPR(10, 10), ratings, epochs=1)):
        with pytest.raises(ShapeError, match=r"the model has 10 users and 10 items, the ratings 3 and 3; build it as "
                                             r"(BiasedMF|BPR)\(train.n_users"):
            fn()
    tokenizer = wordpiece.WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])
    for ids in ([2, 99, 3], [2, -1, 3]):
        with pytest.raises(ValueError, match=r"token ids must lie in 0..4"):
            tokenizer.pad([ids])
    vocab = Vocabulary.build([["a", "b", "a"]], min_count=1)
    assert torch.allclose(vocab.noise_distribution(np.float32(0.5)), vocab.noise_distribution(0.5))
    with pytest.raises(TypeError, match="interacted must be a bool users x items tensor"):
        sample_negatives(torch.zeros(3, 3, dtype=torch.long), torch.tensor([0, 1]), torch.Generator())
    scores = np.random.default_rng(0).random((3, 3))
    assert recsys.ranking_metrics(scores, ratings, ratings, k=1, relevant_from=1) == \
        recsys.ranking_metrics(torch.as_tensor(scores), ratings, ratings, k=1, relevant_from=1)
    words = table.EmbeddingTable(["a", "b", "c", "d"], torch.randn(4, 3))
    with pytest.raises(TypeError, match="a .row ids. must be a tensor of integer ids; got list"):
        words.analogy_ids([0], [1], [2])
    task = ProbeTask("t", [["a"], ["b"]], [0, 0], [0, 1], ["x", "y"], ["g", "h"])
    assert torch.equal(task.labels, torch.tensor([0, 1]))  # a list of labels became a tensor
    with pytest.raises(TypeError, match="'w' is a list, not a tensor"):
        weights.save_safetensors({"w": [1.0, 2.0]}, "unused.safetensors")
