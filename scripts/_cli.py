"""Command-line pieces shared by demo.py and batch.py: Meshy option flags, the key, the local server."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported as scripts._cli (tests)
import _env

TEST_KEY = "msy_dummy_api_key_for_test_mode_12345678"


def _option_fields():
    """meshy/options.py, where every Meshy option is declared (the add-on's pure package: no Blender needed)."""
    if str(_env.ROOT) not in sys.path:
        sys.path.insert(0, str(_env.ROOT))
    from meshy_blender.meshy import options

    return options


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_common(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--api-key", default=None, help="Meshy API key (default: MESHY_API_KEY, else the local server)")
    ap.add_argument("--api-base", default=None, help="any Meshy-compatible server (default: MESHY_API_BASE_URL)")
    ap.add_argument("--task-seconds", type=float, default=20.0, help="local server: how long a task takes")
    ap.add_argument("--blender", default=_env.HOST_BLENDER, choices=_env.BLENDER_VERSIONS,
                    help=f"the bpy wheel to run (default {_env.HOST_BLENDER})")
    g = ap.add_argument_group("Meshy options (named like the API fields; default: Meshy's own)")
    for spec in _option_fields().panel_fields():
        flag, help_text = flag_of(spec.name), spec.description.replace("%", "%%")
        if spec.type is bool:
            g.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif spec.type is int:
            lo, hi = spec.range
            g.add_argument(flag, type=int, default=None, metavar=f"{lo}..{hi}", help=help_text)
        elif spec.type is list:
            g.add_argument(flag, type=_comma_list, default=None, metavar=",".join(spec.values), help=help_text)
        elif spec.choices and not spec.open_choices:
            g.add_argument(flag, default=None, choices=spec.values, help=help_text)
        else:
            g.add_argument(flag, default=None, help=help_text)


def options_from(args) -> dict:
    """Only the options given on the command line, by API field name; checked as the add-on checks them."""
    options = _option_fields()
    opts = {spec.name: getattr(args, spec.name) for spec in options.panel_fields()
            if getattr(args, spec.name) is not None}
    probe = dict(opts, image_url="https://example.com/photo.png")  # stands in for the photos
    try:
        options.options_from_dict(options.IMAGE_TO_3D, probe).validate()
    except options.ValidationError as exc:
        raise SystemExit(f"{flag_of(exc.field)}: {exc.rule}") from None
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
        cmd = [sys.executable, "-m", "scripts.meshy_server", "--port", "0",
               "--task-seconds", str(task_seconds), "--keepalive-seconds", "2"]
        if queue_limit:
            cmd += ["--queue", str(queue_limit)]
        self.server = subprocess.Popen(cmd, cwd=_env.ROOT, stdout=subprocess.PIPE, text=True)
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
