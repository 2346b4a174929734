"""The big data files for chapters on a GPU machine, in pieces that travel one device call each.

    .venv/bin/python scripts/device_data.py build        # here: .devkit_data1/, .devkit_data2/, ... (ignored)
    python3 scripts/device_data.py stage .devkit_data1   # there, one call per part: keep its pieces in /tmp
    python3 scripts/device_data.py assemble --kit .devkit   # there (device_check.py does it): rebuild the files

The GloVe 6B-50d vectors and word list and the all-MiniLM-L6-v2 weights
(chapters 1, 3, 5, 11, 12, 13) are 170 MB; what travels with one call is 64 MiB,
the working tree included. `build` compresses each file with xz (the GloVe
vectors shrink from 76 to 49 MiB, the weights from 87 to 78) and cuts the
streams into parts that fit beside the tree. On the GPU machine, `stage` copies
one part's pieces to ``/tmp/devdata`` (it outlives the call while the machine
stays warm, 30 s between calls), and `assemble` joins and unpacks them and checks
each file against `embedkit.data`'s sha256. A file goes into the main kit's shadow
package when that package is there (the MiniLM weights join the MiniLM files of
``.devkit/site``, where `embedkit.data.data_path` looks first), else into
``/tmp/devdata/site`` (GloVe), which ``device_check.sh`` puts on ``PYTHONPATH``.

A session with a GPU: ``stage`` each part in its own call (carry that part), then
``bash scripts/device_check.sh --only chapters --chapters 01,03,05,11,12,13``
(carry ``.devkit``; chapter 12 also needs faiss: install its wheel in the call
that stages the smallest part, as scripts/device_check.py's docstring shows).
Left out: resuming a part that broke off in transfer (stage it again).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "embedkit-devkit" / "xz"
STAGE = Path(os.environ.get("DEVDATA", "/tmp/devdata"))
MIB = 1 << 20
KEYS = ["glove-6b-50d-vectors", "glove-6b-50d-words", "minilm-weights"]  # embedkit.data.FILES keys


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compressed(key: str) -> bytes:
    """The xz stream of data file ``key`` (checked here first), cached by the file's sha256."""
    sys.path.insert(0, str(ROOT))
    from embedkit.data import FILES, data_path

    cached = CACHE / f"{FILES[key].sha256}.xz"
    if not cached.exists():
        raw = data_path(key).read_bytes()  # data_path verifies the sha256
        print(f"  xz {key} ({len(raw) / MIB:.1f} MiB; up to a minute, once)")
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.with_suffix(".part").write_bytes(lzma.compress(raw, preset=6))
        cached.with_suffix(".part").rename(cached)
    return cached.read_bytes()


def build(part_mib: float) -> list[Path]:
    """Write ``.devkit_data1/``, ``.devkit_data2/``, ...: pieces of at most ``part_mib`` MiB per part, and in
    each part the same manifest (every file, its pieces and where each lies)."""
    sys.path.insert(0, str(ROOT))
    from embedkit.data import FILES

    for old in ROOT.glob(".devkit_data*"):
        shutil.rmtree(old)
    limit = int(part_mib * MIB)
    parts: list[list[tuple[str, bytes]]] = [[]]
    files = []
    for key in KEYS:
        stream, pieces = compressed(key), []
        while stream:
            room = limit - sum(len(b) for _, b in parts[-1])
            if room < MIB:  # this part is full
                parts.append([])
                room = limit
            name = f"{key}.xz.{len(pieces):02d}"
            parts[-1].append((name, stream[:room]))
            pieces.append({"name": name, "part": len(parts), "bytes": len(stream[:room]),
                           "sha256": sha256_of(stream[:room])})
            stream = stream[room:]
        entry = FILES[key]
        files.append({"key": key, "package": entry.package, "path": entry.path, "sha256": entry.sha256,
                      "pieces": pieces})
    manifest = json.dumps({"parts": len(parts), "stage": str(STAGE), "files": files}, indent=1) + "\n"
    folders = []
    for number, content in enumerate(parts, start=1):
        folder = ROOT / f".devkit_data{number}"
        folder.mkdir()
        for name, data in content:
            (folder / name).write_bytes(data)
        (folder / "manifest.json").write_text(manifest)
        folders.append(folder)
        print(f"  {folder.name}: {sum(len(d) for _, d in content) / MIB:.1f} MiB, {len(content)} pieces")
    return folders


def stage(part: Path) -> None:
    """Copy one part's pieces (each checked) and the manifest to ``STAGE/pieces``."""
    manifest = json.loads((part / "manifest.json").read_text())
    target = STAGE / "pieces"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(part / "manifest.json", STAGE / "manifest.json")
    for entry in manifest["files"]:
        for piece in entry["pieces"]:
            source = part / piece["name"]
            if source.exists():
                if sha256_of(source.read_bytes()) != piece["sha256"]:
                    raise SystemExit(f"{source}: damaged in transfer (sha256 differs); carry {part.name} again")
                shutil.copyfile(source, target / piece["name"])
                print(f"staged {piece['name']} ({piece['bytes'] / MIB:.1f} MiB)")


def assemble(kit: Path) -> dict[str, Path | str]:
    """Rebuild every file whose pieces are all staged; key -> its path, or (a string) why it is not there."""
    if not (STAGE / "manifest.json").is_file():
        return {key: f"not staged (no {STAGE}/manifest.json)" for key in KEYS}
    manifest, done = json.loads((STAGE / "manifest.json").read_text()), {}
    for entry in manifest["files"]:
        pieces = [STAGE / "pieces" / p["name"] for p in entry["pieces"]]
        missing = sorted({p["part"] for p, path in zip(entry["pieces"], pieces) if not path.is_file()})
        if missing:
            done[entry["key"]] = f"parts {missing} not staged"
            continue
        home = kit / "site" / entry["package"]
        target = (home if home.is_dir() else STAGE / "site" / entry["package"]) / entry["path"]
        if target.is_file() and sha256_of(target.read_bytes()) == entry["sha256"]:
            done[entry["key"]] = target
            continue
        raw = lzma.decompress(b"".join(path.read_bytes() for path in pieces))
        if sha256_of(raw) != entry["sha256"]:
            done[entry["key"]] = "sha256 differs after unpacking: stage its parts again"
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(raw)
        done[entry["key"]] = target
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="here: write the parts")
    b.add_argument("--part-mib", type=float, default=50.0,
                   help="largest part; the tree that travels beside it is about 12 MiB, the limit 64")
    s = sub.add_parser("stage", help="there: keep one part's pieces in " + str(STAGE))
    s.add_argument("part", type=Path)
    a = sub.add_parser("assemble", help="there: rebuild the files whose pieces are all staged")
    a.add_argument("--kit", type=Path, default=ROOT / ".devkit")
    args = parser.parse_args()
    if args.command == "build":
        folders = build(args.part_mib)
        print(f"{len(folders)} parts: stage each in its own device call, then run the chapters (see the docstring)")
    elif args.command == "stage":
        stage(args.part)
    else:
        for key, where in assemble(args.kit).items():
            print(f"{key}: {where}")


if __name__ == "__main__":
    main()
