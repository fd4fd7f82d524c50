"""The pure package imports fast, without bpy, and without loading http.client/ssl up front."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import sys, time
t = time.perf_counter()
import meshy_blender.meshy as m
elapsed = time.perf_counter() - t
lazy = "http.client" not in sys.modules and "ssl" not in sys.modules
from meshy_blender.meshy import client, download, errors, options, pricing, sse, task, transport
names = [getattr(m, n) for n in m.__all__]
assert m.__version__ == "0.1.0" and m.IMAGE_TO_3D == "image-to-3d" and m.MULTI_IMAGE_TO_3D == "multi-image-to-3d"
assert m.MeshyClient is client.MeshyClient and m.Task is task.Task and m.download is download
print("bpy" in sys.modules, lazy, round(elapsed * 1000, 2))
"""


def test_import_without_bpy_in_a_subprocess():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    bpy_loaded, lazy, ms = out.stdout.split()
    assert bpy_loaded == "False"
    assert lazy == "True"  # importing the package does not pull in http.client / ssl
    assert float(ms) < 50


def test_unknown_attribute():
    import meshy_blender.meshy as m

    try:
        m.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError
    assert "MeshyClient" in dir(m)
