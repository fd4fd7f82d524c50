"""The panel's "Show Models in Asset Browser" button -> the Meshy asset library -> an Asset Browser with previews.

Runs inside the windowed Blender (see gui_lib), against the local server. Steps:
  1. no Asset Libraries entry for the model library; the Meshy tab's Jobs panel draws the button;
     it is clicked with xdotool (found by its pixels: the only enabled wide button there, with the panel
     on Reference Photos and nothing selected);
  2. exactly one new entry: "Meshy", the model library folder, Append (Reuse Data);
  3. three jobs (photos of different colours) land; each model.blend is an asset with a preview;
  4. the 3D Viewport becomes an Asset Browser on the "Meshy" library: the previews are drawn (the
     thumbnails' light background appears in the tiles), a screenshot for the README.
"""

import os
import sys
import time

sys.path.insert(0, os.environ.get("GB_IN", "/in"))
import bpy
import gui_lib as g

PHOTOS = {"Teapot": 0.02, "Vase": 0.33, "Lamp": 0.6}
THUMB_BACKGROUND = (235, 235, 240)  # the local server's thumbnails: a tinted card on this colour


def libraries():
    return [(lib.name, lib.path, lib.import_method) for lib in bpy.context.preferences.filepaths.asset_libraries]


def preview_pixels(rect) -> int:
    """How many pixels of the rectangle show a thumbnail's background (none before previews load)."""
    import numpy as np

    w, h, raw = g.grab_pixels(rect)
    px = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3).astype(np.int16)
    return int((np.abs(px - np.array(THUMB_BACKGROUND, dtype=np.int16)) <= 6).all(axis=2).sum())


def set_param(params, names, value):
    for name in names:
        if hasattr(params, name):
            try:
                setattr(params, name, value)
                return name
            except (TypeError, ValueError, AttributeError) as exc:
                g.log(f"params.{name} = {value!r}: {exc}")
    return None


def scenario():
    yield 0.5
    g.set_online(True)
    library = g.use_library()
    win = g.main_window()
    v3d = g.find_area(win, "VIEW_3D")
    bpy.data.objects.remove(bpy.data.objects["Cube"])
    bpy.context.scene.meshy.image = None
    bpy.context.scene.meshy.source = "REFERENCES"  # no Open button: ours is the one enabled wide button
    before = libraries()
    g.data("libraries_before", before)
    g.check("no_meshy_library_before", not any(name == "Meshy" for name, _, _ in before), before)

    # -- 1. the button in the Meshy tab, clicked for real
    status = g.addon("blender.asset_library").status
    g.check("button_state_missing", status(bpy.context) == "missing", status(bpy.context))
    yield from g.open_sidebar_tab(win, v3d, "Meshy")
    g.park_pointer()
    yield 1.0
    g.screenshot("panel_button", g.x11_rect(win, v3d))
    button = g.find_wide_button(win, v3d, min_fraction=0.3)
    g.require("button_found_enabled", button, "no single enabled wide button in the Meshy tab")
    g.click(*button)
    yield from g.wait_until(lambda: len(libraries()) > len(before), 5, "the Asset Libraries entry")

    # -- 2. exactly one entry, ours
    after = libraries()
    added = [entry for entry in after if entry not in before]
    g.check("one_entry_added", len(after) == len(before) + 1 and len(added) == 1, after)
    g.check("entry_is_meshy_append_reuse",
            added and added[0][0] == "Meshy" and os.path.samefile(added[0][1], library)
            and added[0][2] == "APPEND_REUSE", added)
    g.check("button_state_current", status(bpy.context) == "current", status(bpy.context))
    g.park_pointer()
    yield 0.5
    g.click(*button)  # the same place again: now a label, and a second call adds nothing either
    g.addon("api").add_asset_library()
    yield 0.5
    g.check("second_click_adds_nothing", libraries() == after, libraries())
    g.screenshot("panel_after_click", g.x11_rect(win, v3d))

    # -- 3. three models land in the library
    api = g.addon("api")
    jobs = []
    for label, hue in PHOTOS.items():
        img = g.make_image(f"{label}_src", 256, 256, hue=hue)
        path = g.save_png(img, os.path.join(g.WORK, f"{label}.png"))
        bpy.data.images.remove(img)
        jobs.append(api.submit_image(path, label=label))
    eng = g.engine()
    done = {"imported", "failed", "error", "unknown", "canceled", "expired"}
    yield from g.wait_until(lambda: all(str(eng.get(j.id).state) in done for j in jobs), 120,
                            "the three jobs to land", interval=0.25)
    states = {j.view.label: str(j.view.state) for j in jobs}
    g.require("three_models_landed", all(s == "imported" for s in states.values()), states)
    blends = [os.path.join(j.view.folder, "model.blend") for j in jobs]
    g.check("model_blends_exist", all(os.path.isfile(b) for b in blends), blends)
    g.check("libraries_unchanged_by_jobs", libraries() == after, libraries())

    # -- 4. an Asset Browser on the Meshy library, with the previews drawn
    v3d.type = "FILE_BROWSER"
    v3d.ui_type = "ASSETS"
    yield 0.5
    space = v3d.spaces.active
    params = space.params
    for _ in range(20):
        if params is not None:
            break
        yield 0.2
        params = space.params
    g.require("asset_browser_open", params is not None and v3d.ui_type == "ASSETS", v3d.ui_type)
    used = set_param(params, ("asset_library_reference", "asset_library_ref"), "Meshy")
    g.check("asset_browser_on_meshy", used is not None, f"library param: {used}")
    set_param(params, ("display_size",), 128) or set_param(params, ("display_size",), "LARGE")
    main = g.find_region(v3d, "WINDOW")
    t0 = time.monotonic()
    seen = 0
    for _ in range(120):  # previews load on Blender's own file-list job: wait for them to be drawn
        v3d.tag_redraw()
        yield 0.25
        seen = preview_pixels(g.x11_rect(win, main))
        if seen > 3 * 1500:
            break
    g.data("preview_seconds", round(time.monotonic() - t0, 2))
    g.check("previews_drawn", seen > 3 * 1500, f"{seen} thumbnail-background pixels in the browser")
    g.park_pointer()
    yield 1.0
    g.screenshot("asset_browser", g.x11_rect(win, v3d))
    x, y, _w, _h = g.x11_rect(win, v3d)
    g.screenshot("doc_asset_browser", (x, y, 700, 200), colors=128)  # the catalogs and the three previews


g.run("assets", scenario)
