"""A script in the bpy module that enables the add-on and simply ends must end (not hang in bpy's exit).

The bpy module's exit waits forever while the add-on is still registered (a persistent load_post
handler of nobody's does it too); in the bpy module the add-on unregisters itself at interpreter exit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_script_that_enables_the_add_on_ends():
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "import bpy, meshy_blender\n"
            "meshy_blender.register()\n"
            "assert any(h.__name__ == 'on_load_post' for h in bpy.app.handlers.load_post)\n"
            "print('registered', flush=True)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "registered" in res.stdout and res.returncode == 0, (res.returncode, res.stderr[-2000:])
