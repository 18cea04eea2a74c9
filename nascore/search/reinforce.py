"""REINFORCE controller (Williams 1992; as used for NAS by Zoph & Le, ICLR 2017).

The policy is factorized: one independent categorical distribution (numpy logits) per decision
of ``space.decisions()``, instead of Zoph & Le's RNN controller; this is the form used by most
NAS benchmarks' REINFORCE baselines (e.g. NAS-Bench-201).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .base import STRATEGIES, Strategy


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


@STRATEGIES.register("reinforce")
@dataclass
class Reinforce(Strategy):
    """Policy gradient over a factorized categorical policy with a moving-average baseline.

    Each step samples ``batch_size`` architectures (one index per decision), scores them as a
    batch, and updates every decision's logits by
    ``lr * mean_b[advantage_b * (onehot(index_b) - softmax(logits))]``. Only decisions the
    architecture uses (``space.active``) are updated: inactive indices do not affect the
    network, so they get no credit.

    Rewards: the objective's ``"score"``. The advantage is ``(r - baseline) / scale``, where
    the baseline is an exponential moving average of rewards (``baseline_decay``) and ``scale``
    a moving average of ``|r - baseline|`` so that the learning rate does not depend on the
    objective's units (proxies range from 1e-3 to 1e30). Failed and rejected samples get the
    worst reward seen so far (none before the first reward). Repeats of seen architectures
    use their earlier score without using the budget.

    **Spending the budget.** A converged policy keeps sampling architectures already seen, so
    after ``patience`` consecutive samples that bring no new evaluation (cached or rejected)
    the samples are drawn from the mixture ``(1 - eps) * policy + eps * uniform`` per
    decision, ``eps`` growing by ``1 / explore_steps`` per widening up to 1 (uniform random
    samples); each new evaluation lowers it again by one step. The policy update is the
    same (the exploration samples are treated as on-policy, as in epsilon-greedy
    exploration). Until the first ``patience`` stalled samples in a row the search is plain
    REINFORCE. ``history.info`` records the samples drawn at each ``eps`` and the widenings.

    Attributes:
        lr: learning rate on the logits.
        batch_size: architectures per policy update.
        baseline_decay: moving-average factor of the baseline and scale.
        entropy: weight of an entropy bonus (0: plain REINFORCE).
        patience: stalled samples in a row before the exploration widens one step.
        explore_steps: widenings until the samples are uniform.
    """

    lr: float = 0.5
    batch_size: int = 8
    baseline_decay: float = 0.9
    entropy: float = 0.0
    patience: int = 20
    explore_steps: int = 4
    name = "reinforce"

    def search(self, space, ev, rng) -> None:
        if self.batch_size < 1:
            raise ValueError(f"reinforce.batch_size must be >= 1, got {self.batch_size}")
        if self.patience < 1 or self.explore_steps < 1:
            raise ValueError(f"reinforce: need patience >= 1 and explore_steps >= 1, got "
                             f"{self.patience}, {self.explore_steps}")
        decisions = space.decisions()
        logits = [np.zeros(len(d)) for d in decisions]
        baseline = None
        scale = None
        worst = math.inf
        level, stall, widenings, first = 0, 0, 0, None
        counts: dict = {}
        while not ev.done:
            probs = [_softmax(z) for z in logits]
            eps = min(1.0, level / self.explore_steps)
            draw = probs if level == 0 else [(1 - eps) * p + eps / len(p) for p in probs]
            idxs = [[int(rng.choice(len(p), p=p)) for p in draw] for _ in range(self.batch_size)]
            archs = [space.decode(ix) for ix in idxs]
            outs = ev.evaluate(archs)
            key = f"{eps:g}"
            counts[key] = counts.get(key, 0) + len(archs)
            for o in outs:
                if o.status in ("ok", "failed"):
                    stall, level = 0, max(0, level - 1)
                elif o.status in ("cached", "rejected"):
                    stall += 1
                    if stall >= self.patience and level < self.explore_steps:
                        stall, level = 0, level + 1
                        widenings += 1
                        if first is None:
                            first = len(ev.history.records)
            ev.history.info = {"samples_by_eps": dict(sorted(counts.items())),
                               "widenings": widenings, "first_widening_at": first}
            rewards = []
            for o in outs:
                r = o.score if o.score is not None and math.isfinite(o.score) else None
                if r is not None:
                    worst = min(worst, r)
                rewards.append(r)
            rewards = [r if r is not None else (worst if math.isfinite(worst) else None)
                       for r in rewards]
            used = [(ix, a, r) for ix, a, o, r in zip(idxs, archs, outs, rewards)
                    if r is not None and o.status != "skipped"]
            if not used:
                continue
            mean_r = float(np.mean([r for _, _, r in used]))
            if baseline is None:
                baseline = mean_r
                scale = float(np.mean([abs(r - baseline) for _, _, r in used]))
            grads = [np.zeros_like(z) for z in logits]
            for ix, arch, r in used:
                adv = (r - baseline) / (scale if scale and scale > 0 else 1.0)
                for k, (i, act) in enumerate(zip(ix, space.active(arch))):
                    if act:
                        g = -probs[k].copy()
                        g[i] += 1.0
                        grads[k] += adv * g
            for k in range(len(logits)):
                step = grads[k] / len(used)
                if self.entropy:
                    p = probs[k]
                    logp = np.log(p + 1e-12)
                    step = step - self.entropy * p * (logp - np.sum(p * logp))
                logits[k] = logits[k] + self.lr * step
            d = self.baseline_decay
            scale = d * scale + (1 - d) * float(np.mean([abs(r - baseline) for _, _, r in used]))
            baseline = d * baseline + (1 - d) * mean_r
