"""Remesh: a mesh resampled to a target triangle count, quad-dominant when asked, resized and re-origined.

Fewer triangles: vertex clustering on a grid (the finest grid whose result is still at or under the
target; UV and normal direction are part of a cluster's key so seams and the two sides of a thin
model stay apart). More: the longest edges are split (both triangles of each) until the target is met.
So the count lands on the target (+1); Meshy says its own "may deviate".
"""

from __future__ import annotations

import math
from array import array

from .mesh import Mesh
from .modelio import bounds, face_normals_into

DECIMATION_FRACTIONS = {1: 1 / 2, 2: 1 / 4, 3: 1 / 8, 4: 1 / 16}  # ultra, high, medium, low


def decimation_target(source_triangles: int, mode: int) -> int:
    """decimation_mode's triangle count: a fraction of the source (adaptive), within 100..300,000."""
    return max(100, min(300_000, round(source_triangles * DECIMATION_FRACTIONS[mode])))


def remesh(mesh: Mesh, target: int, quads: bool = False) -> tuple[Mesh, list[tuple[int, ...]]]:
    """(triangle mesh, faces): faces are quads and triangles when quads, else the triangles.

    For quads, target counts faces: the triangle mesh gets 2 * target triangles, then pairs of
    triangles across their longest shared edge become quads.
    """
    tris_wanted = 2 * target if quads else target
    pos, nrm, uv, tris = _lists(mesh)
    if len(tris) > tris_wanted:
        pos, nrm, uv, tris = _decimate(pos, nrm, uv, tris, tris_wanted)
    _split_to(pos, nrm, uv, tris, tris_wanted)
    flat = array("I", [i for t in tris for i in t])
    out = Mesh(array("f", pos), array("f", nrm), array("f", uv), flat)
    out.normals = array("f", face_normals_into(out))
    faces = _pair_quads(pos, tris) if quads else [tuple(t) for t in tris]
    return out, faces


def _lists(mesh: Mesh):
    idx = mesh.indices
    return (list(mesh.positions), list(mesh.normals), list(mesh.uvs),
            [[idx[k], idx[k + 1], idx[k + 2]] for k in range(0, len(idx), 3)])


# --------------------------------------------------------------------------- fewer triangles


def _cluster(pos, nrm, uv, tris, cells: float):
    """Merge the vertices of each grid cell (also split by UV cell and main normal direction)."""
    lo = [min(pos[c::3]) for c in range(3)]
    size = max(max(pos[c::3]) - lo[c] for c in range(3)) or 1.0
    inv = cells / size
    keys: dict[tuple, int] = {}
    remap = []
    for v in range(len(pos) // 3):
        x, y, z = pos[3 * v], pos[3 * v + 1], pos[3 * v + 2]
        nx, ny, nz = nrm[3 * v], nrm[3 * v + 1], nrm[3 * v + 2]
        ax = max((abs(nx), 0 if nx > 0 else 1), (abs(ny), 2 if ny > 0 else 3), (abs(nz), 4 if nz > 0 else 5))[1]
        key = (int((x - lo[0]) * inv), int((y - lo[1]) * inv), int((z - lo[2]) * inv), ax,
               int(uv[2 * v] * cells), int(uv[2 * v + 1] * cells))
        remap.append(keys.setdefault(key, len(keys)))
    out_tris = []
    seen = set()
    for a, b, c in tris:
        ra, rb, rc = remap[a], remap[b], remap[c]
        if ra in (rb, rc) or rb == rc:
            continue
        key = tuple(sorted((ra, rb, rc)))
        if key not in seen:
            seen.add(key)
            out_tris.append([ra, rb, rc])
    return remap, len(keys), out_tris


def _decimate(pos, nrm, uv, tris, target: int):
    """The finest clustering at or under target: triangles grow about as cells squared (a surface),
    so each guess aims just under the target, kept within the bracket found so far."""
    best = None
    lo_c, hi_c = 1.0, 4.0 * math.sqrt(len(tris)) + 4
    guess = math.sqrt(target) / 2
    for _ in range(12):
        cells = guess if lo_c < guess < hi_c else math.sqrt(lo_c * hi_c)
        remap, n, out = _cluster(pos, nrm, uv, tris, cells)
        if len(out) <= target:
            if best is None or len(out) > len(best[2]):
                best = (remap, n, out)
            lo_c = cells
        else:
            hi_c = cells
        if best is not None and len(best[2]) >= 0.95 * target:
            break
        guess = cells * math.sqrt(0.97 * target / max(1, len(out)))
    if best is None:
        best = _cluster(pos, nrm, uv, tris, 1.0)
    remap, n, out = best
    acc = [0.0] * (3 * n)
    nacc = [0.0] * (3 * n)
    uacc = [0.0] * (2 * n)
    count = [0] * n
    for v, r in enumerate(remap):
        count[r] += 1
        for q in range(3):
            acc[3 * r + q] += pos[3 * v + q]
            nacc[3 * r + q] += nrm[3 * v + q]
        if count[r] == 1:  # a cluster keeps its first UV: averaging across a seam would smear
            uacc[2 * r], uacc[2 * r + 1] = uv[2 * v], uv[2 * v + 1]
    new_pos = [acc[k] / max(1, count[k // 3]) for k in range(3 * n)]
    return new_pos, nacc, uacc, out


# --------------------------------------------------------------------------- more triangles


def _len2(pos, a: int, b: int) -> float:
    return sum((pos[3 * a + q] - pos[3 * b + q]) ** 2 for q in range(3))


def _split_to(pos, nrm, uv, tris, target: int) -> None:
    """Split long edges (both of their triangles, so no cracks) until there are target triangles.

    In passes: the longest edges first, each triangle split at most once per pass.
    """
    while len(tris) < target:
        edges: dict[tuple[int, int], list[int]] = {}
        for t, (a, b, c) in enumerate(tris):
            for e in ((a, b), (b, c), (c, a)):
                edges.setdefault((min(e), max(e)), []).append(t)
        busy = bytearray(len(tris))
        need = target - len(tris)
        chosen = []

        def length(e: tuple[int, int]) -> float:
            a, b = 3 * e[0], 3 * e[1]
            dx, dy, dz = pos[a] - pos[b], pos[a + 1] - pos[b + 1], pos[a + 2] - pos[b + 2]
            return dx * dx + dy * dy + dz * dz

        for key in sorted(edges, key=length, reverse=True):
            owners = edges[key]
            if any(busy[t] for t in owners):
                continue
            for t in owners:
                busy[t] = 1
            chosen.append(key)
            need -= len(owners)
            if need <= 0:
                break
        if not chosen:
            return
        for a, b in chosen:
            m = len(pos) // 3
            a3, b3, a2, b2 = 3 * a, 3 * b, 2 * a, 2 * b
            pos.extend(((pos[a3] + pos[b3]) / 2, (pos[a3 + 1] + pos[b3 + 1]) / 2, (pos[a3 + 2] + pos[b3 + 2]) / 2))
            nrm.extend(((nrm[a3] + nrm[b3]) / 2, (nrm[a3 + 1] + nrm[b3 + 1]) / 2, (nrm[a3 + 2] + nrm[b3 + 2]) / 2))
            uv.extend(((uv[a2] + uv[b2]) / 2, (uv[a2 + 1] + uv[b2 + 1]) / 2))
            for t in edges[(a, b)]:
                p0, p1, p2 = tris[t]
                if p2 != a and p2 != b:  # the edge is p0-p1
                    x0, x1, x2 = p0, p1, p2
                elif p0 != a and p0 != b:  # p1-p2
                    x0, x1, x2 = p1, p2, p0
                else:  # p2-p0
                    x0, x1, x2 = p2, p0, p1
                tris[t] = [x0, m, x2]
                tris.append([m, x1, x2])


# --------------------------------------------------------------------------- quads


def _pair_quads(pos, tris) -> list[tuple[int, ...]]:
    """Greedy: pair triangles across their longest shared edge (a quad's diagonal)."""
    edges: dict[tuple[int, int], list[int]] = {}
    for t, (a, b, c) in enumerate(tris):
        for e in ((a, b), (b, c), (c, a)):
            edges.setdefault((min(e), max(e)), []).append(t)
    pairs = sorted(((-_len2(pos, *e), e, ts) for e, ts in edges.items() if len(ts) == 2), key=lambda p: p[0])
    used = [False] * len(tris)
    faces: list[tuple[int, ...]] = []
    for _, (a, b), (t1, t2) in pairs:
        if used[t1] or used[t2]:
            continue
        used[t1] = used[t2] = True
        tri = tris[t1]
        i = next(i for i in range(3) if {tri[i], tri[(i + 1) % 3]} == {a, b})
        x0, x1, x2 = tri[i], tri[(i + 1) % 3], tri[(i + 2) % 3]
        other = next(v for v in tris[t2] if v not in (a, b))
        faces.append((x0, other, x1, x2))
    faces.extend(tuple(t) for k, t in enumerate(tris) if not used[k])
    return faces


# --------------------------------------------------------------------------- size and origin


def resize(mesh: Mesh, height: float = 0.0, longest: float = 0.0, origin: str = "") -> None:
    """Uniform scale to a height or a longest side (metres, glTF Y up), then the origin: bottom/center."""
    lo, hi = bounds(mesh)
    ext = [hi[c] - lo[c] for c in range(3)]
    scale = 1.0
    if height > 0 and ext[1] > 0:
        scale = height / ext[1]
    elif longest > 0 and max(ext) > 0:
        scale = longest / max(ext)
    shift = [0.0, 0.0, 0.0]
    if origin in ("bottom", "center"):
        shift = [-(lo[c] + hi[c]) / 2 for c in range(3)]
        if origin == "bottom":
            shift[1] = -lo[1]
    p = mesh.positions
    mesh.positions = array("f", [(p[k] + shift[k % 3]) * scale for k in range(len(p))])
