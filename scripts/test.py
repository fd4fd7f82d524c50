"""Run every test: lint, static types, the pure tier, the Blender tier on every Blender version, the GUI tier.

    python3 scripts/test.py                          # everything (what CI runs)
    python3 scripts/test.py --tier pure              # one tier: pure, blender, gui (comma-separated)
    python3 scripts/test.py --tier blender --blender 4.5.15,5.3.0
    python3 scripts/test.py -- -k engine             # extra pytest arguments

Sets up what it needs (virtual environments with pinned Blender wheels and tools; Blender
wheels for another Python than this machine's inside the GUI tier's Debian root, see
scripts/_chroot.py) and is quick when that is already done. Ends with one line:
"N passed, N failed, N skipped". A Blender that cannot run here (no root for the Debian
root) is reported and counted as skipped; with CI=true that is a failure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _env

import build

ROOT = _env.ROOT
REPORTS = ROOT / "build" / "reports"
TIERS = ("pure", "blender", "gui")
# Every Blender test runs on the oldest and the newest Blender; the lines between skip the tests marked
# heavy (crash recovery, the fault matrix, batch scale), whose code does not change with Blender's version.
FULL_LINES = (_env.BLENDER_VERSIONS[0], _env.BLENDER_VERSIONS[-1])


def run(cmd: list[str], env: dict | None = None) -> int:
    print(f"\n$ {' '.join(str(c) for c in cmd)}", flush=True)
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env).returncode


def counts(xml: Path) -> tuple[int, int, int]:
    if not xml.exists():
        return 0, 0, 0
    root = ET.parse(xml).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return tests - failed - skipped, failed, skipped


durations: dict[str, float] = {}


def pytest(py: Path, target: str, name: str, extra: list[str], env: dict) -> tuple[int, Path]:
    xml = REPORTS / f"{name}.xml"
    xml.unlink(missing_ok=True)
    cmd = [py, "-m", "pytest", target, "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
           "--timeout=600", *extra]
    t0 = time.monotonic()
    rc = run(cmd, env)
    durations[name.replace("-", " ", 1)] = time.monotonic() - t0
    return rc, xml


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tier", default=",".join(TIERS), help="comma-separated: pure, blender, gui")
    ap.add_argument("--blender", default=",".join(_env.BLENDER_VERSIONS), help="bpy versions for the Blender tier")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args()
    tiers = [t for t in args.tier.split(",") if t]
    t0 = time.monotonic()
    REPORTS.mkdir(parents=True, exist_ok=True)

    dev = _env.ensure("dev")
    failures: list[str] = []
    if run([dev, "-m", "ruff", "check", "meshy_blender", "scripts", "tests"]) != 0:
        failures.append("ruff")
    if run([_env.ensure("types"), "-m", "mypy"]) != 0:  # settings in pyproject.toml
        failures.append("mypy")

    zip_file = build.build()
    env = dict(os.environ, MESHY_TEST_ZIP=str(zip_file), PYTHONDONTWRITEBYTECODE="1")
    results: list[tuple[str, Path]] = []
    skipped_versions: list[str] = []
    if "pure" in tiers:
        rc, xml = pytest(dev, "tests/pure", "pure", args.pytest_args, env)
        results.append(("pure", xml))
        if rc not in (0, 5):
            failures.append("pure")
    if "blender" in tiers:
        for version in [v for v in args.blender.split(",") if v]:
            reason = _env.unavailable_reason(f"bpy-{_env.blender(version).version}")
            if reason:
                print(f"\nBlender {version} cannot run here: {reason}", flush=True)
                skipped_versions.append(version)
                if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
                    failures.append(f"blender {version} (CI=true: must run, not skip)")
                continue
            py = _env.ensure(f"bpy-{version}")
            extra = list(args.pytest_args)
            if version not in FULL_LINES and "-m" not in extra:  # the LTS lines between: all but the heavy tests
                extra += ["-m", "not heavy"]
            rc, xml = pytest(py, "tests/blender", f"blender-{version}", extra, env)
            results.append((f"blender {version}", xml))
            if rc not in (0, 5):
                failures.append(f"blender {version}")
    if "gui" in tiers:
        rc, xml = pytest(dev, "tests/gui", "gui", args.pytest_args, env)
        results.append(("gui", xml))
        if rc not in (0, 5):
            failures.append("gui")

    total = [0, 0, 0]
    print("\n== summary ==")
    for name, xml in results:
        c = counts(xml)
        total = [a + b for a, b in zip(total, c)]
        print(f"{name:>16}: {c[0]} passed, {c[1]} failed, {c[2]} skipped  ({durations.get(name, 0):.0f} s)")
    for version in skipped_versions:
        print(f"{'blender ' + version:>16}: not run (see above)")
    print(f"{'time':>16}: {time.monotonic() - t0:.0f} s")
    if failures:
        print(f"{'failed steps':>16}: {', '.join(failures)}")
    if total[0] == 0 and not failures:
        print("no test ran")
        return 1
    print(f"{total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 1 if failures or total[1] else 0


if __name__ == "__main__":
    sys.exit(main())
