"""Hand-written example captions (not from any paper) shared by the LLM split tests."""

CAPTIONS = [
    ("g1", "Head CT of a patient with a fall. (A) Axial view without contrast. (B) Coronal reconstruction."),
    ("g2", "Spine MRI. (a) Sagittal T2 image. (b) Axial T1 image at the level of the lesion."),
]
