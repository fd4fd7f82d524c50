"""Command-line pieces shared by demo.py and batch.py: Meshy option flags, the key, the local server."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import _env

TEST_KEY = "msy_dummy_api_key_for_test_mode_12345678"

# API option flags: (flag, type, help). Names follow Meshy's API fields.
OPTION_FLAGS = [
    ("ai-model", str, "meshy-5, meshy-6 or latest"),
    ("model-type", str, "standard or lowpoly (single image)"),
    ("should-texture", "bool", "generate textures (default on)"),
    ("enable-pbr", "bool", "metallic, roughness, normal (+ emission on meshy-6) maps"),
    ("hd-texture", "bool", "4K base colour (meshy-6/latest)"),
    ("texture-prompt", str, "text to guide texturing (600 characters at most)"),
    ("texture-image-url", str, "image URL to guide texturing"),
    ("image-enhancement", "bool", "AI-enhance the input (meshy-6/latest)"),
    ("remove-lighting", "bool", "remove baked lighting (meshy-6/latest)"),
    ("should-remesh", "bool", "run the remesh phase"),
    ("topology", str, "quad or triangle"),
    ("target-polycount", int, "100 to 300,000"),
    ("save-pre-remeshed-model", "bool", "also keep the GLB from before remeshing"),
    ("symmetry-mode", str, "off, auto or on"),
    ("pose-mode", str, "'', a-pose or t-pose"),
    ("moderation", "bool", "screen inputs for harmful content"),
    ("auto-size", "bool", "estimate real-world size"),
    ("origin-at", str, "bottom or center (with --auto-size)"),
    ("multi-view-thumbnails", "bool", "four view thumbnails"),
    ("alpha-thumbnail", "bool", "transparent thumbnail"),
    ("target-formats", str, "comma-separated subset of glb,obj,fbx,stl,usdz,3mf"),
]


def add_common(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--api-key", default=None, help="Meshy API key (default: MESHY_API_KEY, else the local server)")
    ap.add_argument("--api-base", default=None, help="any Meshy-compatible server (default: MESHY_API_BASE_URL)")
    ap.add_argument("--task-seconds", type=float, default=20.0, help="local server: how long a task takes")
    ap.add_argument("--blender", default=_env.HOST_BLENDER, choices=_env.BLENDER_VERSIONS,
                    help=f"the bpy wheel to run (default {_env.HOST_BLENDER})")
    g = ap.add_argument_group("Meshy options (named like the API fields)")
    for flag, typ, text in OPTION_FLAGS:
        if typ == "bool":
            g.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            g.add_argument(f"--{flag}", type=typ, default=None, help=text)


def options_from(args) -> dict:
    """Only the options given on the command line, by API field name."""
    opts = {}
    for flag, _typ, _text in OPTION_FLAGS:
        value = getattr(args, flag.replace("-", "_"))
        if value is not None:
            opts[flag.replace("-", "_")] = value
    if "target_formats" in opts:
        opts["target_formats"] = [f.strip() for f in opts["target_formats"].split(",") if f.strip()]
    return opts


class Backend:
    """The API key and URL to use: the real API when a key is given, else a local server we start."""

    def __init__(self, args, queue_limit: int | None = None):
        self.key = args.api_key or os.environ.get("MESHY_API_KEY", "")
        self.base = args.api_base or os.environ.get("MESHY_API_BASE_URL", "")
        self.server = None
        if not self.key:
            self.key = TEST_KEY
            if not self.base:
                self._start_server(args.task_seconds, queue_limit)

    def _start_server(self, task_seconds: float, queue_limit: int | None):
        cmd = [sys.executable, str(_env.ROOT / "scripts" / "meshy_server.py"), "--port", "0",
               "--task-seconds", str(task_seconds), "--keepalive-seconds", "2"]
        if queue_limit:
            cmd += ["--queue", str(queue_limit)]
        self.server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.server.stdout.readline().strip()
        if "http://" not in line:
            self.server.kill()
            raise SystemExit(f"the local Meshy-compatible server did not start ({line!r})")
        self.base = line[line.index("http://"):].split()[0]
        print(f"no API key given: using the local Meshy-compatible server at {self.base} with the test-mode key")

    def env(self) -> dict:
        env = dict(os.environ, MESHY_API_KEY=self.key)
        if self.base:
            env["MESHY_API_BASE_URL"] = self.base
        return env

    def close(self):
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=10)
            self.server = None
