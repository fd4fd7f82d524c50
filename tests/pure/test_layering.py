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


# ---------------------------------------------------------------------------------- the import graph
LAYERS = {"meshy": 0, "jobs": 1, "blender": 2}  # the package root and api.py sit on top (3)


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in (ROOT / "meshy_blender").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, counting every import statement (inside functions and
    TYPE_CHECKING blocks too: a lazy import is still a dependency)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        here = name.split(".") if is_package else name.split(".")[:-1]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or not node.level:
                continue
            base = here[: len(here) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            target = ".".join(base)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                edges.add(sub if sub in modules else target)
        graph[name] = {e for e in edges if e in modules and e != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], 3) if len(parts) > 1 else 3


def test_graph_sees_lazy_imports():
    graph = import_graph()
    assert "meshy_blender.meshy.client" in graph["meshy_blender.blender.runtime"], "imported inside a function"
    assert "meshy_blender.jobs.worker" in graph["meshy_blender.jobs.engine_threads"]


def test_jobs_import_graph_has_no_cycle():
    graph = import_graph()
    jobs = {m: {e for e in edges if e.startswith("meshy_blender.jobs")}
            for m, edges in graph.items() if m.startswith("meshy_blender.jobs")}
    assert cycles(jobs) == []


def test_workers_never_import_the_engine():
    """The engine imports its workers; they reach it only through the WorkerContext they are given."""
    graph = import_graph()
    importers = sorted(m for m, edges in graph.items() if "meshy_blender.jobs.engine" in edges)
    assert importers == ["meshy_blender.jobs"], importers


def test_package_import_graph_has_no_cycle():
    assert cycles(import_graph()) == []


def test_layers_import_downward_only():
    """blender -> jobs -> meshy, never back (the root and api.py may use everything)."""
    upward = [(m, e) for m, edges in import_graph().items() for e in edges if _layer(e) > _layer(m)]
    assert upward == []


def test_only_the_pure_packages_start_threads():
    """Background work runs on the engine's threads (and the client's own stream watchers), never on
    threads the Blender glue makes for itself."""
    for path in [*(ROOT / "meshy_blender" / "blender").rglob("*.py"), ROOT / "meshy_blender" / "api.py"]:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"Thread", "Timer", "ThreadPoolExecutor"}:
                raise AssertionError(f"{path.name} starts a thread of its own ({node.attr})")
