"""The panel's "Show Models in Asset Browser" button -> the Meshy asset library -> an Asset Browser with previews.

Runs inside the windowed Blender (see gui_lib), against the local server. Steps:
  1. no Asset Libraries entry for the model library; the Meshy tab's Jobs panel draws the button;
     it is clicked with xdotool (found by its pixels: the only enabled wide button there, with the panel
     on Reference Photos and nothing selected);
  2. exactly one new entry: "Meshy", the model library folder, Append (Reuse Data);
  3. three jobs (photos of different colours) land; each model.blend is an asset with a preview;
  4. the 3D Viewport becomes an Asset Browser on the "Meshy" library: the previews are drawn (the
     thumbnails' light background appears in the tiles), a screenshot for the README;
  5. the Asset Browser is split, one half a 3D Viewport again, and the first tile is dragged into it
     with xdotool: the model arrives with its Principled BSDF wired, its images packed.
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


def preview_tiles(rect) -> list[tuple[int, int]]:
    """Screen centres of the tiles whose preview is drawn (their thumbnail's light background), top-left first."""
    import numpy as np

    w, h, raw = g.grab_pixels(rect)
    px = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3).astype(np.int16)
    mask = (np.abs(px - np.array(THUMB_BACKGROUND, dtype=np.int16)) <= 6).all(axis=2)

    def runs(line):
        out, start = [], None
        for i, on in enumerate([*line.tolist(), False]):
            if on and start is None:
                start = i
            elif not on and start is not None:
                if i - start >= 16:  # a preview, not a stray pixel of text
                    out.append((start, i - 1))
                start = None
        return out

    tiles = [(rect[0] + (x0 + x1) // 2, rect[1] + (y0 + y1) // 2)
             for x0, x1 in runs(mask.sum(axis=0) > 8) for y0, y1 in runs(mask[:, x0:x1 + 1].sum(axis=1) > 8)]
    return sorted(tiles, key=lambda t: (t[1], t[0]))


def wait_for_tiles(win, area, count: int, timeout: float = 40.0):
    """Generator: until `count` previews are drawn in the area's file list (Blender loads them on a job)."""
    region = g.find_region(area, "WINDOW")
    deadline, tiles = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        area.tag_redraw()
        yield 0.25
        tiles = preview_tiles(g.x11_rect(win, region))
        if len(tiles) >= count:
            break
    return tiles


def drag(start, end, steps: int = 12):
    """Generator: press at start, move in steps (past Blender's drag threshold), release at end."""
    g.mouse_to(*start)
    yield 0.3
    g.xdo("mousedown", 1)
    yield 0.3
    for i in range(1, steps + 1):
        g.mouse_to(start[0] + (end[0] - start[0]) * i // steps, start[1] + (end[1] - start[1]) * i // steps)
        yield 0.1
    yield 0.4
    g.xdo("mouseup", 1)
    yield 0.5


def model_objects():
    """Objects that came from a Meshy model (tagged with their job), instancing empties included."""
    return {o.name for o in bpy.data.objects if o.get("meshy_job_id") or o.instance_collection}


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
        jobs.append(api.submit_image(path, label=label, enable_pbr=True))
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
    t0 = time.monotonic()
    tiles = yield from wait_for_tiles(win, v3d, len(PHOTOS))
    g.data("preview_seconds", round(time.monotonic() - t0, 2))
    g.check("previews_drawn", len(tiles) == len(PHOTOS), f"previews drawn at {tiles}")
    g.park_pointer()
    yield 1.0
    g.screenshot("asset_browser", g.x11_rect(win, v3d))
    x, y, _w, _h = g.x11_rect(win, v3d)
    g.screenshot("doc_asset_browser", (x, y, 700, 200), colors=128)  # the catalogs and the three previews

    # -- 5. drag the first model from the Asset Browser into a 3D Viewport
    g.split_area(win, v3d, "VERTICAL", 0.5)
    yield 0.5
    browser, viewport = sorted((a for a in win.screen.areas if a.type == "FILE_BROWSER"), key=lambda a: a.x)
    viewport.type = "VIEW_3D"
    yield 1.0
    g.require("browser_beside_a_viewport", viewport.type == "VIEW_3D" and browser.ui_type == "ASSETS",
              [(a.type, a.x) for a in win.screen.areas])
    tiles = yield from wait_for_tiles(win, browser, len(PHOTOS))
    g.require("tile_found", tiles, "no preview tile in the Asset Browser half")
    tile = tiles[0]
    before = model_objects()
    yield from drag(tile, g.x11_center(win, g.find_region(viewport, "WINDOW")))
    yield from g.wait_until(lambda: model_objects() - before, 10, "the dropped model")
    new = [bpy.data.objects[n] for n in model_objects() - before]
    meshes = [o for o in new if o.type == "MESH"]
    for empty in (o for o in new if o.instance_collection):
        meshes += [o for o in empty.instance_collection.all_objects if o.type == "MESH"]
    g.data("dropped", {o.name: (o.type, o.instance_collection.name if o.instance_collection else None) for o in new})
    links = g.bsdf_links(meshes[0]) if meshes else {}
    g.check("drop_gives_the_model", bool(meshes), g.RESULT["data"]["dropped"])
    g.check("dropped_model_pbr_wired", {"Base Color", "Metallic", "Roughness", "Normal"} <= set(links), links)
    images = {n.image for o in meshes for slot in o.material_slots if slot.material
              for n in slot.material.node_tree.nodes if n.type == "TEX_IMAGE" and n.image}
    g.check("dropped_model_images_packed", images and all(i.packed_file is not None for i in images),
            sorted(i.name for i in images))
    g.park_pointer()
    yield 1.0
    g.screenshot("dropped", g.x11_rect(win, viewport))


g.run("assets", scenario)
