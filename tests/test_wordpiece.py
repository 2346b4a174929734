"""WordPiece: a tiny vocabulary by hand, then id-for-id agreement with the fast Rust tokenizer on real text."""

import pytest
import torch
from tokenizers import Tokenizer

from embedkit.data import data_path
from embedkit.errors import DataIntegrityError, EmptyInputError
from embedkit.corpora import split_sentences, wikipedia_articles
from embedkit.wordpiece import WordPieceTokenizer, normalize, pre_tokenize

TINY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "aff", "able", "!", "a", "##b"]


def test_by_hand():
    tok = WordPieceTokenizer(TINY, max_length=8)
    assert normalize("Un\tAFFäble\x00") == "un affable"
    assert pre_tokenize("un-aff!able") == ["un", "-", "aff", "!", "able"]
    assert tok.tokenize("Unaffable!") == ["un", "##aff", "##able", "!"]
    assert tok.encode("Unaffable!") == [2, 4, 5, 6, 9, 3]
    assert tok.tokenize("unaffablex able") == ["[UNK]", "able"]  # one unknown piece makes the whole word [UNK]
    assert tok.tokenize("a" + "b" * 99) == ["a"] + ["##b"] * 99  # 100 characters: still cut
    assert tok.tokenize("a" + "b" * 100) == ["[UNK]"]  # 101: too long
    assert tok.encode("able " * 10) == [2] + [8] * 6 + [3]  # truncated to max_length ids
    batch = tok.batch(["able", "un able !"])
    assert batch.input_ids.tolist() == [[2, 8, 3, 0, 0], [2, 4, 8, 9, 3]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]


def test_bad_input():
    tok = WordPieceTokenizer(TINY)
    with pytest.raises(TypeError, match="expected a string"):
        tok.encode(None)
    with pytest.raises(TypeError, match="list of strings"):
        tok.batch("able")
    with pytest.raises(EmptyInputError):
        tok.batch([])
    with pytest.raises(EmptyInputError, match="no id lists"):
        tok.pad([])
    assert tok.encode("") == [2, 3]
    with pytest.raises(DataIntegrityError, match="special tokens"):
        WordPieceTokenizer(["a", "b"])


def test_float_ids_a_fractional_max_length_and_a_non_utf8_vocabulary_are_errors(tmp_path):
    tok = WordPieceTokenizer(TINY)
    with pytest.raises(TypeError, match=r"token ids \(id list 0\) must be integers"):
        tok.pad([[2, 3.9, 3]])  # torch would cut 3.9 to 3 without a word
    with pytest.raises(TypeError, match=r"token ids \(id list 1\) must be integers"):
        tok.pad([[2, 3], [True, False]])
    assert tok.pad([[2, 8, 3], []]).input_ids.tolist() == [[2, 8, 3], [0, 0, 0]]  # an empty list is still fine
    with pytest.raises(ValueError, match="max_length must be a whole number"):
        WordPieceTokenizer(TINY, max_length=3.5)
    with pytest.raises(ValueError, match="leave room"):
        WordPieceTokenizer(TINY, max_length=2)
    latin1 = tmp_path / "vocab.txt"
    latin1.write_bytes("\n".join(TINY + ["café"]).encode("latin-1"))
    with pytest.raises(DataIntegrityError, match="vocab.txt is not UTF-8 text.*save it as UTF-8"):
        WordPieceTokenizer.from_vocab(latin1)


@pytest.fixture(scope="module")
def pair():
    folder = data_path("minilm-vocab").parent
    reference = Tokenizer.from_file(str(folder / "tokenizer.json"))
    reference.no_padding()
    reference.no_truncation()
    return WordPieceTokenizer.from_vocab(folder / "vocab.txt", max_length=10**6), reference


@pytest.fixture(scope="module")
def articles():
    return wikipedia_articles()


def test_same_ids_as_the_fast_tokenizer_on_every_wikipedia_sentence(pair, articles):
    ours, reference = pair
    sentences = [s for _, text in articles for s in split_sentences(text)]
    assert len(sentences) > 15_000
    expected = [e.ids for e in reference.encode_batch(sentences)]
    mismatches = [s for s, e in zip(sentences, expected) if ours.encode(s) != e]
    assert not mismatches, mismatches[:3]


def test_same_ids_on_whole_articles_and_tricky_text(pair, articles):
    ours, reference = pair
    for _, text in articles[:30]:  # long texts full of markup remnants, numbers, foreign names
        assert ours.encode(text) == reference.encode(text).ids
    tricky = ["", "   ", "Héllo Wörld ÀÉÎÕÜ", "naïve café façade", "Ωμέγα ΣΊΣΥΦΟΣ", "İstanbul ǅ", "日本語のテキスト中文字符",
              "a\u200bb\u00a0c\u3000d", "e\x00f\ufffd g\x0bh\x0ci\x85j", "$100 + 5% = ?! <tag> {x} [y] ~z^ `q` |p|",
              "—–‐ “quoted” ‘single’ «guillemets» …", "pneumonoultramicroscopicsilicovolcanoconiosis" * 3, "x" * 101,
              "x" * 100, "emoji 😀🚀 ✓ © ® ™ € £", "ﬁnance ﬀ", "Ａｂｃ１２３", "tab\tnew\nline\rreturn", "ᄀᄁ한국어",
              "\u0301accent first", "x\u2028y\u2029z\u0085w", "Zürich's 3.5-m² flat (€1,200/month) — isn't it?",
              "a\U0002B820b a\U0002B91Fb a\U0002B920b"]  # the edge of a CJK block the two libraries differ on
    for text in tricky:
        assert ours.encode(text) == reference.encode(text).ids, repr(text)


def test_truncation_matches(pair, articles):
    _, reference = pair
    ours = WordPieceTokenizer.from_vocab(data_path("minilm-vocab"), max_length=256)
    reference.enable_truncation(256)
    try:
        for _, text in articles[:5]:
            ids = ours.encode(text)
            assert len(ids) == 256 and ids == reference.encode(text).ids
    finally:
        reference.no_truncation()
    batch = ours.batch([articles[0][1], "short"])
    assert batch.input_ids.shape == (2, 256) and int(batch.attention_mask[1].sum()) == 3
    assert torch.equal(batch.input_ids[1, 3:], torch.zeros(253, dtype=torch.long))


def test_vocabulary_lines_are_read_as_the_reference_reads_them(tmp_path, articles):
    """The reference (tokenizers' WordPiece.read_file) ends lines at "\\n" only and drops the "\\r" of a CRLF;
    a lone "\\r" stays inside its token. The MiniLM vocabulary saved with CRLF reads like the original."""
    from tokenizers.models import WordPiece

    forged = tmp_path / "forged.txt"
    forged.write_bytes(b"[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\na\rb\r\nc\n\rd\r\n")
    reference = WordPiece.read_file(str(forged))
    assert WordPieceTokenizer.from_vocab(forged).tokens == sorted(reference, key=reference.get)
    source = data_path("minilm-vocab")
    crlf = tmp_path / "vocab.txt"
    crlf.write_bytes(source.read_bytes().replace(b"\n", b"\r\n"))
    plain, windows = WordPieceTokenizer.from_vocab(source), WordPieceTokenizer.from_vocab(crlf)
    assert windows.tokens == plain.tokens
    text = articles[0][1][:2000]
    assert windows.encode(text) == plain.encode(text)
