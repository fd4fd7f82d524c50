"""The triangle mesh type and the default model: a rounded "pillow" carrying the photo on both sides.

The front (glTF +Z) shows the picture, the back shows it mirrored so it reads right from behind.
Photos with a silhouette (an alpha channel) get relief.py's shape instead.
"""

from __future__ import annotations

import math
import sys
from array import array
from dataclasses import dataclass


@dataclass
class Mesh:
    """Flat little-endian-ready arrays for one triangle mesh."""

    positions: array  # float32 xyz
    normals: array  # float32 xyz
    uvs: array  # float32 uv (glTF convention: v down)
    indices: array  # uint32

    @property
    def vertex_count(self) -> int:
        return len(self.positions) // 3

    @property
    def triangle_count(self) -> int:
        return len(self.indices) // 3


def _grid_size(triangles: int, aspect: float) -> tuple[int, int]:
    """nx, ny cells per side so that 4*nx*ny (two sides, two triangles a cell) ~= triangles."""
    cells = max(1, round(triangles / 4))
    ny = max(1, round(math.sqrt(cells / aspect)))
    nx = max(1, round(cells / ny))
    return nx, ny


def build_mesh(triangles: int, aspect: float = 1.0, origin: str = "center") -> Mesh:
    """Rounded pillow, 1 unit tall, photo on +Z (front) and -Z (back, mirrored to read right)."""
    aspect = min(4.0, max(0.25, aspect))
    nx, ny = _grid_size(triangles, aspect)
    width, height = aspect, 1.0
    depth = 0.12 * max(width, height)
    power, eps = 0.3, 1e-4
    y_shift = height / 2 if origin == "bottom" else 0.0

    us = [i / nx for i in range(nx + 1)]
    vs = [j / ny for j in range(ny + 1)]
    su = [math.sin(math.pi * u) for u in us]
    cu = [math.pi * math.cos(math.pi * u) for u in us]
    sv = [math.sin(math.pi * v) for v in vs]
    cv = [math.pi * math.cos(math.pi * v) for v in vs]
    xs = [width * (u - 0.5) for u in us]

    pos: list[float] = []
    nrm: list[float] = []
    uv: list[float] = []
    for j, v in enumerate(vs):
        y = height * (v - 0.5) + y_shift
        svj, cvj = sv[j], cv[j]
        tv = 1.0 - v
        for i in range(nx + 1):
            s = max(su[i] * svj, eps)
            sp = s**power
            k = depth * power * sp / s
            hx = k * cu[i] * svj / width
            hy = k * su[i] * cvj / height
            inv = 1.0 / math.sqrt(hx * hx + hy * hy + 1.0)
            pos += (xs[i], y, depth * sp)
            nrm += (-hx * inv, -hy * inv, inv)
            uv += (us[i], tv)

    # Back side: mirror z, flip normal z, mirror u so the photo reads correctly from behind.
    pos_b = pos[:]
    pos_b[2::3] = [-z for z in pos[2::3]]
    nrm_b = nrm[:]
    nrm_b[2::3] = [-z for z in nrm[2::3]]
    uv_b = uv[:]
    uv_b[0::2] = [1.0 - u for u in uv[0::2]]

    side_vertices = (nx + 1) * (ny + 1)
    front_row: list[int] = []
    back_row: list[int] = []
    for i in range(nx):
        a, b, c, d = i, i + 1, i + nx + 2, i + nx + 1
        front_row += (a, b, c, a, c, d)
        back_row += (a, c, b, a, d, c)
    back_row = [x + side_vertices for x in back_row]
    idx = array("I")
    for j in range(ny):
        off = j * (nx + 1)
        idx.extend([x + off for x in front_row])
    for j in range(ny):
        off = j * (nx + 1)
        idx.extend([x + off for x in back_row])
    return Mesh(array("f", pos + pos_b), array("f", nrm + nrm_b), array("f", uv + uv_b), idx)


def le_bytes(arr: array) -> bytes:
    """Array bytes in little-endian order as glTF/STL require."""
    if sys.byteorder == "big":
        arr = array(arr.typecode, arr)
        arr.byteswap()
    return arr.tobytes()

