"""One Blender process of the library-rebuild kill test (run with the bpy venv's python).

Installs the built zip into the given BLENDER_USER_RESOURCES folder, points the Model Library
preference at the given folder, then starts a rebuild: `--how api` (api.rebuild_library()) or
`--how startup` (the add-on's own startup path, handlers.resume: the first use's automatic run).
With `--kill-after-start` it SIGKILLs itself once a converter has been running for `--kill-delay`
seconds (a folder's convert.log appeared); otherwise it waits for the run and prints its progress as
the last line of JSON. The local server's URL and the test key come from the environment.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: scripts._headless
import bl_support

from scripts._headless import leave


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--user", required=True)
    ap.add_argument("--zip", required=True)
    ap.add_argument("--library", required=True)
    ap.add_argument("--how", choices=["api", "startup"], default="api")
    ap.add_argument("--kill-after-start", action="store_true")
    ap.add_argument("--kill-delay", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=300.0)
    a = ap.parse_args()
    bpy = bl_support.start_blender(a.user)
    bl_support.install_addon(Path(a.zip))
    mod = bl_support.MODULE
    runtime = __import__(f"{mod}.blender.runtime", fromlist=["x"])
    handlers = __import__(f"{mod}.blender.handlers", fromlist=["x"])
    api = __import__(f"{mod}.api", fromlist=["x"])
    bpy.context.preferences.addons[mod].preferences.library_dir = a.library
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.preferences.system.use_online_access = True
    library = Path(a.library)
    logs_before = {p.parent.name: p.stat().st_mtime_ns for p in library.glob("*/convert.log")}
    if a.how == "api":
        run = api.rebuild_library()
    else:
        handlers.resume()  # what the startup timer calls (it never fires headless)
        run = runtime.engine().rebuild_status()
        assert run is not None and run.automatic, "the startup path started no rebuild"
    if a.kill_after_start:
        deadline = time.monotonic() + a.timeout
        while not any(p.stat().st_mtime_ns != logs_before.get(p.parent.name) for p in library.glob("*/convert.log")):
            assert time.monotonic() < deadline, "no converter started"
            time.sleep(0.01)
        time.sleep(a.kill_delay)
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    assert run.wait(a.timeout), "the rebuild did not finish"
    p = run.progress()
    print(json.dumps({**dataclasses.asdict(p), "pid": os.getpid()}), flush=True)
    runtime.shutdown()
    return 0


if __name__ == "__main__":
    leave(main())
