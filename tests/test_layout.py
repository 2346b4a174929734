"""The project keeps the promises the README makes: layout, two commands, pinned dependencies."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_top_level_layout():
    for name in ["_config.yml", "_toc.yml", "README.md", "chapters", "embedkit", "tests", "environment.yml",
                 "pyproject.toml", "requirements.lock", "references.bib", ".ci/run", "Makefile"]:
        assert (ROOT / name).exists(), name


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", readme, flags=re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines() if line.strip()]
    assert "make book" in commands and "make test" in commands
    ci = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    assert "make test" in ci
    assert (ROOT / ".ci/run").stat().st_mode & 0o111, ".ci/run must be executable"


def test_every_dependency_is_pinned_exactly():
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.lock").read_text().splitlines()]
    pins = [line for line in lines if line]
    assert "torch==2.13.0" in pins
    loose = [line for line in pins if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.+\-]+", line)]
    assert not loose, f"unpinned requirements: {loose}"
    names = {p.split("==")[0].lower().replace("_", "-") for p in pins}
    for needed in ["jupyter-book", "jupytext", "numpy", "torch", "scikit-learn", "matplotlib", "nbval"]:
        assert needed in names, needed


def test_environment_yml_installs_the_same_lock():
    env = (ROOT / "environment.yml").read_text()
    assert "requirements.lock" in env and "python=3.11" in env
