"""The training loop: AdamW + cosine decay, per-step loss-term logs, validation Dice, best
checkpoint, exact resumption.

Determinism: the loop runs inside ``torch.random.fork_rng`` seeded with ``seed`` (the
caller's global RNG state is restored afterwards), and each epoch re-seeds the training
loader's shuffling generator and random transforms from ``(seed, epoch)``
(:func:`nascore.seg.data.reseed_loader`). A run stopped at step ``s`` and resumed from its
checkpoint therefore produces the same weights as an uninterrupted run (on the CPU; GPU
kernels may be non-deterministic).

Checkpoints (``checkpoint_dir``): ``last.pt`` (model, optimiser, scheduler, knobs, step, RNG
state, histories) after every epoch, every ``checkpoint_every`` steps and at the end;
``best.pt`` (model and knobs weights) whenever the validation Dice improves. Both are written
atomically (:mod:`nascore.seg.checkpoint`).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from .checkpoint import BEST, LAST, cpu_state_dict, find_checkpoint, load_checkpoint, save_checkpoint
from .data import reseed_loader
from .evaluate import evaluate, resolve_device
from .objective import SegObjective


@contextlib.contextmanager
def seeded(seed: int):
    """Runs the block with torch's global RNGs seeded by ``seed``, restoring them afterwards."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


@dataclass
class TrainResult:
    """What :func:`train_model` returns.

    Attributes:
        history: one dict per step (``step, epoch, lr, total, dice, transformer, complexity,
            entropy`` and ``expected_gflops`` with knobs).
        val_history: one dict per validation (``step, epoch, val_dice, val_dice_tumor``).
        best_val_dice: best validation Dice (NaN without a validation loader).
        best_step: the step of the best state.
        train_time_s: wall time of the optimisation (summed over resumed runs; excludes
            validation).
        best_state: CPU ``state_dict`` of the best model (the last one without validation).
        step: the final step.
        total_steps: the planned number of steps.
    """

    history: List[Dict[str, Any]]
    val_history: List[Dict[str, Any]]
    best_val_dice: float
    best_step: int
    train_time_s: float
    best_state: Optional[Dict[str, torch.Tensor]]
    step: int
    total_steps: int
    best_knobs_state: Optional[Dict[str, torch.Tensor]] = field(default=None, repr=False)

    def history_df(self) -> pd.DataFrame:
        return pd.DataFrame(self.history)

    def val_df(self) -> pd.DataFrame:
        return pd.DataFrame(self.val_history, columns=["step", "epoch", "val_dice", "val_dice_tumor"])


def _accepts_aux(model: nn.Module) -> bool:
    try:
        return "return_aux" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _rng_state() -> Dict[str, Any]:
    st: Dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: Dict[str, Any]) -> None:
    torch.set_rng_state(st["cpu"])
    if torch.cuda.is_available() and "cuda" in st and len(st["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(st["cuda"])


def train_model(model: nn.Module, train_loader, val_loader=None,
                objective: Optional[SegObjective] = None, *, epochs: int = 1,
                steps: Optional[int] = None, lr: float = 1e-3, weight_decay: float = 1e-4,
                seed: int = 0, device=None, checkpoint_dir=None, resume: bool = True,
                extra_params: Optional[Iterable[nn.Parameter]] = None, knobs=None,
                arch_lr: Optional[float] = None, progress: bool = True,
                restore_best: bool = True, stop_at_step: Optional[int] = None,
                checkpoint_every: Optional[int] = None, grad_clip: Optional[float] = 1.0,
                val_metric: str = "dice_mean", desc: str = "train") -> TrainResult:
    """Trains ``model`` (see the module docstring).

    Args:
        model: the network; ``HybridSegNet`` gets ``return_aux=True`` for the Transformer term.
        train_loader: training batches (``image``, ``label``); should come from
            :func:`nascore.seg.data.make_loader` for reproducible order.
        val_loader: validation batches, evaluated after every epoch and at the end (or None).
        objective: the loss (default: Dice + Transformer terms only).
        epochs: number of epochs, used when ``steps`` is None.
        steps: total optimisation steps (overrides ``epochs``); the cosine schedule spans them.
        lr, weight_decay: AdamW settings of the weights.
        seed: seed of the loop's RNG and of the data order.
        device: ``None``/``"auto"`` = cuda when available.
        checkpoint_dir: where ``last.pt``/``best.pt`` go (None: no checkpoints).
        resume: continue from ``checkpoint_dir/last.pt`` when it exists.
        extra_params: extra (architecture) parameters, optimised in a second AdamW group
            with ``arch_lr`` and no weight decay; they must already be on ``device``.
        knobs: a :class:`~nascore.seg.knobs.TransformerKnobs`: moved to ``device``, its
            parameters join the architecture group and it is passed to the objective.
        arch_lr: learning rate of the architecture group (default ``lr``).
        progress: show a tqdm bar.
        restore_best: load the best validation state into ``model`` at the end.
        stop_at_step: stop early at this step (the schedule still spans ``steps``), e.g. to
            split a run into resumable pieces.
        checkpoint_every: also write ``last.pt`` every this many steps.
        grad_clip: max gradient norm (None: no clipping).
        val_metric: key of :func:`nascore.seg.evaluate.aggregate` used as validation Dice.

    Raises:
        ValueError: on an empty loader, or a checkpoint from a run with another step count
            (naming the file).
    """
    device = resolve_device(device)
    objective = objective if objective is not None else SegObjective(w_complexity=0, w_entropy=0)
    n_batches = len(train_loader)
    if n_batches == 0:
        raise ValueError("train_loader yields no batches")
    total = int(steps) if steps is not None else int(epochs) * n_batches
    if total < 1:
        raise ValueError(f"need at least one step, got steps={steps}, epochs={epochs}")
    end = total if stop_at_step is None else min(total, int(stop_at_step))

    model.to(device)
    if knobs is not None:
        knobs.to(device)
    groups = [{"params": [p for p in model.parameters() if p.requires_grad],
               "weight_decay": weight_decay}]
    arch_params = (list(knobs.parameters()) if knobs is not None else []) + list(extra_params or [])
    if arch_params:
        groups.append({"params": arch_params, "lr": arch_lr if arch_lr is not None else lr,
                       "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)

    step, history, val_history = 0, [], []
    best_val, best_step, best_state, best_knobs, elapsed = -math.inf, 0, None, None, 0.0
    rng = None
    last = find_checkpoint(checkpoint_dir, LAST) if resume else None
    if last is not None:
        ck = load_checkpoint(last, map_location=device)
        if ck.get("total_steps") != total:
            raise ValueError(f"checkpoint {last} is from a run of {ck.get('total_steps')} steps, "
                             f"this run has {total}; use another checkpoint_dir or resume=False")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        if knobs is not None and ck.get("knobs") is not None:
            knobs.load_state_dict(ck["knobs"])
        step, history, val_history = ck["step"], list(ck["history"]), list(ck["val_history"])
        best_val, best_step, elapsed = ck["best_val"], ck["best_step"], ck["elapsed"]
        rng = ck["rng"]
        best = find_checkpoint(checkpoint_dir, BEST)
        if best is not None:
            bk = load_checkpoint(best)
            best_state, best_knobs = bk["model"], bk.get("knobs")

    def save_last() -> None:
        if checkpoint_dir is None:
            return
        save_checkpoint(f"{checkpoint_dir}/{LAST}", {
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "knobs": knobs.state_dict() if knobs is not None else None,
            "step": step, "total_steps": total, "seed": seed, "history": history,
            "val_history": val_history, "best_val": best_val, "best_step": best_step,
            "elapsed": elapsed, "rng": _rng_state()})

    def validate(epoch: int) -> None:
        nonlocal best_val, best_step, best_state, best_knobs
        _, agg = evaluate(model, val_loader, device=device, hd95=False)
        v = agg[val_metric]
        val_history.append({"step": step, "epoch": epoch, "val_dice": v,
                            "val_dice_tumor": agg["dice_tumor_mean"]})
        if not math.isnan(v) and v > best_val:
            best_val, best_step = v, step
            best_state = cpu_state_dict(model)
            best_knobs = cpu_state_dict(knobs) if knobs is not None else None
            if checkpoint_dir is not None:
                save_checkpoint(f"{checkpoint_dir}/{BEST}", {
                    "model": best_state, "knobs": best_knobs, "step": step, "val_dice": v})

    wants_aux = _accepts_aux(model)
    with seeded(seed):
        if rng is not None:
            _set_rng_state(rng)
        bar = tqdm(total=total, initial=step, disable=not progress, desc=desc, leave=False)
        while step < end:
            epoch, skip = divmod(step, n_batches)
            reseed_loader(train_loader, int(seed) * 1_000_003 + epoch)
            model.train()
            t0 = time.perf_counter()
            for bi, batch in enumerate(train_loader):
                if bi < skip:
                    continue
                if step >= end:
                    break
                x = batch["image"].to(device)
                y = batch["label"].to(device)
                out = model(x, return_aux=True) if wants_aux else model(x)
                logits, aux = out if isinstance(out, tuple) else (out, None)
                loss, terms = objective(logits, y, aux, knobs)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if grad_clip is not None:
                    nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], grad_clip)
                row = {"step": step + 1, "epoch": epoch, "lr": opt.param_groups[0]["lr"], **terms}
                opt.step()
                sched.step()
                step += 1
                if knobs is not None:
                    with torch.no_grad():
                        row["expected_gflops"] = float(knobs.expected_flops()) / 1e9
                history.append(row)
                bar.update(1)
                bar.set_postfix(loss=f"{terms['total']:.4f}")
                if checkpoint_every and step % checkpoint_every == 0:
                    elapsed += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    save_last()
            elapsed += time.perf_counter() - t0
            if step % n_batches == 0 or step == total:
                if val_loader is not None:
                    validate(epoch)
                save_last()
        bar.close()
        if step < total:  # stopped early: make sure the resume point is on disk
            save_last()
    if best_state is None:
        best_state, best_step = cpu_state_dict(model), step
        best_knobs = cpu_state_dict(knobs) if knobs is not None else None
    elif restore_best:
        model.load_state_dict(best_state)
        if knobs is not None and best_knobs is not None:
            knobs.load_state_dict(best_knobs)
    return TrainResult(history=history, val_history=val_history,
                       best_val_dice=best_val if best_val > -math.inf else float("nan"),
                       best_step=best_step, train_time_s=elapsed, best_state=best_state,
                       step=step, total_steps=total, best_knobs_state=best_knobs)
