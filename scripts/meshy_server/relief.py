"""The model of a cut-out photo: its silhouette inflated into a closed relief, the photo on the front.

The alpha mask, sampled on a grid of square cells, gives the outline (its staircase snapped onto a
contour just inside the edge). Heights solve a Poisson equation inside the outline (Laplacian u = -4, u = 0 on it)
and take h = sqrt(u): a disc becomes a hemisphere, a strip a half cylinder, so thin and thick parts
both look round. The front bulges by FRONT * h, the back by BACK * h, joined by a thin wall; every
vertex is shared (one vertex per position), so every edge belongs to exactly two triangles.
The grid is as fine as target_polycount allows; a few triangles split at their centroid make up the rest.
"""

from __future__ import annotations

import math
from array import array

from .mesh import Mesh
from .pngread import Alpha

FRONT, BACK = 0.7, 0.45  # bulge of the front and of the back (times the hemisphere height)
WALL = 0.03  # wall thickness, in units of the model's height
SMOOTHING = 3  # passes of height smoothing
MIN_COMPONENT = 0.01  # specks smaller than this share of the largest part are dropped
MAX_SHIFT = 0.9  # cells an outline vertex may move (the fold check keeps every triangle the right way up)
OUTLINE_LEVEL = 0.85  # the outline follows this cell coverage: just inside the edge, where texels are opaque


class Grid:
    """Inside/outside cells of an nx x ny grid (rows top to bottom) and their triangle budget."""

    def __init__(self, alpha: Alpha, nx: int, ny: int):
        self.nx, self.ny = nx, ny
        self.coverage = alpha.coverage(nx, ny)
        self.inside = bytearray(c >= 0.5 for c in self.coverage)
        self._no_diagonal_touch()
        self._drop_specks()

    def cell(self, i: int, j: int) -> bool:
        return 0 <= i < self.nx and 0 <= j < self.ny and bool(self.inside[j * self.nx + i])

    def cells(self):
        nx = self.nx
        return ((k % nx, k // nx) for k, v in enumerate(self.inside) if v)

    def triangles(self) -> int:
        """Front and back (2 + 2 per cell) and the wall (2 per outline edge)."""
        total = 0
        for i, j in self.cells():
            total += 4 + 2 * sum(not self.cell(a, b) for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)))
        return total

    def _no_diagonal_touch(self):
        """Cells meeting only at a corner would share a vertex four walls meet at: join them."""
        changed = True
        while changed:
            changed = False
            for j in range(1, self.ny):
                for i in range(1, self.nx):
                    a, b = self.cell(i - 1, j - 1), self.cell(i, j - 1)
                    c, d = self.cell(i - 1, j), self.cell(i, j)
                    if (a and d and not b and not c) or (b and c and not a and not d):
                        k = j * self.nx + i - 1 if a else j * self.nx + i  # fill one of the empty two
                        self.inside[k] = 1
                        changed = True

    def _drop_specks(self):
        nx, ny = self.nx, self.ny
        label = [0] * (nx * ny)
        sizes = [0]
        for start in range(nx * ny):
            if not self.inside[start] or label[start]:
                continue
            sizes.append(0)
            stack = [start]
            label[start] = len(sizes) - 1
            while stack:
                k = stack.pop()
                sizes[-1] += 1
                i, j = k % nx, k // nx
                for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                    n = b * nx + a
                    if self.cell(a, b) and not label[n]:
                        label[n] = len(sizes) - 1
                        stack.append(n)
        keep = max(sizes) * MIN_COMPONENT
        for k in range(nx * ny):
            if self.inside[k] and sizes[label[k]] < keep:
                self.inside[k] = 0


def choose_grid(alpha: Alpha, triangles: int) -> Grid | None:
    """The finest grid whose triangle count does not exceed the target (square cells)."""
    aspect = alpha.width / alpha.height
    probe = Grid(alpha, max(1, round(32 * min(1.0, aspect))), max(1, round(32 / max(1.0, aspect))))
    share = max(sum(probe.inside) / len(probe.inside), 1e-3)
    ny = max(1, int(math.sqrt(triangles / (4 * share * aspect))))
    best = None
    for _ in range(12):
        grid = Grid(alpha, max(1, round(ny * aspect)), ny)
        count = grid.triangles()
        if count and count <= triangles and (best is None or count > best[0]):
            best = (count, grid)
        if count and 0.9 * triangles <= count <= triangles:
            break
        scale = math.sqrt(triangles / count) * 0.99 if count else 2.0
        nxt = max(1, int(ny * scale))
        if nxt == ny:
            nxt = ny - 1 if count > triangles else ny + 1
        if nxt < 1 or (best is not None and nxt > ny and best[1].ny >= nxt):
            break
        ny = nxt
    return best[1] if best else None


def heights(grid: Grid) -> list[float]:
    """u per cell: Laplacian u = -4 (cell size 1 / ny) with u = 0 outside, solved coarse to fine."""
    levels = [grid]
    while max(levels[-1].nx, levels[-1].ny) > 12:
        g = levels[-1]
        levels.append(_Coarse(g))
    u = [0.0] * (levels[-1].nx * levels[-1].ny)
    for depth, g in enumerate(reversed(levels)):
        if depth:
            u = _refine(u, levels[len(levels) - depth], g)
        _relax(u, g, 1.0 / grid.ny * (2 ** (len(levels) - 1 - depth)), 60 if depth == 0 else 12)
    return u


class _Coarse:
    """Half the resolution: a coarse cell is inside when any of its fine cells is."""

    def __init__(self, fine):
        self.nx, self.ny = (fine.nx + 1) // 2, (fine.ny + 1) // 2
        self.inside = bytearray(self.nx * self.ny)
        for j in range(fine.ny):
            for i in range(fine.nx):
                if fine.inside[j * fine.nx + i]:
                    self.inside[(j // 2) * self.nx + i // 2] = 1


def _refine(u: list[float], coarse, fine) -> list[float]:
    return [
        u[(k // fine.nx // 2) * coarse.nx + (k % fine.nx) // 2] if fine.inside[k] else 0.0
        for k in range(fine.nx * fine.ny)
    ]


def _relax(u: list[float], g, h: float, sweeps: int):
    """Successive over-relaxation of the 5-point Poisson equation inside the mask."""
    nx, ny, inside = g.nx, g.ny, g.inside
    src, omega = 4.0 * h * h, 1.8
    cells = [k for k in range(nx * ny) if inside[k]]
    for _ in range(sweeps):
        for k in cells:
            i = k % nx
            s = src
            if i + 1 < nx:
                s += u[k + 1]
            if i:
                s += u[k - 1]
            if k + nx < nx * ny:
                s += u[k + nx]
            if k >= nx:
                s += u[k - nx]
            u[k] += omega * (0.25 * s - u[k])
    for k in cells:
        u[k] = max(0.0, u[k])


def build_relief(alpha: Alpha, triangles: int, origin: str = "center") -> Mesh | None:
    """The relief of alpha's silhouette with about `triangles` triangles; None when nothing is solid."""
    grid = choose_grid(alpha, triangles)
    if grid is None:
        return None
    nx, ny = grid.nx, grid.ny
    u = heights(grid)
    index: dict[tuple[int, int], int] = {}
    for i, j in grid.cells():
        for corner in ((i, j), (i + 1, j), (i, j + 1), (i + 1, j + 1)):
            index.setdefault(corner, len(index))
    corners = list(index)
    rim = [any(not grid.cell(a, b) for a, b in _cells_around(*c)) for c in corners]
    uv = [(i / nx, j / ny) for i, j in corners]
    front = [(index[i, j + 1], index[i + 1, j + 1], index[i + 1, j], index[i, j]) for i, j in grid.cells()]
    _snap_outline(grid, corners, rim, uv, front)

    n = len(corners)
    aspect = alpha.width / alpha.height
    height = _vertex_heights(corners, rim, index, u, nx)
    pos: list[float] = []
    for side in (1.0, -1.0):
        bulge = FRONT if side > 0 else BACK
        for k in range(n):
            s, t = uv[k]
            pos += ((s - 0.5) * aspect, 0.5 - t, side * (WALL / 2 + bulge * height[k]))
    uvs = uv + uv
    tris: list[int] = []
    for bl, br, tr, tl in front:
        tris += (bl, br, tr, bl, tr, tl)
        tris += (bl + n, tr + n, br + n, bl + n, tl + n, tr + n)
    for p, q in _outline_edges(grid, index):
        tris += (p + n, q + n, q, p + n, q, p)
    _split_to(tris, pos, uvs, triangles)
    if origin == "bottom":
        low = min(pos[1::3])
        pos[1::3] = [y - low for y in pos[1::3]]
    flat_uv = [c for st in uvs for c in st]
    return Mesh(array("f", pos), array("f", _normals(pos, tris)), array("f", flat_uv), array("I", tris))


def _vertex_heights(corners: list, rim: list, index: dict, u: list[float], nx: int) -> list[float]:
    """sqrt of u at each vertex (0 on the outline), smoothed a little: the staircase leaves no ridges."""
    h = [0.0 if rim[k] else math.sqrt(max(0.0, sum(u[b * nx + a] for a, b in _cells_around(i, j)) / 4))
         for k, (i, j) in enumerate(corners)]
    around = [[index[c] for c in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)) if c in index] for i, j in corners]
    for _ in range(SMOOTHING):
        h = [v if rim[k] else 0.5 * v + 0.5 * sum(h[m] for m in around[k]) / len(around[k]) for k, v in enumerate(h)]
    return h


def _cells_around(i: int, j: int):
    return ((i - 1, j - 1), (i, j - 1), (i - 1, j), (i, j))


def _outline_edges(grid: Grid, index: dict):
    """Directed outline edges (p, q) as the front triangles run them (counter-clockwise from the front)."""
    for i, j in grid.cells():
        tl, tr, bl, br = index[i, j], index[i + 1, j], index[i, j + 1], index[i + 1, j + 1]
        if not grid.cell(i, j + 1):
            yield bl, br
        if not grid.cell(i + 1, j):
            yield br, tr
        if not grid.cell(i, j - 1):
            yield tr, tl
        if not grid.cell(i - 1, j):
            yield tl, bl


def _snap_outline(grid: Grid, corners: list, rim: list, uv: list, quads: list):
    """Move outline vertices (at most MAX_SHIFT cells) onto the OUTLINE_LEVEL contour; never fold a triangle.

    Cut-outs usually keep black (or any) colour in their see-through pixels: an outline a little inside
    the half-alpha edge keeps those texels off the rim and the wall.
    """
    nx, ny, cov = grid.nx, grid.ny, grid.coverage

    def c(i, j):
        return cov[j * nx + i] if 0 <= i < nx and 0 <= j < ny else 0.0

    def field(x, y):  # coverage interpolated between cell centres, x and y in cells
        x, y = x - 0.5, y - 0.5
        i, j = math.floor(x), math.floor(y)
        fx, fy = x - i, y - j
        top = c(i, j) * (1 - fx) + c(i + 1, j) * fx
        return top * (1 - fy) + (c(i, j + 1) * (1 - fx) + c(i + 1, j + 1) * fx) * fy

    shift: dict[int, tuple[float, float]] = {}
    for k, (i, j) in enumerate(corners):
        if not rim[k]:
            continue
        x, y = float(i), float(j)
        for _ in range(2):
            f = field(x, y)
            gx = (field(x + 0.25, y) - field(x - 0.25, y)) * 2
            gy = (field(x, y + 0.25) - field(x, y - 0.25)) * 2
            g2 = gx * gx + gy * gy
            if g2 < 1e-6:
                break
            x, y = x + (OUTLINE_LEVEL - f) * gx / g2, y + (OUTLINE_LEVEL - f) * gy / g2
            dx, dy = x - i, y - j
            d = math.hypot(dx, dy)
            if d > MAX_SHIFT:
                x, y = i + dx * MAX_SHIFT / d, j + dy * MAX_SHIFT / d
        shift[k] = (x - i, y - j)

    def place(k):
        i, j = corners[k]
        dx, dy = shift.get(k, (0.0, 0.0))
        return i + dx, j + dy

    for _ in range(8):
        folded = set()
        for bl, br, tr, tl in quads:
            for a, b, d in ((bl, br, tr), (bl, tr, tl)):
                (ax, ay), (bx, by), (dx, dy) = place(a), place(b), place(d)
                if (bx - ax) * (ay - dy) - (dx - ax) * (ay - by) < 0.05:  # y runs down: flip its sign
                    folded.update(v for v in (a, b, d) if v in shift)
        if not folded:
            break
        for k in folded:
            sx, sy = shift[k]
            shift[k] = (sx / 2, sy / 2)
    for k, (sx, sy) in shift.items():
        i, j = corners[k]
        uv[k] = ((i + sx) / nx, (j + sy) / ny)


def _split_to(tris: list[int], pos: list[float], uvs: list, target: int):
    """Split evenly spread triangles at their centroid (one into three) until the count reaches target."""
    count = len(tris) // 3
    splits = min(max(0, (target - count) // 2), count)
    if not splits:
        return
    step = count / splits
    for s in range(splits):
        t = int(s * step)
        a, b, c = tris[3 * t : 3 * t + 3]
        m = len(uvs)
        pos += [(pos[3 * a + q] + pos[3 * b + q] + pos[3 * c + q]) / 3 for q in range(3)]
        uvs.append(tuple((uvs[a][q] + uvs[b][q] + uvs[c][q]) / 3 for q in range(2)))
        tris[3 * t : 3 * t + 3] = (a, b, m)
        tris += (b, c, m, c, a, m)


def _normals(pos: list[float], tris: list[int]) -> list[float]:
    """Area-weighted vertex normals (every vertex is shared, so the shading is smooth)."""
    acc = [0.0] * len(pos)
    for t in range(0, len(tris), 3):
        a, b, c = 3 * tris[t], 3 * tris[t + 1], 3 * tris[t + 2]
        ux, uy, uz = pos[b] - pos[a], pos[b + 1] - pos[a + 1], pos[b + 2] - pos[a + 2]
        vx, vy, vz = pos[c] - pos[a], pos[c + 1] - pos[a + 1], pos[c + 2] - pos[a + 2]
        nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
        for v in (a, b, c):
            acc[v] += nx
            acc[v + 1] += ny
            acc[v + 2] += nz
    out = []
    for v in range(0, len(acc), 3):
        x, y, z = acc[v], acc[v + 1], acc[v + 2]
        ln = math.sqrt(x * x + y * y + z * z)
        out += (x / ln, y / ln, z / ln) if ln > 1e-12 else (0.0, 0.0, 1.0)
    return out
