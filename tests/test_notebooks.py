"""The chapters as stored: each .md source and its executed .ipynb agree, and the .ipynb ran cleanly.

nbval (enabled in pyproject.toml for the chapters/ folder) re-executes every
.ipynb and compares outputs; these tests catch what nbval cannot see: an .md
edited without re-running `make notebooks`, and a notebook stored half-executed.
"""

import ast
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))


def test_there_are_chapters():
    assert SOURCES, "no chapters/NN_slug.md found"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_is_in_sync(source):
    stored = source.with_suffix(".ipynb")
    assert stored.exists(), f"{stored.name} is missing: run `make notebooks`"
    text = jupytext.read(source)
    executed = nbformat.read(stored, as_version=4)
    strip = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]
    assert strip(text) == strip(executed), f"{source.name} changed since {stored.name} was executed: run `make notebooks`"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_stored_notebook_ran_in_order_without_errors(source):
    executed = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "execute the whole notebook in order"
    for cell in code:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"cell {cell.execution_count} raised {errors[0].ename}"
        streams = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "Traceback" not in streams


def _execution_span(stored: Path) -> tuple[str, str]:
    """When the stored notebook's first code cell started and its last one finished (ISO 8601 strings)."""
    cells = [c for c in nbformat.read(stored, as_version=4).cells
             if c.cell_type == "code" and "execution" in c.get("metadata", {})]
    assert cells, f"{stored.name} has no execution time stamps: re-execute it with scripts/run_notebooks.py"
    return cells[0].metadata.execution["iopub.status.busy"], cells[-1].metadata.execution["shell.execute_reply"]


def test_benchmarks_chapter_was_executed_after_every_other_chapter():
    """The appendix reads every other chapter's stored running time: a chapter re-executed after it would leave
    the page showing a time no stored notebook has."""
    appendix = ROOT / "chapters" / "14_benchmarks.ipynb"
    started, _ = _execution_span(appendix)
    later = [source.stem for source in SOURCES if source.stem != appendix.stem
             and _execution_span(source.with_suffix(".ipynb"))[1] > started]
    assert not later, f"{later} ran after {appendix.name}: re-execute it last (scripts/run_notebooks.py)"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_glued_values_are_plain_python_literals(source):
    """A glued number is formatted by the book ({glue:text}`name:.3f`) from its text/plain repr, which must be a
    plain literal: a numpy or torch scalar ("np.float64(0.9)", "tensor(0.9)") fails the build with a warning."""
    executed = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if set(data) != {"application/papermill.record/text/plain"}:
                continue  # markdown, html or image glue: not formatted as a number
            text = data["application/papermill.record/text/plain"]
            try:
                ast.literal_eval(text)
            except (ValueError, SyntaxError):
                name = output.get("metadata", {}).get("scrapbook", {}).get("name")
                pytest.fail(f"glue {name!r} stores {text[:60]!r}: glue float(...) or int(...) of it instead")


def test_table_of_contents_lists_every_chapter_once():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    chapters = [f for f in files if f.startswith("chapters/")]
    assert chapters == [f"chapters/{p.stem}" for p in SOURCES]
    for f in files:
        assert any((ROOT / f).with_suffix(s).exists() for s in (".md", ".ipynb")), f
    assert (ROOT / f"{toc['root']}.md").exists()


CODE_WIDTH = 88  # characters a code box shows without scrolling: about 89 in the rendered book at 1440 px and wider
SOLUTION_WIDTH = 78  # the same inside an exercise's solution (a dropdown, indented): about 78
NEVER_SHOWN = {"remove-input", "remove-cell"}  # hide-input cells are folded, and open to the same box


def _too_wide(lines: list[str]) -> list[str]:
    return [f"{len(line)}: {line[:70]}" for line in lines if len(line) > CODE_WIDTH]


def _shown_source_lines(source: Path) -> list[str]:
    """The code lines a reader can see: code cells (folded hide-input ones too), and each literalinclude'd object."""
    lines = []
    for cell in jupytext.read(source).cells:
        if cell.cell_type == "code" and not NEVER_SHOWN & set(cell.metadata.get("tags", [])):
            lines += cell.source.splitlines()
    for module, name in re.findall(r"```\{literalinclude\} \.\./(\S+)\n(?::\w+:.*\n)*?:pyobject: (\S+)", source.read_text()):
        node = ast.parse((ROOT / module).read_text())
        for part in name.split("."):
            node = next(n for n in ast.iter_child_nodes(node) if getattr(n, "name", None) == part)
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        lines += (ROOT / module).read_text().splitlines()[first - 1 : node.end_lineno]
    return lines


def _fenced_python_lines(source: Path) -> list[str]:
    """The lines of the ```python blocks in the prose (the exercises' solutions), without their indentation."""
    lines, indent = [], None
    for line in source.read_text().splitlines():
        if indent is None and line.strip() == "```python":
            indent = len(line) - len(line.lstrip())
        elif indent is not None and line.strip() == "```":
            indent = None
        elif indent is not None:
            lines.append(line[indent:])
    return lines


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_shown_code_and_printed_output_fit_the_code_box(source):
    """Code a reader is meant to read, and the text it prints, fit the box without a scroll bar."""
    wide = _too_wide(_shown_source_lines(source))
    assert not wide, f"wrap these code lines at {CODE_WIDTH} characters:\n" + "\n".join(wide)
    wide = [line for line in _fenced_python_lines(source) if len(line) > SOLUTION_WIDTH]
    assert not wide, f"wrap these lines of the prose's code blocks at {SOLUTION_WIDTH}:\n" + "\n".join(wide)
    executed = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    printed = []
    for cell in executed.cells:
        if cell.cell_type != "code" or {"remove-output", "remove-cell"} & set(cell.metadata.get("tags", [])):
            continue
        for output in cell.outputs:
            data = output.get("data", {})
            if output.output_type == "stream":
                printed += output.text.splitlines()
            elif "text/plain" in data and not {"text/html", "image/png", "text/markdown"} & set(data):
                printed += data["text/plain"].splitlines()
    wide = _too_wide(printed)
    assert not wide, f"printed lines wider than {CODE_WIDTH}: wrap them (textwrap) or print less:\n" + "\n".join(wide)
