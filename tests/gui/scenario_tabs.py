"""The Meshy tab in both sidebars, and the API key masked in the preferences (proved by pixels).

Runs inside the windowed Blender (see gui_lib). Steps:
  1. the key and URL are moved from the environment into the add-on preferences (so the preferences
     look as a user's do), online access on, the balance fetched from the local server;
  2. 3D Viewport: N-panel opened on the "Meshy" tab; the panel's draw() really ran;
  3. an Image Editor (split off the viewport) with a generated image: its "Meshy" tab, drawn too;
  4. Preferences > Add-ons > Meshy (preferences.addon_show): the prefs window is grabbed with key A,
     then key B (same length, other characters): pixel-identical, so the key is masked; a longer key
     changes the pixels (the field is in the picture and follows the key), and so does an API URL of the
     same length (an unmasked field shows its characters).
"""

import os
import sys

sys.path.insert(0, os.environ.get("GB_IN", "/in"))
import bpy
import gui_lib as g

KEY_A = "msy_" + "a1b2c3d4e5f6g7h8i9j0" * 2
KEY_B = "msy_" + "Z9Y8X7W6V5U4T3S2R1Q0" * 2
KEY_LONGER = KEY_A + "xyz"


def scenario():
    yield 0.5
    key = os.environ.pop("MESHY_API_KEY", "")
    url = os.environ.pop("MESHY_API_BASE_URL", "")
    g.require("server_given", key and url, f"url={url!r}")
    prefs = g.addon_prefs()
    prefs.api_key, prefs.api_base_url = key, url
    g.use_library()
    g.set_online(True)
    for name in ("MESHY_PT_main", "MESHY_PT_image_editor"):
        g.count_draws(name)

    win = g.main_window()
    runtime = g.addon("blender.runtime")
    with bpy.context.temp_override(window=win):
        g.check("refresh_balance", bpy.ops.meshy.refresh_balance() == {"FINISHED"})
    yield from g.wait_until(lambda: runtime.account["balance"] is not None or runtime.account["balance_error"],
                            10, "the balance from the local server")
    g.check("balance_from_server", runtime.account["balance"] is not None,
            f"balance={runtime.account['balance']} error={runtime.account['balance_error']!r}")

    # -- 3D Viewport sidebar
    v3d = g.find_area(win, "VIEW_3D")
    g.DRAWS["MESHY_PT_main"] = 0
    ui = yield from g.open_sidebar_tab(win, v3d, "Meshy")
    yield 1.0
    g.check("v3d_tab_active", ui.active_panel_category == "Meshy",
            f"active_panel_category={ui.active_panel_category!r}")
    g.check("v3d_panel_registered", bpy.types.MESHY_PT_main.is_registered)
    g.check("v3d_panel_drawn", g.DRAWS["MESHY_PT_main"] > 0, f"{g.DRAWS['MESHY_PT_main']} draw() calls")
    g.park_pointer()
    yield 0.3
    g.screenshot("v3d_sidebar", g.x11_rect(win, v3d))

    # -- Image Editor sidebar
    ie = g.split_area(win, v3d, "VERTICAL", 0.45)
    g.set_area_type(ie, "IMAGE_EDITOR")
    ie.spaces.active.image = g.make_image("tab_photo", 256, 256, hue=0.55)
    g.DRAWS["MESHY_PT_image_editor"] = 0
    ie_ui = yield from g.open_sidebar_tab(win, ie, "Meshy")
    yield 1.0
    g.check("image_editor_tab_active", ie_ui.active_panel_category == "Meshy",
            f"active_panel_category={ie_ui.active_panel_category!r}")
    g.check("image_editor_panel_drawn", g.DRAWS["MESHY_PT_image_editor"] > 0,
            f"{g.DRAWS['MESHY_PT_image_editor']} draw() calls")
    g.screenshot("both_sidebars")

    # -- Preferences: the key is masked
    sw, sh = g.screen_size()
    g.mouse_to(sw // 2, sh // 2)  # Blender opens the new window around the pointer
    yield 0.2
    with bpy.context.temp_override(window=win):
        bpy.ops.preferences.addon_show(module=g.ADDON)
    yield from g.wait_until(lambda: len(bpy.context.window_manager.windows) > 1, 5, "the Preferences window")
    pwin = bpy.context.window_manager.windows[-1]
    parea = g.find_area(pwin, "PREFERENCES")
    g.require("preferences_window", parea is not None, [a.type for a in pwin.screen.areas])
    g.check("preferences_on_addons", bpy.context.preferences.active_section == "ADDONS",
            bpy.context.preferences.active_section)
    seen = []

    def placed():  # where the X server put the new window (Blender may report it late)
        seen.append(g.x11_window_rect_of(pwin))
        g.log(f"preferences window: X server {seen[-1]}, Blender {g.x11_window_rect(pwin)}")
        if seen[-1] is None:
            return False
        x, y, w, h = seen[-1]
        sw, sh = g.screen_size()
        return len(seen) > 2 and seen[-1] == seen[-2] == seen[-3] and x >= 0 and y >= 0 and x + w <= sw and y + h <= sh

    yield from g.wait_until(placed, 8, "the Preferences window to be placed on screen", interval=0.2)
    rect = seen[-1]
    g.data("preferences_window", rect)
    g.park_pointer(2, 2)

    def shot(**values):
        for k, v in values.items():
            setattr(prefs, k, v)
        g.redraw_all()
        yield 0.8
        return g.grab_pixels(rect)

    a = yield from shot(api_key=KEY_A)
    b = yield from shot(api_key=KEY_B)
    longer = yield from shot(api_key=KEY_LONGER)
    u1 = yield from shot(api_key=KEY_A, api_base_url="http://127.0.0.1:1/aaaa")
    u2 = yield from shot(api_base_url="http://127.0.0.1:1/bbbb")
    same = g.diff_box(a, b)
    key_row = g.diff_box(a, longer)
    url_row = g.diff_box(u1, u2)
    g.data("diff_boxes", {"key_A_vs_B": same, "key_A_vs_longer": key_row, "url_1_vs_2": url_row})
    g.check("key_field_in_picture", key_row is not None and key_row[3] < 40,
            f"a longer key changes only a row-sized box {key_row}")
    g.check("key_masked_pixel_identical", same is None,
            f"keys of the same length, other characters: differing box {same} (None = identical)")
    g.check("unmasked_field_differs", url_row is not None and url_row[3] < 40,
            f"API URL of the same length, other characters: differing box {url_row}")
    g.check("url_row_below_key_row", key_row and url_row and url_row[1] > key_row[1], "layout as expected")

    # -- A picture for people: the test-mode key (masked), the default URL
    yield from shot(api_key=g.addon("blender.addon").TEST_MODE_KEY, api_base_url="https://api.meshy.ai")
    library = prefs.library_dir
    prefs.library_dir = ""
    yield from shot()
    g.screenshot("preferences", rect)
    g.screenshot("doc_preferences", rect, colors=128)
    prefs.api_key, prefs.api_base_url, prefs.library_dir = key, url, library


g.run("tabs", scenario)
