"""One Blender process of a process-level recovery test (run with the bpy venv's python).

It installs the built zip into the given BLENDER_USER_RESOURCES folder (exactly as the test tier
does), opens or creates the given .blend, then either submits a job or resumes the journal through
the add-on's own startup path (`handlers.resume`, what the startup / load_post timer calls), and
drives `pump.tick` as the modal pump would. It can SIGKILL itself at a named phase:

  after_submit   the create request is on the wire (the server holds it with slow_ms), no task id yet
  generating     the task id is saved and Meshy is generating
  downloading    part of the model is on disk (the server's download_bps throttles the download)
  converting     the converter (a background Blender started by this one) is running
  rendering      an image child (a background Blender making a generated image's PNG) is running
  importing      the main thread is inside the glTF import / the append (a watcher thread sends the SIGKILL)
  after_import   the job is imported, the .blend not saved yet

or close normally (`--close-at PHASE`: runtime.shutdown(), then the process exits). Without an image
it resumes as `--resume` says (handlers: the startup path; api: `api.resume()`, what a script calls;
none: nothing, as a plain script that only opens the file), and `--wait JOB` then calls `api.wait`
on that job instead of driving the pump (its result or JobFailed message goes into the summary,
and the file is saved when objects came back). The last line
printed is a JSON summary: every job's state and how many objects in the open file carry its tag.
The key and server come from MESHY_API_KEY / MESHY_API_BASE_URL.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: scripts._headless
import bl_support

from scripts._headless import leave

TUNING = {"retry_delay": 0.2, "retry_max_delay": 1.0, "queue_full_delay": 0.3, "queue_full_max_delay": 1.0,
          "reconcile_delays": (0.5, 1.0, 2.0), "poll_interval": 0.5}
PHASES = {
    "after_submit": {"submitting"},
    "generating": {"pending", "in_progress"},
    "importing": {"importing"},
    "converting": {"converting"},  # and the converter (a child Blender) has started: see _reached
    "rendering": {"preparing"},  # and an image child of this process runs: see _reached
}


def _args(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--user", required=True)
    ap.add_argument("--zip", required=True)
    ap.add_argument("--blend", required=True, help="opened if it exists, else an empty file saved there")
    ap.add_argument("--library", required=True)
    ap.add_argument("--image", help="submit this photo (otherwise: resume the journal)")
    ap.add_argument("--generated", type=int, help="submit a generated image of this size (COLOR_GRID) instead")
    ap.add_argument("--options", default="{}", help="Meshy options as JSON")
    ap.add_argument("--followup", choices=["remesh", "rigging"], help="instead of --image: this follow-up of --source")
    ap.add_argument("--source", help="the Meshy task id a --followup starts from")
    ap.add_argument("--kill-at", choices=[*PHASES, "downloading", "after_import"])
    ap.add_argument("--kill-delay", type=float, default=0.0, help="seconds between seeing the phase and the kill")
    ap.add_argument("--close-at", choices=[*PHASES, "downloading"], help="close Blender normally then")
    ap.add_argument("--until", default="imported", help="state to stop at (imported | ready | finished)")
    ap.add_argument("--open-after", help="then open this .blend (File > Open) and resume until imported")
    ap.add_argument("--resume", choices=["handlers", "api", "none"], default="handlers",
                    help="how a run without --image carries the journal on")
    ap.add_argument("--wait", help="call api.wait(JOB) (instead of driving the pump) and report what it gives")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--in-process", action="store_true",
                    help="no converter: the glTF import runs in this Blender (the fallback path)")
    return ap.parse_args(argv)


def _kill():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _reached(journal: Path, job_id, phase) -> bool:
    """The phase as the journal has it on disk (what a crash right now would leave behind)."""
    try:
        rec = json.loads((journal / f"{job_id}.json").read_text())
    except (OSError, ValueError):
        return False
    if phase == "downloading":
        part = Path(rec["folder"]) / "model.glb.part"
        return rec["state"] == "downloading" and part.is_file() and part.stat().st_size >= 16_000
    if phase == "rendering":
        return rec["state"] == "preparing" and bool(image_children(os.getpid()))
    if phase == "converting":
        return rec["state"] == "converting" and (Path(rec["folder"]) / "convert.log").is_file()
    return rec["state"] in PHASES[phase]


def image_children(parent: int) -> list[int]:
    """Running image children (image_child.py) started by `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmd = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if b"image_child.py" in cmd and stat[0] != "Z" and int(stat[1]) == parent:
            found.append(int(entry.name))
    return found


def _watch(journal, holder, phase, delay, action):
    """A thread that acts (SIGKILL or a normal close) once the job reaches the phase."""

    def run():
        while True:
            if holder.get("id") and _reached(journal, holder["id"], phase):
                time.sleep(delay)
                action()
                return
            time.sleep(0.002)

    threading.Thread(target=run, name="child-watcher", daemon=True).start()


def summary(runtime, pump, bpy, **extra) -> dict:
    eng = runtime.engine_if_started()
    tagged = {k: len(v) for k, v in pump.objects_by_job().items()}
    jobs = []
    for v in eng.jobs() if eng else []:
        jobs.append({"id": v.id, "state": str(v.state), "task_id": v.task_id, "error": v.error,
                     "blend_file": v.blend_file, "phase": v.phase, "files": v.files, "objects": v.objects})
    report = __import__(f"{bl_support.MODULE}.blender.report", fromlist=["x"])
    return {"file": bpy.data.filepath, "tagged": tagged, "jobs": jobs, "reports": list(report.reports), **extra}


def drive(bpy, runtime, pump, job_id, until, timeout, after_import=None) -> None:
    """Run pump steps (as the modal operator would on TIMER events) until the job reaches `until`."""
    eng = runtime.engine()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pump.tick(bpy.context, events=eng.poll_events(max_events=256, timeout=0.05))
        view = eng.get(job_id) if job_id else None
        views = [view] if view else eng.jobs()
        states = {str(v.state) for v in views}
        if after_import and "imported" in states:
            after_import()
        if until == "finished" and views and not any(v.active for v in views):
            return
        if until in states:
            return
    raise SystemExit(f"child: timed out waiting for {until}: {[(v.label, v.state, v.phase) for v in eng.jobs()]}")


def main(argv=None) -> int:
    a = _args(argv)
    bpy = bl_support.start_blender(a.user)
    bl_support.install_addon(Path(a.zip))
    mod = bl_support.MODULE
    runtime = __import__(f"{mod}.blender.runtime", fromlist=["x"])
    pump = __import__(f"{mod}.blender.pump", fromlist=["x"])
    handlers = __import__(f"{mod}.blender.handlers", fromlist=["x"])
    api = __import__(f"{mod}.api", fromlist=["x"])
    runtime.ENGINE_TUNING.update(TUNING)
    if a.in_process:
        runtime.ENGINE_TUNING["converter"] = None
    bpy.context.preferences.addons[mod].preferences.library_dir = a.library

    blend = Path(a.blend)
    if blend.exists():
        bpy.ops.wm.open_mainfile(filepath=str(blend))
    else:
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.context.preferences.system.use_online_access = True

    holder: dict = {}
    journal = runtime.user_folder("journal")
    if a.kill_at and a.kill_at not in ("after_import",):
        _watch(journal, holder, a.kill_at, a.kill_delay, _kill)
    closed = threading.Event()
    if a.close_at:
        _watch(journal, holder, a.close_at, 0.0, closed.set)

    if a.generated:
        image = bpy.data.images.new("Generated", a.generated, a.generated)
        image.generated_type = "COLOR_GRID"
        job = api.submit_image(image, **json.loads(a.options))
        holder["id"] = job.id
        print(json.dumps({"job_id": job.id}), flush=True)
    elif a.image or a.followup:
        start = {"remesh": api.remesh, "rigging": api.rig}.get(a.followup)
        options = json.loads(a.options)
        job = start(a.source, **options) if start else api.submit_image(a.image, **options)
        holder["id"] = job.id
        print(json.dumps({"job_id": job.id}), flush=True)
    elif a.resume == "handlers":
        handlers.resume()  # the add-on's own startup path (the timer it registers never fires headless)
    elif a.resume == "api":
        holder["resumed"] = [job.id for job in api.resume()]

    if a.wait:
        try:
            waited = {"objects": [o.name for o in api.wait(a.wait, timeout=a.timeout)]}
        except api.JobFailed as exc:
            waited = {"error": str(exc)}
        if waited.get("objects"):
            bpy.ops.wm.save_mainfile()
        print(json.dumps(summary(runtime, pump, bpy, waited=waited)), flush=True)
        runtime.shutdown()
        return 0

    if a.close_at:
        if not closed.wait(a.timeout):
            raise SystemExit("child: never reached the phase to close at")
        before = summary(runtime, pump, bpy, closed=True)
        runtime.shutdown()  # what disabling the add-on / quitting does; the journal keeps the job
        print(json.dumps(before), flush=True)
        return 0

    after = _kill if a.kill_at == "after_import" else None
    drive(bpy, runtime, pump, holder.get("id"), a.until, a.timeout, after_import=after)
    if a.until == "imported" or a.until == "finished":
        bpy.ops.wm.save_mainfile()
    if a.open_after:
        first = summary(runtime, pump, bpy)
        bpy.ops.wm.open_mainfile(filepath=a.open_after)  # load_post -> resume (called by hand headless)
        handlers.resume()
        drive(bpy, runtime, pump, holder.get("id"), "imported", a.timeout)
        bpy.ops.wm.save_mainfile()
        print(json.dumps(summary(runtime, pump, bpy, first=first)), flush=True)
    else:
        print(json.dumps(summary(runtime, pump, bpy, resumed=holder.get("resumed"))), flush=True)
    runtime.shutdown()
    return 0


if __name__ == "__main__":
    leave(main())
