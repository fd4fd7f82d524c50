"""An image in the Image Editor -> the panel's button pressed -> the pump follows the job -> the model is in.

Runs inside the windowed Blender (see gui_lib), against the local server (task ~8 s). Steps:
  1. a photo (made here, saved as a PNG file) is opened in an Image Editor split off the 3D Viewport;
     both sidebars show the "Meshy" tab; PBR on and meshy-6 set in the panel's options;
  2. "Generate 3D Model" is clicked with xdotool (the button found by its pixels; if it cannot be found
     the operator is invoked with the Image Editor's window/area/region, and the verdict says so);
  3. while the job runs: the modal pump is running and its tick() is called by real TIMER events (the
     count rises), the job's progress rises, the Jobs panels are redrawn and the pictures of the progress
     bar change, and pointer moves made with xdotool reach Blender (MOUSEMOVE counted by a modal
     operator of this script);
  4. the model is in the scene in its own collection with the Principled BSDF fully wired; a picture in
     Material Preview; the pump stops once idle;
  5. Ctrl+Z (xdotool, pointer over the viewport) removes the import in one step, the rest stays.
"""

import math
import os
import sys
import time

sys.path.insert(0, os.environ.get("GB_IN", "/in"))
import itertools

import bpy
import gui_lib as g
from mathutils import Euler, Vector

EXPECTED_LINKS = {
    "Base Color": "sRGB",
    "Metallic": "Non-Color",
    "Roughness": "Non-Color",
    "Normal": "Non-Color",
    "Emission Color": "sRGB",
}


def scenario():
    yield 0.5
    g.set_online(True)
    g.use_library()
    g.EventCounter.register()
    for name in ("MESHY_PT_ima_jobs", "MESHY_PT_v3d_jobs"):
        g.count_draws(name)
    pump = g.addon("blender.pump")
    ticks = {"n": 0, "job": None}
    seen = []  # (state, phase, progress) after each pump step: what the panel draws next
    real_tick = pump.tick

    def counting_tick(*args, **kwargs):
        ticks["n"] += 1
        result = real_tick(*args, **kwargs)
        view = g.engine().get(ticks["job"]) if ticks["job"] and g.engine() else None
        if view is not None:
            now = (str(view.state), view.phase, round(view.progress, 4))
            if not seen or seen[-1] != now:
                seen.append(now)
        return result

    pump.tick = counting_tick  # the modal operator looks tick() up on every TIMER event

    # -- 1. the photo in the Image Editor, both sidebars on the Meshy tab
    win = g.main_window()
    v3d = g.find_area(win, "VIEW_3D")
    ie = g.split_area(win, v3d, "VERTICAL", 0.42)
    g.set_area_type(ie, "IMAGE_EDITOR")
    if ie.x > v3d.x:
        ie, v3d = v3d, ie
        g.set_area_type(ie, "IMAGE_EDITOR")
        g.set_area_type(v3d, "VIEW_3D")
    path = g.save_png(g.make_image("photo_src", 512, 512, hue=0.07), os.path.join(g.WORK, "vase_photo.png"))
    bpy.data.images.remove(bpy.data.images["photo_src"])
    photo = bpy.data.images.load(path)
    ie.spaces.active.image = photo
    s = bpy.context.scene.meshy
    s.image, s.enable_pbr, s.ai_model = photo, True, "meshy-6"
    bpy.data.objects.remove(bpy.data.objects["Cube"])  # as every Blender user does first
    bpy.context.scene.eevee.taa_samples = 4  # Material Preview on a software GL: fewer samples to wait for
    ie_ui = yield from g.open_sidebar_tab(win, ie, "Meshy")
    yield from g.open_sidebar_tab(win, v3d, "Meshy")
    with bpy.context.temp_override(window=win, area=ie, region=g.find_region(ie, "WINDOW")):
        bpy.ops.image.view_all(fit_view=False)
    g.undo_push("Open the photo")  # what opening it by hand would have left on the undo stack
    before = sorted(o.name for o in bpy.data.objects)
    g.park_pointer()
    yield 1.0
    g.check("panel_shows_image_preview", photo.preview is not None,
            "the panels drew the photo's preview (issue 4: 'with a preview of what will be sent')" if photo.preview
            else "photo.preview is None after the panels drew: ui.draw_image_preview() shows a preview only when "
            "one exists already, so the panel shows none (create it, e.g. layout.icon(image))")
    g.screenshot("panel_before", g.x11_rect(win, ie))
    g.screenshot("doc_panel_before", g.x11_rect(win, ie), colors=256)

    # -- 2. press the button
    g.EventCounter.start(win, v3d)
    button = g.find_wide_button(win, ie)
    submitted_by = ""
    eng_jobs = lambda: g.job_views()  # noqa: E731
    if button:
        g.data("button_at", button)
        g.click(*button)
        try:
            yield from g.wait_until(lambda: eng_jobs(), 4, "a job after the click")
            submitted_by = "xdotool click on the panel button"
        except g.ScenarioFailed:
            g.log("the click did not submit a job; invoking the operator instead")
    if not submitted_by:
        with bpy.context.temp_override(window=win, area=ie, region=ie_ui):
            r = bpy.ops.meshy.image_to_3d("INVOKE_DEFAULT")
        g.log(f"meshy.image_to_3d INVOKE_DEFAULT -> {r}")
        yield from g.wait_until(lambda: eng_jobs(), 4, "a job after invoking the operator")
        submitted_by = "operator invoked with the Image Editor's context"
    g.data("submitted_by", submitted_by)
    g.check("submitted", True, submitted_by)
    job_id = ticks["job"] = eng_jobs()[0].id
    eng = g.engine()

    # -- 3. while it runs
    g.park_pointer()
    samples, moves = [], 0
    shots = {}
    cx, cy = g.x11_center(win, g.find_region(v3d, "WINDOW"), dx=-150)
    t0 = time.monotonic()
    draws0 = sum(g.DRAWS.values())
    while True:
        view = eng.get(job_id)
        samples.append({"t": round(time.monotonic() - t0, 2), "state": str(view.state), "phase": view.phase,
                        "progress": round(view.progress, 4), "pump": pump.is_running(), "ticks": ticks["n"]})
        if view.state == "imported" or view.state in ("failed", "error", "canceled", "expired", "unknown"):
            break
        if time.monotonic() - t0 > 60:
            raise g.ScenarioFailed(f"job still {view.state} after 60 s")
        # the user keeps working: the pointer moves over the viewport
        a = moves * 0.7
        g.mouse_to(cx + int(120 * math.cos(a)), cy + int(80 * math.sin(a)))
        moves += 1
        if view.state == "in_progress" and 0.25 <= view.progress <= 0.6 and "mid" not in shots:
            g.park_pointer()
            shots["mid"] = (view.progress, g.grab_pixels(g.x11_rect(win, ie_ui)))
            g.screenshot("panel_progress", g.x11_rect(win, ie))
            g.screenshot("doc_panel_progress", g.x11_rect(win, ie), colors=256)
            g.screenshot("during_job")
        elif "late_due" in shots and "late" not in shots:
            # a step later than the reading that triggered it: Blender has redrawn the sidebar since
            shots["late"] = (shots["late_due"], g.grab_pixels(g.x11_rect(win, ie_ui)))
        elif "mid" in shots and "late_due" not in shots and view.progress >= shots["mid"][0] + 0.2 and (
                view.state == "in_progress"):
            g.park_pointer()
            shots["late_due"] = view.progress
        yield 0.25
    draws = sum(g.DRAWS.values()) - draws0
    counts = g.EventCounter.stop()
    g.data("samples", samples)
    g.data("events_during_job", counts)
    g.data("panel_draws_during_job", dict(g.DRAWS))
    view = eng.get(job_id)
    g.require("job_imported", view.state == "imported", f"{view.state}: {view.phase} {view.error}")

    active = [x for x in samples if x["state"] not in ("imported", "ready", "importing")]
    g.check("pump_running_while_job_active", active and all(x["pump"] for x in active),
            f"{sum(x['pump'] for x in active)}/{len(active)} samples saw the pump running")
    tick_counts = [x["ticks"] for x in samples]
    span = samples[-1]["t"] - samples[0]["t"]
    g.check("pump_ticks_from_timer_events", tick_counts[-1] - tick_counts[0] >= 3 * span and all(
        b >= a for a, b in itertools.pairwise(tick_counts)),
        f"{tick_counts[-1] - tick_counts[0]} tick() calls in {span:.1f} s (0.1 s timer): {tick_counts}")
    g.data("progress_after_each_pump_step", seen)
    progress = [p for state, _phase, p in seen if state != "imported"]
    distinct = [p for i, p in enumerate(progress) if i == 0 or p != progress[i - 1]]
    drops = [(seen[i - 1], seen[i]) for i in range(1, len(seen)) if seen[i][2] < seen[i - 1][2]]
    g.check("progress_rising", len(distinct) >= 3 and not drops and all(0.0 <= p <= 1.0 for p in distinct),
            f"the job's progress after each pump step must only rise; drops: {drops}; values: {distinct}")
    g.check("jobs_panel_redrawn_during_job", draws >= 5, f"{draws} draw() calls of the Jobs panels")
    g.check("progress_pictures_taken", "mid" in shots and "late" in shots, sorted(shots))
    if "mid" in shots and "late" in shots:
        bars = {k: g.progress_bar_fill(shots[k][1]) for k in ("mid", "late")}
        g.data("progress_bar_pixels", {k: {"job_progress": shots[k][0], "fill_px": v[0], "bar_px": v[1],
                                           "drawn_fraction": round(v[2], 3)} for k, v in bars.items()})
        g.check("progress_bar_moves_on_screen", bars["late"][0] > bars["mid"][0] > 0 and all(
            abs(bars[k][2] - shots[k][0]) <= 0.12 for k in bars),
            "filled part of the drawn bar: " + ", ".join(
                f"{bars[k][0]}/{bars[k][1]} px = {bars[k][2]:.2f} at job progress {shots[k][0]:.2f}" for k in bars))
    g.check("ui_responsive_mousemove", counts.get("MOUSEMOVE", 0) > 0,
            f"{counts.get('MOUSEMOVE', 0)} MOUSEMOVE events reached a modal operator during the job "
            f"({moves} xdotool moves)")
    g.check("timer_events_seen", counts.get("TIMER", 0) > 0, f"{counts.get('TIMER', 0)} TIMER events")

    # -- 4. the model
    waited = yield from g.wait_until(lambda: not pump.is_running(), 3, "the pump to stop when idle")
    g.check("pump_stops_when_idle", True, f"stopped {waited:.2f} s after the import")
    objs = g.job_objects(job_id)
    meshes = [o for o in objs if o.type == "MESH"]
    g.require("model_in_scene", meshes, [o.name for o in objs])
    colls = {c.name for o in objs for c in o.users_collection}
    g.check("own_collection", len(colls) == 1 and next(iter(colls)).startswith("vase_photo"), sorted(colls))
    links = g.bsdf_links(meshes[0])
    g.data("bsdf_links", links)
    for name, space in EXPECTED_LINKS.items():
        got = links.get(name) or (links.get("Emission") if name == "Emission Color" else None)
        ok = got is not None and got[1] == space and (name != "Normal" or got[0] == "NORMAL_MAP")
        g.check(f"pbr_{name.lower().replace(' ', '_')}", ok, f"{got}")

    space = v3d.spaces.active
    space.shading.type = "MATERIAL"
    rwin = g.find_region(v3d, "WINDOW")
    main = meshes[0]
    g.data("model", {"name": main.name, "dimensions": list(main.dimensions), "location": list(main.location)})
    space.region_3d.view_perspective = "PERSP"
    space.region_3d.view_rotation = Euler((math.radians(72), 0.0, math.radians(28))).to_quaternion()
    bpy.context.preferences.view.smooth_view = 0  # no view animation to wait for
    with bpy.context.temp_override(window=win, area=v3d, region=rwin):
        bpy.ops.view3d.view_selected(use_all_regions=False)
    r3d = space.region_3d  # room around the model, and keep it clear of the sidebar
    r3d.view_distance *= 1.5
    r3d.view_location += r3d.view_rotation @ Vector((0.3 * max(main.dimensions), 0.0, 0.0))
    g.park_pointer()
    yield 1.0
    stable = []

    def settled():  # Material Preview compiles its shaders on the CPU: wait for a still picture
        stable.append(g.grab_pixels(g.x11_rect(win, rwin)))
        return len(stable) > 1 and g.diff_box(stable[-2], stable[-1]) is None

    waited = yield from g.wait_until(settled, 40, "Material Preview to finish drawing", interval=1.0)
    g.data("material_preview_settled_after_s", round(waited, 1))
    g.screenshot("imported_material", g.x11_rect(win, v3d))
    g.screenshot("doc_imported_material", g.x11_rect(win, v3d), colors=256)
    g.screenshot("after_import")

    # -- 5. Ctrl+Z, as a person does it
    g.mouse_to(*g.x11_center(win, rwin))
    yield 0.3
    g.key("ctrl+z")
    yield from g.wait_until(lambda: not g.job_objects(job_id), 5, "Ctrl+Z to remove the import")
    yield 0.5
    after = sorted(o.name for o in bpy.data.objects)
    g.check("ctrl_z_removes_import", not g.job_objects(job_id), f"objects after Ctrl+Z: {after}")
    g.check("ctrl_z_one_step_rest_intact", after == before and "vase_photo.png" in bpy.data.images
            and bpy.context.scene.meshy.enable_pbr, f"before {before}, after {after}")
    g.screenshot("after_undo")


g.run("submit", scenario)
