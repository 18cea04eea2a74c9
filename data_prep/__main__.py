"""``python -m data_prep <name> --out DIR [...]``: writes a prepared folder.

Names: ``folder`` (``--src DIR``), ``msd_brain`` (``--root DIR [--download]``) and
``synthetic``. Bad input exits with status 2 and a message naming the file.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m data_prep", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="name", required=True)

    def common(sp):
        sp.add_argument("--out", required=True, help="prepared folder to write (replaced if it is one)")
        sp.add_argument("--format", default="auto", choices=("auto", "png", "npy"),
                        help="image file format (auto: PNG when 8-bit lossless, else NPY)")
        sp.add_argument("--no-progress", action="store_true", help="hide tqdm bars")

    f = sub.add_parser("folder", help="images/ + masks/ folder, e.g. lgg_mri_kaggle3m")
    common(f)
    f.add_argument("--src", required=True, help="folder with images/ and masks/")
    f.add_argument("--resolution", type=int, default=None, help="resize to N x N")
    f.add_argument("--grayscale", action="store_true")
    f.add_argument("--channels", type=int, nargs="+", default=None, help="channel indices to keep")
    f.add_argument("--mask-threshold", type=float, default=None, help="binarise masks as > T")
    f.add_argument("--cache-dir", default=None)

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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the CLI; returns the exit status (0 ok, 2 bad input)."""
    args = _parser().parse_args(argv)
    progress = not args.no_progress
    from pathlib import Path

    from .records import prepared_info, write_prepared

    try:
        if args.name == "folder":
            from .folder import load_folder

            cfg = {k: getattr(args, k) for k in ("src", "resolution", "grayscale", "channels",
                                                 "mask_threshold")}
            recs = load_folder(args.src, resolution=args.resolution, grayscale=args.grayscale,
                               channels=args.channels, mask_threshold=args.mask_threshold,
                               cache_dir=args.cache_dir, progress=progress)
            write_prepared(recs, args.out, image_format=args.format, progress=progress,
                           meta={"source": "folder", "label": f"folder {Path(args.src).name}",
                                 "config": cfg})
        elif args.name == "msd_brain":
            from . import msd_brain

            task_dir = Path(args.root) / msd_brain.TASK
            if args.download:
                task_dir = msd_brain.download(args.root, progress=progress)
            msd_brain.convert(task_dir, args.out, channels=args.channels,
                              min_tumor_pixels=args.min_tumor_pixels, slice_step=args.slice_step,
                              include_empty_fraction=args.include_empty_fraction,
                              resolution=args.resolution, max_cases=args.max_cases, seed=args.seed,
                              keep_in_memory=False, image_format=args.format, progress=progress)
        else:
            from .synthetic import SYNTHETIC_LABEL, make_synthetic

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
    print(f"wrote {info.get('n_records')} records, {info.get('n_groups')} groups, "
          f"{info.get('n_with_tumor')} with tumour -> {Path(args.out).resolve()}"
          + (" [SYNTHETIC]" if info.get("synthetic") else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
