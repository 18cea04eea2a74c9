"""``python -m data_prep <name> --out DIR [...]``: writes a prepared folder.

Names: ``folder`` (``--src DIR`` or ``--images DIR --masks DIR``), ``kaggle_3m`` (the LGG
kaggle_3m download: ``--src kaggle_3m/``, grouped by patient, 128 px by default), ``msd_brain``
(``--root DIR [--download]``) and ``synthetic``. Bad input exits with status 2 and a message naming the file; ``--out`` may not
be, contain or lie inside a source folder.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Optional, Sequence

from . import msd_brain
from .discover import CONVENTIONS_HELP
from .folder import GROUP_RULES, load_folder
from .records import check_out_dir, prepared_info, write_prepared
from .split import patient_split
from .synthetic import SYNTHETIC_LABEL, make_synthetic


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m data_prep", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="name", required=True)

    def common(sp):
        sp.add_argument("--out", required=True, help="prepared folder to write (replaced if it is one)")
        sp.add_argument("--format", default="auto", choices=("auto", "png", "npy"),
                        help="image file format (auto: PNG when 8-bit lossless, else NPY)")
        sp.add_argument("--no-progress", action="store_true", help="hide tqdm bars")

    f = sub.add_parser("folder", help="image/mask files as downloaded (see data_prep.discover)",
                       description="Finds images and masks below --src (patient or class "
                       "sub-folders; images/ + masks/), or in --images and --masks. Mask names: "
                       + CONVENTIONS_HELP + ". Groups (patients of the split): one per image "
                       "unless a manifest.csv group column, --groups or --group-regex says otherwise.")
    common(f)
    f.add_argument("--src", default=None,
                   help="dataset folder, e.g. kaggle_3m/ (patient folders) or one with images/ + masks/")
    f.add_argument("--images", default=None, help="image folder (with --masks, instead of --src)")
    f.add_argument("--masks", default=None, help="mask folder (with --images)")
    f.add_argument("--mask-suffix", default=None,
                   help="mask name suffix tried first, e.g. _segmentation (ISIC)")
    f.add_argument("--groups", default=None, choices=sorted(GROUP_RULES),
                   help="group rule: image (one per image, the default without a manifest), "
                        "folder (the image's sub-folder, e.g. patient folders), lgg (stem "
                        "without its trailing _<slice>)")
    f.add_argument("--group-regex", default=None,
                   help="group = first capture group of this regex in the image path below the "
                        "image folder, e.g. '^([^/]+)/' or '(patient\\d+)'")
    f.add_argument("--resolution", type=int, default=None, help="resize to N x N")
    f.add_argument("--grayscale", action="store_true")
    f.add_argument("--channels", type=int, nargs="+", default=None, help="channel indices to keep")
    f.add_argument("--mask-threshold", type=float, default=None, help="binarise masks as > T")
    f.add_argument("--cache-dir", default=None)

    k = sub.add_parser("kaggle_3m", help="the LGG kaggle_3m download (Buda et al.) as the "
                       "lgg_full dataset: patient folders of <stem>.tif + <stem>_mask.tif",
                       description="Prepares kaggle_3m/<patient>/<patient>_<slice>.tif with its "
                       "<stem>_mask.tif as nascore's lgg_full dataset: every slice, grouped by "
                       "patient, resized to --resolution. Write it to "
                       "$NASCORE_DATA/seg/lgg_kaggle3m_full128 to make data='lgg_full' find it.")
    common(k)
    k.add_argument("--src", required=True, help="the kaggle_3m/ folder as downloaded")
    k.add_argument("--resolution", type=int, default=128, help="resize to N x N (default 128)")
    k.add_argument("--cache-dir", default=None)

    m = sub.add_parser("msd_brain", help="MSD Task01 BrainTumour -> 2D axial slices")
    common(m)
    m.add_argument("--root", required=True, help="folder holding (or to receive) Task01_BrainTumour/")
    m.add_argument("--download", action="store_true", help="download via MONAI (MD5-checked) first")
    m.add_argument("--channels", nargs="+", default=["FLAIR"], help="modality names or indices")
    m.add_argument("--resolution", type=int, default=None)
    m.add_argument("--min-tumor-pixels", type=int, default=50)
    m.add_argument("--slice-step", type=int, default=1)
    m.add_argument("--include-empty-fraction", type=float, default=0.2)
    m.add_argument("--max-cases", type=int, default=None)
    m.add_argument("--seed", type=int, default=0)

    s = sub.add_parser("synthetic", help="seeded brain-like MRI phantoms (SYNTHETIC, not real MRI)")
    common(s)
    s.add_argument("--n-patients", type=int, default=12)
    s.add_argument("--slices-per-patient", type=int, default=8)
    s.add_argument("--size", type=int, default=128)
    s.add_argument("--channels", type=int, default=1, choices=(1, 3))
    s.add_argument("--seed", type=int, default=0)
    return p


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: the partial folder is removed


def _split_summary(recs) -> str:
    try:
        sp = patient_split(recs, seed=0)
    except ValueError as e:
        return f"WARNING: this dataset cannot be split for training: {e}"
    return "split (seed 0): " + ", ".join(
        f"{k} {len({r['group'] for r in v})} groups / {len(v)} images" for k, v in sp.items())


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the CLI; returns the exit status (0 ok, 2 bad input).

    SIGTERM (sent by ``timeout`` and job schedulers) is handled like Ctrl-C: the hidden
    partial output folder is removed and nothing is half-written.
    """
    args = _parser().parse_args(argv)
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        previous = None
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args) -> int:
    progress = not args.no_progress
    from pathlib import Path

    split_line = ""
    try:
        if args.name == "folder":
            if args.src is None and (args.images is None or args.masks is None):
                raise ValueError("give --src DIR, or --images DIR and --masks DIR")
            sources = [args.src, args.images, args.masks]

            check_out_dir(args.out, sources)  # before reading anything
            cfg = {k: getattr(args, k) for k in ("src", "images", "masks", "mask_suffix", "groups",
                                                 "group_regex", "resolution", "grayscale",
                                                 "channels", "mask_threshold")}
            recs = load_folder(args.src, resolution=args.resolution, groups=args.groups,
                               group_regex=args.group_regex, grayscale=args.grayscale,
                               channels=args.channels, mask_threshold=args.mask_threshold,
                               cache_dir=args.cache_dir, progress=progress, images=args.images,
                               masks=args.masks, mask_suffix=args.mask_suffix, verbose=True)
            split_line = _split_summary(recs)
            name = Path(args.src or args.images).resolve().name
            write_prepared(recs, args.out, image_format=args.format, progress=progress,
                           meta={"source": "folder", "label": f"folder {name}", "config": cfg},
                           protect=sources)
        elif args.name == "kaggle_3m":
            check_out_dir(args.out, [args.src])
            src = Path(args.src)
            if (src / "manifest.csv").is_file() or ((src / "images").is_dir() and (src / "masks").is_dir()):
                raise ValueError(f"{src} is a prepared or images/ + masks/ folder, not the kaggle_3m "
                                 "download (patient folders of .tif pairs); use it directly as "
                                 "data=<folder>, or prepare it with `python -m data_prep folder`")
            cfg = {"src": args.src, "groups": "lgg", "resolution": args.resolution}
            recs = load_folder(args.src, resolution=args.resolution, groups="lgg",
                               cache_dir=args.cache_dir, progress=progress, verbose=True)
            bad = sorted({r["group"] for r in recs if r["group"] == r["id"]})
            if bad:
                raise ValueError(f"{args.src} does not look like kaggle_3m: image {bad[0]} has no "
                                 "trailing _<slice> number to group it by patient (use "
                                 "`python -m data_prep folder` for other layouts)")
            split_line = _split_summary(recs)
            write_prepared(recs, args.out, image_format=args.format, progress=progress,
                           meta={"source": "kaggle_3m", "config": cfg,
                                 "label": "LGG FLAIR MRI, kaggle_3m (Buda et al.)"},
                           protect=[args.src])
        elif args.name == "msd_brain":
            task_dir = Path(args.root) / msd_brain.TASK
            if args.download:
                task_dir = msd_brain.download(args.root, progress=progress)
            msd_brain.convert(task_dir, args.out, channels=args.channels,
                              min_tumor_pixels=args.min_tumor_pixels, slice_step=args.slice_step,
                              include_empty_fraction=args.include_empty_fraction,
                              resolution=args.resolution, max_cases=args.max_cases, seed=args.seed,
                              keep_in_memory=False, image_format=args.format, progress=progress,
                              protect=[args.root])
        else:
            cfg = {k: getattr(args, k) for k in ("n_patients", "slices_per_patient", "size",
                                                 "channels")}
            recs = make_synthetic(seed=args.seed, **cfg)
            write_prepared(recs, args.out, image_format=args.format, progress=progress,
                           meta={"source": "synthetic", "label": SYNTHETIC_LABEL, "config": cfg,
                                 "seed": args.seed})
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"data_prep {args.name}: error: {e}", file=sys.stderr)
        return 2
    info = prepared_info(args.out)
    if split_line:
        print(split_line)
    print(f"wrote {info.get('n_records')} records, {info.get('n_groups')} groups, "
          f"{info.get('n_with_tumor')} with tumour -> {Path(args.out).resolve()}"
          + (" [SYNTHETIC]" if info.get("synthetic") else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
