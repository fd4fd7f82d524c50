"""Environments for a Python this machine lacks (bpy 5.1+ wheels need 3.13), inside the GUI tier's root.

The Debian trixie root that ../shared/tools/gui-blender/setup.sh builds has python3.13. Wheels are
fetched on the host (`pip download --python-version 3.13 --only-binary=:all:`) into a cache in
.venvs/, then installed inside with `--no-index --find-links` (pip inside cannot verify this
network's TLS) into /opt/meshy-venvs/<name> of the root. Commands run there through `unshare`
(private mount and pid namespaces that vanish with every process left in them; the host's network,
so a server started on either side is reachable from the other) with this repository and /tmp bound
at the same paths: a path means the same inside and outside. A launcher, build/chroot/<name>/python,
makes such an environment look like any other to the scripts (`_env.python_of`).

Needs Linux, root and `unshare`; setup.sh and installs inside the root hold /tmp/gui-tier.lock,
which the GUI tier holds too.

    python3 scripts/_chroot.py run bpy-5.3.0 -- -c "import bpy; print(bpy.app.version_string)"
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = Path(os.environ.get("GUI_BLENDER_TOOL") or ROOT.parent / "shared" / "tools" / "gui-blender")
GB_ROOT = Path(os.environ.get("GUI_BLENDER_ROOT") or "/var/tmp/gui-blender-root")
LOCK = Path("/tmp/gui-tier.lock")
INNER_VENVS = "/opt/meshy-venvs"
LAUNCHERS = ROOT / "build" / "chroot"
INNER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STAMP = ".meshy-stamp"


def _log(msg: str) -> None:
    print(f"[setup] {msg}", flush=True)


def unavailable_reason() -> str | None:
    """Why environments in the root cannot be used here, or None."""
    if not sys.platform.startswith("linux"):
        return "only on Linux"
    if os.geteuid() != 0:
        return "needs root (chroot, mount and unshare)"
    if not shutil.which("unshare"):
        return "no `unshare` (util-linux)"
    if not (TOOL / "setup.sh").is_file():
        return f"no {TOOL / 'setup.sh'} (GUI_BLENDER_TOOL=DIR points elsewhere)"
    return None


@contextlib.contextmanager
def gui_lock():
    """Hold /tmp/gui-tier.lock, unless this process already does (run under `flock`, which passes its fd on)."""
    import fcntl  # Linux only, like everything here

    for fd_link in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            if os.path.samefile(fd_link, LOCK):
                yield
                return
    with open(LOCK, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _log(f"waiting for {LOCK} (the GUI tier or another install holds it)")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def root_ready() -> bool:
    return (GB_ROOT / ".gui-blender" / "setup.ok").is_file() and (GB_ROOT / "usr" / "bin" / "python3").exists()


def ensure_root() -> None:
    """Build the root with the harness's setup.sh if it is not there (~65 s and ~400 MB once)."""
    if root_ready():
        return
    with gui_lock():
        if root_ready():
            return
        _log(f"building the Debian root {GB_ROOT} with {TOOL / 'setup.sh'} (first time only, ~1-3 min)")
        subprocess.run(["bash", str(TOOL / "setup.sh")], check=True)


def _wheels(python: str) -> Path:
    from _env import VENVS

    return (VENVS / f"wheels-py{python}").resolve()


def _inner(name: str) -> str:
    return f"{INNER_VENVS}/{name}"


def launcher(name: str) -> Path:
    return LAUNCHERS / name / "python"


def _write_launcher(name: str) -> Path:
    path = launcher(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"#!/bin/sh\n# Python of the environment {name} inside {GB_ROOT} (scripts/_chroot.py)\n"
        f"exec {shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).resolve()))} run {name} -- \"$@\"\n")
    path.chmod(0o755)
    return path


def ensure(name: str, reqs: list[str], python: str) -> Path:
    """Create or update the environment inside the root; return its launcher."""
    reason = unavailable_reason()
    if reason:
        raise SystemExit(f"{name} needs Python {python}, which runs here only inside {GB_ROOT}: {reason}")
    want = hashlib.sha256("\n".join(reqs).encode()).hexdigest()
    stamp = GB_ROOT / _inner(name).lstrip("/") / STAMP
    if stamp.is_file() and stamp.read_text() == want:  # installed (perhaps from another checkout)
        return launcher(name) if launcher(name).is_file() else _write_launcher(name)
    ensure_root()
    wheels = _wheels(python)
    wheels.mkdir(parents=True, exist_ok=True)
    _log(f"fetching wheels for {name} (Python {python}): {' '.join(reqs)} (first time only; bpy is ~430 MB)")
    subprocess.run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
                    "--python-version", python, "--only-binary=:all:", "-d", str(wheels), *reqs, "pip"], check=True)
    pip_wheel = max(wheels.glob("pip-*.whl"), key=lambda p: p.stat().st_mtime)
    venv = _inner(name)
    script = (f"rm -rf {venv} && python{python} -m venv --without-pip {venv} && "
              f"{venv}/bin/python {shlex.quote(f'{pip_wheel}/pip')} install --isolated -q --disable-pip-version-check "
              f"--no-index --find-links {shlex.quote(str(wheels))} {' '.join(shlex.quote(r) for r in reqs)}")
    with gui_lock():
        _log(f"installing {name} inside {GB_ROOT}")
        rc = subprocess.run(command(["/bin/sh", "-c", script], binds=[wheels])).returncode
        if rc:
            raise SystemExit(f"installing {name} inside {GB_ROOT} failed (exit {rc})")
        stamp.write_text(want)
    return _write_launcher(name)


def command(argv: list[str], binds: list[Path] = (), cwd: str | None = None) -> list[str]:
    """The host command that runs argv inside the root (cwd and every bound folder as on the host)."""
    binds = [ROOT, Path("/tmp"), *binds]
    body = ['set -e', 'R="$1"; shift', 'mount -t proc proc "$R/proc"', 'mount --rbind /sys "$R/sys"',
            'mount --rbind /dev "$R/dev"']
    for src in dict.fromkeys(str(Path(b).resolve()) for b in binds):
        body.append(f'mkdir -p "$R"{shlex.quote(src)} && mount --bind {shlex.quote(src)} "$R"{shlex.quote(src)}')
    body.append('cd_to="$1"; shift')
    body.append(f'exec chroot "$R" /usr/bin/env PATH={INNER_PATH} /bin/sh -c \'cd "$0" && exec "$@"\' "$cd_to" "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child",
            "/bin/sh", "-c", "\n".join(body), "meshy-chroot", str(GB_ROOT), cwd or os.getcwd(), *argv]


def run(name: str, args: list[str]) -> None:
    """Replace this process by the environment's python, inside the root (what the launcher calls)."""
    cwd = os.getcwd()
    if not any(Path(cwd).resolve().is_relative_to(b) for b in (ROOT, Path("/tmp").resolve())):
        raise SystemExit(f"{name} runs inside {GB_ROOT}, which sees only {ROOT} and /tmp: run it from there")
    argv = command([f"{_inner(name)}/bin/python", *args], cwd=cwd)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "run" and sys.argv[3] == "--":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        run(sys.argv[2], sys.argv[4:])
    print(__doc__, file=sys.stderr)
    sys.exit(2)
