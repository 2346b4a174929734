"""The project keeps the promises the README makes: layout, two commands, pinned dependencies."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

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


def _makefile_installs() -> tuple[set[str], set[str]]:
    """The requirement files the Makefile installs with pip: (with dependencies, with --no-deps)."""
    with_deps, no_deps = set(), set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        if "pip install" in line and not line.lstrip().startswith("#"):
            files = re.findall(r"-r (\S+)", line)
            (no_deps if "--no-deps" in line else with_deps).update(files)
            assert files or line.rstrip().endswith("-e ."), f"the Makefile installs something outside a requirements file: {line}"
    return with_deps, no_deps


def test_environment_yml_installs_what_the_makefile_installs():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    with_deps, no_deps = _makefile_installs()
    assert with_deps and no_deps
    assert {f"-r {f}" for f in with_deps} | {"-e ."} == set(pip), "environment.yml's pip section differs from the Makefile"
    comments = [line.lstrip("# ").strip() for line in (ROOT / "environment.yml").read_text().splitlines() if line.startswith("#")]
    for f in no_deps:
        assert f"pip install --no-deps -r {f}" in comments, f"environment.yml does not tell conda users to install {f}"
        assert (ROOT / f).exists(), f
    minimum = re.search(r"sys.version_info >= \((\d+), (\d+)\)", (ROOT / "Makefile").read_text())
    assert python == f"python={minimum[1]}.{minimum[2]}", "environment.yml's Python differs from the Makefile's minimum"


def test_embedkit_builds_with_the_locked_backend():
    """No isolated build (which would fetch an unpinned setuptools): the lock pins the backend."""
    lock = (ROOT / "requirements.lock").read_text().splitlines()
    assert any(line.startswith("setuptools==") for line in lock)
    editable = [line for line in (ROOT / "Makefile").read_text().splitlines() if line.rstrip().endswith("-e .")]
    assert editable and all("--no-build-isolation" in line for line in editable)


def test_jupyterlab_opens_the_markdown_sources_as_notebooks():
    """`make lab` needs JupyterLab and jupytext's server extension (the contents manager that opens .md files)."""
    jupyter = Path(sys.executable).parent / "jupyter"
    listed = subprocess.run([str(jupyter), "server", "extension", "list"], capture_output=True, text=True)
    lines = (listed.stdout + listed.stderr).splitlines()
    assert any("jupyterlab " in line and "enabled" in line for line in lines), lines
    assert any("jupyterlab_jupytext" in line and "enabled" in line for line in lines), lines
    lab = [line for line in (ROOT / "Makefile").read_text().splitlines() if "jupyter lab" in line]
    assert lab and "-u EMBEDKIT_PROGRESS" in lab[0], "make lab must let progress bars show"


def test_package_docstring_names_every_module_and_exports_every_error():
    import inspect

    import embedkit
    from embedkit import errors

    modules = {p.stem for p in (ROOT / "embedkit").glob("*.py") if p.stem != "__init__"}
    named = set(re.findall(r"^- `(\w+)`", embedkit.__doc__, flags=re.M))
    assert named == modules, f"not in embedkit's docstring: {modules - named}; no such module: {named - modules}"
    classes = {n for n, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, Exception) and c.__module__ == errors.__name__ and not n.startswith("_")}
    assert classes <= set(embedkit.__all__), f"errors not exported by embedkit: {classes - set(embedkit.__all__)}"
