"""Benchmark (not a test): open an Asset Browser on the "Meshy" library of N models, time until the previews show.

Run by scripts/bench_assets.py inside the windowed Blender (see gui_lib); the library is at
/in/library (read-only), made of converted model.blend files whose previews are the local server's
thumbnails (a tinted card on a light background). The screen is grabbed in a loop (on a thread of
its own) from the moment the Asset Browser is pointed at the library; a tile counts as shown once its
light background is drawn. Writes the timeline to result.json ("data").
"""

import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.environ.get("GB_IN", "/in"))
import bpy
import gui_lib as g
import numpy as np

THUMB_BACKGROUND = (235, 235, 240)
STABLE_SECONDS = 3.0
LIMIT_SECONDS = 120.0


def grab(rect) -> np.ndarray:
    """The rectangle's pixels straight from the X server (cropped by `import` itself: quicker than a full grab)."""
    x, y, w, h = map(int, rect)
    r = subprocess.run(["import", "-window", "root", "-crop", f"{w}x{h}+{x}+{y}", "-depth", "8", "rgb:-"],
                       capture_output=True, timeout=30)
    if r.returncode == 0 and len(r.stdout) == w * h * 3:
        raw = r.stdout
    else:
        w, h, raw = g.grab_pixels(rect)
    return np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3).astype(np.int16)


def shown_tiles(px: np.ndarray) -> int:
    """Tiles whose preview is drawn, found as runs of the thumbnails' light background."""
    mask = (np.abs(px - np.array(THUMB_BACKGROUND, dtype=np.int16)) <= 6).all(axis=2)

    def runs(line):
        out, start = [], None
        for i, on in enumerate([*line.tolist(), False]):
            if on and start is None:
                start = i
            elif not on and start is not None:
                if i - start >= 16:  # a preview, not a stray pixel of text
                    out.append((start, i))
                start = None
        return out

    return sum(len(runs(mask[:, x0:x1].sum(axis=1) > 8)) for x0, x1 in runs(mask.sum(axis=0) > 8))


class Grabber(threading.Thread):
    """Grabs the screen in a loop beside Blender's main loop (a grab takes a while under software GL;
    on the main thread it would hold back the very drawing it measures). No bpy here."""

    def __init__(self, rect, t0):
        super().__init__(daemon=True)
        self.rect, self.t0, self.stop = rect, t0, threading.Event()
        self.timeline: list[tuple[float, float, int]] = []  # (grab started, grab ended, tiles shown)

    def run(self):
        while not self.stop.is_set():
            started = time.monotonic() - self.t0
            tiles = shown_tiles(grab(self.rect))
            self.timeline.append((round(started, 3), round(time.monotonic() - self.t0, 3), tiles))


def scenario():
    yield 0.5
    library = os.path.join(os.environ.get("GB_IN", "/in"), "library")
    models = len([d for d in os.listdir(library) if os.path.isfile(os.path.join(library, d, "model.blend"))])
    g.addon_prefs().library_dir = library
    entry = g.addon("api").add_asset_library()
    g.check("library_added", entry.name == "Meshy", entry)
    win = g.main_window()
    area = g.biggest_area(win, "VIEW_3D")
    area.type = "FILE_BROWSER"
    area.ui_type = "ASSETS"
    yield 1.0
    params = area.spaces.active.params
    g.require("asset_browser_open", params is not None, area.ui_type)
    params.display_size = 128 if isinstance(params.display_size, int) else "LARGE"
    params.asset_library_reference = "LOCAL"  # the current file (no assets): nothing loads before the clock starts
    yield 1.0
    main = g.find_region(area, "WINDOW")
    rect = g.x11_rect(win, main)
    before = shown_tiles(grab(rect))
    t0 = time.monotonic()
    grabber = Grabber(rect, t0)
    grabber.start()
    params.asset_library_reference = "Meshy"
    area.tag_redraw()
    best, best_at = 0, None
    while time.monotonic() - t0 < LIMIT_SECONDS:
        yield 0.1
        area.tag_redraw()
        timeline = list(grabber.timeline)
        if timeline and timeline[-1][2] > best:
            best, best_at = timeline[-1][2], timeline[-1]
        elif best and timeline[-1][0] - best_at[1] >= STABLE_SECONDS:
            break
    grabber.stop.set()
    grabber.join(timeout=30)
    timeline = grabber.timeline
    first = next(((a, b) for a, b, n in timeline if n > 0), None)
    g.data("bench", {
        "models": models,
        "tiles_shown_before": before,
        "visible_tiles_with_preview": best,
        # shown between the start of the last grab without it and the end of the first grab with it:
        "first_preview_s": first and [max([a for a, _b, n in timeline if n == 0 and a < first[0]] or [0.0]), first[1]],
        "all_visible_previews_s": best_at and [
            max([a for a, _b, n in timeline if n < best and a < best_at[0]] or [0.0]), best_at[1]],
        "grab_seconds": round(sum(b - a for a, b, _n in timeline) / max(1, len(timeline)), 3),
        "timeline": timeline,
        "blender": bpy.app.version_string,
    })
    g.check("previews_shown", best > 0, f"{best} tiles")
    g.screenshot("asset_browser_100", g.x11_rect(win, area))


g.run("bench_asset_browser", scenario, deadline=300.0)
