"""The Blender half of batch.py, run inside the bpy module's Python with one JSON argument (the plan).

This Blender only runs the add-on's job engine: Meshy's tasks, the downloads, and the engine's
converters (background Blenders, --convert-jobs at once) that turn each download into the model.blend
of its own folder in the library. It never imports a glTF and never opens or appends a model, so it
holds none, and no operator that loads files through Blender's job system runs beside the engine's
threads. A model counts as done once its model.blend is complete: the journal then says so (imported
into that model.blend) and the download it was made from is removed (batch_library.tidy). Once a
model is done, its follow-ups (--then-remesh, --lods: batch_followups.py) are sent, each a job of its
own that lands the same way, as its own model.blend.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported as scripts.batch_blender (tests)
import _headless
import batch_followups
import batch_library

RESUBMIT = {"failed", "canceled", "expired", "unknown"}  # a new task is the only way to a model
FAILED = RESUBMIT | {"error"}
RETRIES = 1  # a ready job without a complete model.blend is downloaded and converted again once per run
BAR_WIDTH = 30


class Bar:
    """One line: counts (done, failed, converting, running) and the time left, from this run's pace."""

    def __init__(self, total: int, already: int):
        self.total, self.already = total, already
        self.t0 = time.monotonic()
        self.tty = sys.stdout.isatty()
        self.last = ""

    def show(self, done: int, failed: int, converting: int, running: int, force: bool = False,
             total: int | None = None):
        self.total = self.total if total is None else total  # grows by each model's follow-ups
        finished_now = done + failed - self.already
        left = self.total - done - failed
        elapsed = time.monotonic() - self.t0
        eta = f"{elapsed / finished_now * left:5.0f} s" if finished_now > 0 and left else "    ? s" if left else "  0 s"
        filled = BAR_WIDTH * (done + failed) // max(1, self.total)
        counts = (f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done + failed}/{self.total}  done {done}  "
                  f"failed {failed}  converting {converting}  running {running}")
        if self.tty:
            sys.stdout.write(f"\r{counts}  ETA {eta}")
            sys.stdout.flush()
        elif force or counts != self.last:
            print(f"{counts}  ETA {eta}", flush=True)
            self.last = counts

    def end(self):
        if self.tty:
            sys.stdout.write("\n")


class Batch:
    """The items of one batch and their jobs: what to submit, what runs, what is done or failed."""

    def __init__(self, plan: dict, meshy, eng, package: str):
        self.plan, self.meshy, self.eng = plan, meshy, eng
        self.converter = importlib.import_module(package + ".jobs.converter")
        self.files = importlib.import_module(package + ".jobs.files")
        self.JobError = importlib.import_module(package + ".jobs.errors").JobError
        self.followup = importlib.import_module(package + ".jobs.followup")
        self.names = importlib.import_module(package + ".blender.followup_jobs")  # "chair / remesh 2k", "... / LOD0 1k"
        self.items = {item["key"]: item for item in plan["items"]}
        self.wanted = [tuple(x) for x in plan.get("followups") or []]  # (role, target_polycount) per model
        self.followups: list[tuple[str, str, str, str, int]] = []  # to send: (key, source job, its label, role, n)
        self.followups_sent = 0  # Remesh tasks created in this run
        self.views: list = []  # the job list as this run found it (resume): the follow-ups already sent
        self.failures: list[tuple[str, str]] = list(plan["problems"])
        self.running: dict[str, str] = {}  # key -> job id
        self.done: set[str] = set()
        self.queue: list[str] = []
        self.retried: dict[str, int] = {}  # key -> downloads/conversions tried again in this run
        self.freed = 0  # bytes of downloads removed once their model.blend was complete

    # ------------------------------------------------------------------ resume
    def resume(self) -> int:
        """Sort the items by their latest job (each job carries its item's key as a tag in the journal,
        written before anything is sent): done, carried on, or to submit. Returns how many carry on."""
        latest: dict[str, object] = {}
        views = self.eng.jobs()
        self.views = views if self.wanted else []
        for view in sorted(views, key=lambda v: v.created):
            if view.target.get("tag") in self.items and not batch_followups.is_followup(view):
                latest[view.target["tag"]] = view
        for key in self.items:
            if not self._pick_up(key, latest.get(key)):
                self.queue.append(key)
        return len(self.running)

    def _pick_up(self, key: str, view) -> bool:
        """A job of the journal for this key: done, or carried on (never paid again). False: nothing paid
        to pick up (none, or its task failed and was refunded), a new task is the only way."""
        if view is not None and view.state == "error" and not view.task_id and not view.files:
            self._discard(view)  # never sent, nothing downloaded (killed while saving its photos, say)
            return False
        if view is None or view.state in RESUBMIT:
            return False
        if view.state in ("imported", "ready", "error"):
            return self._land(key, view) or self._again(key, view)
        self.running[key] = view.id
        return True

    def _discard(self, view) -> None:
        """An unsent job gives way to a new one: out of the job list, its folder out of the library (the
        library holds each model once, and no folder of a try that never reached Meshy)."""
        self.eng.remove(view.id)
        folder = Path(view.folder) if view.folder else None
        if folder is not None and folder.parent == Path(self.plan["out"]) and not (folder / "model.blend").exists():
            shutil.rmtree(folder, ignore_errors=True)

    def _plan_followups(self, key: str, source) -> None:
        """A model is in the library: its follow-ups carry on from the journal, or are sent."""
        for role, n in self.wanted:
            fkey = batch_followups.key_of(key, role)
            if not self._pick_up(fkey, batch_followups.existing(self.views, source, fkey, n)):
                self.followups.append((fkey, source.id, source.label, role, n))

    def _again(self, key: str, view) -> bool:
        """A paid task whose model.blend is not in the library: download and convert it again (free)."""
        if self.retried.get(key, 0) >= RETRIES:
            return False
        self.retried[key] = self.retried.get(key, 0) + 1
        try:
            self.eng.retry_download(view.id)
        except self.JobError:
            return False
        self.running[key] = view.id
        return True

    # ------------------------------------------------------------------ one step
    def submit_more(self, window: int) -> None:
        while self.followups and len(self.running) < window:  # first: they finish the models under way
            key, source_id, label, role, n = self.followups.pop(0)
            try:
                name = self.names.level_label(label, int(role[3:]), n) if role.startswith("LOD") else ""
                job = self.meshy.remesh(source_id, label=name, tag=key,
                                        catalog=batch_followups.catalog_of(self.plan["name"], role),
                                        target_polycount=n)
            except Exception as exc:
                self.failures.append((key, getattr(exc, "user_message", None) or str(exc)))
                continue
            self.followups_sent += 1
            self.running[key] = job.id
        while self.queue and len(self.running) < window:
            key = self.queue.pop(0)
            item = self.items[key]
            submit = self.meshy.submit_image if len(item["images"]) == 1 else self.meshy.submit_images
            source = item["images"][0] if len(item["images"]) == 1 else item["images"]
            try:
                job = submit(source, label=item["label"], tag=key, catalog=self.plan["name"], **self.plan["options"])
            except Exception as exc:  # bad photos, validation: the client's errors carry a user message
                self.failures.append((key, getattr(exc, "user_message", None) or str(exc)))
                continue
            self.running[key] = job.id

    def check(self) -> None:
        for key, job_id in list(self.running.items()):
            view = self.eng.get(job_id)
            del self.running[key]
            if view is None:
                self.failures.append((key, "the job disappeared from the journal"))
            elif view.state in ("ready", "imported"):
                if not self._land(key, view) and not self._again(key, view):
                    problem = self.eng.converter_problem() or "the converter left no complete model.blend"
                    self.failures.append((key, f"no model.blend: {problem}"))
            elif view.state in FAILED:
                self.failures.append((key, view.error or view.phase or view.state))
            else:
                self.running[key] = job_id

    def _land(self, key: str, view) -> bool:
        """The job's model.blend is complete: done (journalled as imported into it, download removed)."""
        folder = Path(view.folder)
        try:
            info = self.converter.finished_blend(folder)
        except self.converter.BlendNotReady:
            return False
        if view.state != "imported":
            self.eng.mark_imported(view.id, list(info.get("objects", [])), str(folder / self.files.BLEND))
        self.freed += batch_library.tidy(folder, self.files)
        self.done.add(key)
        if key in self.items:
            self._plan_followups(key, view)
        return True

    def total(self) -> int:
        """Models and follow-ups this run ends with (a model that failed gets none)."""
        failed = {key for key, _ in self.failures if key in self.items}
        return len(self.items) + len(self.plan["problems"]) + len(self.wanted) * (len(self.items) - len(failed))

    def credits_line(self) -> str:
        """What the follow-ups sent in this run cost (the add-on's price of each, jobs.followup.cost_line)."""
        if not self.wanted:
            return ""
        cost = self.followup.cost_line(batch_followups.REMESH, self.followups_sent) if self.followups_sent else ""
        return f"follow-ups sent in this run: {cost or 'none (0 credits)'}"

    def counts(self) -> tuple[int, int]:
        """(converting, running otherwise)"""
        converting = 0
        for job_id in self.running.values():
            view = self.eng.get(job_id)
            converting += bool(view and view.state == "converting")
        return converting, len(self.running) - converting


class NoOperators:
    """While the engine's threads run, no operator runs in this Blender: some load files through
    Blender's job system and crash the bpy module beside Python threads (ed.lib_id_load_custom_preview
    did, issue 11). Wraps bpy.ops' one entry point: an operator called meanwhile raises at once,
    naming itself, instead of crashing at random later."""

    def __init__(self):
        self.ops = sys.modules["bpy.ops"]
        self.saved: dict[str, object] = {}

    def __enter__(self):
        def refuse(idname, *args, **kwargs):
            raise RuntimeError(f"batch: the operator {idname} was called while the job engine's threads run; "
                               "operators are not safe beside them here (see batch_blender.NoOperators)")

        def create(module, func):  # Blender 5.2+: bpy.ops.<module>.<func> is a C callable made here
            return lambda *args, **kwargs: refuse(f"{module}.{func}")

        # Blender 4.x calls every operator through _op_call; 5.2+ builds callables with _op_create_function.
        for name, stand_in in (("_op_call", refuse), ("_op_create_function", create)):
            if hasattr(self.ops, name):
                self.saved[name] = getattr(self.ops, name)
                setattr(self.ops, name, stand_in)
        return self

    def __exit__(self, *exc):
        for name, original in self.saved.items():
            setattr(self.ops, name, original)
        self.saved.clear()


def configure(bpy, plan: dict, runtime) -> None:
    """The preferences this batch runs with, set before the engine is made (it reads them once)."""
    prefs = bpy.context.preferences.addons[_headless.MODULE].preferences
    prefs.max_concurrent = plan["jobs"]
    if plan.get("convert_jobs"):
        prefs.max_conversions = plan["convert_jobs"]  # else the preference's own default
        if prefs.max_conversions != plan["convert_jobs"]:
            print(f"--convert-jobs {plan['convert_jobs']}: at most {prefs.max_conversions} at once", flush=True)
    prefs.library_dir = plan["out"]
    runtime.ENGINE_TUNING["compress_models"] = True  # a library of thousands: half the disk


def main() -> int:
    plan = json.loads(sys.argv[-1])
    state_dir, out = Path(plan["state_dir"]), Path(plan["out"])
    state_dir.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    meshy = _headless.start(plan["zip"], user_dir=str(state_dir / "blender-user"))
    import bpy

    package = meshy.__name__.rpartition(".")[0]
    runtime = importlib.import_module(package + ".blender.runtime")
    configure(bpy, plan, runtime)
    with NoOperators():
        return run(plan, meshy, runtime.engine(), package)  # the engine recovers the journal at once


def run(plan: dict, meshy, eng, package: str) -> int:
    out = Path(plan["out"])
    batch = Batch(plan, meshy, eng, package)
    resumed = batch.resume()
    if batch.done or resumed:
        print(f"{len(batch.done)} item(s) already in {out.name}: skipped; {resumed} resumed", flush=True)
    bar = Bar(batch.total(), len(batch.done) + len(plan["problems"]))
    deadline = time.monotonic() + plan["timeout"]
    window = max(2, plan["jobs"] * 2)  # submitted-but-unfinished jobs at once (bounds the downloads waiting)
    while (batch.queue or batch.followups or batch.running) and time.monotonic() < deadline:
        batch.submit_more(window)
        eng.poll_events(max_events=256, timeout=0.25)  # nothing here imports: the events only wake us
        batch.check()
        bar.show(len(batch.done), len(batch.failures), *batch.counts(), total=batch.total())
    bar.show(len(batch.done), len(batch.failures), *batch.counts(), force=True, total=batch.total())
    bar.end()
    failures = batch.failures + [(key, "still running when the time ran out: run the same command again")
                                 for key in batch.running]
    failures += [(key, "not sent when the time ran out: run the same command again") for key, *_ in batch.followups]
    models = len(batch.done & set(batch.items))
    extra = f" and {len(batch.done) - models} follow-ups" if batch.wanted else ""
    print(f"library: {out} ({models} models{extra}, one model.blend each; "
          f"{batch.freed / 1e6:.0f} MB of downloads they hold removed)", flush=True)
    if batch.credits_line():
        print(batch.credits_line(), flush=True)
    if failures:
        print(f"{len(failures)} item(s) failed:")
        for key, reason in failures:
            print(f"  {key}: {reason}")
        return 1
    return 0


if __name__ == "__main__":
    _headless.leave(main())
