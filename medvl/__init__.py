"""medvl: biomedical papers -> vision-language training data and CLIP models."""

__version__ = "0.1.0"
