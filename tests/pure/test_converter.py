"""jobs/converter.py without Blender: command lines, the scrubbed environment, the checks on model.blend,
and the process handling (time limit, Stop, exit status and output turned into a message) with real
child processes standing in for Blender. The real converter runs in tests/blender/test_convert.py."""

import json
import os
import sys
import textwrap
import threading
import time

import pytest

from meshy_blender.jobs import converter as C
from meshy_blender.jobs import files as F

SECRET = "msy_SECRET_pure_tier_4411"


def script(tmp_path, body: str) -> str:
    path = tmp_path / "fake_blender.py"
    path.write_text("import json, os, sys, time\njob = json.loads(sys.argv[sys.argv.index('--') + 1])\n"
                    + textwrap.dedent(body))
    return str(path)


def run(tmp_path, body: str, **kw):
    folder = tmp_path / "job"
    folder.mkdir(exist_ok=True)
    launcher = C.Launcher(python=sys.executable, script=script(tmp_path, body))
    return C.Conversion(launcher, C.ConvertRequest(folder=str(folder), label="Mug"), **kw)


WRITE_BLEND = """
folder = job["folder"]
blend = os.path.join(folder, "model.blend")
with open(blend + ".1.part", "wb") as f:
    f.write(b"BLENDER17-01" + bytes(1000))
json.dump({"blend_bytes": 1012, "collection": job["label"], "objects": ["Mug"], "triangles": 12},
          open(os.path.join(folder, "model.blend.json"), "w"))
os.replace(blend + ".1.part", blend)
"""


# --------------------------------------------------------------------------- command line and environment


def test_windowed_blender_command():
    launcher = C.Launcher(blender="/opt/blender/blender", python="/usr/bin/python3")
    cmd = launcher.command('{"x": 1}')
    assert cmd[0] == "/opt/blender/blender"
    assert cmd[1:7] == ["--background", "--factory-startup", "--offline-mode", "--python-exit-code", "1", "--python"]
    assert cmd[7] == str(C.SCRIPT) and cmd[8:] == ["--", '{"x": 1}']


def test_bpy_module_command_runs_the_script_with_python():
    cmd = C.Launcher(blender="", python="/venv/bin/python").command("{}")
    assert cmd == ["/venv/bin/python", "-s", str(C.SCRIPT), "--", "{}"]


def test_script_ships_in_the_package():
    assert C.SCRIPT.is_file() and C.SCRIPT.parent.name == "blender"


def test_environment_is_an_allow_list():
    parent = {
        "PATH": "/usr/bin", "LANG": "ca_ES.UTF-8@valencia", "TMPDIR": "/tmp",
        "MESHY_API_KEY": SECRET, "HTTPS_PROXY": "http://u:pw@proxy:3128", "http_proxy": "http://proxy:3128",
        "SOME_TOKEN": SECRET, "BLENDER_USER_RESOURCES": "/home/me/.config/blender", "HOME": "/home/me",
        "PYTHONPATH": "http://user:pw@host/",  # credentials under an allowed name
    }
    env = C.child_environment(parent, "/tmp/private")
    assert env["PATH"] == "/usr/bin" and env["LANG"] == "ca_ES.UTF-8@valencia" and env["TMPDIR"] == "/tmp"
    assert env["BLENDER_USER_RESOURCES"] == env["HOME"] == "/tmp/private"
    assert "PYTHONPATH" not in env
    assert not {"MESHY_API_KEY", "HTTPS_PROXY", "http_proxy", "SOME_TOKEN"} & set(env)
    assert SECRET not in json.dumps(env) and "pw@" not in json.dumps(env)


def test_request_argument_carries_paths_label_and_tags(tmp_path):
    (tmp_path / F.THUMBNAIL).write_bytes(b"png")
    arg = json.loads(C.ConvertRequest(folder=str(tmp_path), label="Mug", tags={"meshy_job_id": "j"}).argument())
    assert arg["glb"] == str(tmp_path / F.MODEL) and arg["thumbnail"] == str(tmp_path / F.THUMBNAIL)
    assert arg["label"] == "Mug" and arg["tags"] == {"meshy_job_id": "j"} and arg["dump"] == ""


# --------------------------------------------------------------------------- can a converter start at all


def test_problem_names_what_is_missing(tmp_path):
    assert "unknown" in C.Launcher().problem()
    assert "/no/blender" in C.Launcher(blender="/no/blender").problem()
    plain = tmp_path / "not_executable"
    plain.write_text("")
    assert "cannot be run" in C.Launcher(python=str(plain)).problem()
    assert "reinstall" in C.Launcher(python=sys.executable, script=str(tmp_path / "gone.py")).problem()
    assert C.Launcher(python=sys.executable).problem() is None


def test_unavailable_converter_raises_before_touching_the_folder(tmp_path):
    (tmp_path / F.BLEND).write_bytes(b"BLENDER")
    job = C.Conversion(C.Launcher(blender="/no/blender"), C.ConvertRequest(folder=str(tmp_path), label="Mug"))
    with pytest.raises(C.ConverterUnavailable, match="imported inside this Blender"):
        job.start()
    assert (tmp_path / F.BLEND).exists()


# --------------------------------------------------------------------------- the finished file


def test_finished_blend_refuses_missing_partial_and_foreign_files(tmp_path):
    with pytest.raises(C.BlendNotReady, match="does not exist"):
        C.finished_blend(tmp_path)
    (tmp_path / "model.blend.77.part").write_bytes(b"BLENDER half")  # a killed save
    with pytest.raises(C.BlendNotReady, match="does not exist"):
        C.finished_blend(tmp_path)
    blend = tmp_path / F.BLEND
    blend.write_bytes(b"BLENDER" + bytes(93))
    with pytest.raises(C.BlendNotReady, match="no readable result"):
        C.finished_blend(tmp_path)
    (tmp_path / F.BLEND_RESULT).write_text(json.dumps({"blend_bytes": 99}))
    with pytest.raises(C.BlendNotReady, match="incomplete"):
        C.finished_blend(tmp_path)
    (tmp_path / F.BLEND_RESULT).write_text(json.dumps({"blend_bytes": 100, "collection": "Mug"}))
    assert C.finished_blend(tmp_path)["collection"] == "Mug"
    blend.write_bytes(b"PK\x03\x04" + bytes(96))
    with pytest.raises(C.BlendNotReady, match=r"not a \.blend"):
        C.finished_blend(tmp_path)


# --------------------------------------------------------------------------- running a child


def test_success_returns_the_result_and_clears_old_outputs(tmp_path):
    job = run(tmp_path, WRITE_BLEND)
    (job.folder / "model.blend.5.part").write_bytes(b"left by a killed run")
    result = job.run()
    assert (result.collection, result.objects, result.triangles) == ("Mug", ["Mug"], 12)
    assert result.blend == str(job.folder / F.BLEND) and result.seconds > 0
    assert os.name == "nt" or result.peak_memory_mb > 1
    assert not list(job.folder.glob("*.part"))


def test_understood_failure_gives_the_childs_message(tmp_path):
    body = f"print('noise'); print({C.ERROR_MARKER!r} + 'The model file has no mesh. Generate it again.'); sys.exit(2)"
    with pytest.raises(C.ConvertFailed) as err:
        run(tmp_path, body).run()
    assert err.value.message == "The model file has no mesh. Generate it again."


def test_crash_gives_exit_status_and_output_tail(tmp_path):
    body = "print('Traceback (most recent call last):'); print('MemoryError: out of memory'); sys.exit(3)"
    with pytest.raises(C.ConvertFailed) as err:
        run(tmp_path, body).run()
    message = err.value.message
    assert "'Mug'" in message and "exit status 3" in message and "MemoryError: out of memory" in message
    assert "Retry" in message


def test_exit_zero_without_a_model_is_a_failure(tmp_path):
    with pytest.raises(C.ConvertFailed, match=r"without a complete model\.blend"):
        run(tmp_path, "pass").run()


def test_time_limit_kills_the_child(tmp_path):
    job = run(tmp_path, "time.sleep(60)", time_limit=0.3)
    t0 = time.monotonic()
    with pytest.raises(C.ConvertFailed) as err:
        job.run()
    assert err.value.timed_out and "longer than 0.3 s" in err.value.message
    assert time.monotonic() - t0 < 20
    with pytest.raises(ProcessLookupError):
        os.kill(job.pid, 0)


def test_stop_kills_the_child(tmp_path):
    job = run(tmp_path, "time.sleep(60)")
    job.start()
    threading.Timer(0.2, job.stop).start()
    with pytest.raises(C.ConvertFailed) as err:
        job.wait()
    assert err.value.stopped and not err.value.timed_out
    with pytest.raises(ProcessLookupError):
        os.kill(job.pid, 0)


def test_child_environment_is_scrubbed_for_real(tmp_path, monkeypatch):
    monkeypatch.setenv("MESHY_API_KEY", SECRET)
    monkeypatch.setenv("HTTPS_PROXY", "http://u:pw@proxy:3128")
    body = "json.dump(dict(os.environ), open(os.path.join(job['folder'], 'env.json'), 'w'))\n" + WRITE_BLEND
    job = run(tmp_path, body)
    job.run()
    env = json.loads((job.folder / "env.json").read_text())
    assert "MESHY_API_KEY" not in env and "HTTPS_PROXY" not in env and SECRET not in json.dumps(env)
    assert env["HOME"] == env["BLENDER_USER_RESOURCES"] and not os.path.exists(env["HOME"])  # removed after
