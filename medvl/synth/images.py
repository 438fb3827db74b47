"""Procedurally drawn brain-MRI-like "scans" of six visually distinct classes.

Every scan is a head ellipse (bright skull rim, textured parenchyma, dark ventricles) on a
black background.  The classes add their own shapes:

  tumour         bright round mass with a lighter oedema halo
  hemorrhage     bright crescent along the skull, or a bright irregular blob with a dark rim
  infarct        dark wedge reaching the cortex
  aneurysm       bright vessel lines (a ring with branches) and a small bright round outpouching
  demyelination  several small bright ovals around the ventricles, oriented radially
  normal         nothing more

Position, size, intensity, contrast and noise vary randomly, so a model has to learn the
shapes rather than memorise pixels.  `draw_scan` also returns where the finding lies, so the
caption can name the same side and lobe (radiological convention: image left = patient right).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

CLASSES: tuple[str, ...] = ("tumour", "hemorrhage", "infarct", "aneurysm", "demyelination", "normal")


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1] made by bilinear upsampling of a coarse random grid."""
    grid = rng.uniform(-1.0, 1.0, size=(cells + 1, cells + 1))
    ys = np.linspace(0, cells, h)
    xs = np.linspace(0, cells, w)
    y0 = np.minimum(ys.astype(int), cells - 1)
    x0 = np.minimum(xs.astype(int), cells - 1)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    g00 = grid[y0][:, x0]
    g01 = grid[y0][:, x0 + 1]
    g10 = grid[y0 + 1][:, x0]
    g11 = grid[y0 + 1][:, x0 + 1]
    out = g00 * (1 - fy) * (1 - fx) + g01 * (1 - fy) * fx + g10 * fy * (1 - fx) + g11 * fy * fx
    return out.astype(np.float32)


def _soft(d: np.ndarray, edge: float) -> np.ndarray:
    """1 inside (d < 0), 0 outside, with a linear ramp of width `edge` (in the units of d)."""
    return np.clip(0.5 - d / max(edge, 1e-6), 0.0, 1.0)


def _lobe(ny: float, nx: float) -> str:
    """Lobe name from normalised head coordinates (y down = posterior, image top = anterior)."""
    if ny < -0.35:
        return "frontal lobe"
    if ny > 0.4:
        return "occipital lobe"
    if abs(nx) > 0.45 and ny > -0.15:
        return "temporal lobe"
    return "parietal lobe"


def _side(nx: float) -> str:
    # radiological convention: image left is the patient's right
    return "right" if nx < 0 else "left"


BACKGROUNDS = ("drawn", "mni")


@lru_cache(maxsize=1)
def _mni_axial() -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """The MNI152 T1 template (nilearn's wheel, medvl[real]) as axial slices (z, rows, cols) in [0, 1],
    radiological display, with each slice's brain bounding box (r0, r1, c0, c1)."""
    from medvl.tag.real import mni_volume

    vol = mni_volume()
    z0, z1 = int(0.42 * vol.shape[2]), int(0.72 * vol.shape[2])  # ventricles to upper cerebrum
    sl = np.stack([np.rot90(vol[:, :, z]) for z in range(z0, z1)]).astype(np.float32)
    sl = sl / max(float(np.percentile(sl, 99.5)), 1e-6)
    boxes = []
    for one in sl:
        rows, cols = np.where(one > 0.05)
        boxes.append((int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())))
    return np.clip(sl, 0, 1.2), boxes


def _real_parenchyma(u: np.ndarray, v: np.ndarray, pick: float) -> np.ndarray:
    """A real axial MRI slice mapped onto the drawn head's coordinates (u, v in -0.9..0.9 inside the brain)."""
    slices, boxes = _mni_axial()
    i = min(len(slices) - 1, int(pick * len(slices)))
    sl, (r0, r1, c0, c1) = slices[i], boxes[i]
    rr = np.clip(((v / 0.9 + 1) / 2 * (r1 - r0) + r0).round().astype(int), 0, sl.shape[0] - 1)
    cc = np.clip(((u / 0.9 + 1) / 2 * (c1 - c0) + c0).round().astype(int), 0, sl.shape[1] - 1)
    return sl[rr, cc]


def draw_scan(cls: str, h: int, w: int, rng: np.random.Generator,
              background: str = "drawn") -> tuple[np.ndarray, dict[str, Any]]:
    """Draw one scan of class `cls`, shape (h, w), uint8.  Returns (image, info).

    background "drawn": the procedural parenchyma; "mni": a real axial slice of the MNI152 T1 template
    (medvl[real]) in its place, with the same skull, the same lesions at the same places (the same
    random draws: the ground truth does not change)."""
    if background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; expected one of {', '.join(BACKGROUNDS)}")
    if cls not in CLASSES:
        raise ValueError(f"unknown synthetic class {cls!r}; expected one of {', '.join(CLASSES)}")
    # per-pixel noise comes from its own stream, so that the drawn geometry (and `info`) does
    # not depend on the image size: a small probe draw tells the caption what the big one shows
    noise_rng = np.random.default_rng(int(rng.integers(0, 2**62)))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    s = float(min(h, w))
    cx = w / 2 + rng.uniform(-0.04, 0.04) * w
    cy = h / 2 + rng.uniform(-0.04, 0.04) * h
    ax = rng.uniform(0.36, 0.43) * s  # head semi-axes in pixels
    ay = rng.uniform(0.42, 0.47) * s
    ang = rng.uniform(-0.12, 0.12)
    ca, sa = math.cos(ang), math.sin(ang)
    dx, dy = xx - cx, yy - cy
    u = (ca * dx + sa * dy) / ax  # normalised head coordinates, -1..1 inside the head
    v = (-sa * dx + ca * dy) / ay
    r = np.sqrt(u * u + v * v)
    px = 1.0 / (0.5 * s)  # one pixel in normalised units (roughly)

    img = np.zeros((h, w), np.float32)
    # skull and scalp
    img += 215 * _soft(r - 1.0, 2 * px) * (1 - _soft(r - 0.92, 2 * px))
    brain = _soft(r - 0.9, 2 * px)
    base = rng.uniform(95, 125)
    tex = _smooth_noise(rng, h, w, int(rng.integers(5, 9))) * rng.uniform(8, 16)
    fine = noise_rng.standard_normal((h, w), dtype=np.float32) * np.float32(rng.uniform(3, 8))
    theta = np.arctan2(v, u)
    gyri = np.sin(theta * int(rng.integers(14, 22)) + r * rng.uniform(10, 18)) * 10 * _soft(0.62 - r, 0.08)
    cortex = 18 * _soft(r - 0.88, 2 * px) * _soft(0.66 - r, 0.06)
    # ventricles: two dark mirrored ellipses near the centre
    vw, vh, vo = rng.uniform(0.07, 0.11), rng.uniform(0.22, 0.3), rng.uniform(0.09, 0.14)
    if background == "mni":  # a real slice (its own ventricles); the draws above are made all the same
        real = _real_parenchyma(u, v, float(noise_rng.random()))
        img += brain * (base * 1.6 * real)
    else:
        img += brain * (base + tex + gyri + cortex)
        for sgn in (-1, 1):
            vr = np.sqrt(((u - sgn * vo) / vw) ** 2 + ((v + 0.05) / vh) ** 2)
            img = img * (1 - 0.7 * _soft(vr - 1.0, 0.15))

    info: dict[str, Any] = {"variant": "default"}

    def place(rmax: float) -> tuple[float, float]:
        while True:
            nx, ny = rng.uniform(-rmax, rmax), rng.uniform(-rmax, rmax)
            if nx * nx + ny * ny <= rmax * rmax and abs(nx) > 0.18:
                return nx, ny

    if cls == "tumour":
        nx, ny = place(0.55)
        rad = rng.uniform(0.14, 0.24)
        d = np.sqrt((u - nx) ** 2 + (v - ny) ** 2)
        img += 30 * brain * _soft(d - rad * rng.uniform(1.5, 1.9), 0.12)  # oedema halo
        mass = _soft(d - rad, 2 * px)
        het = _smooth_noise(rng, h, w, 10) * 18
        img = img * (1 - mass) + mass * (rng.uniform(205, 240) + het)
        if rng.random() < 0.35:  # necrotic core, still inside a bright ring
            core = _soft(d - rad * rng.uniform(0.35, 0.55), 2 * px)
            img = img * (1 - 0.45 * core)
        info.update(nx=nx, ny=ny)
    elif cls == "hemorrhage":
        if rng.random() < 0.45:
            sgn = -1 if rng.random() < 0.5 else 1
            shift = rng.uniform(0.12, 0.22)
            inner = np.sqrt((u + sgn * shift) ** 2 + v ** 2) - 0.9  # > 0: outside the shifted circle
            vcut = _soft(np.abs(v) - rng.uniform(0.55, 0.8), 0.08)
            band = brain * _soft(-inner, 2 * px) * vcut
            rim = brain * _soft(np.abs(inner) - 2.5 * px, px) * vcut * (sgn * u > 0)
            img = img * (1 - band) + band * rng.uniform(215, 245)
            img = img * (1 - 0.75 * rim)
            info.update(variant="crescent", nx=float(sgn) * 0.8, ny=0.0)
        else:
            nx, ny = place(0.55)
            rad = rng.uniform(0.1, 0.18)
            d = np.sqrt((u - nx) ** 2 + (v - ny) ** 2) - rad
            for _ in range(int(rng.integers(1, 3))):  # irregular: union of lobes
                ox, oy = rng.uniform(-0.5, 0.5) * rad, rng.uniform(-0.5, 0.5) * rad
                d = np.minimum(d, np.sqrt((u - nx - ox) ** 2 + (v - ny - oy) ** 2) - rad * rng.uniform(0.5, 0.8))
            blob = _soft(d, 2 * px)
            rim = _soft(np.abs(d) - rng.uniform(2.0, 3.5) * px, px)
            img = img * (1 - blob) + blob * rng.uniform(220, 250)
            img = img * (1 - 0.8 * rim)
            info.update(variant="blob", nx=nx, ny=ny)
    elif cls == "infarct":
        a0 = rng.uniform(-math.pi, math.pi)
        half = rng.uniform(0.22, 0.42)
        dang = np.mod(theta - np.float32(a0) + np.float32(math.pi), np.float32(2 * math.pi)) - np.float32(math.pi)
        wedge = brain * _soft(np.abs(dang) - half, 0.05) * _soft(rng.uniform(0.3, 0.45) - r, 0.05)
        img = img * (1 - wedge) + wedge * rng.uniform(30, 55)
        info.update(nx=0.65 * math.cos(a0), ny=0.65 * math.sin(a0))
    elif cls == "aneurysm":
        ring = rng.uniform(0.16, 0.24)
        width = rng.uniform(1.5, 2.5) * px
        d_ring = np.abs(np.sqrt(u * u + (v - 0.05) ** 2) - ring)
        vessels = _soft(d_ring - width, px)
        angles = rng.uniform(0, 2 * math.pi, int(rng.integers(4, 7)))
        for a in angles.tolist():  # straight branches leaving the ring
            ex, ey = math.cos(a), math.sin(a)
            t = np.clip(u * ex + (v - 0.05) * ey, ring, 0.8)
            dl = np.sqrt((u - t * ex) ** 2 + (v - 0.05 - t * ey) ** 2)
            vessels = np.maximum(vessels, _soft(dl - width * 0.8, px) * (u * ex + (v - 0.05) * ey > ring))
        vessels = vessels * brain
        img = img * (1 - vessels) + vessels * rng.uniform(185, 225)
        a = rng.uniform(0, 2 * math.pi)
        nx, ny = (ring + 0.03) * math.cos(a), 0.05 + (ring + 0.03) * math.sin(a)
        if abs(nx) < 0.05:
            nx = 0.06 if nx >= 0 else -0.06
        sac = _soft(np.sqrt((u - nx) ** 2 + (v - ny) ** 2) - rng.uniform(0.05, 0.08), px)
        img = img * (1 - sac) + sac * rng.uniform(235, 255)
        info.update(nx=nx, ny=ny)
    elif cls == "demyelination":
        k = int(rng.integers(4, 10))
        sides = []
        for _ in range(k):
            a = rng.uniform(0, 2 * math.pi)
            rr = rng.uniform(0.3, 0.6)
            ox, oy = rr * math.cos(a), rr * math.sin(a) - 0.05
            la, lb = rng.uniform(0.045, 0.08), rng.uniform(0.02, 0.035)
            # radial orientation: long axis along the direction from the centre
            pu = (u - ox) * math.cos(a) + (v - oy) * math.sin(a)
            pv = -(u - ox) * math.sin(a) + (v - oy) * math.cos(a)
            ov = _soft(np.sqrt((pu / la) ** 2 + (pv / lb) ** 2) - 1.0, 0.25) * brain
            img = img * (1 - ov) + ov * rng.uniform(200, 240)
            sides.append(ox)
        info.update(nx=float(np.mean(sides)), ny=0.0, count=k)
    else:  # normal
        info.update(nx=0.0, ny=0.0)

    # acquisition: contrast, gamma, noise, vignetting
    gain, sigma = np.float32(rng.uniform(0.85, 1.1)), np.float32(rng.uniform(1.5, 4.0))
    img = img * gain + noise_rng.standard_normal((h, w), dtype=np.float32) * sigma
    np.clip(img, 0, 255, out=img)
    gamma = np.float32(rng.uniform(0.85, 1.15))
    img = np.float32(255.0) * np.power(img * np.float32(1 / 255.0), gamma)
    nx, ny = float(info.get("nx", 0.0)), float(info.get("ny", 0.0))
    info["side"] = _side(nx)
    info["lobe"] = _lobe(ny, nx)
    info["loc"] = f"{info['side']} {info['lobe']}"
    info["hemi"] = f"{info['side']} hemisphere"
    return np.clip(img, 0, 255).astype(np.uint8), info
