"""PDF figure extraction: captions, figure regions, rendering, panels, panel letters, OCR, overlays.

Imports PyMuPDF lazily inside functions where possible; LayoutParser/tesseract only where used.
"""
