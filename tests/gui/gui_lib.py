"""Shared helpers for the GUI scenarios (they run INSIDE a windowed Blender, not under pytest).

A scenario is a generator function handed to `run()`: it is stepped from a persistent
`bpy.app.timers` callback, and every `yield <seconds>` hands control back to Blender's event
loop for that long (nothing ever sleeps on the main thread, except tiny waits around xdotool).
Checks go into a verdict, /out/result.json (GB_OUT), which the pytest side reads; any exception
or a missed deadline is a failing verdict, and Blender exits 1 (or 0 after quit_blender when all
checks passed).

    import os, sys
    sys.path.insert(0, os.environ.get("GB_IN", "/in"))
    import gui_lib as g

    def scenario():
        yield 1.0
        g.check("something", True)

    g.run("my_scenario", scenario)
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import time
import traceback

import bpy

OUT = os.environ.get("GB_OUT", "/out")
IN = os.environ.get("GB_IN", "/in")
WORK = os.path.join(os.environ.get("TMPDIR", "/tmp"), "meshy-gui")  # scratch files (blend, images)
ADDON = "bl_ext.user_default.meshy_blender"
os.makedirs(OUT, exist_ok=True)
os.makedirs(WORK, exist_ok=True)

T0 = time.monotonic()
RESULT: dict = {
    "scenario": "",
    "blender_version": bpy.app.version_string,
    "python": ".".join(map(str, __import__("sys").version_info[:3])),
    "background": bpy.app.background,
    "checks": {},
    "data": {},
    "screenshots": [],
    "log": [],
}
_STATE = {"finished": False, "deadline": None}


# ---- verdict -------------------------------------------------------------------------------------

def log(msg: str) -> None:
    # Continuation lines are indented: a traceback we caught must not look like an uncaught one
    # to run.sh --fail-on-traceback (it looks for "Traceback" at the start of a line).
    line = f"[gui {time.monotonic() - T0:6.2f}s] " + str(msg).rstrip().replace("\n", "\n    | ")
    RESULT["log"].append(line)
    print(line, flush=True)


def save() -> None:
    with open(os.path.join(OUT, "result.json"), "w") as f:
        json.dump(RESULT, f, indent=2, default=str)


def check(name: str, ok, detail="") -> bool:
    ok = bool(ok)
    if name in RESULT["checks"] and not RESULT["checks"][name]["ok"]:
        ok = False  # a check that failed once stays failed
    RESULT["checks"][name] = {"ok": ok, "detail": str(detail)}
    log(f"check {name}: {'OK' if ok else 'FAIL'} {detail}")
    save()
    return ok


def require(name: str, ok, detail="") -> None:
    """A check the rest of the scenario depends on: stop at once when it fails."""
    if not check(name, ok, detail):
        raise ScenarioFailed(f"{name}: {detail}")


def data(key: str, value) -> None:
    RESULT["data"][key] = value
    save()


class ScenarioFailed(Exception):
    pass


def finish() -> None:
    if _STATE["finished"]:
        return
    _STATE["finished"] = True
    ok = bool(RESULT["checks"]) and all(c["ok"] for c in RESULT["checks"].values()) and not RESULT.get("error")
    RESULT["ok"] = ok
    RESULT["elapsed_s"] = round(time.monotonic() - T0, 2)
    save()
    log(f"done, ok={ok}; quitting")
    if not ok:
        os._exit(1)  # no Python API gives a non-zero exit status from the GUI loop
    win = main_window()
    with bpy.context.temp_override(window=win):
        bpy.ops.wm.quit_blender()


def fail(message: str) -> None:
    RESULT["error"] = message
    log("FAILED: " + message)
    try:
        screenshot("failure")
    except Exception as exc:  # the verdict matters more than the picture
        log(f"(failure screenshot failed: {exc})")
    finish()


def run(name: str, scenario, deadline: float = 180.0, first_interval: float = 1.0) -> None:
    """Step the generator `scenario()` from a persistent timer (it survives File > Open)."""
    RESULT["scenario"] = name
    log(f"scenario {name}: Blender {bpy.app.version_string}, Python {RESULT['python']}, "
        f"background={bpy.app.background}")
    if bpy.app.background:
        check("gui_mode", False, "Blender runs in background mode; this scenario needs the GUI")
        finish()
        return
    save()
    gen = scenario()
    _STATE["deadline"] = time.monotonic() + deadline

    def step():
        if _STATE["finished"]:
            return None
        try:
            if time.monotonic() > _STATE["deadline"]:
                raise ScenarioFailed(f"scenario deadline of {deadline:.0f} s passed")
            interval = next(gen)
        except StopIteration:
            finish()
            return None
        except Exception:
            RESULT["error"] = traceback.format_exc()
            log("EXCEPTION\n" + RESULT["error"])
            try:
                screenshot("failure")
            except Exception:
                pass
            finish()
            return None
        return 0.05 if interval is None else float(interval)

    bpy.app.timers.register(step, first_interval=first_interval, persistent=True)


def guarded(fn):
    """For callbacks outside the scenario generator (timers, handlers): an exception fails the run."""
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception:
            RESULT["error"] = traceback.format_exc()
            log("EXCEPTION in " + fn.__name__ + "\n" + RESULT["error"])
            finish()
            return None
    wrapper.__name__ = fn.__name__
    return wrapper


def wait_until(cond, timeout: float, what: str, interval: float = 0.1):
    """Generator: yield until cond() is true; raise ScenarioFailed after `timeout` s. Returns the wait."""
    t0 = time.monotonic()
    while True:
        value = cond()
        if value:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise ScenarioFailed(f"timed out after {timeout} s waiting for {what}")
        yield interval


# ---- the add-on ---------------------------------------------------------------------------------

def addon(sub: str = ""):
    """The installed add-on's module (or a sub-module, e.g. addon('blender.pump'))."""
    return importlib.import_module(ADDON + ("." + sub if sub else ""))


def set_online(on: bool = True) -> None:
    bpy.context.preferences.system.use_online_access = on
    log(f"online access {'on' if on else 'off'}: bpy.app.online_access={bpy.app.online_access}")


def use_library(path: str | None = None) -> str:
    """Point the add-on's model library at a scratch folder."""
    path = path or os.path.join(WORK, "library")
    os.makedirs(path, exist_ok=True)
    addon_prefs().library_dir = path
    return path


def addon_prefs():
    return bpy.context.preferences.addons[ADDON].preferences


def engine():
    return addon("blender.runtime").engine_if_started()


def job_views():
    eng = engine()
    return eng.jobs() if eng else []


def job_objects(job_id: str) -> list:
    return [o for o in bpy.data.objects if o.get("meshy_job_id") == job_id]


# ---- windows, areas, regions --------------------------------------------------------------------

def main_window():
    return bpy.context.window_manager.windows[0]


def find_area(win, area_type: str, index: int = 0):
    areas = [a for a in win.screen.areas if a.type == area_type]
    return areas[index] if len(areas) > index else None


def find_region(area, region_type: str):
    return next((r for r in area.regions if r.type == region_type), None)


def biggest_area(win, area_type: str):
    areas = [a for a in win.screen.areas if a.type == area_type]
    return max(areas, key=lambda a: a.width * a.height) if areas else None


def redraw_all() -> None:
    for win in bpy.context.window_manager.windows:
        for area in win.screen.areas:
            area.tag_redraw()


_SCREEN: list = []


def screen_size() -> tuple[int, int]:
    """The X screen's size (the harness's Xvfb, or a user's own display)."""
    if not _SCREEN:
        size = (int(os.environ.get("GB_W", "1600")), int(os.environ.get("GB_H", "900")))
        try:
            r = subprocess.run(["xdotool", "getdisplaygeometry"], capture_output=True, text=True, timeout=10)
            w, h = map(int, r.stdout.split())
            size = (w, h)
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
        _SCREEN.append(size)
    return _SCREEN[0]


def x11_rect(win, obj) -> tuple[int, int, int, int]:
    """(x, y, w, h) of an area or region in X11 root coordinates (top-left origin).

    Blender's area/region x, y are window-relative with the origin at the bottom left.
    """
    wx, wy, _ww, wh = x11_window_rect(win)
    return wx + obj.x, wy + wh - (obj.y + obj.height), obj.width, obj.height


def x11_window_rect(win) -> tuple[int, int, int, int]:
    """Blender window rect on the X screen (top-left origin).

    win.x / win.y are the window's position with a bottom-left origin on the screen (the harness
    places the main window at 0, 0 and has no window manager, so there are no frames to allow for).
    """
    _sw, sh = screen_size()
    return win.x, max(0, sh - (win.y + win.height)), win.width, win.height


def x11_windows() -> list[tuple[str, int, int, int, int]]:
    """Blender's top-level X windows as (id, x, y, w, h), asked from the X server."""
    r = subprocess.run(["xdotool", "search", "--onlyvisible", "--classname", "blender"],
                       capture_output=True, text=True, timeout=10)
    out = []
    for wid in r.stdout.split():
        g = subprocess.run(["xdotool", "getwindowgeometry", "--shell", wid], capture_output=True, text=True,
                           timeout=10)
        vals = dict(line.split("=", 1) for line in g.stdout.split() if "=" in line)
        try:
            out.append((wid, int(vals["X"]), int(vals["Y"]), int(vals["WIDTH"]), int(vals["HEIGHT"])))
        except (KeyError, ValueError):
            continue
    return out


def x11_window_rect_of(win) -> tuple[int, int, int, int] | None:
    """The X server's idea of where a (secondary) Blender window is: matched by its size."""
    for _wid, x, y, w, h in x11_windows():
        if (w, h) == (win.width, win.height) and win != main_window() and (x, y) != (0, 0):
            return x, y, w, h
    for _wid, x, y, w, h in x11_windows():
        if (w, h) == (win.width, win.height):
            return x, y, w, h
    return None


def x11_center(win, obj, dx: int = 0, dy: int = 0) -> tuple[int, int]:
    x, y, w, h = x11_rect(win, obj)
    return x + w // 2 + dx, y + h // 2 + dy


def set_area_type(area, area_type: str) -> None:
    area.type = area_type
    area.tag_redraw()


def split_area(win, area, direction: str = "VERTICAL", factor: float = 0.5):
    """Split `area` with screen.area_split; returns the new area (the one that was not there before)."""
    before = {a.as_pointer() for a in win.screen.areas}
    with bpy.context.temp_override(window=win, screen=win.screen, area=area):
        r = bpy.ops.screen.area_split(direction=direction, factor=factor)
    new = [a for a in win.screen.areas if a.as_pointer() not in before]
    if r != {"FINISHED"} or not new:
        raise ScenarioFailed(f"area_split -> {r}")
    return new[0]


def open_sidebar_tab(win, area, category: str = "Meshy", tries: int = 30):
    """Generator: show the N-panel of `area` and make `category` its active tab."""
    space = area.spaces.active
    space.show_region_ui = True
    area.tag_redraw()
    yield 0.3
    for _ in range(tries):
        region = find_region(area, "UI")
        try:
            region.active_panel_category = category
        except (TypeError, AttributeError, ValueError):
            # read-only / unknown until the sidebar has drawn its tabs once
            area.tag_redraw()
            yield 0.2
            continue
        if region.active_panel_category == category:
            area.tag_redraw()
            return region
        yield 0.2
    raise ScenarioFailed(f"could not open the {category!r} tab in the {area.type} sidebar")


# ---- X input ------------------------------------------------------------------------------------

def xdo(*args) -> bool:
    r = subprocess.run(["xdotool", *map(str, args)], capture_output=True, text=True, timeout=10)
    if r.returncode:
        log(f"xdotool {args} -> {r.returncode} {r.stderr.strip()}")
    return r.returncode == 0


def mouse_to(x: int, y: int) -> bool:
    return xdo("mousemove", int(x), int(y))


def click(x: int, y: int) -> bool:
    ok = mouse_to(x, y)
    time.sleep(0.05)  # let Blender see the pointer over the button before the press
    return ok and xdo("click", 1)


def key(combo: str) -> bool:
    return xdo("key", combo)


def park_pointer(x: int = 5, y: int | None = None) -> None:
    """Move the pointer somewhere harmless (no hover highlight or tooltip in pictures)."""
    _, sh = screen_size()
    mouse_to(x, sh // 2 if y is None else y)


# ---- screenshots and pixels ---------------------------------------------------------------------

def _magick(*args) -> subprocess.CompletedProcess:
    exe = shutil.which("magick")
    cmd = [exe, *args] if exe else ["convert", *args]
    return subprocess.run(cmd, capture_output=True, timeout=60)


def screenshot(name: str, rect=None, colors: int | None = None) -> str:
    """Grab the X screen (what a person sees) to OUT/<name>.png; rect (x, y, w, h) crops it."""
    path = os.path.join(OUT, name + ".png")
    full = path if rect is None else os.path.join(WORK, name + ".full.png")
    r = subprocess.run(["import", "-window", "root", full], capture_output=True, text=True, timeout=30)
    if r.returncode:
        raise ScenarioFailed(f"import -window root failed: {r.stderr.strip()}")
    if rect is not None or colors:
        args = [full]
        if rect is not None:
            x, y, w, h = map(int, rect)
            args += ["-crop", f"{w}x{h}+{x}+{y}", "+repage"]
        if colors:
            args += ["-colors", str(colors)]
        args += ["-strip", path]
        r2 = _magick(*args)
        if r2.returncode:
            raise ScenarioFailed(f"crop of {name} failed: {r2.stderr.decode(errors='replace').strip()}")
    RESULT["screenshots"].append(os.path.basename(path))
    log(f"screenshot {os.path.basename(path)}" + (f" rect={rect}" if rect else ""))
    save()
    return path


def grab_pixels(rect) -> tuple[int, int, bytes]:
    """Raw RGB bytes of a screen rectangle (x, y, w, h), for exact comparisons."""
    x, y, w, h = map(int, rect)
    full = os.path.join(WORK, "grab.png")
    r = subprocess.run(["import", "-window", "root", full], capture_output=True, text=True, timeout=30)
    if r.returncode:
        raise ScenarioFailed(f"import -window root failed: {r.stderr.strip()}")
    r = _magick(full, "-crop", f"{w}x{h}+{x}+{y}", "+repage", "-depth", "8", "rgb:-")
    if r.returncode or len(r.stdout) != w * h * 3:
        raise ScenarioFailed(f"pixel grab failed ({len(r.stdout)} bytes): {r.stderr.decode(errors='replace')}")
    return w, h, r.stdout


def diff_box(a, b):
    """Bounding box (x, y, w, h) relative to the grab of the pixels that differ, or None when identical."""
    import numpy as np

    (w, h, pa), (w2, h2, pb) = a, b
    if (w, h) != (w2, h2):
        return (0, 0, w, h)
    xa = np.frombuffer(pa, dtype=np.uint8).reshape(h, w, 3)
    xb = np.frombuffer(pb, dtype=np.uint8).reshape(h, w, 3)
    mask = (xa != xb).any(axis=2)
    if not mask.any():
        return None
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def find_bands(pixels, color, min_fraction: float = 0.5, tolerance: int = 2):
    """Horizontal bands (y0, y1, x0, x1) where a row is mostly `color` (RGB 0-255): flat buttons."""
    import numpy as np

    w, h, raw = pixels
    px = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3).astype(np.int16)
    match = (np.abs(px - np.array(color, dtype=np.int16)) <= tolerance).all(axis=2)
    rows = match.sum(axis=1) >= min_fraction * w
    bands, start = [], None
    for yy, on in enumerate([*rows.tolist(), False]):
        if on and start is None:
            start = yy
        elif not on and start is not None:
            cols = np.nonzero(match[start:yy].any(axis=0))[0]
            bands.append((start, yy - 1, int(cols.min()), int(cols.max())))
            start = None
    return bands


def theme_rgb(color) -> tuple[int, int, int]:
    return tuple(round(255 * c) for c in color[:3])


# ---- test images (made here: no third-party pictures) ---------------------------------------------

def make_image(name: str, width: int = 256, height: int = 256, hue: float = 0.08):
    """A generated photo-like test image: a shaded ball on a soft floor, transparent background."""
    import colorsys

    import numpy as np

    img = bpy.data.images.new(name, width, height, alpha=True)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy, r = width * 0.5, height * 0.55, min(width, height) * 0.32
    dx, dy = (x - cx) / r, (y - cy) / r
    d2 = dx * dx + dy * dy
    inside = d2 <= 1.0
    nz = np.sqrt(np.clip(1.0 - d2, 0.0, 1.0))
    light = np.clip(0.25 + 0.75 * (-0.4 * dx + 0.5 * dy + 0.75 * nz), 0.0, 1.0)
    base = np.array(colorsys.hsv_to_rgb(hue, 0.75, 0.95), dtype=np.float32)
    px = np.zeros((height, width, 4), dtype=np.float32)
    stripes = 0.85 + 0.15 * (np.sin(dx * 9.0) > 0)
    for c in range(3):
        px[..., c] = np.where(inside, base[c] * light * stripes, 0.0)
    shadow = np.exp(-(((x - cx) / (r * 1.1)) ** 2 + ((y - (cy - r * 1.05)) / (r * 0.25)) ** 2))
    px[..., 3] = np.where(inside, 1.0, 0.6 * shadow)
    img.pixels.foreach_set(px.ravel())
    img.update()
    return img


def save_png(img, path: str) -> str:
    """Save a generated image as a PNG file (pixels as they are: Standard view transform)."""
    scene = bpy.context.scene
    settings = scene.render.image_settings
    old = (settings.file_format, settings.color_mode, scene.view_settings.view_transform)
    settings.file_format, settings.color_mode = "PNG", "RGBA"
    scene.view_settings.view_transform = "Standard"
    try:
        img.save_render(path, scene=scene)
    finally:
        settings.file_format, settings.color_mode, scene.view_settings.view_transform = old
    return path


# ---- small instruments ----------------------------------------------------------------------------

class EventCounter:
    """A tiny modal operator of the scenario's own: counts events (MOUSEMOVE, TIMER...) it is passed."""

    counts: dict = {}
    running = {"on": False}

    @classmethod
    def register(cls):
        counts = cls.counts
        running = cls.running

        class GUITEST_OT_event_counter(bpy.types.Operator):
            bl_idname = "guitest.event_counter"
            bl_label = "Count events (GUI test)"
            bl_options = {"INTERNAL"}

            def invoke(self, context, event):
                running["on"] = True
                context.window_manager.modal_handler_add(self)
                return {"RUNNING_MODAL"}

            def modal(self, context, event):
                if not running["on"]:
                    return {"FINISHED"}
                counts[event.type] = counts.get(event.type, 0) + 1
                return {"PASS_THROUGH"}

        bpy.utils.register_class(GUITEST_OT_event_counter)

    @classmethod
    def start(cls, win, area=None):
        cls.counts.clear()
        region = find_region(area, "WINDOW") if area else None
        with bpy.context.temp_override(window=win, screen=win.screen, area=area, region=region):
            r = bpy.ops.guitest.event_counter("INVOKE_DEFAULT")
        return r

    @classmethod
    def stop(cls):
        cls.running["on"] = False
        return dict(cls.counts)


DRAWS: dict = {}


def count_draws(panel_idname: str) -> None:
    """Wrap a registered panel's draw() so the scenario can see that Blender really drew it."""
    cls = getattr(bpy.types, panel_idname)
    original = cls.draw
    DRAWS.setdefault(panel_idname, 0)

    def draw(self, context):
        DRAWS[panel_idname] += 1
        return original(self, context)

    cls.draw = draw


def bsdf_links(obj) -> dict:
    """What feeds the Principled BSDF of obj's first material: {input: (node type, colour space)}."""
    mat = obj.material_slots[0].material if obj.material_slots else None
    if mat is None or not mat.node_tree:
        return {}
    bsdf = next((n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED"), None)
    if bsdf is None:
        return {}
    out = {}
    for name in ("Base Color", "Metallic", "Roughness", "Normal", "Emission Color", "Emission"):
        sock = bsdf.inputs.get(name)
        if sock is None or not sock.is_linked:
            continue
        node = sock.links[0].from_node
        via = node.type
        tex = node
        while tex.type != "TEX_IMAGE":
            ins = [link for inp in tex.inputs for link in inp.links]
            if not ins:
                break
            tex = ins[0].from_node
        space = tex.image.colorspace_settings.name if tex.type == "TEX_IMAGE" and tex.image else None
        out[name] = (via, space)
    return out


def undo_push(message: str) -> None:
    """What a user's own operator would leave behind: an undo step for the setup done by script."""
    win = main_window()
    with bpy.context.temp_override(window=win, screen=win.screen):
        bpy.ops.ed.undo_push(message=message)


def find_wide_button(win, area, min_fraction: float = 0.5):
    """Screen centre (x, y) of the one wide operator button in the area's sidebar, found by its pixels.

    Python cannot ask Blender where a button is drawn, so the sidebar is grabbed and scanned for a
    band of the theme's operator-button colour spanning most of its width. Returns None unless
    exactly one such band (a button-sized one) is found.
    """
    region = find_region(area, "UI")
    rect = x11_rect(win, region)
    color = theme_rgb(bpy.context.preferences.themes[0].user_interface.wcol_tool.inner)
    bands = [b for b in find_bands(grab_pixels(rect), color, min_fraction) if 8 <= b[1] - b[0] + 1 <= 40]
    log(f"wide buttons in the {area.type} sidebar (colour {color}): {bands}")
    if len(bands) != 1:
        return None
    y0, y1, x0, x1 = bands[0]
    return rect[0] + (x0 + x1) // 2, rect[1] + (y0 + y1) // 2


def flat_bands(pixels, min_fraction: float = 0.3, min_height: int = 10, max_height: int = 40):
    """Bands of rows mostly covered by one colour that is not a background colour.

    A colour is a background when it dominates more than a quarter of all rows (region and panel
    backgrounds). Returns [(y0, y1, (r, g, b))]: the flat insides of buttons and boxes, whatever their
    state (enabled, disabled, alert).
    """
    import numpy as np

    w, h, raw = pixels
    px = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)
    packed = (px[..., 0].astype(np.int32) << 16) | (px[..., 1].astype(np.int32) << 8) | px[..., 2]
    rows = []
    for yy in range(h):
        vals, cnts = np.unique(packed[yy], return_counts=True)
        i = int(cnts.argmax())
        rows.append(int(vals[i]) if cnts[i] >= min_fraction * w else None)
    backgrounds = {c for c in set(rows) if c is not None and rows.count(c) > h / 4}
    rows = [None if c in backgrounds else c for c in rows]
    bands, start = [], 0
    for yy in range(1, h + 1):
        if yy == h or rows[yy] != rows[start]:
            if rows[start] is not None and min_height <= yy - start <= max_height:
                c = rows[start]
                bands.append((start, yy - 1, ((c >> 16) & 255, (c >> 8) & 255, c & 255)))
            start = yy
    return bands


def save_pixels(pixels, name: str) -> str:
    """Write a grab_pixels() result to OUT/<name>.png (to look at what a comparison saw)."""
    w, h, raw = pixels
    src = os.path.join(WORK, name + ".rgb")
    with open(src, "wb") as f:
        f.write(raw)
    path = os.path.join(OUT, name + ".png")
    r = _magick("-size", f"{w}x{h}", "-depth", "8", f"rgb:{src}", path)
    if r.returncode:
        raise ScenarioFailed(f"could not write {path}: {r.stderr.decode(errors='replace')}")
    return path


def progress_bar_fill(pixels, tolerance: int = 6):
    """The drawn fill of a progress bar (layout.progress): (fill px, bar px, fraction) on its widest row.

    Uses the theme's progress widget colours: `item` is the filled part, `inner` the rest. Text on
    the bar covers some pixels of both, so the fraction is approximate (a few percent).
    """
    import numpy as np

    theme = bpy.context.preferences.themes[0].user_interface.wcol_progress
    w, h, raw = pixels
    px = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3).astype(np.int16)

    def mask(color):
        return (np.abs(px - np.array(theme_rgb(color), dtype=np.int16)) <= tolerance).all(axis=2)

    fill, rest = mask(theme.item).sum(axis=1), mask(theme.inner).sum(axis=1)
    row = int(np.argmax(fill))  # the bar's middle row has the most filled pixels
    if fill[row] == 0:
        return 0, 0, 0.0
    total = int(fill[row] + rest[row])
    return int(fill[row]), total, (fill[row] / total if total else 0.0)
