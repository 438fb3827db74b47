"""A framed picture whose neighbour comes within a few pixels of its frame (issue 11): the thin
white channel along the frame's edge is a gutter."""

from __future__ import annotations

import numpy as np

from medvl.pdf import panels as P
from tests.helpers.images import photo, rgb_of


def _renders_2x2() -> np.ndarray:
    """Four unlettered renders on white: a picture top-left, a framed box top-right, and under the
    box a render whose top reaches to 2 px below the frame (no 3-px gutter there)."""
    g = np.full((800, 1100), 255, np.uint8)
    g[10:390, 180:500] = photo(380, 320, seed=1)  # top left
    g[8:10, 580:900] = g[388:390, 580:900] = 0  # the box's frame
    g[8:390, 580:582] = g[8:390, 898:900] = 0
    g[30:370, 600:880] = photo(340, 280, seed=2)  # inside the box
    g[410:790, 10:420] = photo(380, 410, seed=3)  # bottom left
    g[392:790, 660:1090] = 255
    yy, xx = np.mgrid[392:790, 660:1090]
    blob = ((xx - 875) / 215.0) ** 2 + ((yy - 591) / 199.0) ** 2 <= 1.0  # a round render under the box
    g[392:790, 660:1090][blob] = photo(398, 430, seed=4)[blob]
    g[392:396, 840:910] = 60  # its top touches the channel 2 px below the frame
    return rgb_of(g)


def test_a_render_two_pixels_below_a_framed_box_is_a_panel_of_its_own():
    # before: three panels (the box and the render under it were one)
    boxes = sorted(P.panels_from_pixels(_renders_2x2()), key=lambda b: (b[1] > 400, b[0]))
    assert len(boxes) == 4
    top_right, bottom_right = boxes[1], boxes[3]
    assert top_right[3] <= 391 and bottom_right[1] >= 391  # cut at the frame's edge


def test_a_chart_axis_is_not_a_frame_edge():
    # an x axis with its tick labels 2 px under it: an axis line has no line going up at its far end
    g = np.full((400, 600), 255, np.uint8)
    g[20:300, 40:42] = 0  # y axis
    g[300:302, 40:580] = 0  # x axis
    g[100:300, 100:160] = 110  # a bar
    g[304:330, 60:560:40] = 0  # tick labels, 2 px below the axis
    m = P.ink_mask(rgb_of(g))
    assert not P._box_edge(m, 302, 304, above=True)
    g[20:300, 578:580] = 0  # a line at the far end too: a framed box
    assert P._box_edge(P.ink_mask(rgb_of(g)), 302, 304, above=True)
