"""Numbers in the prose come from cells: a result typed by hand (a decimal or a percentage) fails this test.

Results (scores, shares, ratios, times) must be glued from the cell that computes them, so that they cannot
drift from the stored outputs. The scan reads each chapter's markdown outside code, math, roles (glue,
cite, ref) and inline code, including the text of admonitions and dropdowns. Numbers that describe the
set-up or the literature, not a result, are listed in ALLOWED with the reason.
"""

import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
PROSE_DIRECTIVES = re.compile(r"\{(admonition|note|warning|tip|important|seealso|dropdown|margin|hint|caution|attention)\}")
FENCE = re.compile(r"^\s*(`{3,}|:{3,})\s*(.*)$")
INLINE = [
    re.compile(r"\$\$.*?\$\$", re.S),  # display math written inline
    re.compile(r"\$[^$]+\$"),  # inline math, possibly across a line break
    re.compile(r"\{[a-z:-]+\}`[^`]*`"),  # roles: glue, cite, ref, math, numref
    re.compile(r"`[^`]*`"),  # inline code
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"<[^>]+>"),  # html tags
]
RESULT_LIKE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?\s?%|\d+\.\d+)(?![\w.])")

# Fixed facts: the set-up of an experiment (split sizes, probabilities of a procedure, constants of a paper or a
# tool), not something a cell measures. Keyed by chapter, then by the number as written.
ALLOWED = {
    "14_benchmarks": {"0.95": "the recall@10 target of the search benchmark (set-up)",
                      "1.0": "the speed-ratio goal for exact search (set-up)",
                      "0.5": "the speed-ratio goal for IVF-Flat (set-up)"},
    "01_what_is_an_embedding": {"80%": "the training share of the words (set-up)", "20%": "the held-out share (set-up)"},
    "02_word2vec": {"0.05": "the C tool's learning rate for CBOW", "0.025": "gensim's default learning rate"},
    "03_glove": {"0.05": "glove.c's initial learning rate", "5.6": "10 ** (3 / 4), a property of f(x) (mathematics)"},
    "04_cnn": {"1.2": "ImageNet's 1.2 million training images (literature)"},
    "05_bert": {"0.15": "BERT's masking probability", "15%": "BERT's masking share", "0.8": "BERT's 80/10/10 rule",
                "80%": "BERT's 80/10/10 rule", "0.1": "BERT's 80/10/10 rule", "10%": "BERT's 80/10/10 rule",
                "0.5": "a hypothetical cosine in a question to the reader",
                "12.5%": "chance among the eight articles (1/8, set-up)"},
    "06_recommender_systems": {"20%": "the test share (set-up)", "80%": "the training share (set-up)",
                               "10%": "the validation share (set-up) and the Netflix Prize's goal (literature)",
                               "0.005": "Surprise's default SGD learning rate"},
    "07_pca": {"90%": "a chosen share of variance (the question asked)", "99%": "a chosen share of variance"},
    "08_autoencoders": {"30%": "the corruption share of an exercise (set-up)",
                        "0.00001": "a tolerance named in an exercise"},
    "09_vae": {"0.3%": "the mass of a standard normal beyond 3 standard deviations (mathematics)"},
    "10_self_supervised": {"15%": "the masking share of the masked-word model (set-up)",
                           "100%": "augment's crop keeps 40-100% of the area (set-up)",
                           "0.2": "augment's brightness shift (set-up)", "0.6": "augment's contrast range (set-up)",
                           "1.4": "augment's contrast range (set-up)"},
}


def prose(source: Path) -> list[str]:
    """The prose lines of a chapter: markdown cells, outside code fences and directive options."""
    lines = []
    for cell in jupytext.read(source).cells:
        if cell.cell_type != "markdown":
            continue
        stack: list[tuple[str, int, bool]] = []  # open fences: character, length, holds prose
        for line in cell.source.splitlines():
            fence = FENCE.match(line)
            if fence:
                mark, info = fence.group(1), fence.group(2).strip()
                if stack and not info and mark[0] == stack[-1][0] and len(mark) >= stack[-1][1]:
                    stack.pop()
                    continue
                if info or not stack:
                    stack.append((mark[0], len(mark), bool(PROSE_DIRECTIVES.match(info))))
                    continue
            if stack and not stack[-1][2]:
                continue  # code, math, a table directive...
            if stack and re.match(r"^\s*:[a-z-]+:", line):
                continue  # a directive's options
            lines.append(line)
    text = "\n".join(lines)
    for pattern in INLINE:
        text = pattern.sub(" ", text)
    return text.splitlines()


def typed_numbers(source: Path) -> list[tuple[str, str]]:
    allowed = ALLOWED.get(source.stem, {})
    return [(m.group(0).replace(" ", ""), line.strip()) for line in prose(source) for m in RESULT_LIKE.finditer(line)
            if m.group(0).replace(" ", "") not in allowed]


@pytest.mark.parametrize("source", sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md")), ids=lambda p: p.stem)
def test_no_result_is_typed_into_the_prose(source):
    found = typed_numbers(source)
    assert not found, (f"{source.name}: numbers typed into the prose; glue them from the cell that computes them "
                       f"(or, for a fixed fact of the set-up, add them to ALLOWED with the reason): {found[:5]}")


def test_the_scan_finds_a_typed_result_and_skips_code_math_and_glue(tmp_path):
    source = tmp_path / "99_example.md"
    source.write_text("# Example\n\nThe model scores 0.734 on the test set, {glue:text}`acc:.3f` in fact, "
                      "with $p = 0.5$ and `lr=0.01`.\n\n```{admonition} Solution\n:class: dropdown\n"
                      "About 12% of the images.\n```\n\n```python\nx = 0.25\n```\n")
    assert [n for n, _ in typed_numbers(source)] == ["0.734", "12%"]
