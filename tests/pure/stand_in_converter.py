"""A stand-in for convert_child.py in the pure tier: a real child process, no Blender.

Started by the engine exactly as the real script is (converter.Launcher(python=..., script=this)).
It does what the real one promises about files: model.blend appears only complete (temporary name,
result JSON, rename). What it does is set by `stand_in.json` in the job folder, else in the library folder
(the job folder's parent): "sleep" seconds
before writing, "fail" (a message, as the importer would give it). Each run appends a line to
`stand_in_runs.jsonl` (pid, argv, environment) so tests can count runs and look for secrets.
"""

import json
import os
import sys
import time
from pathlib import Path

job = json.loads(sys.argv[sys.argv.index("--") + 1])
folder = Path(job["folder"])
control_file = folder / "stand_in.json"  # one folder's own control wins over the library's
if not control_file.is_file():
    control_file = folder.parent / "stand_in.json"
control = json.loads(control_file.read_text()) if control_file.is_file() else {}
with open(folder / "stand_in_runs.jsonl", "a", encoding="utf-8") as f:
    f.write(json.dumps({"pid": os.getpid(), "argv": sys.argv, "environ": dict(os.environ),
                        "started": time.time()}) + "\n")
tmp = folder / f"model.blend.{os.getpid()}.part"
tmp.write_bytes(b"BLENDER-v300" + b"\0" * 1000)  # a partial file exists while "converting"
time.sleep(float(control.get("sleep", 0)))
if control.get("fail"):
    print("MESHY-CONVERT-ERROR: " + control["fail"], flush=True)
    sys.exit(2)
(folder / "model.blend.json").write_text(json.dumps({
    "blend": "model.blend", "blend_bytes": tmp.stat().st_size, "collection": job["label"], "objects": ["Obj"],
    "triangles": 12, "finished": time.time()}))
os.replace(tmp, folder / "model.blend")
