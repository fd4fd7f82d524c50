"""One way to report: every error type carries ``user_message``; one function reaches the status bar
and the panel. Checked on the sources (the Blender glue cannot be imported without bpy)."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

from meshy_blender.jobs import EngineClosed, JobError
from meshy_blender.meshy import errors as E

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "meshy_blender"
BUILTIN_ERRORS = {name for name, value in vars(builtins).items()
                  if isinstance(value, type) and issubclass(value, BaseException)}


def _classes() -> dict[str, tuple[Path, list[str]]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                bases = [b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
                         for b in node.bases]
                out[node.name] = (path, bases)
    return out


def test_every_error_type_of_the_addon_carries_user_message():
    classes = _classes()

    def ancestry(name: str, seen=()) -> set[str]:
        if name in seen or name not in classes:
            return {name}
        out = {name}
        for base in classes[name][1]:
            out |= ancestry(base, (*seen, name))
        return out

    errors = {n for n in classes if ancestry(n) & BUILTIN_ERRORS}
    assert {"InputError", "ImportFailed", "JobFailed", "JobError", "MeshyError"} <= errors
    missing = sorted(f"{classes[n][0].relative_to(ROOT)}: {n}" for n in errors
                     if n != "ReportableError" and "ReportableError" not in ancestry(n))
    assert missing == []


def test_only_the_report_module_writes_to_the_status_bar():
    """Operators and the pump say things through report.tell(); nobody calls Operator.report itself."""
    offenders = []
    for path in [*(PACKAGE / "blender").rglob("*.py"), PACKAGE / "api.py"]:
        if path.name == "report.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "report":
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


@pytest.mark.parametrize("exc", [
    E.ValidationError("target_polycount", "must be at least 100"),
    E.AuthenticationError(401),
    E.SubmissionUncertainError(),
    JobError("This job never reached Meshy; use Submit again"),
    EngineClosed(),
])
def test_user_message_is_the_one_text(exc):
    assert isinstance(exc, E.ReportableError)
    assert exc.user_message and str(exc) == exc.user_message == E.user_message_of(exc)


def test_user_message_of_any_exception():
    assert E.user_message_of(OSError(28, "No space left on device")) == "[Errno 28] No space left on device"
    assert E.user_message_of(KeyError()) == "KeyError"
    assert isinstance(JobError("x"), ValueError) and isinstance(EngineClosed(), RuntimeError)
