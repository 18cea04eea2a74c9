"""Packs what a GPU run needs into ``.gpu_pack/`` (git-ignored), which travels with the
checkout to a lent GPU machine (64 MiB in all, the checkout included; the shared data folder
and MONAI do not travel).

* ``data/<name>/``: the segmentation data as a prepared folder (``python -m data_prep
  folder``). By default the whole LGG set (``$NASCORE_DATA/seg/lgg_kaggle3m_full128``) with its
  **FLAIR channel only** (channel 1), grouped by patient: 3,929 grey 128-px PNGs, about 28 MB.
  All three channels (about 72 MB) would not fit beside the checkout, so the GPU results are
  FLAIR-only; the folder's name says so and every result records it.
* ``wheels/``: the MONAI wheel of the version installed here (pure Python), which the GPU
  image lacks (it has torch, einops, pandas, scipy, pillow, pyyaml and tqdm).
* ``pack.json``: what was packed, sizes and the wheel's SHA-256.

Usage::

    python perf/gpu_pack.py                       # the default pack
    python perf/gpu_pack.py --data synthetic --out "$(mktemp -d)" --no-wheel   # a tiny test pack
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / ".gpu_pack"))
    ap.add_argument("--data", default="lgg_full",
                    help="lgg_full (default), synthetic (a tiny test pack), or a folder of images/ + masks/")
    ap.add_argument("--channels", type=int, nargs="+", default=[1], help="channels kept (default 1: FLAIR)")
    ap.add_argument("--name", default=None, help="data folder name (default from --data and --channels)")
    ap.add_argument("--no-wheel", action="store_true", help="leave MONAI out (a CPU test pack)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    py = [sys.executable, "-m"]
    if a.data == "synthetic":
        name = a.name or "synthetic"
        cmd = py + ["data_prep", "synthetic", "--out", str(out / "data" / name), "--n-patients",
                    "10", "--slices-per-patient", "3", "--size", "64", "--no-progress"]
    else:
        if a.data == "lgg_full":
            sys.path.insert(0, str(ROOT))
            from nascore.paths import data_root

            src = data_root() / "seg" / "lgg_kaggle3m_full128"
            stem = "lgg_full"
        else:
            src, stem = Path(a.data), Path(a.data).name
        if not (src / "images").is_dir():
            print(f"error: {src} has no images/ folder", file=sys.stderr)
            return 2
        chans = "".join(map(str, a.channels))
        name = a.name or (f"{stem}_flair128" if a.channels == [1] and stem == "lgg_full"
                          else f"{stem}_c{chans}")
        cmd = py + ["data_prep", "folder", "--images", str(src / "images"), "--masks",
                    str(src / "masks"), "--channels", *map(str, a.channels), "--groups", "lgg",
                    "--out", str(out / "data" / name), "--no-progress"]
    if subprocess.call(cmd, cwd=ROOT) != 0:
        return 2
    wheels = out / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir()
    info = {"data": f"data/{name}", "data_bytes": _size(out / "data" / name),
            "channels": a.channels if a.data != "synthetic" else "all (synthetic)", "wheels": []}
    if not a.no_wheel:
        from importlib.metadata import version

        v = version("monai")
        rc = subprocess.call([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                              "--only-binary=:all:", "-d", str(wheels), f"monai=={v}"])
        if rc != 0:
            print("error: pip download of monai failed (a package registry is needed here)",
                  file=sys.stderr)
            return 2
        for w in sorted(wheels.glob("*.whl")):
            info["wheels"].append({"file": w.name, "bytes": w.stat().st_size,
                                   "sha256": hashlib.sha256(w.read_bytes()).hexdigest()})
    info["total_bytes"] = _size(out)
    (out / "pack.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps({k: info[k] for k in ("data", "data_bytes", "total_bytes")}))
    if info["total_bytes"] > 40 * 2 ** 20:
        print("WARNING: the pack is over 40 MiB; with the checkout it may pass the 64 MiB limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
