"""``reports/README.md``: every notebook's key numbers on one page, read from the
``metrics.json`` files (never typed), each linked to the figure or CSV it came from.

Usage::

    python -m nascore.experiments.report_summary reports/full            # -> reports/README.md
    python -m nascore.experiments.report_summary reports/smoke --out x.md

``make reproduce`` runs it after the notebooks. The output defaults to ``reports/README.md`` for
``reports/full`` and to ``<folder>/README.md`` for any other folder.

Which numbers: a notebook's ``metrics.json`` may list its own ``key_numbers``
(``[{"label", "path", "source"}]``); otherwise :data:`KEY_NUMBERS` names them for the existing
notebooks; otherwise every top-level number of the file is shown, linked to ``metrics.json``.
A ``path`` is dotted (``targets.dice_searched``); a list element is selected by its fields,
``nb201.summary[strategy=evolution,objective=oracle].final_mean``; ``a | b`` tries ``a``, then
``b`` (a field renamed since older files). A path that is not found is shown as "missing",
never invented.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..provenance import atomic_write_text, git_sha

#: notebook stem -> (label, path in metrics.json, source file in the notebook's folder).
KEY_NUMBERS: Dict[str, List[Tuple[str, str, str]]] = {
    "00_search_space": [
        ("log10 of the number of architectures", "log10_size", "samples.csv"),
        ("architectures sampled", "survey.n", "samples.csv"),
        ("share of pure-CNN samples", "survey.share_pure_cnn", "histograms.png"),
        ("mean share of attention blocks", "survey.mean_attn_share", "histograms.png"),
    ],
    "02_proxy_correlation": [
        ("hybrid as scored by this run (v3; v1 or v2 in older runs) vs NB201 CIFAR-10: Kendall tau",
         "nb201.cifar10.hybrid.kendall", "scatter_nb201_cifar10.png"),
        ("the same, Spearman rho", "nb201.cifar10.hybrid.spearman", "scatter_nb201_cifar10.png"),
        ("the same, CPU seconds per network", "timing_s.hybrid", "timing.csv"),
        ("LGG mini-benchmark: best single proxy, Kendall tau (snip)",
         "hybrid_lgg.proxies.snip.kendall", "hybrid_lgg_correlations.csv"),
        ("LGG mini-benchmark: noise ceiling (seed-to-seed Kendall tau)",
         "hybrid_lgg.noise_ceiling.kendall", "scatter_hybrid_lgg.png"),
        ("hybrid (v3) measured cost: largest ratio to one forward+backward",
         "hybrid_v3.measured_cost", "metrics.json"),
        ("hybrid (v3) on AutoFormer file 2: Kendall tau",
         "hybrid_v3.report[report_set=autoformer/file2].kendall", "metrics.json"),
        ("best single proxy on AutoFormer file 2: Kendall tau",
         "hybrid_v3.report[report_set=autoformer/file2].best_single_kendall", "metrics.json"),
        ("hybrid (v3) on the LGG report part: Kendall tau",
         "hybrid_v3.report[report_set=hybrid_lgg/report].kendall", "metrics.json"),
        ("hybrid (v3) on NB201 CIFAR-10 (canonical-disjoint): Kendall tau",
         "hybrid_v3.report[report_set=nb201/cifar10].kendall", "metrics.json"),
        ("hybrid_v2 on NB201 CIFAR-10 (canonical-disjoint): Kendall tau",
         "hybrid_v2.report[report_set=nb201/cifar10].kendall", "metrics.json"),
    ],
    "03_search": [
        # files written before the rule objective was named after hybrid_v1 call it hybrid_rule
        ("evolution @ hybrid_v1@published: true accuracy found (%)",
         "nb201.summary[strategy=evolution,objective=hybrid_v1@published].final_mean"
         " | nb201.summary[strategy=evolution,objective=hybrid_rule@published].final_mean",
         "summary.csv"),
        ("evolution @ oracle: true accuracy found (%)",
         "nb201.summary[strategy=evolution,objective=oracle].final_mean", "summary.csv"),
        ("NB201 optimum (%)", "nb201.optimum", "anytime_nb201.png"),
        ("hybrid-space search: evaluations", "hybrid_seg.n_evals", "hybrid_candidates.csv"),
    ],
    "04_segmentation_finetune": [
        ("searched network: test tumour Dice (mean over seeds)", "targets.dice_searched",
         "dice_vs_flops.png"),
        ("HCT-Net-like baseline: test tumour Dice (mean over seeds)", "targets.dice_baseline",
         "dice_vs_flops.png"),
        ("searched - baseline tumour Dice: paired 95% CI over test patients",
         "targets.dice_tumor_diff_ci95", "results.csv"),
        ("FLOPs ratio searched / baseline", "targets.flops_ratio", "cost_before_after.png"),
        ("all targets met", "targets.all_met", "results.csv"),
    ],
}

_SEL = re.compile(r"^(?P<key>[^\[]*)\[(?P<sel>[^\]]*)\]$")


def lookup(obj: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``obj`` (see the module docstring for list selectors).

    Raises:
        KeyError: naming the first part of ``path`` that is not found.
    """
    cur = obj
    for part in _split(path):
        m = _SEL.match(part)
        key, sel = (m.group("key"), m.group("sel")) if m else (part, None)
        if key:
            if not isinstance(cur, dict) or key not in cur:
                raise KeyError(f"{path}: no {key!r}")
            cur = cur[key]
        if sel is not None:
            conds = dict(c.split("=", 1) for c in sel.split(",") if "=" in c)
            hits = [e for e in (cur if isinstance(cur, list) else [])
                    if isinstance(e, dict) and all(str(e.get(k)) == v for k, v in conds.items())]
            if not hits:
                raise KeyError(f"{path}: no element with {sel}")
            cur = hits[0]
    return cur


def _split(path: str) -> List[str]:
    """Splits on dots outside brackets (selector values may hold dots or ``@``)."""
    parts, buf, depth = [], "", 0
    for ch in path:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "." and depth == 0:
            parts.append(buf)
            buf = ""
        else:
            buf += ch
    return parts + [buf]


def fmt(v: Any) -> str:
    """Numbers with 4 significant digits; lists of numbers as ``[a, b]``; others as text."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)):
        if isinstance(v, float) and not math.isfinite(v):
            return "n/a"
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    if isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    return str(v)


def key_numbers(stem: str, metrics: Dict[str, Any]) -> List[Tuple[str, Any, str]]:
    """``(label, value or None when missing, source file)`` for one notebook."""
    spec = metrics.get("key_numbers")
    if spec:
        items = [(d["label"], d["path"], d.get("source", "metrics.json")) for d in spec]
    elif stem in KEY_NUMBERS:
        items = KEY_NUMBERS[stem]
    else:
        items = [(k, k, "metrics.json") for k, v in metrics.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)]
    out = []
    for label, path, src in items:
        value = None
        for alt in path.split(" | "):  # alternatives, first found wins
            try:
                value = lookup(metrics, alt)
                break
            except KeyError:
                continue
        out.append((label, value, src))
    return out


def render(folder, out_path) -> str:
    """The summary page (Markdown) of the notebook folders in ``folder``, with links relative
    to ``out_path``'s folder.

    Raises:
        FileNotFoundError: when ``folder`` has no ``*/metrics.json``.
        ValueError: naming a metrics file that is not valid JSON.
    """
    shown = Path(folder).as_posix()
    folder, out_dir = Path(folder).resolve(), Path(out_path).resolve().parent
    files = sorted(folder.glob("*/metrics.json"))
    if not files:
        raise FileNotFoundError(f"no <notebook>/metrics.json under {folder}")
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Results summary: `{folder.name}` profile", "",
             f"Generated by `python -m nascore.experiments.report_summary {shown}` on {now} at "
             f"git `{git_sha()}`. Every number is read from the notebook's `metrics.json`; each "
             "links to the figure or table it came from. Do not edit by hand.", ""]
    for f in files:
        try:
            m = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{f}: not valid JSON ({e})") from None
        stem, d = f.parent.name, f.parent
        prov = m.get("provenance", {}) if isinstance(m, dict) else {}
        nb = d / f"{stem}.ipynb"
        head = f"## [{stem}]({_rel(nb, out_dir)})" if nb.is_file() else f"## {stem}"
        lines += [head, "", f"Run at git `{prov.get('git_sha', 'unknown')}`, "
                  f"{prov.get('timestamp', 'time unknown')} ([metrics.json]({_rel(f, out_dir)})).", "",
                  "| quantity | value | from |", "|---|---|---|"]
        for label, v, src in key_numbers(stem, m):
            sp = d / src
            link = f"[{src}]({_rel(sp, out_dir)})" if sp.exists() else f"{src} (not found)"
            lines.append(f"| {label} | {'missing' if v is None else fmt(v)} | {link} |")
        lines.append("")
    return "\n".join(lines)


def _rel(p: Path, base: Path) -> str:
    import os

    return Path(os.path.relpath(p, base)).as_posix()


def default_out(folder) -> Path:
    """``reports/README.md`` for ``reports/full``, else ``<folder>/README.md``."""
    folder = Path(folder)
    return folder.parent / "README.md" if folder.name == "full" else folder / "README.md"


def write_summary(folder, out: Optional[Path] = None) -> Path:
    """Renders and writes the summary atomically; returns its path."""
    out = Path(out) if out is not None else default_out(folder)
    return atomic_write_text(out, render(folder, out) + "\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nascore.experiments.report_summary",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", help="a profile's reports folder, e.g. reports/full")
    ap.add_argument("--out", default=None, help="output file (default: see module docstring)")
    a = ap.parse_args(argv)
    print(write_summary(a.folder, Path(a.out) if a.out else None))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
