"""The pure layers (Meshy client, job engine) never need Blender."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PURE = ("meshy_blender/meshy", "meshy_blender/jobs")


def test_no_bpy_in_this_process():
    assert "bpy" not in sys.modules


def test_pure_packages_import_without_bpy():
    code = (
        "import sys, pkgutil, importlib\n"
        "import meshy_blender.meshy, meshy_blender.jobs\n"
        "for pkg in (meshy_blender.meshy, meshy_blender.jobs):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "assert 'bpy' not in sys.modules, 'bpy was imported'\n"
        "print('ok')\n"
    )
    # A meta-path hook makes any attempt to import bpy fail loudly.
    guard = (
        "import sys\n"
        "class NoBpy:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'bpy' or name.startswith('bpy.'):\n"
        "            raise ImportError('pure code imported bpy')\n"
        "sys.meta_path.insert(0, NoBpy())\n"
    )
    out = subprocess.run([sys.executable, "-c", guard + code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_no_bpy_import_statement_in_pure_sources():
    for folder in PURE:
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                assert not any(n == "bpy" or n.startswith("bpy.") for n in names), f"{path} imports bpy"


def test_addon_root_imports_without_bpy():
    """meshy_blender/__init__.py only registers; importing it must not pull in Blender."""
    out = subprocess.run(
        [sys.executable, "-c", "import sys, meshy_blender; assert 'bpy' not in sys.modules"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


def test_package_imports_are_relative():
    """Installed, the package is bl_ext.<repo>.meshy_blender: an absolute 'meshy_blender.' import would break."""
    for path in (ROOT / "meshy_blender").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert not node.module.startswith("meshy_blender"), f"{path}: absolute import {node.module}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("meshy_blender") for a in node.names), f"{path}: absolute import"
