"""Batch: a folder of photos -> a Blender asset library folder, one model.blend per photo (or 2-4-photo folder).

    python3 scripts/batch.py photos/ --out library/ [--index library.blend] [--jobs 4] [--convert-jobs 2]
                             [--then-remesh N] [--lods N,N,...] [--enable-pbr ...]

Every JPEG/PNG directly in DIR becomes an Image to 3D job; every sub-folder holding 2-4 photos
becomes a Multi-Image to 3D job (the photos in name order). At most --jobs talk to Meshy at once,
and a full account queue (NoMoreConcurrentTasks) waits instead of failing. Each model is converted
in a background Blender (--convert-jobs at once) into its own folder of --out: model.blend (the
model's collection as an asset with a preview; the texture maps packed), its thumbnail and photos.
The folder is a Blender asset library (Preferences > File Paths > Asset Libraries). --index FILE.blend
also writes a small .blend that links every model of the library. Interrupted? Run the same command
again: finished items are skipped and unfinished tasks carry on through the add-on's journal (kept
next to the library, in <library>.meshy-batch), never paying twice. Failures are listed at the end;
the exit code is non-zero if any item failed.

Follow-ups: --then-remesh N sends a Remesh (target_polycount N, 100 to 300,000; 5 credits) for every
model of the run once it is in the library; its result is an asset of its own beside the model ("<name>
/ remesh 5k", catalog Meshy/<batch>/Remesh). --lods 50000,10000,2000 sends one Remesh per count for every
model, assets "<name> / LOD0 50k".."<name> / LODn 2k" (catalog Meshy/<batch>/LODs). Both may be given together
(each model then gets both). A re-run sends none twice (the add-on's job list knows each follow-up by
its source task, its count and its role); a failed follow-up is listed and makes the exit non-zero, and
its model stays in the library. The summary states the credits of the follow-ups sent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cli
import _env
import batch_followups

import build

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}


def find_items(folder: Path) -> tuple[list[dict], list[tuple[str, str]]]:
    """(items, problems): one item per top-level photo and per sub-folder of photos."""
    items, problems = [], []
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and entry.suffix.lower() in PHOTO_SUFFIXES:
            items.append({"key": entry.name, "label": entry.stem, "images": [str(entry.resolve())]})
        elif entry.is_dir():
            photos = sorted(p for p in entry.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
            if 1 <= len(photos) <= 4:
                paths = [str(p.resolve()) for p in photos]
                items.append({"key": entry.name + "/", "label": entry.name, "images": paths})
            elif photos:
                problems.append((entry.name + "/", f"{len(photos)} photos: Meshy takes 1 to 4 views of one object"))
    return items, problems


def main(argv=None) -> int:
    lo, hi = batch_followups.polycount_range()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", help="folder of photos (and 2-4-photo sub-folders)")
    ap.add_argument("--out", required=True, help="the asset library folder to create or extend")
    ap.add_argument("--index", default=None, metavar="FILE.blend",
                    help="also write a small .blend linking every model of the library")
    ap.add_argument("--jobs", type=int, default=4, help="jobs talking to Meshy at once (default 4)")
    ap.add_argument("--name", default=None,
                    help="the batch's name: its models' asset catalog Meshy/<name> (default: the photo folder's name)")
    ap.add_argument("--convert-jobs", type=int, default=None, metavar="N",
                    help="models converted at once, each in a background Blender "
                         "(default: the add-on's Concurrent Conversions default, 2)")
    ap.add_argument("--then-remesh", default=None, metavar="N",
                    help=f"after each model, a Remesh to N triangles ({lo}..{hi}), its own asset beside the model")
    ap.add_argument("--lods", default=None, metavar="N,N,...",
                    help="after each model, one Remesh per count (e.g. 50000,10000,2000): assets LOD0..LODn")
    ap.add_argument("--timeout", type=float, default=24 * 3600.0, help="give up after this many seconds")
    _cli.add_common(ap)
    args = ap.parse_args(argv)
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"batch: {folder} is not a folder: give the folder that holds the photos", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print("batch: --jobs must be at least 1", file=sys.stderr)
        return 2
    if args.convert_jobs is not None and args.convert_jobs < 1:
        print("batch: --convert-jobs must be at least 1", file=sys.stderr)
        return 2
    try:
        remesh = batch_followups.parse_counts("--then-remesh", args.then_remesh) if args.then_remesh else None
        if remesh and len(remesh) > 1:
            raise ValueError(f"--then-remesh takes one polycount, not {args.then_remesh}: for several levels "
                             f"use --lods {args.then_remesh}")
        lods = batch_followups.parse_counts("--lods", args.lods) if args.lods is not None else []
    except ValueError as exc:
        print(f"batch: {exc}", file=sys.stderr)
        return 2
    items, problems = find_items(folder)
    if not items and not problems:
        print(f"batch: no JPEG or PNG photos in {folder}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    if out.suffix.lower() == ".blend" or out.is_file():
        print(f"batch: --out is the library folder now (one model.blend per model), not a file like {out.name}; "
              f"for one .blend that links every model add --index {out.name}", file=sys.stderr)
        return 2
    index = Path(args.index).resolve() if args.index else None
    if index is not None and (index.suffix.lower() != ".blend" or index.is_dir()):
        print(f"batch: --index must name a .blend file, not {index.name}", file=sys.stderr)
        return 2
    py = _env.ensure(f"bpy-{args.blender}")
    zip_file = build.build(quiet=True)
    backend = _cli.Backend(args)
    plan = {
        "zip": str(zip_file),
        "out": str(out),
        "state_dir": str(out.with_name(out.name + ".meshy-batch")),
        "items": items,
        "problems": problems,
        "options": _cli.options_from(args),
        "jobs": args.jobs,
        "convert_jobs": args.convert_jobs,
        "name": (args.name or folder.resolve().name).strip() or "Batch",
        "timeout": args.timeout,
        "followups": batch_followups.wanted(remesh[0] if remesh else None, lods),
    }
    try:
        code = subprocess.run(
            [str(py), str(_env.ROOT / "scripts" / "batch_blender.py"), json.dumps(plan)], env=backend.env()
        ).returncode
    finally:
        backend.close()
    if index is not None and code >= 0:  # not after a crash or a kill: a re-run writes it
        # Its own Blender, without the add-on, the key or any thread: only the library folder.
        env = {k: v for k, v in os.environ.items() if k != "MESHY_API_KEY"}
        linked = subprocess.run([str(py), str(_env.ROOT / "scripts" / "batch_library.py"), str(out), str(index)],
                                env=env).returncode
        code = code or linked
    return code


if __name__ == "__main__":
    sys.exit(main())
