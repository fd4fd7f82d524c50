"""Run an image child: a short-lived background Blender that recreates a generated image and writes its PNG.

Pure (never imports bpy), so a worker thread can await it. A generated image nobody painted is fully
described by its settings, so the Blender the user works in writes only that datablock (a few KB,
`bpy.data.libraries.write`) and starts the child at once; the child (blender/image_child.py) appends
it, lets Blender generate the pixels, and encodes them with jobs/encode.py, exactly as this Blender
would have, into a PNG under a temporary name, renamed when complete. The user's Blender never reads
the pixels. The child is started like a converter (converter.Launcher, child_environment: no key, no
network, a private user folder) and dies with the Blender that started it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..meshy.errors import ReportableError
from .converter import Launcher, child_environment, child_failure, kill_child

if TYPE_CHECKING:
    import subprocess

SCRIPT = Path(__file__).resolve().parents[1] / "blender" / "image_child.py"
TIME_LIMIT = 300.0  # seconds; an 8192² image takes a few
PNG = "image.png"


class RenderFailed(ReportableError):
    """The child ended without a PNG; `.user_message` says what happened and what to do."""


def launcher_for(converter: Launcher) -> Launcher:
    """The converter's way of starting a background Blender, running the image child's script."""
    return replace(converter, script=str(SCRIPT))


_unstartable: dict[str, str] = {}  # why a child could not start in this process ("problem"), once it failed


def problem(launcher: Launcher) -> str | None:
    """None when an image child can start (cheap checks, and no start has failed yet), else why not."""
    return _unstartable.get("problem") or launcher.problem()


class Render:
    """One image child, started and awaited by `result()` on a worker thread: the main thread only
    wrote the datablock (spawning a process from a large Blender takes milliseconds of its own)."""

    def __init__(self, launcher: Launcher, folder: str, blend: str, image: str, width: int, height: int,
                 time_limit: float = TIME_LIMIT):
        """``folder``: a private temporary folder, removed by result(); ``blend`` holds the image datablock."""
        self.launcher, self.folder, self.time_limit = launcher, Path(folder), time_limit
        self.image = image
        self._argument = json.dumps({"blend": blend, "image": image, "width": width, "height": height,
                                     "png": str(self.folder / PNG), "parent": os.getpid()})
        self._proc: subprocess.Popen | None = None
        self._started = 0.0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def result(self) -> bytes:
        """The PNG's bytes (blocks: a worker thread); RenderFailed with a clear message otherwise."""
        try:
            self._start()
            proc = self._proc
            assert proc is not None
            try:
                code = proc.wait(timeout=max(0.0, self._started + self.time_limit - time.monotonic()))
            except Exception:  # the time limit (or an interrupted wait): never leave the child running
                self._kill()
                proc.wait()
                raise RenderFailed(f"Preparing '{self.image}' for upload took longer than {self.time_limit:g} s. "
                                   "Nothing was sent to Meshy: submit it again.") from None
            png = self.folder / PNG
            if code != 0 or not png.is_file():
                raise RenderFailed(self._failure(code))
            return png.read_bytes()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _start(self) -> None:
        import subprocess

        home = self.folder / "home"
        try:
            home.mkdir()
            with open(self.folder / "child.log", "wb") as log:
                self._proc = subprocess.Popen(
                    self.launcher.command(self._argument), stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, cwd=str(home), env=child_environment(dict(os.environ), str(home)),
                    start_new_session=os.name != "nt",
                )
        except OSError as exc:
            why = f"A background Blender could not start to prepare generated images ({exc})."
            _unstartable.setdefault("problem", why)
            raise RenderFailed(f"{why} Nothing was sent to Meshy: submit '{self.image}' again (it is read "
                               "inside this Blender from now on).") from None
        self._started = time.monotonic()

    def _kill(self) -> None:
        kill_child(self._proc)

    def _failure(self, code: int) -> str:
        try:
            lines = (self.folder / "child.log").read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        understood, how, tail = child_failure(lines, code)
        return understood or (f"The background Blender preparing '{self.image}' for upload {how}. Nothing was sent "
                              f"to Meshy: submit it again. Its last output: {tail}")
