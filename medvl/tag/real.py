"""Real images that registry packages ship (no download at run time):

- nilearn's wheel carries the MNI152 (ICBM 2009a nonlinear symmetric) T1 template: a real brain MRI,
  the average of 152 adults' scans (McConnell Brain Imaging Centre, free to use with its notice); read
  with nibabel, sliced in any plane;
- pydicom's test files hold CT_small.dcm (a 128x128 CT slice) and MR_small.dcm (a 64x64 MR slice).

The files are found with importlib, without importing nilearn itself (only nibabel and pydicom are
imported to read them).  Install them with ``pip install 'medvl[real]'``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from medvl.errors import MissingExtra

MNI_T1 = "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


def _package_file(package: str, rel: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtra("tag (real images)", "real", package)
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    if not path.is_file():
        raise MissingExtra("tag (real images)", "real", f"{package} with {rel}")
    return path


def available() -> bool:
    try:
        _package_file("nilearn", MNI_T1)
        _package_file("pydicom", "data/test_files/CT_small.dcm")
        import nibabel  # noqa: F401
    except (MissingExtra, ImportError):
        return False
    return True


def _to_uint8(a: np.ndarray, lo_pct: float = 0.5, hi_pct: float = 99.5) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    lo, hi = np.percentile(a, [lo_pct, hi_pct])
    return (np.clip((a - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)


def mni_volume() -> np.ndarray:
    """The MNI152 T1 template as a (x, y, z) float array (RAS: x left->right, y back->front, z down->up)."""
    import nibabel

    img = nibabel.load(str(_package_file("nilearn", MNI_T1)))
    return np.asarray(img.get_fdata(), dtype=np.float32)


def mni_slice(plane: str = "axial", frac: float = 0.55, volume: np.ndarray | None = None) -> np.ndarray:
    """One slice (uint8, radiological display: the patient's right on the image's left, front at the top)
    at `frac` of the way along the plane's axis."""
    vol = mni_volume() if volume is None else volume
    axis = {"sagittal": 0, "coronal": 1, "axial": 2}[plane]
    i = int(round(frac * (vol.shape[axis] - 1)))
    sl = np.take(vol, i, axis=axis)
    sl = np.rot90(sl)  # rows: anterior/superior at the top
    return _to_uint8(sl)


def dicom_image(name: str = "CT_small.dcm") -> np.ndarray:
    """A pydicom test file's pixels as uint8 (CT in a brain-ish window, MR by percentiles)."""
    import pydicom

    ds = pydicom.dcmread(str(_package_file("pydicom", f"data/test_files/{name}")))
    a = ds.pixel_array.astype(np.float64)
    slope, inter = float(getattr(ds, "RescaleSlope", 1) or 1), float(getattr(ds, "RescaleIntercept", 0) or 0)
    a = a * slope + inter
    if getattr(ds, "Modality", "") == "CT":
        return (np.clip((a + 160) / 400, 0, 1) * 255).astype(np.uint8)  # window 40 / 400 HU
    return _to_uint8(a)
