"""The training loop: AdamW + cosine decay, per-step loss-term logs, validation Dice, best
checkpoint, exact resumption.

Settings are one :class:`TrainConfig`; :class:`Trainer` runs it on a model (with an objective,
optional Transformer knobs and extra architecture parameters). :func:`train_model` is the
one-call entry: ``train_model(model, train_loader, val_loader, objective, config, **overrides)``
where ``overrides`` are :class:`TrainConfig` fields (``steps=..., lr=..., seed=...``).

Determinism: the loop runs inside ``torch.random.fork_rng`` seeded with ``seed`` (the
caller's global RNG state is restored afterwards), and each epoch re-seeds the training
loader's shuffling generator and random transforms from ``(seed, epoch)``
(:func:`nascore.seg.data.reseed_loader`). A run stopped at step ``s`` and resumed from its
checkpoint therefore produces the same weights as an uninterrupted run (on the CPU; GPU
kernels may be non-deterministic).

Checkpoints (``checkpoint_dir``): ``last.pt`` (model, optimiser, scheduler, knobs, step, RNG
state, histories) after every epoch, every ``checkpoint_every`` steps and at the end;
``best.pt`` (model and knobs weights) whenever the validation Dice improves. Both are written
atomically (:mod:`nascore.seg.checkpoint`). ``.lock`` is the lock a process holds while it
trains into the folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

import pandas as pd
import torch
from torch import nn

from ..progress import tqdm
from .checkpoint import (
    BEST,
    LAST,
    checkpoint_lock,
    cpu_state_dict,
    find_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
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
    # a checkpoint loaded with map_location="cuda" holds these byte tensors on the GPU; the
    # setters take CPU ByteTensors
    torch.set_rng_state(st["cpu"].cpu())
    if torch.cuda.is_available() and "cuda" in st and len(st["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in st["cuda"]])


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (see the module docstring).

    Attributes:
        epochs: number of epochs, used when ``steps`` is None.
        steps: total optimisation steps (overrides ``epochs``); the cosine schedule spans them.
        lr, weight_decay: AdamW settings of the weights.
        arch_lr: learning rate of the architecture group (knobs and extra parameters; no weight
            decay); default ``lr``.
        seed: seed of the loop's RNG and of the data order.
        device: ``None``/``"auto"`` = cuda when available.
        checkpoint_dir: where ``last.pt``/``best.pt`` go (None: no checkpoints).
        resume: continue from ``checkpoint_dir/last.pt`` when it exists.
        checkpoint_every: also write ``last.pt`` every this many steps.
        stop_at_step: stop early at this step (the schedule still spans ``steps``), e.g. to
            split a run into resumable pieces.
        restore_best: load the best validation state into the model at the end.
        grad_clip: max gradient norm (None: no clipping).
        val_metric: key of :func:`nascore.seg.evaluate.aggregate` used as validation Dice.
        progress: show a tqdm bar; desc: its label.
    """

    epochs: int = 1
    steps: Optional[int] = None
    lr: float = 1e-3
    weight_decay: float = 1e-4
    arch_lr: Optional[float] = None
    seed: int = 0
    device: Any = None
    checkpoint_dir: Any = None
    resume: bool = True
    checkpoint_every: Optional[int] = None
    stop_at_step: Optional[int] = None
    restore_best: bool = True
    grad_clip: Optional[float] = 1.0
    val_metric: str = "dice_mean"
    progress: bool = True
    desc: str = "train"

    @classmethod
    def resolve(cls, config: Optional["TrainConfig"] = None, **overrides: Any) -> "TrainConfig":
        """``config`` (default :class:`TrainConfig`) with ``overrides`` (field names) applied.

        Raises:
            TypeError: naming the keywords that are not fields.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(overrides) - names)
        if bad:
            raise TypeError(f"unknown training setting(s) {bad}; TrainConfig fields: {sorted(names)}")
        base = config if config is not None else cls()
        return dataclasses.replace(base, **overrides) if overrides else base

    def to_dict(self) -> Dict[str, Any]:
        """The settings, for provenance (paths and devices as strings)."""
        return {k: (v if v is None or isinstance(v, (bool, int, float, str)) else str(v))
                for k, v in dataclasses.asdict(self).items()}


class Trainer:
    """Trains one model under a :class:`TrainConfig` (see the module docstring).

    Args:
        model: the network; ``HybridSegNet`` gets ``return_aux=True`` for the Transformer term.
        objective: the loss (default: Dice + Transformer terms only).
        config: the settings (default :class:`TrainConfig`).
        knobs: a :class:`~nascore.seg.knobs.TransformerKnobs`: moved to the device, its
            parameters join the architecture group and it is passed to the objective.
        extra_params: extra (architecture) parameters, optimised in the architecture group;
            they must already be on the device.

    Example:
        >>> res = Trainer(model, SegObjective(w_complexity=0, w_entropy=0),
        ...               TrainConfig(steps=100, seed=1)).fit(train_loader, val_loader)
    """

    def __init__(self, model: nn.Module, objective: Optional[SegObjective] = None,
                 config: Optional[TrainConfig] = None, knobs=None,
                 extra_params: Optional[Iterable[nn.Parameter]] = None) -> None:
        self.model = model
        self.objective = objective if objective is not None else SegObjective(w_complexity=0, w_entropy=0)
        self.config = config if config is not None else TrainConfig()
        self.knobs = knobs
        self.extra_params = list(extra_params or [])
        self.device = resolve_device(self.config.device)

    # --- setup ------------------------------------------------------------------------------
    def _optimiser(self, total: int) -> None:
        cfg, knobs = self.config, self.knobs
        self.model.to(self.device)
        if knobs is not None:
            knobs.to(self.device)
        self.groups = [{"params": [p for p in self.model.parameters() if p.requires_grad],
                        "weight_decay": cfg.weight_decay}]
        arch_params = (list(knobs.parameters()) if knobs is not None else []) + self.extra_params
        if arch_params:
            self.groups.append({"params": arch_params,
                                "lr": cfg.arch_lr if cfg.arch_lr is not None else cfg.lr,
                                "weight_decay": 0.0})
        self.opt = torch.optim.AdamW(self.groups, lr=cfg.lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=total)

    def _resume(self) -> Optional[Dict[str, Any]]:
        """Loads ``last.pt`` (and ``best.pt``) when resuming; returns the saved RNG state."""
        cfg, knobs = self.config, self.knobs
        last = find_checkpoint(cfg.checkpoint_dir, LAST) if cfg.resume else None
        if last is None:
            return None
        ck = load_checkpoint(last, map_location=self.device)
        if ck.get("total_steps") != self.total:
            raise ValueError(f"checkpoint {last} is from a run of {ck.get('total_steps')} steps, "
                             f"this run has {self.total}; use another checkpoint_dir or resume=False")
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        if knobs is not None and ck.get("knobs") is not None:
            knobs.load_state_dict(ck["knobs"])
        self.step, self.history, self.val_history = ck["step"], list(ck["history"]), list(ck["val_history"])
        self.best_val, self.best_step, self.elapsed = ck["best_val"], ck["best_step"], ck["elapsed"]
        best = find_checkpoint(cfg.checkpoint_dir, BEST)
        if best is not None:
            bk = load_checkpoint(best)
            self.best_state, self.best_knobs = bk["model"], bk.get("knobs")
        return ck["rng"]

    # --- checkpoints and validation ---------------------------------------------------------
    def _save_last(self) -> None:
        cfg, knobs = self.config, self.knobs
        if cfg.checkpoint_dir is None:
            return
        save_checkpoint(f"{cfg.checkpoint_dir}/{LAST}", {
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "knobs": knobs.state_dict() if knobs is not None else None,
            "step": self.step, "total_steps": self.total, "seed": cfg.seed, "history": self.history,
            "val_history": self.val_history, "best_val": self.best_val, "best_step": self.best_step,
            "elapsed": self.elapsed, "rng": _rng_state()})

    def _validate(self, val_loader, epoch: int) -> None:
        cfg, knobs = self.config, self.knobs
        _, agg = evaluate(self.model, val_loader, device=self.device, hd95=False)
        v = agg[cfg.val_metric]
        self.val_history.append({"step": self.step, "epoch": epoch, "val_dice": v,
                                 "val_dice_tumor": agg["dice_tumor_mean"]})
        if not math.isnan(v) and v > self.best_val:
            self.best_val, self.best_step = v, self.step
            self.best_state = cpu_state_dict(self.model)
            self.best_knobs = cpu_state_dict(knobs) if knobs is not None else None
            if cfg.checkpoint_dir is not None:
                save_checkpoint(f"{cfg.checkpoint_dir}/{BEST}", {
                    "model": self.best_state, "knobs": self.best_knobs, "step": self.step,
                    "val_dice": v})

    # --- the loop ---------------------------------------------------------------------------
    def _train_step(self, batch, epoch: int, wants_aux: bool) -> Dict[str, Any]:
        model, knobs, opt = self.model, self.knobs, self.opt
        x = batch["image"].to(self.device)
        y = batch["label"].to(self.device)
        out = model(x, return_aux=True) if wants_aux else model(x)
        logits, aux = out if isinstance(out, tuple) else (out, None)
        loss, terms = self.objective(logits, y, aux, knobs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip is not None:
            nn.utils.clip_grad_norm_([p for g in self.groups for p in g["params"]],
                                     self.config.grad_clip)
        row = {"step": self.step + 1, "epoch": epoch, "lr": opt.param_groups[0]["lr"], **terms}
        opt.step()
        self.sched.step()
        self.step += 1
        if knobs is not None:
            with torch.no_grad():
                row["expected_gflops"] = float(knobs.expected_flops()) / 1e9
        self.history.append(row)
        return row

    def fit(self, train_loader, val_loader=None) -> TrainResult:
        """Trains on ``train_loader`` (batches of ``image``, ``label``; should come from
        :func:`nascore.seg.data.make_loader` for a reproducible order), validating on
        ``val_loader`` after every epoch and at the end (or never when None).

        While it trains, the checkpoint folder is locked
        (:func:`nascore.seg.checkpoint.checkpoint_lock`); a finished run is only read, unlocked,
        so any number of processes may load it at once.

        Raises:
            ValueError: on an empty loader, or a checkpoint from a run with another step
                count (naming the file).
            RuntimeError: the run is unfinished and another process is training it (the lock's
                message names the folder and the holder).
        """
        cfg, model = self.config, self.model
        n_batches = len(train_loader)
        if n_batches == 0:
            raise ValueError("train_loader yields no batches")
        total = int(cfg.steps) if cfg.steps is not None else int(cfg.epochs) * n_batches
        if total < 1:
            raise ValueError(f"need at least one step, got steps={cfg.steps}, epochs={cfg.epochs}")
        end = total if cfg.stop_at_step is None else min(total, int(cfg.stop_at_step))
        self.total = total
        self._optimiser(total)
        self.step, self.history, self.val_history = 0, [], []
        self.best_val, self.best_step, self.best_state, self.best_knobs = -math.inf, 0, None, None
        self.elapsed = 0.0
        rng = self._resume()
        trains = self.step < end  # else a finished (or already stopped) run is only read
        with contextlib.ExitStack() as held:
            if trains and cfg.checkpoint_dir is not None:
                held.enter_context(checkpoint_lock(cfg.checkpoint_dir))
                rng = self._resume()  # again under the lock: another process may have moved on

            wants_aux = _accepts_aux(model)
            with seeded(cfg.seed):
                if rng is not None:
                    _set_rng_state(rng)
                bar = tqdm(total=total, initial=self.step, disable=not cfg.progress, desc=cfg.desc,
                           leave=False)
                while self.step < end:
                    epoch, skip = divmod(self.step, n_batches)
                    reseed_loader(train_loader, int(cfg.seed) * 1_000_003 + epoch)
                    model.train()
                    t0 = time.perf_counter()
                    for bi, batch in enumerate(train_loader):
                        if bi < skip:
                            continue
                        if self.step >= end:
                            break
                        row = self._train_step(batch, epoch, wants_aux)
                        bar.update(1)
                        bar.set_postfix(loss=f"{row['total']:.4f}")
                        if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                            self.elapsed += time.perf_counter() - t0
                            t0 = time.perf_counter()
                            self._save_last()
                    self.elapsed += time.perf_counter() - t0
                    if self.step % n_batches == 0 or self.step == total:
                        if val_loader is not None:
                            self._validate(val_loader, epoch)
                        self._save_last()
                bar.close()
                if trains and self.step < total:  # stopped early: the resume point goes to disk
                    self._save_last()
            return self._result()

    def _result(self) -> TrainResult:
        model, knobs = self.model, self.knobs
        best_state, best_step, best_knobs = self.best_state, self.best_step, self.best_knobs
        if best_state is None:
            best_state, best_step = cpu_state_dict(model), self.step
            best_knobs = cpu_state_dict(knobs) if knobs is not None else None
        elif self.config.restore_best:
            model.load_state_dict(best_state)
            if knobs is not None and best_knobs is not None:
                knobs.load_state_dict(best_knobs)
        return TrainResult(history=self.history, val_history=self.val_history,
                           best_val_dice=self.best_val if self.best_val > -math.inf else float("nan"),
                           best_step=best_step, train_time_s=self.elapsed, best_state=best_state,
                           step=self.step, total_steps=self.total, best_knobs_state=best_knobs)


def train_model(model: nn.Module, train_loader, val_loader=None,
                objective: Optional[SegObjective] = None, config: Optional[TrainConfig] = None, *,
                knobs=None, extra_params: Optional[Iterable[nn.Parameter]] = None,
                **overrides: Any) -> TrainResult:
    """Trains ``model``: ``Trainer(model, objective, config + overrides, knobs, extra_params)
    .fit(train_loader, val_loader)`` (see :class:`Trainer` and the module docstring).

    Args:
        model, objective, knobs, extra_params: as :class:`Trainer`.
        train_loader, val_loader: as :meth:`Trainer.fit`.
        config: the settings (default :class:`TrainConfig`).
        **overrides: :class:`TrainConfig` fields replacing those of ``config``
            (``steps=200, lr=1e-3, seed=1, checkpoint_dir=...``).

    Raises:
        TypeError: on a keyword that is not a :class:`TrainConfig` field.
        ValueError: on an empty loader, or a checkpoint from a run with another step count
            (naming the file).
    """
    cfg = TrainConfig.resolve(config, **overrides)
    return Trainer(model, objective, cfg, knobs=knobs, extra_params=extra_params).fit(
        train_loader, val_loader)
