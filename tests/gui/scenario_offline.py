"""Online access off (Preferences > System > Network): the Generate buttons are disabled, the reason shown.

Runs inside the windowed Blender (see gui_lib); the local server is given but must see no request at
all (the pytest side checks). Steps:
  1. online access off, a key and an image at hand (so only online access stands in the way);
  2. both sidebars on the Meshy tab: the operators' poll() is False in the panels' own contexts, the
     panels' draw() computed the reason ("Online access is off ... Preferences > System > Network");
  3. pixels: the Generate button is drawn disabled (not in the enabled button colour); hovering it shows
     the tooltip with the reason (screenshots);
  4. clicking it does nothing: no job, no request.
"""

import os
import sys

sys.path.insert(0, os.environ.get("GB_IN", "/in"))
import bpy
import gui_lib as g


def scenario():
    yield 0.5
    g.set_online(False)
    g.check("online_access_off", not bpy.app.online_access, f"bpy.app.online_access={bpy.app.online_access}")
    addon = g.addon("blender.addon")
    reasons = []
    real_reason = addon.unavailable_reason

    def recording_reason(context=None):
        reason = real_reason(context)
        reasons.append(reason)
        return reason

    addon.unavailable_reason = recording_reason  # ui.py and the polls look it up on each call
    for name in ("MESHY_PT_main", "MESHY_PT_image_editor"):
        g.count_draws(name)

    win = g.main_window()
    v3d = g.find_area(win, "VIEW_3D")
    ie = g.split_area(win, v3d, "VERTICAL", 0.42)
    g.set_area_type(ie, "IMAGE_EDITOR")
    photo = g.make_image("offline_photo", 256, 256, hue=0.8)
    ie.spaces.active.image = photo
    bpy.context.scene.meshy.image = photo
    ie_ui = yield from g.open_sidebar_tab(win, ie, "Meshy")
    v3d_ui = yield from g.open_sidebar_tab(win, v3d, "Meshy")
    g.park_pointer()
    yield 1.0

    expected = "Online access is off"
    with bpy.context.temp_override(window=win, area=ie, region=ie_ui):
        ie_poll = bpy.ops.meshy.image_to_3d.poll()
    with bpy.context.temp_override(window=win, area=v3d, region=v3d_ui):
        v3d_poll = bpy.ops.meshy.image_to_3d.poll()
        multi_poll = bpy.ops.meshy.multi_image_to_3d.poll()
        balance_poll = bpy.ops.meshy.refresh_balance.poll()
    g.check("generate_disabled_image_editor", ie_poll is False, f"poll()={ie_poll}")
    g.check("generate_disabled_3d_viewport", v3d_poll is False and multi_poll is False,
            f"image_to_3d.poll()={v3d_poll} multi_image_to_3d.poll()={multi_poll}")
    g.check("balance_refresh_disabled", balance_poll is False, f"poll()={balance_poll}")
    reason = real_reason(bpy.context)
    g.check("reason_text", reason.startswith(expected) and "Preferences > System > Network" in reason, reason)
    g.check("panels_drew_the_reason", g.DRAWS["MESHY_PT_main"] > 0 and g.DRAWS["MESHY_PT_image_editor"] > 0
            and any(r.startswith(expected) for r in reasons),
            f"draws {g.DRAWS}, reasons seen {sorted(set(reasons))}")
    g.screenshot("offline_panels")

    # the button in pixels: nothing in the enabled operator-button colour, but a flat (disabled) band
    pixels = g.grab_pixels(g.x11_rect(win, ie_ui))
    enabled = g.theme_rgb(bpy.context.preferences.themes[0].user_interface.wcol_tool.inner)
    wide_enabled = [b for b in g.find_bands(pixels, enabled, 0.5) if 8 <= b[1] - b[0] + 1 <= 40]
    bands = g.flat_bands(pixels)
    g.data("sidebar_bands", bands)
    g.check("no_enabled_wide_button", not wide_enabled, f"bands in {enabled}: {wide_enabled}")
    unit = 20 * bpy.context.preferences.system.ui_scale  # a button's height (boxes are taller)
    greys = [b for b in bands if max(b[2]) - min(b[2]) <= 4 and b[2] != enabled
             and 0.6 * unit <= b[1] - b[0] + 1 <= 1.3 * unit]
    # the first is the Generate button (drawn disabled); collapsed sub-panel headers below it are flat too,
    # in another grey
    button = greys[0] if greys else None
    g.check("disabled_button_found", button is not None and all(b[2] != button[2] for b in greys[1:]),
            f"button-high flat grey bands (a disabled button, then sub-panel headers): {greys}")
    if button is not None:
        y0, y1, _color = button
        x, y, w, _h = g.x11_rect(win, ie_ui)
        bx, by = x + w // 2, y + (y0 + y1) // 2
        g.mouse_to(bx - 5, by)
        yield 0.1
        g.mouse_to(bx, by)  # hover: Blender shows the tooltip with "Disabled: <reason>"
        yield 1.8
        sw, _sh = g.screen_size()
        g.screenshot("offline_tooltip", (x, max(0, y + y0 - 30), min(sw - x, w + 480), 110))
        g.click(bx, by)  # and a click does nothing
        yield 1.0
        g.check("click_does_nothing", not g.job_views(), f"{len(g.job_views())} jobs")
        g.park_pointer()
    g.check("no_engine_started", g.engine() is None, "the job engine was never created")


g.run("offline", scenario)
