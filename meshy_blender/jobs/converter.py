"""Run a converter: a background Blender that turns a job folder's model.glb into model.blend.

Pure (never imports bpy), so a worker thread can start, await and kill it. The caller says which
executable runs Blender (a `Launcher` built from `bpy.app.binary_path` and `sys.executable` on the
main thread). The child gets an allow-listed environment with a private, empty user folder (so no
preferences, add-ons or API key of the user's Blender), arguments without secrets, and is told to
stay offline. A converter that is killed never leaves a model.blend behind: the child writes under
a temporary name and renames only when the file is complete (convert_child.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..meshy.errors import ReportableError
from . import files as F
from .catalogs import ROOT as CATALOG_ROOT

if TYPE_CHECKING:
    import subprocess

SCRIPT = Path(__file__).resolve().parents[1] / "blender" / "convert_child.py"
DEFAULT_TIME_LIMIT = 600.0  # seconds; a 1M-triangle model takes a few seconds
ERROR_MARKER = "MESHY-CONVERT-ERROR: "  # the child's line for a failure it understood (corrupt GLB, no mesh)
_BLEND_MAGIC = (b"BLENDER", b"\x28\xb5\x2f\xfd")  # plain and zstd-compressed .blend files
_TAIL_LINES = 6
_POLL = 0.05
_MAXRSS_PER_MB = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
_USERINFO = re.compile(r"://[^/@\s]*@|^[^/@\s:]+:[^/@\s]*@")  # scheme://user:pw@ or user:pw@host

# What a converter may inherit: locale, search paths, temp folders, Windows basics, Blender's own
# system folders. Everything else (MESHY_API_KEY, proxies with credentials, tokens) stays behind.
ENV_ALLOW = frozenset({
    "PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "TZ", "TMPDIR", "TEMP", "TMP",
    "SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "COMSPEC", "PATHEXT", "PROCESSOR_ARCHITECTURE", "NUMBER_OF_PROCESSORS",
    "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "DYLD_FALLBACK_LIBRARY_PATH", "PYTHONPATH", "PYTHONHOME",
    "BLENDER_SYSTEM_SCRIPTS", "BLENDER_SYSTEM_DATAFILES", "BLENDER_SYSTEM_PYTHON", "BLENDER_SYSTEM_EXTENSIONS", "OCIO",
})


class ConverterUnavailable(ReportableError):
    """No converter can start here (no executable, spawning refused): import in-process instead."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ConvertFailed(ReportableError):
    """The conversion failed; `.user_message` (also `.message`) says what is wrong and what to do."""

    def __init__(self, message: str, *, stopped: bool = False, timed_out: bool = False, killed: bool = False):
        super().__init__(message)
        self.message, self.stopped, self.timed_out = message, stopped, timed_out
        self.killed = killed  # by a signal from outside (out of memory, a user's kill): worth one more try


class BlendNotReady(ReportableError):
    """model.blend is missing or incomplete: it must not be appended."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Launcher:
    """How to start a background Blender: the windowed Blender's binary, else the Python with bpy."""

    blender: str = ""  # bpy.app.binary_path; empty in the bpy module
    python: str = ""  # sys.executable; runs the script (which imports bpy) when blender is empty
    script: str = str(SCRIPT)

    def problem(self) -> str | None:
        """None when a converter can start, else why not (cheap checks, no process started)."""
        exe = self.blender or self.python
        if not exe:
            return "Blender's executable is unknown here, so models are imported inside this Blender."
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            return f"Blender's executable {exe!r} cannot be run, so models are imported inside this Blender."
        if not os.path.isfile(self.script):
            return f"The converter script {self.script!r} is missing; reinstall the add-on."
        return None

    def command(self, argument: str) -> list[str]:
        if self.blender:
            return [self.blender, "--background", "--factory-startup", "--offline-mode", "--python-exit-code", "1",
                    "--python", self.script, "--", argument]
        return [self.python, "-s", self.script, "--", argument]


@dataclass(frozen=True)
class ConvertRequest:
    """One job folder to convert. Nothing here is secret: it all goes on the child's command line."""

    folder: str
    label: str
    tags: dict[str, str] = field(default_factory=dict)
    texture_files: dict[str, str] = field(default_factory=dict)
    glb: str = ""  # default: folder/model.glb
    thumbnail: str = ""  # default: folder/thumbnail.png when it exists; none: the child renders a preview
    compress: bool = False  # save model.blend zstd-compressed (EngineSettings.compress_models)
    clips: dict[str, str] = field(default_factory=dict)  # a rig's clips: name -> GLB (blender/convert_rig.py)
    fps: tuple[int, float] = (0, 1.0)  # the landing scene's (render.fps, fps_base): clips keyed at its rate
    dump_environment: str = ""  # diagnostics: the child writes its environment and argv here
    # The asset, as the Asset Browser shows and searches it (jobs/catalogs.py for the catalog file):
    catalog: tuple[str, ...] = (CATALOG_ROOT,)  # the whole path, e.g. ("Meshy", "<batch name>")
    library: str = ""  # the asset library's root, where blender_assets.cats.txt lives; default: folder's parent
    asset_tags: tuple[str, ...] = ("meshy",)
    description: str = ""

    def argument(self) -> str:
        folder = Path(self.folder)
        thumb = self.thumbnail or str(folder / F.THUMBNAIL)
        return json.dumps({
            "glb": self.glb or str(folder / F.MODEL),
            "folder": str(folder),
            "label": self.label,
            "tags": dict(self.tags),
            "textures": dict(self.texture_files),
            "clips": dict(self.clips),
            "fps": list(self.fps),
            "thumbnail": thumb if os.path.isfile(thumb) else "",
            "compress": self.compress,
            "catalog": list(self.catalog),
            "library": self.library or str(folder.parent),
            "asset_tags": list(self.asset_tags),
            "description": self.description,
            "dump": self.dump_environment,
            "parent": os.getpid(),  # the child ends when this process is gone (convert_child.die_with_parent)
        })


@dataclass(frozen=True)
class ConvertResult:
    blend: str
    collection: str
    objects: list[str]
    triangles: int
    seconds: float
    peak_memory_mb: float | None  # the child's peak resident memory (POSIX), None where unknown


def child_environment(parent: dict[str, str], private_dir: str) -> dict[str, str]:
    """The allow-listed part of `parent`, with a private home and Blender user folder."""
    env = {k: v for k, v in parent.items() if k.upper() in ENV_ALLOW and not _has_credentials(v)}
    env.update(
        BLENDER_USER_RESOURCES=private_dir,
        HOME=private_dir,
        PYTHONNOUSERSITE="1",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
    )
    if os.name == "nt":
        env.update(USERPROFILE=private_dir, APPDATA=private_dir, LOCALAPPDATA=private_dir)
    return env


def _has_credentials(value: str) -> bool:
    """A URL with user:password@ in it (a proxy setting under an innocent name)."""
    return _USERINFO.search(value) is not None


def clear_outputs(folder: Path) -> None:
    """Remove a previous run's model.blend, result and temporary files before converting again."""
    for path in (folder / F.BLEND, folder / F.BLEND_RESULT):
        path.unlink(missing_ok=True)
    for path in folder.glob(F.BLEND + ".*.part*"):
        path.unlink(missing_ok=True)


def finished_blend(folder: str | Path) -> dict:
    """The converter's result for a folder whose model.blend is complete; BlendNotReady otherwise."""
    folder = Path(folder)
    blend, result = folder / F.BLEND, folder / F.BLEND_RESULT
    again = "Import the model again to convert it once more."
    if not blend.is_file():
        raise BlendNotReady(f"The converted model {str(blend)!r} does not exist. {again}")
    try:
        info = json.loads(result.read_text(encoding="utf-8"))
        with open(blend, "rb") as f:
            head = f.read(7)
    except (OSError, ValueError) as exc:
        raise BlendNotReady(f"The converted model {str(blend)!r} has no readable result ({exc}). {again}") from None
    if not isinstance(info, dict) or info.get("blend_bytes") != blend.stat().st_size:
        raise BlendNotReady(f"The converted model {str(blend)!r} is incomplete. {again}")
    if not head.startswith(_BLEND_MAGIC):
        raise BlendNotReady(f"The converted model {str(blend)!r} is not a .blend file. {again}")
    return info


class Conversion:
    """One converter process: start() returns at once; wait() blocks (a worker thread); stop() kills."""

    def __init__(self, launcher: Launcher, request: ConvertRequest, time_limit: float = DEFAULT_TIME_LIMIT, *,
                 cancel: threading.Event | None = None, on_tick: Callable[[float], None] | None = None):
        """``cancel`` (a job's stop signal) kills the child like stop(); ``on_tick(seconds)`` is called
        about every 50 ms while the child runs (progress for the panel)."""
        self.launcher, self.request, self.time_limit = launcher, request, time_limit
        self.folder = Path(request.folder)
        self._proc: subprocess.Popen | None = None
        self._private = ""
        self._stop = threading.Event()
        self._cancel = cancel
        self._on_tick = on_tick
        self._started = 0.0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        import subprocess  # here, not at import: the engine loads this module, and subprocess picks its
        # platform once, at import (tests stand in Windows' msvcrt before the engine is imported)

        problem = self.launcher.problem()
        if problem:
            raise ConverterUnavailable(problem)
        clear_outputs(self.folder)
        self._private = tempfile.mkdtemp(prefix="meshy-convert-")
        cmd = self.launcher.command(self.request.argument())
        try:
            with open(self.folder / F.CONVERT_LOG, "wb") as log:
                self._proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self._private,
                    env=child_environment(dict(os.environ), self._private), start_new_session=os.name != "nt",
                )
        except OSError as exc:
            self._cleanup()
            message = f"A background Blender could not start ({exc}), so models are imported inside this Blender."
            raise ConverterUnavailable(message) from exc
        self._started = time.monotonic()

    def stop(self) -> None:
        """Kill the converter (Stop); wait() then raises ConvertFailed(stopped=True)."""
        self._stop.set()
        self._kill()

    def wait(self) -> ConvertResult:
        if self._proc is None:
            raise RuntimeError("start() first")
        try:
            code, peak = self._await()
            seconds = time.monotonic() - self._started
            if self._stopped():
                raise ConvertFailed(f"Converting {self.request.label!r} was stopped.", stopped=True)
            if code is not None and code != 0:
                raise ConvertFailed(self._failure(code), killed=code < 0)
            try:  # after the time limit's kill too: a model.blend renamed just before it is kept
                info = finished_blend(self.folder)
            except BlendNotReady as exc:
                if code is None:
                    raise ConvertFailed(
                        f"Converting {self.request.label!r} took longer than {self.time_limit:g} s and was "
                        "stopped. Press Retry to try again.", timed_out=True) from None
                raise ConvertFailed(f"The converter for {self.request.label!r} ended without a complete "
                                    f"model.blend ({exc.message}) Press Retry to convert it again.") from None
            return ConvertResult(str(self.folder / F.BLEND), info.get("collection", ""), list(info.get("objects", [])),
                                 int(info.get("triangles", 0)), seconds, peak)
        finally:
            self._cleanup()

    def run(self) -> ConvertResult:
        self.start()
        return self.wait()

    # ----------------------------------------------------------------------- process handling

    def _await(self) -> tuple[int | None, float | None]:
        """(exit code or None when timed out, peak memory in MB); kills on stop or time limit."""
        proc = self._proc
        assert proc is not None, "start() first"
        deadline = self._started + self.time_limit
        timed_out = False
        while True:
            if hasattr(os, "wait4"):
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    return (None if timed_out else proc.returncode), usage.ru_maxrss / _MAXRSS_PER_MB
            elif proc.poll() is not None:
                return (None if timed_out else proc.returncode), None
            if self._stop.wait(_POLL) or self._stopped():
                self._kill()
            elif time.monotonic() > deadline and not timed_out:
                timed_out = True
                self._kill()
            else:
                self._tick()

    def _stopped(self) -> bool:
        return self._stop.is_set() or (self._cancel is not None and self._cancel.is_set())

    def _tick(self) -> None:
        if self._on_tick is not None:
            try:
                self._on_tick(time.monotonic() - self._started)
            except Exception:  # progress is a nicety; never let it leave a child running
                pass

    def _kill(self) -> None:
        kill_child(self._proc)

    def _failure(self, code: int) -> str:
        understood, how, tail = child_failure(self._log_lines(), code)
        return understood or (f"The converter for {self.request.label!r} {how}. Press Retry to convert it again. "
                              f"Its last output: {tail}")

    def _log_lines(self) -> list[str]:
        try:
            with open(self.folder / F.CONVERT_LOG, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 16384))
                return f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []

    def _cleanup(self) -> None:
        if self._private:
            shutil.rmtree(self._private, ignore_errors=True)
            self._private = ""


def kill_child(proc: subprocess.Popen | None) -> None:
    """SIGKILL a child Blender and anything it started (it leads its own process group); no-op once ended."""
    if proc is None or proc.returncode is not None:
        return
    try:
        if os.name == "nt":
            proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGKILL)
    except OSError:  # ProcessLookupError, PermissionError: it is gone already
        pass


def child_failure(lines: list[str], code: int) -> tuple[str | None, str, str]:
    """From a failed child's output: (its own ERROR_MARKER message or None, how it ended, its last lines)."""
    for line in reversed(lines):
        if line.startswith(ERROR_MARKER):
            return line[len(ERROR_MARKER):].strip(), "", ""
    tail = " | ".join(line.strip() for line in lines[-_TAIL_LINES:] if line.strip()) or "no output"
    how = f"was killed by signal {-code}" if code < 0 else f"failed with exit status {code}"
    return None, how, tail
