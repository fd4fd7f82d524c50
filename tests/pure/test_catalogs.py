"""blender_assets.cats.txt: created, merged, and correct when several processes write it at once."""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from pathlib import Path

import pytest

from meshy_blender.jobs import catalogs as C

USER_FILE = """# This is an Asset Catalog Definition file for Blender.
#
# my own comment, kept

VERSION 1

11111111-2222-3333-4444-555555555555:Props/Chairs:Props-Chairs
aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee:Meshy:My Meshy
"""


def entries(library: Path) -> list[tuple[str, str, str]]:
    """Every catalog line of the file, in order (duplicates kept, so the tests can see them)."""
    out = []
    for line in (library / C.CATS_FILE).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", "VERSION")):
            ident, path, name = line.split(":", 2)
            out.append((ident, path, name))
    return out


def test_a_new_library_gets_the_root_and_the_batch(tmp_path):
    cat = C.ensure(tmp_path, ["Meshy", "Spring shoot"])
    assert cat == C.Catalog(str(uuid.uuid5(C.NAMESPACE, "Meshy/Spring shoot")), "Meshy/Spring shoot",
                            "Meshy-Spring shoot")
    text = (tmp_path / C.CATS_FILE).read_text(encoding="utf-8")
    assert text.startswith("# This is an Asset Catalog Definition file for Blender.")
    assert "\nVERSION 1\n" in text
    assert entries(tmp_path) == [(C.catalog_uuid("Meshy"), "Meshy", "Meshy"),
                                 (cat.uuid, "Meshy/Spring shoot", "Meshy-Spring shoot")]
    assert C.ensure(tmp_path, ["Meshy", "Spring shoot"]) == cat
    assert len(entries(tmp_path)) == 2, "nothing added twice"
    assert sorted(p.name for p in tmp_path.iterdir()) == [C.LOCK_FILE, C.CATS_FILE]  # no temporary file left


def test_the_users_lines_are_kept_and_their_uuid_for_meshy_is_reused(tmp_path):
    (tmp_path / C.CATS_FILE).write_text(USER_FILE, encoding="utf-8")
    root = C.ensure(tmp_path, ["Meshy"])
    assert root.uuid == "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" and root.simple_name == "My Meshy"
    assert (tmp_path / C.CATS_FILE).read_text(encoding="utf-8") == USER_FILE, "nothing to add: untouched"
    batch = C.ensure(tmp_path, ["Meshy", "Lot 7"])
    text = (tmp_path / C.CATS_FILE).read_text(encoding="utf-8")
    assert text.startswith(USER_FILE), "every line of the user's file stays as it was"
    assert entries(tmp_path)[-1] == (batch.uuid, "Meshy/Lot 7", "Meshy-Lot 7")
    assert len(entries(tmp_path)) == 3


def test_names_are_cleaned_as_blender_keeps_them():
    assert C.catalog_path(["Meshy", " a/b\\c:d \n e "]) == "Meshy/a-b-c-d e"
    assert C.catalog_path(["Meshy", "   "]) == "Meshy/Unnamed"
    assert C.catalog_path(["Meshy", "Cafe\u0301"]) == "Meshy/Caf\u00e9"  # NFC, as the rest of the library
    long = C.simple_name("Meshy/" + "x" * 80)
    assert long.startswith("...") and len(long) == 63
    with pytest.raises(ValueError):
        C.catalog_path([])


def test_a_file_of_a_newer_format_is_left_alone(tmp_path):
    (tmp_path / C.CATS_FILE).write_text("VERSION 2\nsomething:new\n", encoding="utf-8")
    with pytest.raises(C.CatalogFileError, match="VERSION 2"):
        C.ensure(tmp_path, ["Meshy", "Lot"])
    assert (tmp_path / C.CATS_FILE).read_text(encoding="utf-8") == "VERSION 2\nsomething:new\n"
    assert C.wanted(["Meshy", "Lot"]).uuid == C.catalog_uuid("Meshy/Lot")


def test_comments_only_file_gets_a_version_line_and_keeps_the_comments(tmp_path):
    (tmp_path / C.CATS_FILE).write_text("# mine\n", encoding="utf-8")
    C.ensure(tmp_path, ["Meshy"])
    text = (tmp_path / C.CATS_FILE).read_text(encoding="utf-8")
    assert text.startswith("# mine\n") and "\nVERSION 1\n" in text
    assert C.parse(text)[1]["Meshy"].uuid == C.catalog_uuid("Meshy")


def test_a_held_lock_times_out_with_a_message(tmp_path):
    from meshy_blender.jobs.locks import FileLock

    with FileLock(tmp_path / C.LOCK_FILE), pytest.raises(C.CatalogFileError, match="stayed locked"):
        C.ensure(tmp_path, ["Meshy"], timeout=0.2)
    assert not (tmp_path / C.CATS_FILE).exists()


def _writer(library: str, batches: list[str], start, out) -> None:
    start.wait()
    for name in batches:
        out.put((name, C.ensure(library, ["Meshy", name]).uuid))


def test_concurrent_processes_and_threads_agree_and_lose_nothing(tmp_path):
    """Eight processes with two threads each add 60 batches (many of them shared) at the same time."""
    (tmp_path / C.CATS_FILE).write_text(USER_FILE, encoding="utf-8")
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    plans = [[f"Batch {(w * 7 + i) % 60}" for i in range(20)] for w in range(8)]
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), plan, start, out)) for plan in plans]
    for p in procs:
        p.start()
    local: list[tuple[str, str]] = []
    threads = [threading.Thread(target=lambda: local.extend(
        (n, C.ensure(tmp_path, ["Meshy", n]).uuid) for n in ("Batch 3", "Batch 59", "Shared")))
        for _ in range(2)]
    start.set()
    for t in threads:
        t.start()
    results = [out.get(timeout=60) for _ in range(sum(len(p) for p in plans))]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for t in threads:
        t.join()
    results += local
    rows = entries(tmp_path)
    paths = [path for _, path, _ in rows]
    assert len(paths) == len(set(paths)), "each catalog once"
    names = {n for plan in plans for n in plan} | {"Shared"}
    assert set(paths) == {"Props/Chairs", "Meshy"} | {f"Meshy/{n}" for n in names}
    by_path = {path: ident for ident, path, _ in rows}
    assert by_path["Meshy"] == "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"  # the user's, not a second root
    for name, ident in results:
        assert ident == by_path[f"Meshy/{name}"] == C.catalog_uuid(f"Meshy/{name}"), name
    assert (tmp_path / C.CATS_FILE).read_text(encoding="utf-8").startswith(USER_FILE)
    assert not list(tmp_path.glob(".*.tmp"))
