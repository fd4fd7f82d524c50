"""The job list's follow-up button, pressed for real: a photo of a standing figure -> Rig -> a walking character.

Runs inside the windowed Blender (see gui_lib), against the local server (tasks ~1 s). Steps:
  1. a cut-out photo of a standing figure (made here; taller than wide, so the server's pose check
     takes it for a humanoid) is submitted and lands through the modal pump;
  2. in the 3D Viewport's Meshy tab, the finished job's follow-up button (the icon button after Show
     Asset on the job's row) is found by its pixels and clicked with xdotool: the follow-up menu opens;
  3. its "Rig" entry (the third of the five entries, found by the menu's drawn text lines; the pointer's
     hover highlight confirms the line) is clicked; the Rig dialog opens and its OK button is clicked;
  4. the rig job runs through the pump and lands: an armature, the mesh skinned to it (Armature
     modifier), the actions Walking and Running, Walking active;
  5. a picture for the README: the character in a 3/4 view at the Walking action's widest stride, the
     Dope Sheet's Action Editor below showing the action, the Meshy tab with the job list beside it.
"""

import math
import os
import sys

sys.path.insert(0, os.environ.get("GB_IN", "/in"))
import bpy
import gui_lib as g
import gui_widgets as w
from mathutils import Euler, Vector

SKIN, SHIRT, TROUSERS, SHOES, HAIR = (0.93, 0.72, 0.58), (0.16, 0.42, 0.82), (0.14, 0.16, 0.26), (0.33, 0.19, 0.1), (
    0.22, 0.13, 0.07)
WIDTH, HEIGHT = 200, 320


def figure_image(name: str):
    """A cut-out photo of a person standing in an A pose (transparent around), in the proportions the
    server's skeleton fitting assumes: hips at half height, shoulders at 0.8, arms down and out."""
    import numpy as np

    img = bpy.data.images.new(name, WIDTH, HEIGHT, alpha=True)
    py, px = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    h = HEIGHT - 20.0
    u, v = (px - WIDTH / 2) / h, (py - 8.0) / h  # across and up, in units of the figure's height

    def capsule(a, b, r):
        ax, ay = a
        bx, by = b
        dx, dy = bx - ax, by - ay
        t = np.clip(((u - ax) * dx + (v - ay) * dy) / (dx * dx + dy * dy + 1e-9), 0.0, 1.0)
        return np.hypot(u - ax - t * dx, v - ay - t * dy) - r

    parts = [  # (signed distance, colour), later parts drawn over earlier ones
        (capsule((0.0, 0.57), (0.0, 0.76), 0.105), SHIRT),
        (np.minimum(capsule((0.075, 0.49), (0.085, 0.07), 0.047), capsule((-0.075, 0.49), (-0.085, 0.07), 0.047)),
         TROUSERS),
        (np.maximum(np.abs(u) - 0.115, np.maximum(0.44 - v, v - 0.55)), TROUSERS),
        (np.minimum(capsule((0.085, 0.03), (0.105, 0.025), 0.03), capsule((-0.085, 0.03), (-0.105, 0.025), 0.03)),
         SHOES),
        (capsule((0.0, 0.8), (0.0, 0.87), 0.032), SKIN),
        (np.minimum(capsule((0.125, 0.79), (0.27, 0.54), 0.034), capsule((-0.125, 0.79), (-0.27, 0.54), 0.034)),
         SHIRT),
        (np.minimum(np.hypot(u - 0.283, v - 0.51) - 0.036, np.hypot(u + 0.283, v - 0.51) - 0.036), SKIN),
        (np.hypot(u, v - 0.925) - 0.066, SKIN),
        (np.maximum(np.hypot(u, v - 0.93) - 0.07, 0.95 - v), HAIR),
        (np.minimum(np.hypot(u - 0.024, v - 0.93) - 0.008, np.hypot(u + 0.024, v - 0.93) - 0.008), HAIR),
    ]
    rgb = np.zeros((HEIGHT, WIDTH, 3), dtype=np.float32)
    alpha = np.zeros((HEIGHT, WIDTH), dtype=np.float32)
    pixel = 1.0 / h
    for dist, colour in parts:
        cover = np.clip(0.5 - dist / pixel, 0.0, 1.0)
        rgb = rgb * (1 - cover[..., None]) + np.array(colour, dtype=np.float32) * cover[..., None]
        alpha = np.maximum(alpha, cover)
    light = 0.8 + 0.2 * np.clip(1.0 - np.abs(u) * 3.0, 0.0, 1.0)  # a little roundness, lit from the front
    out = np.zeros((HEIGHT, WIDTH, 4), dtype=np.float32)
    out[..., :3] = np.clip(rgb * light[..., None], 0.0, 1.0) ** 2.2  # sRGB-ish colours into linear pixels
    out[..., 3] = alpha
    img.pixels.foreach_set(out.ravel())
    img.update()
    return img


def recorder(cls, method: str, calls: list):
    """Wrap a registered operator's method so the scenario sees that Blender really called it (and with what)."""
    original = getattr(cls, method)

    def note(self, context):
        calls.append({"job_id": getattr(self, "job_id", ""), "area": context.area.type if context.area else None})

    # Blender passes as many arguments as the function names (no *args): one wrapper per signature.
    if method == "invoke":
        def wrapped(self, context, event):
            note(self, context)
            return original(self, context, event)
    else:
        def wrapped(self, context):
            note(self, context)
            return original(self, context)

    setattr(cls, method, wrapped)


def widest_stride(arm, action) -> int:
    """The frame of the Walking action where the feet are furthest apart (front to back): mid-stride."""
    scene = bpy.context.scene
    first, last = (int(f) for f in action.frame_range)
    best = (-1.0, first)
    for frame in range(first, last + 1):
        scene.frame_set(frame)
        left = arm.matrix_world @ arm.pose.bones["LeftFoot"].head
        right = arm.matrix_world @ arm.pose.bones["RightFoot"].head
        best = max(best, (abs(left.y - right.y), frame))
    return best[1]


def scenario():
    yield 0.5
    g.set_online(True)
    g.use_library()
    bpy.data.objects.remove(bpy.data.objects["Cube"])
    bpy.context.preferences.view.smooth_view = 0  # no view animation to wait for
    api, followup_ops = g.addon("api"), g.addon("blender.followup_ops")
    calls = {"menu": [], "rig_invoke": [], "rig_execute": []}
    recorder(followup_ops.MESHY_OT_followup_menu, "invoke", calls["menu"])
    recorder(followup_ops.MESHY_OT_rig_task, "invoke", calls["rig_invoke"])
    recorder(followup_ops.MESHY_OT_rig_task, "execute", calls["rig_execute"])

    # -- 1. the photo of a standing figure lands
    img = figure_image("walker_src")
    path = g.save_png(img, os.path.join(g.WORK, "walker.png"))
    bpy.data.images.remove(img)
    source = api.submit_image(path, enable_pbr=True)
    done = ("imported", "failed", "error", "unknown", "canceled", "expired")
    yield from g.wait_until(lambda: source.state in done, 90, "the photo's job to land", interval=0.25)
    g.require("source_landed", source.state == "imported", f"{source.state}: {source.view.error}")
    g.data("source", {"job": source.id, "task_id": source.view.task_id})
    source_objects = g.job_objects(source.id)

    # -- 2. the follow-up button on the job's row, clicked
    win = g.main_window()
    v3d = g.find_area(win, "VIEW_3D")
    ui = yield from g.open_sidebar_tab(win, v3d, "Meshy")
    g.park_pointer()
    yield 1.0
    rect = g.x11_rect(win, ui)
    g.screenshot("job_row", rect)
    color = g.theme_rgb(bpy.context.preferences.themes[0].user_interface.wcol_tool.inner)
    rows = w.row_buttons(g.grab_pixels(rect), color)
    g.data("job_rows", rows)
    # The finished job's row: Import Again, Show Asset, Follow-ups, Open Folder, Delete, Remove.
    g.require("job_row_found", len(rows) == 1 and len(rows[0][1]) == 6, f"rows of >= 5 buttons: {rows}")
    y, buttons = rows[0]
    x0, x1 = buttons[2]
    button = (rect[0] + (x0 + x1) // 2, rect[1] + y)
    g.data("followup_button_at", button)
    bpy.context.preferences.view.show_tooltips = False  # no tooltip over the menu (nor in the pictures)
    g.click(*button)
    yield from g.wait_until(lambda: calls["menu"], 5, "the follow-up menu to be invoked by the click")
    g.check("menu_opened_by_click", calls["menu"] == [{"job_id": source.id, "area": "VIEW_3D"}], calls["menu"])
    yield 0.8

    # -- 3. the Rig entry. The menu opens with its first entry (Remesh) under the pointer, highlighted: that
    # band gives the entries' width; the drawn text lines in it from there down are Remesh, Retexture, Rig...
    theme = bpy.context.preferences.themes[0].user_interface
    sw, sh = g.screen_size()
    around = (max(0, button[0] - 250), max(0, button[1] - 80), min(500, sw - max(0, button[0] - 250)),
              min(280, sh - max(0, button[1] - 80)))
    pointer_y = button[1] - around[1]
    grab = g.grab_pixels(around)
    menu_bg = g.theme_rgb(theme.wcol_menu_back.inner)
    lit = w.hovered_entry(grab, button[0] - around[0], pointer_y, menu_bg)
    g.data("menu_highlight", {"menu_background": menu_bg, "entry": lit})
    g.screenshot("followup_menu", around)
    g.require("menu_drawn", lit is not None and lit[3] - lit[2] > 100,
              f"the highlighted entry under the pointer (y0, y1, x0, x1): {lit}")
    y0, y1, x0, x1 = lit
    entries = (around[0] + x0 + 4, around[1] + y0 - 40, x1 - x0 - 8, 40 + 8 * (y1 - y0 + 1))
    lines = w.text_lines(g.grab_pixels(entries), menu_bg)
    first = [i for i, (a, b) in enumerate(lines) if a <= pointer_y - (entries[1] - around[1]) <= b]
    g.data("menu_lines", {"entries_rect": entries, "lines": lines, "under_pointer": first})
    g.require("menu_has_title_and_five_entries", first == [1] and len(lines) >= 6,
              f"text lines in the menu: {lines}, the highlighted one: {first}")
    ly0, ly1 = lines[first[0] + 2]  # Remesh, Retexture, Rig
    entry = (entries[0] + entries[2] // 2, entries[1] + (ly0 + ly1) // 2)
    lit = {}

    def rig_lit():  # the pointer over Rig; Blender redraws the menu with that entry lit (nudged until it does)
        g.mouse_to(entry[0] + len(lit) % 2, entry[1])
        lit[len(lit)] = found = w.hovered_entry(g.grab_pixels(around), x0 + 2, entry[1] - around[1], menu_bg)
        return found is not None and found[0] > y1 + (y1 - y0)

    try:
        yield from g.wait_until(rig_lit, 4, "the Rig entry to light up under the pointer", interval=0.3)
    except g.ScenarioFailed:
        pass
    last = lit[len(lit) - 1]
    g.data("highlighted", last)
    g.check("pointer_highlights_the_rig_line", last is not None and (last[2], last[3]) == (x0, x1) and (
        last[0] > y1 + (y1 - y0)), f"the entry lit under the pointer: {last}; Remesh's was {(y0, y1, x0, x1)}")
    g.screenshot("rig_entry", around)
    g.click(*entry)
    yield from g.wait_until(lambda: calls["rig_invoke"] or calls["rig_execute"], 5, "the Rig operator")
    g.check("rig_chosen_in_menu", [c["job_id"] for c in calls["rig_invoke"]] == [source.id], calls)
    yield 0.8
    g.screenshot("rig_dialog")
    confirmed = ""
    if not calls["rig_execute"]:
        ok_colour = g.theme_rgb(bpy.context.preferences.themes[0].user_interface.wcol_tool.inner_sel)
        wrect = g.x11_window_rect(win)
        oks = [b for b in g.find_bands(g.grab_pixels(wrect), ok_colour, min_fraction=0.02)
               if 12 <= b[1] - b[0] + 1 <= 40 and 40 <= b[3] - b[2] <= 400]
        g.data("ok_buttons", oks)
        if len(oks) == 1:
            oy0, oy1, ox0, ox1 = oks[0]
            ok = (wrect[0] + (ox0 + ox1) // 2, wrect[1] + (oy0 + oy1) // 2)
            g.mouse_to(*ok)
            yield 0.6  # a popup's button takes the press once Blender has seen the pointer over it
            g.click(*ok)
            confirmed = "OK clicked"
            try:
                yield from g.wait_until(lambda: calls["rig_execute"], 3, "the Rig dialog's OK")
            except g.ScenarioFailed:
                confirmed = ""
        if not confirmed:
            g.key("Return")
            confirmed = f"Return pressed (OK buttons found: {oks})"
        yield from g.wait_until(lambda: calls["rig_execute"], 5, "the Rig dialog's OK")
    g.data("dialog_confirmed_by", confirmed or "no dialog")
    g.check("rig_submitted", len(calls["rig_execute"]) == 1, calls)
    rig_jobs = [v for v in g.job_views() if v.kind == "rigging"]
    g.require("one_rig_job", len(rig_jobs) == 1, [(v.kind, v.id) for v in g.job_views()])
    rig = api.Job(rig_jobs[0].id)
    g.park_pointer()

    # -- 4. the rig lands
    yield from g.wait_until(lambda: rig.state in done, 120, "the rig job to land", interval=0.25)
    g.require("rig_landed", rig.state == "imported", f"{rig.state}: {rig.view.error}")
    g.data("rig", {"job": rig.id, "task_id": rig.view.task_id, "source_task_id": source.view.task_id})
    objects = g.job_objects(rig.id)
    arms = [o for o in objects if o.type == "ARMATURE"]
    g.require("armature", len(arms) == 1, [(o.name, o.type) for o in objects])
    arm = arms[0]
    skinned = [o for o in objects if o.type == "MESH" and any(
        m.type == "ARMATURE" and m.object is arm for m in o.modifiers)]
    g.check("skinned_mesh", len(skinned) == 1 and skinned[0].parent is arm,
            [(o.name, [m.type for m in o.modifiers]) for o in objects if o.type == "MESH"])
    tracks = {t.name: t.strips[0].action for t in arm.animation_data.nla_tracks} if arm.animation_data else {}
    g.check("walking_and_running", set(tracks) == {"Walking", "Running"} and {
        a.name for a in tracks.values()} == {"Walking", "Running"}, {k: a.name for k, a in tracks.items()})
    walking = arm.animation_data.action if arm.animation_data else None
    g.require("walking_active", walking is not None and walking == tracks.get("Walking"),
              walking.name if walking else None)

    # -- 5. the README picture: mid-stride, in a 3/4 view, the Action Editor below
    for obj in source_objects:
        obj.hide_set(True)  # the photo's own model stands in the same place
    for obj in objects:
        if obj.type == "MESH" and obj not in skinned:
            obj.hide_set(True)  # the glTF importer's bone shape
    stride = widest_stride(arm, walking)
    bpy.context.scene.frame_set(stride)
    g.data("stride_frame", stride)
    body = skinned[0]
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = arm  # the Action Editor shows the active object's action
    dope = g.split_area(win, v3d, "HORIZONTAL", 0.3)
    if dope.y > v3d.y:  # the Action Editor goes below the viewport
        dope, v3d = v3d, dope
    dope.type = "DOPESHEET_EDITOR"
    dope.ui_type = "DOPESHEET"
    dope.spaces.active.mode = "ACTION"
    dope.spaces.active.dopesheet.show_only_selected = False
    space = v3d.spaces.active
    yield from g.open_sidebar_tab(win, v3d, "Meshy")
    space.shading.type = "SOLID"
    space.shading.color_type = "TEXTURE"
    space.shading.light = "STUDIO"
    space.overlay.show_bones = False  # the character, not its joints
    rwin = g.find_region(v3d, "WINDOW")
    r3d = space.region_3d
    r3d.view_perspective = "PERSP"
    r3d.view_rotation = Euler((math.radians(84), 0.0, math.radians(-50))).to_quaternion()
    with bpy.context.temp_override(window=win, area=v3d, region=rwin):
        body.select_set(True)
        bpy.ops.view3d.view_selected(use_all_regions=False)
        body.select_set(False)
    r3d.view_distance *= 1.25
    # keep the character clear of the sidebar: move the view right by a part of its height
    r3d.view_location += r3d.view_rotation @ Vector((0.25 * body.dimensions.z, 0.0, 0.0))
    with bpy.context.temp_override(window=win, area=dope, region=g.find_region(dope, "WINDOW")):
        bpy.ops.action.select_all(action="DESELECT")  # the keys as they are, not all lit orange
        bpy.ops.action.view_all()
    g.redraw_all()
    g.park_pointer()
    yield 1.5
    stable = []

    def settled():
        stable.append(g.grab_pixels(g.x11_rect(win, rwin)))
        return len(stable) > 1 and g.diff_box(stable[-2], stable[-1]) is None

    yield from g.wait_until(settled, 30, "the viewport to finish drawing", interval=0.8)
    g.screenshot("rigged_walk_full")
    top = g.x11_rect(win, v3d)
    bottom = g.x11_rect(win, dope)
    crop = (top[0], top[1], top[2], bottom[1] + bottom[3] - top[1])
    g.data("picture_rect", crop)
    g.screenshot("rigged_walk", crop, colors=256)
    g.data("character_rect", character_rect(win, v3d, body, crop))


def character_rect(win, area, obj, crop):
    """Where the character is drawn in the picture: its deformed bounds projected, (x, y, w, h) in the crop."""
    from bpy_extras.view3d_utils import location_3d_to_region_2d

    region = g.find_region(area, "WINDOW")
    rx, ry, _rw, rh = g.x11_rect(win, region)
    ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    points = [location_3d_to_region_2d(region, area.spaces.active.region_3d, ev.matrix_world @ Vector(c))
              for c in ev.bound_box]
    xs = [rx + p.x - crop[0] for p in points if p is not None]
    ys = [ry + rh - p.y - crop[1] for p in points if p is not None]
    return [int(min(xs)), int(min(ys)), int(max(xs) - min(xs)), int(max(ys) - min(ys))]

g.run("followup", scenario, deadline=150.0)
