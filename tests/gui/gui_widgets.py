"""Where Blender drew a widget, found from the pixels of a grab (Python cannot ask): rows of aligned
buttons, the lines of text in a menu, the highlighted menu entry under the pointer.

Used by the scenarios inside the windowed Blender; pixels are gui_lib.grab_pixels() results.
"""

from __future__ import annotations

import gui_lib as g


def row_buttons(pixels, color, min_width: int = 200):
    """The buttons of one aligned row (Import Again, Show Asset, the follow-ups, ...) in a sidebar grab.

    Bands of the operator-button colour; in each, the row just inside its top edge (above the icons and
    the text) is cut into runs of that colour by the lines between aligned buttons. Returns
    [(y_middle, [(x0, x1), ...])] for every band with at least five buttons.
    """
    import numpy as np

    w, h, raw = pixels
    px = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3).astype(np.int16)
    rows = []
    for y0, y1, x0, x1 in g.find_bands(pixels, color, min_fraction=0.3):
        if not 12 <= y1 - y0 + 1 <= 40 or x1 - x0 < min_width:
            continue
        line = (np.abs(px[y0 + 1] - np.array(color, dtype=np.int16)) <= 2).all(axis=1)
        runs, start = [], None
        for x, on in enumerate([*line.tolist(), False]):
            if on and start is None:
                start = x
            elif not on and start is not None:
                if x - start >= 6:
                    runs.append((start, x - 1))
                start = None
        if len(runs) >= 5:
            rows.append(((y0 + y1) // 2, runs))
    return rows


def text_lines(pixels, background, min_gap: int = 3):
    """(y0, y1) of the lines of text in a grab of a menu: rows with pixels far from the background."""
    import numpy as np

    w, h, raw = pixels
    px = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3).astype(np.int16)
    inked = (np.abs(px - np.array(background, dtype=np.int16)).max(axis=2) > 60).sum(axis=1) >= 3
    lines, start, gap = [], None, 0
    for y, on in enumerate([*inked.tolist(), False]):
        if on:
            start = y if start is None else start
            gap = 0
        elif start is not None:
            gap += 1
            if gap >= min_gap:
                lines.append((start, y - gap))
                start, gap = None, 0
    return [ln for ln in lines if 6 <= ln[1] - ln[0] + 1 <= 24]


def hovered_entry(pixels, x: int, y: int, menu_bg, tolerance: int = 3):
    """(y0, y1, x0, x1) of the highlighted menu entry under the point, or None when the point is on the
    menu's background. Along the row, the entry ends where the menu's own background begins (its text
    is lighter); up and down, its left edge (before the icon) keeps the highlight's colour."""
    w, h, raw = pixels

    def at(i, j):
        return tuple(raw[3 * (j * w + i):3 * (j * w + i) + 3])

    def is_bg(c):
        return max(abs(a - b) for a, b in zip(c, menu_bg)) <= tolerance

    if is_bg(at(x, y)):
        return None
    x0, x1 = x, x
    while x0 > 0 and not is_bg(at(x0 - 1, y)):
        x0 -= 1
    while x1 < w - 1 and not is_bg(at(x1 + 1, y)):
        x1 += 1
    if x0 == 0 or x1 == w - 1:
        return None  # not inside a menu
    colour = at(x0 + 1, y)
    y0, y1 = y, y
    while y0 > 0 and at(x0 + 1, y0 - 1) == colour:
        y0 -= 1
    while y1 < h - 1 and at(x0 + 1, y1 + 1) == colour:
        y1 += 1
    return y0, y1, x0, x1
