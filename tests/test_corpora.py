"""The corpora: markup stripping and tokenising by hand, then the packaged Wikipedia and news files."""

import bz2
import zipfile

import pytest

from embedkit.corpora import chunk, strip_wiki_markup, tokenize, wikipedia_sentences
from embedkit.errors import EmptyInputError


def zipped(path, name: str, content: str | bytes) -> str:
    """A zip at ``path`` holding one file ``name`` (the news reader's input); returns the path as a string."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name, content)
    return str(path)


def test_tokenize():
    assert tokenize("The cat's 3 hats, (and) DON'T-stop!") == ["the", "cat's", "hats", "and", "don't", "stop"]


def test_strip_wiki_markup_by_hand():
    markup = ("{{Infobox|name={{nested}}}}'''Paris''' is the [[capital city|capital]] of [[France]]."
              "<ref>Some book</ref> [[File:Eiffel.jpg|thumb|The [[Eiffel Tower]]]] "
              "See [http://example.org the site].<!-- hidden -->\n{| class=x\n| 1 || 2\n|}\n[[Category:Cities]]"
              "&lt;b&gt;bold&lt;/b&gt;")
    assert tokenize(strip_wiki_markup(markup)) == ["paris", "is", "the", "capital", "of", "france",
                                                   "see", "the", "site", "bold"]


def test_chunk():
    assert chunk(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]


def test_wikipedia_slice():
    sentences = wikipedia_sentences()
    words = sum(len(s) for s in sentences)
    assert 400_000 < words < 500_000 and max(len(s) for s in sentences) <= 1000
    assert sentences[0][:3] == ["anarchism", "is", "a"]
    assert sentences == wikipedia_sentences()  # deterministic


def test_wikipedia_reader_rejects_other_files(tmp_path):
    path = tmp_path / "empty.xml.bz2"
    path.write_bytes(bz2.compress(b"<mediawiki></mediawiki>"))
    with pytest.raises(EmptyInputError, match="no article text"):
        wikipedia_sentences(str(path))


def test_split_sentences_by_hand():
    from embedkit.corpora import split_sentences

    text = ("== History ==\nThe first sentence has six words. A second one, also long enough, ends here! "
            "Short one.\n* a list item that is long enough to count\nWhy is the sky blue in the day? "
            "It scatters light (Rayleigh 1871).")
    assert split_sentences(text) == ["The first sentence has six words.", "A second one, also long enough, ends here!",
                                     "Why is the sky blue in the day?"]


def test_wikipedia_articles_have_titles_and_sentences():
    from embedkit.corpora import split_sentences, wikipedia_articles

    articles = wikipedia_articles(max_articles=3)
    assert [title for title, _ in articles] == ["Anarchism", "Autism", "Albedo"]
    sentences = split_sentences(articles[0][1])
    assert len(sentences) > 50 and all(s[0].isupper() and s[-1] in ".!?" for s in sentences)


def test_news_articles():
    from embedkit.corpora import news_articles, news_sentences

    articles = news_articles()
    assert len(articles) > 3700 and all(text.strip() for _, text in articles)
    assert articles[0][0].startswith("Betsy DeVos Confirmed")
    words = sum(len(s) for s in news_sentences())
    assert 1_900_000 < words < 2_200_000  # about 2 million words, as DATA.md says
    assert news_articles(max_articles=5) == articles[:5]


def test_news_reader_on_a_fixture_and_bad_files(tmp_path):
    from embedkit.corpora import news_articles

    good = zipped(tmp_path / "news.zip", "x.csv",
                  'article_id,title,text\n1,"A, title","Some text, quoted ""here"""\n2,Empty,\n')
    assert news_articles(good) == [("A, title", 'Some text, quoted "here"')]
    bad_columns = zipped(tmp_path / "columns.zip", "x.csv", "id,body\n1,text\n")
    with pytest.raises(ValueError, match="title"):
        news_articles(bad_columns)
    no_csv = zipped(tmp_path / "nocsv.zip", "readme.txt", "hello")
    with pytest.raises(EmptyInputError, match="csv"):
        news_articles(no_csv)


def test_news_sources(tmp_path):
    from collections import Counter

    from embedkit.corpora import news_articles, news_sources

    sources = news_sources()
    assert len(sources) == len(news_articles())
    counts = Counter(sources)
    assert len(counts) == 9 and counts["bbc.co.uk"] > 300 and sources[0] == "abcnews.go.com"
    linked = zipped(tmp_path / "linked.zip", "x.csv",
                    "article_source_link,title,text\nhttp://www.Example.org/a,T,Body\nhttp://x.net/b,U,\n")
    assert news_sources(linked) == ["example.org"]  # the row without text is skipped, as in news_articles
    unlinked = zipped(tmp_path / "unlinked.zip", "x.csv", "title,text\nT,Body\n")
    with pytest.raises(ValueError, match="article_source_link"):
        news_sources(unlinked)


def test_news_sources_names_the_row_whose_link_is_missing(tmp_path):
    from embedkit.corpora import news_articles, news_sources
    from embedkit.errors import DataIntegrityError

    short = zipped(tmp_path / "short.zip", "x.csv", "title,text,article_source_link\nT,Body,http://a.org/x\nU,Body\n")
    with pytest.raises(DataIntegrityError, match=r"x.csv in .*short.zip, line 3: the article has no link.*got None"):
        news_sources(short)
    assert len(news_articles(short)) == 2  # news_articles does not need the links
    for link in ("", "not a link", "http://[::1"):
        bad = zipped(tmp_path / "bad.zip", "x.csv", f"article_source_link,title,text\n{link},T,Body\n")
        with pytest.raises(DataIntegrityError, match="bad.zip, line 2: the article has no link with a host"):
            news_sources(bad)
    textless = zipped(tmp_path / "textless.zip", "x.csv", "article_source_link,title,text\n,T,\nhttp://b.net,U,Body\n")
    assert news_sources(textless) == ["b.net"]  # a row without text is skipped, its link is not needed


def test_readers_name_files_that_are_not_what_they_expect(tmp_path):
    from embedkit.corpora import news_articles, wikipedia_articles
    from embedkit.errors import DataIntegrityError, DataNotFoundError

    plain = tmp_path / "plain.txt"
    plain.write_text("hello")
    with pytest.raises(DataIntegrityError, match="plain.txt is not a bz2-compressed MediaWiki XML dump.*xml.bz2"):
        wikipedia_articles(str(plain))
    not_xml = tmp_path / "notxml.bz2"
    not_xml.write_bytes(bz2.compress(b"hello <<"))
    with pytest.raises(DataIntegrityError, match="notxml.bz2 is not a bz2-compressed MediaWiki XML dump"):
        wikipedia_articles(str(not_xml))
    cut = tmp_path / "cut.bz2"
    cut.write_bytes(bz2.compress(b"<mediawiki><page></page></mediawiki>")[:-10])
    with pytest.raises(DataIntegrityError, match="cut.bz2"):
        wikipedia_articles(str(cut))
    with pytest.raises(DataIntegrityError, match="plain.txt is not a zip holding a UTF-8 CSV"):
        news_articles(str(plain))
    latin1 = zipped(tmp_path / "latin1.zip", "x.csv", b"title,text\nT,caf\xe9\n")
    with pytest.raises(DataIntegrityError, match="latin1.zip is not a zip holding a UTF-8 CSV"):
        news_articles(latin1)
    short = zipped(tmp_path / "short.zip", "x.csv", "title,text\nT\n")
    with pytest.raises(DataIntegrityError, match="line 2: fewer fields than the header"):
        news_articles(short)
    for reader in (news_articles, wikipedia_articles):
        with pytest.raises(DataNotFoundError, match="missing.zip does not exist.*None for the packaged one"):
            reader(str(tmp_path / "missing.zip"))


def test_max_articles_must_be_at_least_one(tmp_path):
    """max_articles=0 (or -5) used to return the first news article anyway, and to blame the Wikipedia file."""
    from embedkit.corpora import news_articles, news_sources, wikipedia_articles

    linked = zipped(tmp_path / "linked.zip", "x.csv",
                    "article_source_link,title,text\nhttp://a.org/1,T,Body\nhttp://b.org/2,U,More\n")
    for read in (news_articles, news_sources):
        for bad in (0, -5, 1.5):
            with pytest.raises(ValueError, match="max_articles must be a whole number of at least 1"):
                read(linked, max_articles=bad)
        assert len(read(linked, max_articles=1)) == 1
    for bad in (0, -5):
        with pytest.raises(ValueError, match="max_articles must be a whole number of at least 1"):
            wikipedia_articles(max_articles=bad)
    assert len(wikipedia_articles(max_articles=1)) == 1
