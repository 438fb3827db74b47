"""Panel and letter policy for one figure image: which panels, in which order, with which letters.

The parse stage (medvl.parse) renders a figure and calls :func:`panels_and_letters` with the
figure's pixels, the placed-image boxes (when the figure is made of several images), the panel
letters printed as PDF text (:func:`text_letter_hits`) and the letters its caption names
(:func:`caption_letters`).  The building blocks (gutter cuts, seams, letter matching, OCR) live in
medvl.pdf.panels and medvl.pdf.ocr; this module decides how they combine.
"""

from __future__ import annotations

from typing import Any


def caption_letters(caption: str | None) -> list[str]:
    """The panel letters a caption names (the core rule splitter; "_shared" and positional labels
    such as "left" are not letters), upper-case, in order, each once."""
    if not caption:
        return []
    from medvl.split.rules import split_caption

    out: list[str] = []
    for sc in split_caption(caption):
        lab = sc.label.strip()
        if len(lab) == 1 and lab.isalpha() and lab.upper() not in out:
            out.append(lab.upper())
    return out


def panels_and_letters(rgb: Any, image_rects_px: list[tuple[int, int, int, int]] | None,
                       text_letters: list[Any], ocr: str, has_raster: bool,
                       expected: list[str] | None = None, hint: dict[str, str] | None = None
                       ) -> tuple[list[Any], dict[str, str]]:
    """Panel boxes (pixels) with letters for one figure image, in reading order -- or in letter
    order when every panel has a letter (:func:`medvl.pdf.panels.letter_order`: a figure lettered
    down its columns is stored A, B, C ..., not row by row).

    ``expected``: the letters the caption names (:func:`caption_letters`); when fewer panels were
    found, finer splits are tried (:func:`medvl.pdf.panels.hinted_split`) and an accepted one is
    described in ``hint["panel_hint"]``.
    """
    from medvl.pdf import panels as P

    from_pixels = not image_rects_px
    if image_rects_px:
        boxes = image_rects_px
    else:
        boxes = P.panels_from_pixels(rgb)
    hits = P.plausible_letters(text_letters)
    tools: dict[str, str] = {}
    n_exp = len(expected or [])
    anchored = False
    if (not hits and from_pixels and ocr != "never" and n_exp >= 2
            and (len(boxes) if len(boxes) >= 2 else 1) < n_exp):
        # letters burnt into the pixels of a figure split into fewer panels than its caption
        # names: the caption's letters found anywhere in the image are the anchors
        from medvl.pdf.ocr import find_letter_anchors, tesseract_version

        if tesseract_version():
            tools["tesseract"] = tesseract_version() or ""
            hits = find_letter_anchors(rgb, list(expected or []))
            anchored = bool(hits)
    elif not hits and from_pixels and ocr != "never" and n_exp >= 2 and len(boxes) > n_exp:
        # more gutter cells than the caption names and no letter in the text layer: the cells
        # may be parts of panels (a column of three micrographs under one burnt-in "(b)", lanes
        # of a gel under "B"); when every caption letter is found in the pixels and the cells
        # group under them into one panel per letter, the groups are the panels
        from medvl.pdf.ocr import find_letter_anchors, tesseract_version

        if tesseract_version():
            tools["tesseract"] = tesseract_version() or ""
            found_hits = find_letter_anchors(rgb, list(expected or []))
            if len(found_hits) == n_exp:
                grouped = P.group_cells([tuple(b) for b in boxes], found_hits)
                if grouped and len(grouped) == n_exp:
                    boxes, hits, anchored = grouped, found_hits, True
    if len(hits) >= 2 and len(boxes) < len(hits) and from_pixels:
        # fewer gutter cells than printed letters (panels closer than a gutter): the letters are
        # anchors, and the pieces of a fine cut group under them
        for make in (lambda: P.group_cells(P.fine_cells(rgb), hits), lambda: P.anchor_grid(rgb, hits)):
            grouped = make()
            if grouped and len(grouped) == len(hits) and (not anchored or P.plausible_cells(rgb, grouped)):
                boxes = grouped
                break
    if hits and len(boxes) > len(hits):
        # more images / gutter cells than printed letters: a panel is the group of cells of a letter
        grouped = P.group_cells([tuple(b) for b in boxes], hits)
        if grouped:
            boxes = grouped
    hinted = False
    found = len(boxes) if len(boxes) >= 2 else 1
    if n_exp >= 2 and found < n_exp and len(hits) <= n_exp:
        # the caption names more lettered panels than were found (panels closer than a gutter,
        # touching photographs): finer splits, never more panels than the caption names
        res = P.hinted_split(rgb, n_exp, found, hits, current=[tuple(b) for b in boxes],
                             expected_letters=list(expected or []))
        if res is not None and (from_pixels or len(res[0]) == n_exp):
            boxes, step = res
            hinted = True
            if hint is not None:
                hint["panel_hint"] = f"caption names {n_exp} ({','.join(expected or [])}); {found} -> {len(boxes)} panels ({step})"
    order = P.reading_order(boxes)
    pboxes = [P.PanelBox(bbox=tuple(int(v) for v in boxes[i])) for i in order]
    if len(pboxes) < 2:
        return [], tools
    if hits:
        P.attach_letters(pboxes, hits)
    # letters as pixels: raster figures, and vector figures whose caption names letters that the
    # text layer does not have (letters drawn as paths: the render is read like a raster)
    want_ocr = ocr == "always" or (ocr == "auto" and (not hits or anchored) and (has_raster or n_exp >= 2))
    if want_ocr and any(p.label is None for p in pboxes):
        from medvl.pdf.ocr import read_panel_letters_and_hits, tesseract_version

        tv = tesseract_version()
        if tv:
            tools["tesseract"] = tv
            have = {p.label for p in pboxes if p.label}
            labels, ocr_hits = read_panel_letters_and_hits(rgb, [p.bbox for p in pboxes])
            for p, lab in zip(pboxes, labels):
                if p.label is None and lab is not None and lab[0] not in have:
                    p.label, p.label_source = lab
            if not hits and n_exp == len(pboxes) and not any(p.label for p in pboxes):
                # the caption names one letter per panel and none was read at the panels' corners
                # (an "(a)" printed under a chart's tick labels, beyond the corner windows): the
                # caption's letters found anywhere in the image, when every one is found and
                # each sits by its own panel
                from medvl.pdf.ocr import find_letter_anchors

                found_hits = find_letter_anchors(rgb, list(expected or []))
                if len(found_hits) == n_exp:
                    trial = P.letters_by_place([p.bbox for p in pboxes], found_hits)
                    if trial is not None:
                        pboxes = trial
            if from_pixels and not hits and not hinted and len(ocr_hits) >= 2 and len(pboxes) > len(ocr_hits) + 1:
                # more gutter cells than letters read (Nature-style "a" over two stacked images):
                # the cells group under the letters, as for printed text letters
                grouped = P.group_cells([p.bbox for p in pboxes], ocr_hits)
                if grouped and len(grouped) == len(ocr_hits):
                    pboxes = [P.PanelBox(bbox=tuple(int(v) for v in grouped[i])) for i in P.reading_order(grouped)]
                    P.attach_letters(pboxes, ocr_hits)
    if any(p.label for p in pboxes):
        P.fill_by_order(pboxes)
    elif from_pixels and not hinted and P.unsupported_graphics_split(rgb, [p.bbox for p in pboxes]):
        # no letter supports more than one panel and the cells look like parts of one chart or
        # diagram (a flowchart cut at an arrow): one panel
        return [], tools
    return P.letter_order(pboxes), tools


def panel_check(panels: list[Any], expected: list[str] | None) -> str | None:
    """Why a figure's panels may be wrong, for align and the report (None: nothing to doubt).

    ``count_differs``: the caption names N lettered panels and another number was found (1 = the
    figure was not split); ``letters_missing``: some panels of a lettered figure carry no letter;
    ``letters_differ``: the letters found are not the caption's.
    """
    exp = [x.upper() for x in expected or []]
    n = len(panels) if len(panels) >= 2 else 1
    got = [p.label for p in panels]
    out = []
    if len(exp) >= 2 and n != len(exp):
        out.append(f"count_differs: caption names {len(exp)} ({','.join(exp)}), found {n}")
    if n >= 2 and (exp or any(got)) and any(x is None for x in got):
        out.append(f"letters_missing: {sum(1 for x in got if x is None)} of {n} panels")
    if exp and any(got) and any(x is not None and x not in exp for x in got):
        out.append("letters_differ: " + ",".join(x or "-" for x in got) + " vs caption " + ",".join(exp))
    return "; ".join(out) or None


def pixel_separation(rgb: Any, clip: tuple, zoom: float, size: tuple[int, int]) -> Any:
    """separated(a, b) for two touching placed images (PDF rects): a line or seam between them in the pixels."""
    from medvl.pdf import panels as P

    grey = P._grey(rgb)

    def separated(a: tuple, b: tuple) -> bool:
        return P.tiles_separated(grey, P.to_pixels(a, (clip[0], clip[1]), zoom, size),
                                 P.to_pixels(b, (clip[0], clip[1]), zoom, size))

    return separated


def text_letter_hits(page: Any, bbox: tuple, clip: tuple, zoom: float, size: tuple[int, int],
                      respace: bool = False) -> list[Any]:
    from medvl.pdf.panels import LetterHit, letter_of, to_pixels
    from medvl.pdf.words import words_in

    hits = []
    for w in words_in(page, bbox, respace):
        letter = letter_of(w[4])
        if letter is None:
            continue
        wb = (w[0], w[1], w[2], w[3])
        hits.append(LetterHit(letter=letter, bbox=to_pixels(wb, (clip[0], clip[1]), zoom, size), source="pdf_text",
                              raw=w[4]))
    return hits
