"""The settings a checkpoint folder was trained with, so a resumed run never reuses checkpoints
trained under other settings (used by :func:`nascore.seg.run_pipeline`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

#: Settings that add or show runs without changing how any run trains: checkpoints made under
#: other values stay valid.
_SETTINGS_THAT_ADD_RUNS = frozenset({"checkpoint_root", "progress", "device", "latency_repeats",
                                     "n_predictions", "baselines", "seeds", "include_noattn",
                                     "include_input_arch", "loss_ablation", "ablation_variants",
                                     "ablation_seeds"})


def check_checkpoint_settings(cfg, arch) -> None:
    """``cfg`` (a :class:`~nascore.seg.pipeline.SegPipelineConfig` with ``checkpoint_root``):
    records the training settings and the input arch in ``<checkpoint_root>/settings.json``
    on first use, and refuses a later run whose settings differ, so a changed ``lr`` (or loss
    weight, batch size, split, ...) never resumes checkpoints trained without it.

    Raises:
        ValueError: naming every setting that differs and both values.
    """
    want = {k: v for k, v in cfg.to_dict().items() if k not in _SETTINGS_THAT_ADD_RUNS}
    want = json.loads(json.dumps({**want, "input_arch": arch.arch_id}, default=str))
    path = Path(cfg.checkpoint_root) / "settings.json"
    if path.is_file():
        have = json.loads(path.read_text())
        diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
        if diff:
            raise ValueError(
                f"the checkpoints in {cfg.checkpoint_root} were trained with other settings: "
                + "; ".join(f"{k}: {have.get(k)!r} there, {want.get(k)!r} now" for k in diff)
                + ". Use another checkpoint_root (in notebook 04: rerun the setup cell, whose run "
                  "key hashes the settings)")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".settings.{os.getpid()}.tmp")  # parallel prefill jobs write it too
    tmp.write_text(json.dumps(want, indent=1, sort_keys=True))
    tmp.replace(path)


