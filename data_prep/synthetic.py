"""Deterministic brain-like MRI phantoms with tumour-like lesions: the data-free default.

Each patient is a 3D phantom sampled at ``slices_per_patient`` axial positions: an elliptic head
with a skull ring, grey and white matter with a smooth texture, two ventricles in the central
slices, and (for most patients) an irregular lesion with a darker core, a bright rim and an
oedema halo that spans only some slices, so some slices are tumour-free. A smooth multiplicative
bias field and Rician noise are added. The mask is the lesion (core and rim), not the halo.

With ``channels=3`` the channels mimic the LGG order (T1 pre-contrast, FLAIR, T1 post-contrast);
with ``channels=1`` the image is the FLAIR-like channel.

Every record has ``"synthetic": True``; reports that use these data must say so with
:data:`SYNTHETIC_LABEL`. Patient ``p`` depends only on ``(seed, p)`` and the sizes.
"""

from __future__ import annotations

import numpy as np

from .records import make_record

SYNTHETIC_LABEL = "SYNTHETIC phantom data (not real MRI)"

# tissue intensities per channel: T1-pre, FLAIR, T1-post
_TISSUES = ("skull", "csf", "gm", "wm", "oedema", "rim", "core")
_INTENSITY = np.array([
    # skull csf   gm    wm    oed   rim   core
    [0.75, 0.12, 0.45, 0.62, 0.40, 0.50, 0.28],  # T1 pre-contrast
    [0.30, 0.08, 0.50, 0.40, 0.78, 0.92, 0.62],  # FLAIR
    [0.75, 0.12, 0.45, 0.62, 0.42, 0.97, 0.22],  # T1 post-contrast (enhancing rim)
], dtype=np.float32)


def _patient(rng: np.random.Generator, n_slices: int, size: int, with_tumour: bool):
    """Tissue maps ``(S, H, W)`` and the lesion mask of one patient."""
    g = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    y, x = g[:, None], g[None, :]
    z = np.linspace(-0.8, 0.8, n_slices, dtype=np.float32)[:, None, None]
    s = np.sqrt(1 - z ** 2)  # head cross-section shrinks towards the ends

    th = rng.uniform(-0.2, 0.2)
    cx, cy = rng.uniform(-0.05, 0.05, 2)
    u = (x - cx) * np.cos(th) + (y - cy) * np.sin(th)
    v = -(x - cx) * np.sin(th) + (y - cy) * np.cos(th)
    a, b = rng.uniform(0.66, 0.78), rng.uniform(0.78, 0.9)
    r = np.sqrt((u / (a * s)) ** 2 + (v / (b * s)) ** 2)  # (S, H, W); 1 at the brain edge
    phi = np.arctan2(v, u)

    brain = r < 1.0
    skull = (r >= 1.0) & (r < 1.0 + rng.uniform(0.07, 0.11))
    wm = brain & (r * (1 + 0.07 * np.sin(7 * phi + rng.uniform(0, 6.3))) < rng.uniform(0.62, 0.75))
    vs = np.clip(1 - (z / 0.45) ** 2, 0, None)  # ventricles only near the centre
    vw, vh, vx = rng.uniform(0.06, 0.09), rng.uniform(0.18, 0.26), rng.uniform(0.09, 0.13)
    csf = brain & ((((np.abs(u) - vx) / (vw * vs + 1e-6)) ** 2 + (v / (vh * vs + 1e-6)) ** 2) < 1)

    lesion = np.zeros_like(brain)
    rho = np.full(brain.shape, np.inf, dtype=np.float32)
    if with_tumour:
        ang, rad = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.45)
        tx, ty = rad * a * np.cos(ang), rad * b * np.sin(ang)
        tz, rz = rng.uniform(-0.3, 0.3), rng.uniform(0.35, 0.6)
        r0 = rng.uniform(0.12, 0.28)
        rz_slice = r0 * np.sqrt(np.clip(1 - ((z - tz) / rz) ** 2, 0, None))  # (S, 1, 1)
        du, dv = u - tx, v - ty
        psi = np.arctan2(dv, du)
        k = np.arange(2, 6, dtype=np.float32)[:, None, None, None]
        amp = rng.uniform(0.04, 0.14, 4).astype(np.float32)[:, None, None, None] / (k - 1)
        pha = rng.uniform(0, 2 * np.pi, 4).astype(np.float32)[:, None, None, None]
        twist = rng.uniform(-2, 2)
        wobble = 1 + (amp * np.cos(k * psi[None] + pha + twist * z[None])).sum(0)
        rho = np.sqrt(du ** 2 + dv ** 2) / (rz_slice * wobble + 1e-6)
        lesion = brain & (rho < 1.0)
    return r, brain, skull, wm, csf, lesion, rho


def _slices(rng: np.random.Generator, n_slices: int, size: int, channels: int, with_tumour: bool):
    r, brain, skull, wm, csf, lesion, rho = _patient(rng, n_slices, size, with_tumour)
    rows = [1] if channels == 1 else [0, 1, 2]
    tab = _INTENSITY[rows] * rng.uniform(0.92, 1.08, (len(rows), 1)).astype(np.float32)
    g = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    y, x = g[:, None], g[None, :]

    # smooth texture (random low-frequency waves) and bias field, shared by all channels
    tex = np.zeros((size, size), np.float32)
    for _ in range(4):
        f, d, p = rng.uniform(2, 6), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        tex += np.cos(f * (x * np.cos(d) + y * np.sin(d)) + p)
    tex *= 0.02
    c = rng.uniform(-0.12, 0.12, 4)
    bias = 1 + c[0] * x + c[1] * y + c[2] * x * y + c[3] * (x ** 2 - y ** 2)

    oed_w = np.clip((1.7 - rho) / 0.7, 0, 1) * brain * ~lesion  # halo weight, fades outwards
    rim = lesion & (rho > 0.65)
    core = lesion & ~rim
    imgs = np.zeros((n_slices, len(rows), size, size), np.float32)
    for ci in range(len(rows)):
        t = dict(zip(_TISSUES, tab[ci]))
        im = np.where(brain, t["gm"], 0).astype(np.float32)
        im = np.where(wm, t["wm"], im)
        im = np.where(csf, t["csf"], im)
        im = im + brain * tex
        im = im * (1 - oed_w) + t["oedema"] * oed_w
        im = np.where(rim, t["rim"], im)
        im = np.where(core, t["core"], im)
        im = np.where(skull, t["skull"], im)
        imgs[:, ci] = im * bias
    sigma = rng.uniform(0.015, 0.035)
    n1 = rng.standard_normal(imgs.shape, dtype=np.float32) * sigma
    n2 = rng.standard_normal(imgs.shape, dtype=np.float32) * sigma
    imgs = np.clip(np.sqrt((imgs + n1) ** 2 + n2 ** 2), 0, 1)  # Rician noise
    return imgs, lesion.astype(np.uint8)


def make_synthetic(n_patients: int = 12, slices_per_patient: int = 8, size: int = 128,
                   channels: int = 1, seed: int = 0, tumour_free_patients: float = 0.15) -> list[dict]:
    """Seeded synthetic MRI-like records (see the module docstring).

    Args:
        n_patients: number of phantom patients (groups).
        slices_per_patient: axial slices per patient.
        size: image height and width.
        channels: 1 (FLAIR-like) or 3 (T1-pre, FLAIR, T1-post like).
        seed: base seed; patient ``p`` uses ``numpy.random.default_rng([seed, p])``.
        tumour_free_patients: probability that a patient has no lesion at all.

    Returns:
        Records with float32 ``image`` (C, size, size) in [0, 1], uint8 ``mask`` (1, size, size),
        ``id`` ``synth<seed>_<p>_<s>``, ``group`` ``synth<seed>_<p>``, ``has_tumor`` and
        ``synthetic=True``.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if n_patients < 1 or slices_per_patient < 1 or size < 8:
        raise ValueError("need n_patients >= 1, slices_per_patient >= 1 and size >= 8")
    out = []
    for p in range(n_patients):
        rng = np.random.default_rng([seed, p])
        with_tumour = rng.random() >= tumour_free_patients
        imgs, masks = _slices(rng, slices_per_patient, size, channels, with_tumour)
        group = f"synth{seed}_{p:03d}"
        for s in range(slices_per_patient):
            out.append(make_record(imgs[s], masks[s], f"{group}_{s:02d}", group, synthetic=True))
    return out
