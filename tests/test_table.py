import numpy as np
import pytest
import torch

from embedkit import EmbeddingTable
from embedkit.errors import EmptyInputError, ShapeError, UnknownIDError, UnknownWordError


def test_tiny_table_by_hand(tiny, device):
    tiny = tiny.to(device)
    assert len(tiny) == 5 and tiny.dim == 2 and "king" in tiny and "King" not in tiny
    assert tiny["man"].tolist() == [1.0, 0.0] and tiny["man"].device.type == device
    assert tiny[["man", "woman"]].shape == (2, 2)
    assert tiny.similarity("man", "woman") == pytest.approx(0.0)
    assert tiny.similarity("man", "apple") == pytest.approx(-1 / np.sqrt(2))
    # king = (3, 0.2): its nearest word by angle is man = (1, 0); cos = 3 / sqrt(9.04)
    assert tiny.neighbours("king", k=1) == [("man", pytest.approx(3 / np.sqrt(9.04), abs=1e-6))]
    # man : woman :: king : ?  ->  unit(woman) - unit(man) + unit(king) points towards queen
    assert tiny.analogy("man", "woman", "king")[0][0] == "queen"


def test_neighbours_of_vectors_and_batches(tiny):
    single = tiny.neighbours(torch.tensor([0.0, 2.0]), k=2)
    assert [w for w, _ in single] == ["woman", "queen"]  # a vector query excludes nothing
    batch = tiny.neighbours(["man", "woman"], k=1)
    assert [row[0][0] for row in batch] == ["king", "queen"]
    assert [w for w, _ in tiny.neighbours("man", k=100)] == ["king", "queen", "woman", "apple"]  # capped, "man" left out
    assert tiny.cosine(["man", "woman"]).shape == (2, 5)


def test_batched_neighbours_equal_brute_force(glove, device):
    table = glove.head(20_000).to(device)
    words = ["frog", "paris", "computer", "violin", "river"]
    vectors = table.vectors.cpu()  # the reference: one matrix product on the CPU
    unit = vectors / vectors.norm(dim=1, keepdim=True)
    for word, row in zip(words, table.neighbours(words, k=5)):
        scores = unit @ unit[table.index[word]]
        scores[table.index[word]] = -1
        expected = [table.words[i] for i in scores.topk(5).indices.tolist()]
        assert [w for w, _ in row] == expected


def test_chunked_top_k_matches_one_shot(glove, monkeypatch):
    table = glove.head(5_000)
    queries = torch.randn(300, table.dim, generator=torch.Generator().manual_seed(0))
    expected = table.neighbours(queries, k=3)
    import embedkit.table

    monkeypatch.setattr(embedkit.table, "CHUNK_ELEMENTS", 7 * len(table))  # 43 chunks of 7 queries
    chunked = table.neighbours(queries, k=3)
    assert [[w for w, _ in row] for row in chunked] == [[w for w, _ in row] for row in expected]
    scores = lambda rows: [s for row in rows for _, s in row]
    assert scores(chunked) == pytest.approx(scores(expected), abs=1e-5)


def test_famous_analogy(glove, device):
    glove = glove.to(device)
    assert glove.analogy("man", "king", "woman")[0][0] == "queen"
    assert glove.analogy("france", "paris", "italy")[0][0] == "rome"


def test_subset_head_to(tiny):
    sub = tiny.subset(["queen", "man"])
    assert sub.words == ["queen", "man"] and torch.equal(sub["man"], tiny["man"])
    assert tiny.head(2).words == ["man", "woman"]
    assert tiny.to("cpu").device.type == "cpu"
    assert "5 words x 2 dims" in repr(tiny)
    with pytest.raises(ValueError, match="at least 1"):
        tiny.head(0)


def test_unknown_words_are_named_with_a_hint(tiny):
    with pytest.raises(UnknownWordError, match="'prince'") as info:
        tiny["prince"]
    assert isinstance(info.value, KeyError) and info.value.words == ["prince"]
    assert "word in table" in str(info.value)
    with pytest.raises(UnknownWordError, match="Did you mean 'king'"):
        tiny.similarity("King", "queen")
    with pytest.raises(UnknownWordError, match="'x', 'y'"):
        tiny.neighbours(["man", "x", "y"])
    with pytest.raises(UnknownWordError):
        tiny.analogy("man", "woman", "prince")


def test_empty_and_wrong_shaped_queries(tiny):
    with pytest.raises(EmptyInputError):
        tiny[[]]
    with pytest.raises(EmptyInputError):
        tiny.neighbours([])
    with pytest.raises(EmptyInputError):
        tiny.neighbours(torch.zeros(0, 2))
    with pytest.raises(EmptyInputError):
        tiny.similarities([])
    with pytest.raises(ShapeError, match=r"\(2,\) or \(n, 2\)"):
        tiny.neighbours(torch.zeros(3))
    with pytest.raises(ShapeError):
        tiny.cosine(torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="k must be"):
        tiny.neighbours("man", k=0)
    with pytest.raises(TypeError, match="strings"):
        tiny.ids([1, 2])
    with pytest.raises(ShapeError):
        tiny.analogy_ids(torch.tensor([0]), torch.tensor([1, 2]), torch.tensor([3]))
    with pytest.raises(EmptyInputError):
        empty = torch.tensor([], dtype=torch.long)
        tiny.analogy_ids(empty, empty, empty)


def test_bad_tables_are_rejected():
    with pytest.raises(EmptyInputError):
        EmbeddingTable([], np.zeros((0, 3)))
    with pytest.raises(ShapeError, match="2-D"):
        EmbeddingTable(["a"], np.zeros(3))
    with pytest.raises(ShapeError, match="2 words but 3 vectors"):
        EmbeddingTable(["a", "b"], np.zeros((3, 4)))
    with pytest.raises(ShapeError, match="0 columns"):
        EmbeddingTable(["a"], np.zeros((1, 0)))
    with pytest.raises(ValueError, match="duplicate words.*'a'"):
        EmbeddingTable(["a", "b", "a"], np.ones((3, 2)))
    with pytest.raises(ValueError, match="NaN or infinity.*'b'"):
        EmbeddingTable(["a", "b"], np.array([[1.0, 0.0], [np.nan, 1.0]]))
    with pytest.raises(TypeError, match="strings"):
        EmbeddingTable(["a", 3], np.ones((2, 2)))


def test_zero_vector_does_not_produce_nan():
    table = EmbeddingTable(["zero", "x"], np.array([[0.0, 0.0], [1.0, 0.0]]), device="cpu")
    assert torch.isfinite(table.unit).all()
    assert table.similarity("zero", "x") == 0.0


def test_table_copies_and_detaches_its_input():
    weights = torch.nn.Parameter(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    table = EmbeddingTable(["a", "b"], weights, device="cpu")
    assert not table.vectors.requires_grad
    before = table.similarity("a", "b")
    with torch.no_grad():
        weights[1] = torch.tensor([1.0, 0.0])  # training goes on after the table was taken
    assert table.similarity("a", "b") == before
    array = np.array([[1.0, 2.0]], dtype=np.float32)
    EmbeddingTable(["x"], array, device="cpu").vectors[0, 0] = 5.0
    assert array[0, 0] == 1.0
    copy = table.to("cpu")
    copy.vectors[0] = 0.0
    assert table.vectors[0, 0] == 1.0


def test_excluded_words_are_never_returned():
    table = EmbeddingTable(list("abcde"), torch.randn(5, 4, generator=torch.Generator().manual_seed(0)), device="cpu")
    assert sorted(w for w, _ in table.neighbours("a", k=5)) == list("bcde")  # k capped at the 4 other words
    assert sorted(w for w, _ in table.analogy("a", "b", "c", k=3)) == ["d", "e"]
    assert sorted(w for w, _ in table.analogy("a", "a", "c", k=4)) == list("bde")  # a repeated: 3 left
    ids = table.ids(["a", "b", "c"])
    scores, top = table.analogy_ids(ids[:1], ids[1:2], ids[2:], k=5, restrict=4)
    assert top.tolist() == [[3]] and torch.isfinite(scores).all()
    assert table.analogy_ids(ids[:1], ids[1:2], ids[2:], k=2, restrict=99)[1].shape == (1, 2)  # restrict > size: all
    with pytest.raises(EmptyInputError, match="no word is left.*larger"):
        table.analogy_ids(ids[:1], ids[1:2], ids[2:], restrict=3)
    with pytest.raises(EmptyInputError, match="no word is left"):
        EmbeddingTable(["x"], np.ones((1, 2)), device="cpu").neighbours("x")


def test_bad_k_restrict_ids_and_query_vectors(tiny):
    ids = tiny.ids(["man", "woman", "king"])
    a, b, c = ids[:1], ids[1:2], ids[2:]
    for restrict in (0, -2, 2.5):
        with pytest.raises(ValueError, match="restrict must be"):
            tiny.analogy_ids(a, b, c, restrict=restrict)
    for k in (2.5, 2.0, True):
        with pytest.raises(ValueError, match="k must be a whole number of at least 1"):
            tiny.neighbours("man", k=k)
    with pytest.raises(ValueError, match="k must be a whole number of at least 1"):
        tiny.analogy("man", "woman", "king", k=1.5)
    assert tiny.neighbours("man", k=np.int64(1)) == tiny.neighbours("man", k=1)
    for bad in (-1, 5):
        with pytest.raises(UnknownIDError, match=f"word id {bad} is out of range.*table.ids"):
            tiny.analogy_ids(torch.tensor([bad]), b, c)
    with pytest.raises(TypeError, match=r"\(row ids\) must be integers"):
        tiny.analogy_ids(a.float(), b.float(), c.float())
    for value in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="NaN or infinity; pass finite"):
            tiny.neighbours(torch.tensor([value, 1.0]))


def test_positions_word_lists_numpy_words_and_zero_vectors(tiny):
    """t[0] failed with "'int' object is not iterable", similarity(list, list) with a matmul shape error,
    neighbours(numpy words) in torch.as_tensor, and a zero vector returned ties at 0.0 as neighbours."""
    for position in (0, np.int64(2), slice(0, 2)):
        with pytest.raises(TypeError, match=r"index by word.*t\.words\[i\] is row i's word"):
            tiny[position]
    with pytest.raises(TypeError, match=r"similarity takes two words.*similarities\(\[\(a, b\)"):
        tiny.similarity(["man"], ["woman"])
    assert tiny.similarities([("man", "woman")]).tolist() == [tiny.similarity("man", "woman")]
    words = np.array(["man", "woman"])
    assert tiny.neighbours(words, k=1) == tiny.neighbours(["man", "woman"], k=1)
    assert tiny.neighbours(np.array("man"), k=2) == tiny.neighbours("man", k=2)
    assert torch.equal(tiny.cosine(words), tiny.cosine(["man", "woman"]))
    for zero in (torch.zeros(2), torch.tensor([[1.0, 0.0], [0.0, 0.0]])):
        with pytest.raises(ValueError, match=r"has length 0: its cosine with any word is undefined"):
            tiny.neighbours(zero, k=2)
    assert tiny.neighbours(torch.tensor([1e-20, 0.0]), k=1)[0][0] == "man"  # tiny but not zero: fine
