"""Golden record of the search spaces, the built networks and the strategies' proposals.

``tests/data/golden_space.json`` was written by this module with the code *before* the block
registry and search-space protocol refactor; ``tests/test_golden_space.py``
recomputes it with the current code and compares. It pins, for HybridSegSpace (2D and 3D,
CNN-only and low-stride-attention variants, the example and HCT-Net-like archs) and NB201Space:

* sampled architectures from fixed seeds: ``to_json``, ``arch_id``, ``encode``;
* chains of ``mutate`` from seeded RNGs;
* per network of ``build_model`` under ``torch.manual_seed``: the ``state_dict`` keys and
  shapes (SHA-1 of the listing), and float64 checksums of the initial weights;
* the candidates that every search strategy proposes from a fixed seed;
* each space's ``to_config``, decision names and sizes, and ``log10_size``.

Regenerate (only when a change of these is intended, and say so in the commit)::

    python tests/golden_space.py tests/data/golden_space.json
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any, Dict, List

import numpy as np

N_MUTATIONS = 3


def _nb201_space():
    from nascore.bench.nb201_space import NB201Space  # nascore.search.NB201Space when recorded

    return NB201Space()


def _spaces():
    from nascore.space import HybridSegSpace

    return {
        "default": (HybridSegSpace(), 2),
        "cnn": (HybridSegSpace(block_types=("conv", "mbconv")), 2),
        "attn_s4": (HybridSegSpace(attn_min_stride=4, heads=(2, 4, 8),
                                   widths=((8, 16), (16, 32), (32, 64), (64, 128))), 2),
        "small3d": (HybridSegSpace(resolutions=(32, 48), stem_widths=(4, 8),
                                   widths=((8, 16), (16, 24), (16, 32), (32, 48)),
                                   depths=((1, 2), (1, 2), (1, 2), (1, 2, 3)),
                                   decoder_widths=((16, 8, 8, 4), (32, 16, 8, 8))), 3),
    }


def _plan():
    """(space name, seed, number of sequential samples) to record."""
    return [("default", 0, 12), ("default", 1, 6), ("default", 2, 4), ("cnn", 3, 3),
            ("attn_s4", 4, 3), ("small3d", 5, 3)]


def net_record(arch, spatial_dims: int = 2, seed: int = 0, in_ch: int = 1,
               out_ch: int = 2) -> Dict[str, Any]:
    """Keys/shapes hash and float64 checksums of ``build_model(arch)``'s initial state."""
    import torch

    from nascore.build import build_model

    torch.manual_seed(seed)
    net = build_model(arch, in_ch, out_ch, spatial_dims=spatial_dims)
    sd = net.state_dict()
    listing = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in sd.items())
    s = sq = w = 0.0
    for i, v in enumerate(sd.values()):
        t = v.detach().to(torch.float64)
        ts = float(t.sum())
        s += ts
        sq += float((t * t).sum())
        w += (i + 1) * ts  # order-sensitive: catches tensors of equal shape swapped
    return {"n_keys": len(sd), "keys_sha1": hashlib.sha1(listing.encode()).hexdigest(),
            "n_params": int(sum(v.numel() for v in sd.values())),
            "sum": s, "sumsq": sq, "weighted_sum": w}


def arch_record(space, arch, spatial_dims: int, mut_seed: int, build: bool = True) -> Dict[str, Any]:
    rng = np.random.default_rng(mut_seed)
    muts, a = [], arch
    for _ in range(N_MUTATIONS):
        a = space.mutate(a, rng)
        muts.append(a.arch_id)
    rec = {"json": arch.to_json(), "arch_id": arch.arch_id,
           "encode": [int(v) for v in space.encode(arch)], "mutations": muts,
           "contains": bool(space.contains(arch))}
    if build:
        rec["net"] = net_record(arch, spatial_dims, seed=mut_seed)
    return rec


def _objective(arch) -> float:
    """A deterministic, cheap score from the architecture's id."""
    return int(hashlib.sha1(str(arch.arch_id).encode()).hexdigest()[:8], 16) / 16 ** 8


def strategy_runs(space) -> Dict[str, List[str]]:
    from nascore.search import STRATEGIES

    settings = {"random": {"batch_size": 4}, "evolution": {"population": 6, "sample": 3},
                "reinforce": {"batch_size": 4}, "blockwise": {"beam": 2}}
    out = {}
    for name, cfg in settings.items():
        h = STRATEGIES.get(name)(**cfg).run(space, _objective, 16, np.random.default_rng(7))
        out[name] = [r.arch_id for r in h.records]
    return out


def space_record(space) -> Dict[str, Any]:
    return {"config": json.loads(json.dumps(space.to_config(), default=list)),
            "decisions": [[d.name, d.group, len(d)] for d in space.decisions()],
            "groups": list(space.groups()), "log10_size": space.log10_size()}


def compute() -> Dict[str, Any]:
    """The golden record (see the module docstring)."""
    from nascore.arch import example_arch
    from nascore.seg.baselines import hctnet_like_arch

    spaces = _spaces()
    out: Dict[str, Any] = {"spaces": {k: space_record(s) for k, (s, _) in spaces.items()},
                           "hybrid": [], "fixed": {}}
    k = 0
    for name, seed, n in _plan():
        space, sd = spaces[name]
        rng = np.random.default_rng(seed)
        for _ in range(n):
            arch = space.sample(rng)
            rec = arch_record(space, arch, sd, mut_seed=100 + k)
            rec.update(space=name, seed=seed, in_default=bool(spaces["default"][0].contains(arch)))
            out["hybrid"].append(rec)
            k += 1
    default = spaces["default"][0]
    for label, arch in (("example_cnn", example_arch("cnn")),
                        ("example_hybrid", example_arch("hybrid")),
                        ("hctnet_like", hctnet_like_arch())):
        out["fixed"][label] = {"json": arch.to_json(), "arch_id": arch.arch_id,
                               "net2d": net_record(arch, 2, seed=0),
                               "contains_default": bool(default.contains(arch))}
    out["fixed"]["example_hybrid"]["net3d"] = net_record(example_arch("hybrid", 32), 3, seed=1)
    nb = _nb201_space()
    nbs = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        for _ in range(4):
            a = nb.sample(rng)
            mrng = np.random.default_rng(200 + len(nbs))
            muts, b = [], a
            for _ in range(N_MUTATIONS):
                b = nb.mutate(b, mrng)
                muts.append(b.arch_id)
            nbs.append({"seed": seed, "json": a.to_json(), "arch_id": a.arch_id,
                        "encode": [int(v) for v in nb.encode(a)], "mutations": muts})
    out["nb201"] = {"space": space_record(nb), "archs": nbs}
    out["strategies"] = {"hybrid_default": strategy_runs(default), "nb201": strategy_runs(nb)}
    return out


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/data/golden_space.json"
    with open(path, "w") as f:
        json.dump(compute(), f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote", path)
