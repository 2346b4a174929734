"""The book builds with warnings as errors, from the stored notebooks, and shows its figures and citations.

Like `make book`, it renders the stored outputs (nbval re-executes every chapter),
so this test checks the Sphinx side: cross-references, citations,
literalinclude targets, glued numbers.
"""

import html as html_module
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off", "make book renders the stored, nbval-checked outputs"
    extensions = config["sphinx"].get("local_extensions", {})  # their paths are relative to the book's root
    config["sphinx"]["local_extensions"] = {name: str(ROOT / path) for name, path in extensions.items()}
    config_file = out / "_config.yml"
    config_file.write_text(yaml.safe_dump(config))
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    run = subprocess.run([str(jupyter_book), "build", str(ROOT), "--path-output", str(out), "--config",
                          str(config_file), "-W", "--keep-going"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return out / "_build" / "html"


def test_every_chapter_page_exists_with_figures(html):
    assert (html / "index.html").exists()
    for source in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md")):
        page = (html / "chapters" / f"{source.stem}.html").read_text()
        assert "<img" in page, f"{source.stem} renders no figure"
        assert "Traceback" not in page
        assert 'href="../bibliography.html#id' in page, f"{source.stem} cites nothing"  # the sidebar links the page


def test_glued_numbers_are_rendered(html):
    page = (html / "chapters" / "01_what_is_an_embedding.html").read_text()
    assert "{glue" not in page and "pasted-text" in page


def test_api_reference_documents_every_module(html):
    """api.md renders each module's docstring and members (autodoc), so signatures are one click away."""
    page = (html / "api.html").read_text()
    for module in sorted(p.stem for p in (ROOT / "embedkit").glob("*.py") if p.stem != "__init__"):
        assert f'id="module-embedkit.{module}"' in page, f"the API page lacks embedkit.{module}: add it to api.md"
    for member in ["embedkit.word2vec.Word2VecConfig", "embedkit.table.EmbeddingTable.neighbours", "embedkit.pca.PCA.fit"]:
        assert f'id="{member}"' in page, member


def test_no_page_loads_anything_from_the_network(html):
    """Offline readers get everything: no script, stylesheet, image or frame comes from a URL, MathJax is the
    packaged copy, and no stylesheet imports one. (Links the reader may click are fine.)"""
    loads = re.compile(r"<(script|link|img|iframe|source)\b[^>]*\b(src|href)=\"(https?:)?//[^\"]*\"", re.I)
    pages = sorted(html.rglob("*.html"))
    assert len(pages) > 12
    for page in pages:
        text = page.read_text()
        found = [m.group(0) for m in loads.finditer(text) if m.group(1).lower() != "link" or "stylesheet" in m.group(0)
                 or "preload" in m.group(0) or "icon" in m.group(0)]
        assert not found, f"{page.relative_to(html)} loads {found[:3]} from the network"
    chapter = (html / "chapters" / "06_recommender_systems.html").read_text()
    mathjax = re.search(r"<script[^>]*src=\"([^\"]*MathJax\.js)[^\"]*\"", chapter)
    assert mathjax and (html / "chapters" / mathjax.group(1)).resolve().is_file(), "MathJax is not served from _static"
    for css in html.rglob("*.css"):
        assert not re.search(r"(@import|url\()\s*['\"]?(https?:)?//", css.read_text(errors="replace")), \
            f"{css.relative_to(html)} pulls a file from the network"


def visible_text(page: str) -> str:
    """A page's text as a reader sees it: no code, scripts, styles or rendered maths, tags stripped."""
    page = re.sub(r"<(pre|code|script|style)\b.*?</\1>", "", page, flags=re.S)
    page = re.sub(r'<(span|div) class="math[^"]*">.*?</\1>', "", page, flags=re.S)
    return html_module.unescape(re.sub(r"<[^>]+>", "", page))


def raw_latex(text: str) -> list[str]:
    """Pieces of LaTeX that MyST left as text: a ``$`` followed by a command, or ``\\(``, ``\\[``, ``\\begin{``."""
    return [text[max(0, m.start() - 30):m.end() + 30]
            for m in re.finditer(r"\$[^$\n]{0,80}?\\[a-zA-Z]+|\\\(|\\\[|\\begin\{", text)]


def test_no_maths_is_left_as_raw_latex(html):
    """A line of inline maths that starts with '+ ' or '- ' becomes a list item, and the reader sees the LaTeX."""
    assert raw_latex(visible_text('<p>ok <span class="math notranslate">\\(x\\)</span></p>')) == []
    assert raw_latex(visible_text("<li><p>$f(x) = \\sum_i x_i</p></li>")) != []
    for source in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md")):
        found = raw_latex(visible_text((html / "chapters" / f"{source.stem}.html").read_text()))
        assert not found, f"{source.name} shows raw LaTeX (a maths line that starts with '+ ' or '- '?): {found}"


def test_no_two_references_get_the_same_citation_label():
    """The author_year style cites 'Mikolov et al., 2013' for two papers alike unless their years differ (2013a)."""
    from pybtex.database import parse_file

    labels = {}
    for key, entry in parse_file(ROOT / "references.bib").entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [" ".join(p.last_names) for p in people]
        author = names[0] + " et al." if len(names) > 2 else " and ".join(names)
        labels.setdefault((author, entry.fields.get("year")), []).append(key)
    same = {label: keys for label, keys in labels.items() if len(keys) > 1}
    assert not same, f"these references would be cited alike; add a letter to their years (2013a, 2013b): {same}"
