"""The Blender half of batch.py, run inside the bpy module's Python with one JSON argument (the plan).

Models are converted by the job engine's converters (background Blenders, in parallel: the
preference Concurrent Conversions); this long-lived Blender only appends them, so it never runs
the glTF importer, and no operator unsafe beside the engine's threads runs here.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import _headless

FAILED = {"failed", "error", "canceled", "expired", "unknown"}
SAVE_EVERY = 10.0  # seconds between saves of the library while models arrive


class Bar:
    def __init__(self, total: int, already: int):
        self.total, self.already = total, already
        self.t0 = time.monotonic()
        self.tty = sys.stdout.isatty()
        self.last = ""

    def show(self, done: int, failed: int, running: int, force: bool = False):
        finished_now = done + failed - self.already
        left = self.total - done - failed
        elapsed = time.monotonic() - self.t0
        eta = f"{elapsed / finished_now * left:5.0f} s" if finished_now > 0 and left else "    ? s" if left else "  0 s"
        width = 30
        filled = width * (done + failed) // max(1, self.total)
        line = (f"[{'#' * filled}{'-' * (width - filled)}] {done + failed}/{self.total}  done {done}  "
                f"failed {failed}  running {running}  ETA {eta}")
        if self.tty:
            sys.stdout.write("\r" + line)
            sys.stdout.flush()
        elif force or line.split("ETA")[0] != self.last:
            print(line, flush=True)
            self.last = line.split("ETA")[0]

    def end(self):
        if self.tty:
            sys.stdout.write("\n")


def collection_of(objects):
    for obj in objects:
        if obj.users_collection:
            return obj.users_collection[0]
    return None


def set_preview(bpy, coll, thumbnail: str, size: int = 256) -> None:
    """The thumbnail as the asset's preview, set through its pixels. Never the operator
    ed.lib_id_load_custom_preview: beside the job engine's Python threads it crashes the bpy module."""
    try:
        image = bpy.data.images.load(thumbnail)
    except RuntimeError:
        return
    try:
        width, height = image.size
        if not (width and height):
            return
        scale = min(1.0, size / max(width, height))
        if scale < 1.0:
            image.scale(max(1, round(width * scale)), max(1, round(height * scale)))
            width, height = image.size
        pixels = [0.0] * (width * height * 4)
        image.pixels.foreach_get(pixels)
        preview = coll.preview_ensure()
        preview.image_size = (width, height)
        preview.image_pixels_float.foreach_set(pixels)
    finally:
        bpy.data.images.remove(image)


def make_asset(bpy, coll, item: dict, view, slot: int):
    """Mark the model's collection as an asset with a preview, and place it on a grid."""
    coll["meshy_item"] = item["key"]
    coll.asset_mark()
    data = coll.asset_data
    data.description = f"Meshy {view.kind} task {view.task_id} from {', '.join(view.input_names)}"
    for tag in ("meshy", view.kind):
        if tag not in data.tags:
            data.tags.new(tag)
    thumb = view.files.get("thumbnail")
    if thumb and os.path.exists(thumb):
        set_preview(bpy, coll, thumb)
    spacing = 3.0
    offset = ((slot % 10) * spacing, (slot // 10) * spacing, 0.0)
    for obj in coll.objects:
        if obj.parent is None:
            obj.location = offset


def main() -> int:
    plan = json.loads(sys.argv[-1])
    state_dir = Path(plan["state_dir"])
    state_dir.mkdir(parents=True, exist_ok=True)
    meshy = _headless.start(plan["zip"], user_dir=str(state_dir / "blender-user"))
    import bpy

    runtime = sys.modules[meshy.__name__.rpartition(".")[0] + ".blender.runtime"]
    pump = sys.modules[meshy.__name__.rpartition(".")[0] + ".blender.pump"]
    prefs = bpy.context.preferences.addons[_headless.MODULE].preferences
    prefs.max_concurrent = plan["jobs"]
    out = Path(plan["out"])
    if out.exists():
        bpy.ops.wm.open_mainfile(filepath=str(out))
    else:
        bpy.ops.wm.read_homefile(use_empty=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        bpy.ops.wm.save_as_mainfile(filepath=str(out))
    bpy.context.preferences.system.use_online_access = True

    items = {item["key"]: item for item in plan["items"]}
    done = {c["meshy_item"] for c in bpy.data.collections if "meshy_item" in c}
    done &= set(items)
    eng = runtime.engine()  # recovers the journal: unfinished tasks carry on
    # Each job carries its item's key as a tag in the journal (written before anything is sent), so a
    # re-run finds every job it started, even one killed the moment after submitting.
    latest: dict[str, str] = {}
    for view in sorted(eng.jobs(), key=lambda v: v.created):
        if view.target.get("tag") in items:
            latest[view.target["tag"]] = view.id
    failures: list[tuple[str, str]] = list(plan["problems"])
    running: dict[str, str] = {}  # key -> job id
    queue = []
    for key in items:
        if key in done:
            continue
        job_id = latest.get(key)
        view = eng.get(job_id) if job_id else None
        if view is not None and view.state not in FAILED:
            running[key] = job_id  # resumed through the journal, not paid again
        else:
            queue.append(key)
    skipped = len(done)
    if skipped:
        print(f"{skipped} item(s) already in {out.name}: skipped; {len(running)} resumed", flush=True)
    bar = Bar(len(items) + len(plan["problems"]), skipped + len(plan["problems"]))
    slot = len(done)
    deadline = time.monotonic() + plan["timeout"]
    last_save = time.monotonic()
    window = max(2, plan["jobs"] * 2)  # submitted-but-unfinished jobs held at once (bounds memory)

    while (queue or running) and time.monotonic() < deadline:
        while queue and len(running) < window:
            key = queue.pop(0)
            item = items[key]
            try:
                if len(item["images"]) == 1:
                    job = meshy.submit_image(item["images"][0], label=item["label"], tag=key, **plan["options"])
                else:
                    job = meshy.submit_images(item["images"], label=item["label"], tag=key, **plan["options"])
            except (ValueError, RuntimeError) as exc:
                failures.append((key, str(exc)))
                continue
            except Exception as exc:  # validation errors from the client carry a user message
                failures.append((key, getattr(exc, "user_message", None) or str(exc)))
                continue
            running[key] = job.id
        pump.tick(bpy.context, events=eng.poll_events(max_events=256, timeout=0.25))
        in_file = pump.objects_by_job()
        for key, job_id in list(running.items()):
            view = eng.get(job_id)
            if view is None:
                failures.append((key, "the job disappeared from the journal"))
                del running[key]
                continue
            objects = in_file.get(job_id, [])
            if view.state == "imported" and not objects:
                objects = pump.import_job(bpy.context, view, force=True)  # imported before a crash, never saved
                view = eng.get(job_id)
            if view.state == "imported" and objects:
                coll = collection_of(objects)
                if coll is not None:
                    make_asset(bpy, coll, items[key], view, slot)
                    slot += 1
                done.add(key)
                del running[key]
            elif view.state in FAILED:
                failures.append((key, view.error or view.phase or view.state))
                del running[key]
        if time.monotonic() - last_save > SAVE_EVERY:
            bpy.ops.wm.save_mainfile()
            last_save = time.monotonic()
        bar.show(len(done), len(failures), len(running))
    bar.show(len(done), len(failures), len(running), force=True)
    bar.end()
    bpy.ops.wm.save_mainfile()
    if running:
        failures += [(key, "still running when the time ran out: run the same command again") for key in running]
    print(f"library: {out} ({len(done)} models as assets)")
    if failures:
        print(f"{len(failures)} item(s) failed:")
        for key, reason in failures:
            print(f"  {key}: {reason}")
        return 1
    return 0


if __name__ == "__main__":
    _headless.leave(main())
