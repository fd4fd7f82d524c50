"""Which files a task offers and how each is built from the task's own request (on first download).

How big a model that is not remeshed comes out is the server's choice (``OutputSize``): small by
default so tests stay fast, or Meshy's own (``MESHY_SIZE``: about 1M triangles and 2048^2 maps).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from . import formats, images, maps
from .mesh import Mesh, build_mesh
from .pngread import read_alpha
from .relief import build_relief
from .tasks import Task

DEFAULT_TRIANGLES = 5000
LOWPOLY_TRIANGLES = 1000
PRE_REMESH_TRIANGLES = 20000
RELIEF_MAX_TRIANGLES = 300_000  # Meshy's largest target_polycount; a cut-out above it gets the pillow (speed)
MAX_TRIANGLES = 5_000_000
MAX_TEXTURE_SIZE = 8192
VIEWS = ("front", "right", "back", "left")


@dataclass(frozen=True)
class OutputSize:
    """The size of a model that is not remeshed: its triangles, and the side of its texture maps.

    texture_size 0 keeps the test-sized files: the photo as sent for the base colour, 64 px PBR maps.
    Otherwise every map (base colour included) is texture_size square and weighs what a real one does
    (maps.py); the base colour is then a pattern in the photo's tint, not the photo.
    """

    triangles: int = DEFAULT_TRIANGLES
    texture_size: int = 0

    def __post_init__(self):
        if not 100 <= self.triangles <= MAX_TRIANGLES:
            raise ValueError(f"triangles must be 100 to {MAX_TRIANGLES:,}, not {self.triangles}")
        if self.texture_size and not 16 <= self.texture_size <= MAX_TEXTURE_SIZE:
            raise ValueError(f"texture_size must be 0 (the photo as sent) or 16 to {MAX_TEXTURE_SIZE}, "
                             f"not {self.texture_size}")


TEST_SIZE = OutputSize()
MESHY_SIZE = OutputSize(1_000_000, 2048)  # meshy-6 without remeshing: "the highest-precision triangular mesh"


def base_color_name(task: Task, size: OutputSize = TEST_SIZE) -> str:
    jpeg = task.images[0][1] == "image/jpeg" and not size.texture_size
    return "texture_0.jpg" if jpeg else "texture_0.png"


def texture_files(task: Task, size: OutputSize = TEST_SIZE) -> dict[str, str]:
    o = task.opts
    if not o["should_texture"]:
        return {}
    out = {"base_color": base_color_name(task, size)}
    if o["enable_pbr"]:
        out.update(
            metallic="texture_0_metallic.png",
            roughness="texture_0_roughness.png",
            normal="texture_0_normal.png",
        )
        if o["ai_model"] != "meshy-5":
            out["emission"] = "texture_0_emission.png"
    return out


def output_files(task: Task) -> dict[str, str]:
    """model_urls keys -> filenames, only for generated formats."""
    o = task.opts
    out = {fmt: f"model.{fmt}" for fmt in o["target_formats"]}
    if "obj" in out and o["should_texture"]:
        out["mtl"] = "model.mtl"
    if o["save_pre_remeshed_model"]:
        out["pre_remeshed_glb"] = "pre_remeshed_model.glb"
    return out


def thumbnail_files(task: Task) -> dict[str, str]:
    """thumbnail_urls keys -> filenames (only with multi_view_thumbnails)."""
    return {v: f"thumbnail_{v}.png" for v in VIEWS} if task.opts["multi_view_thumbnails"] else {}


def all_files(task: Task, size: OutputSize = TEST_SIZE) -> set[str]:
    names = set(output_files(task).values()) | set(texture_files(task, size).values()) | {"preview.png"}
    names |= set(thumbnail_files(task).values())
    if task.opts["alpha_thumbnail"]:
        names.add("alpha_thumbnail.png")
    return names


def triangle_target(task: Task, size: OutputSize = TEST_SIZE) -> int:
    o = task.opts
    if o["should_remesh"]:
        return o["target_polycount"]
    return LOWPOLY_TRIANGLES if o["model_type"] == "lowpoly" else size.triangles


def model_mesh(task: Task, triangles: int) -> Mesh:
    """The relief of the photo's silhouette when it has one, else the pillow with the photo's aspect.

    origin_at only matters with auto_size (as on Meshy). Built once per size for all formats;
    called with the task's files_lock held.
    """
    key = ("mesh", triangles)
    if key not in task.derived:
        task.derived[key] = _build_mesh(task, triangles)
    return task.derived[key]


def _build_mesh(task: Task, triangles: int) -> Mesh:
    data = task.images[0][0]
    origin = task.opts["origin_at"] if task.opts["auto_size"] else "center"
    if "alpha" not in task.derived:
        alpha = read_alpha(data)
        task.derived["alpha"] = alpha if alpha is not None and alpha.has_silhouette() else None
    alpha = task.derived["alpha"]
    if alpha is not None and triangles <= RELIEF_MAX_TRIANGLES:
        relief = build_relief(alpha, triangles, origin)
        if relief is not None:
            return relief
    w, h = images.image_size(data)
    return _pillow(triangles, round(w / h, 6), origin)


@maps.shared
def _pillow(triangles: int, aspect: float, origin: str) -> Mesh:
    """The same for every photo of an aspect ratio: shared between tasks (1M triangles take ~1 s)."""
    return build_mesh(triangles, aspect, origin)


def _pbr_maps(task: Task, size: OutputSize) -> dict:
    o = task.opts
    if not (o["should_texture"] and o["enable_pbr"]):
        return {}
    if size.texture_size:
        n = size.texture_size
        out = {"metallic_roughness": maps.metallic_roughness_png(n), "normal": maps.normal_png(n)}
        if o["ai_model"] != "meshy-5":
            out["emission"] = maps.emission_png(n)
        return out
    out = {"metallic_roughness": images.metallic_roughness_png(), "normal": images.normal_png()}
    if o["ai_model"] != "meshy-5":
        out["emission"] = images.emission_png()
    return out


def warm_up(size: OutputSize) -> None:
    """Build the maps every task of this size shares (about 2 s at 2048 px), so the first download does
    not wait for them: called on a thread of its own when the server starts."""
    if size.texture_size:
        for build in (maps.metallic_roughness_png, maps.normal_png, maps.emission_png, maps.metallic_png,
                      maps.roughness_png):
            build(size.texture_size)
    _pillow(size.triangles, 1.0, "center")


def _base_color(task: Task, size: OutputSize, cache: LargeFiles | None) -> tuple[bytes, str]:
    """The base colour map: the photo as sent, or (texture_size) a map of that size in its tint."""
    img, mime = task.images[0]
    if not size.texture_size:
        return img, mime
    key = (task.id, "base_color", size.texture_size)
    data = cache.get(key) if cache else None
    if data is None:
        data = maps.base_color_png(size.texture_size, images.tint(img[:4096]), img[:65536])
        if cache:
            cache.put(key, data)
    return data, "image/png"


def _mtl(task: Task, size: OutputSize) -> bytes:
    """MTL naming the served texture files (PBR extension keys when enable_pbr)."""
    tex = texture_files(task, size)
    keys = {"map_Pm": "metallic", "map_Pr": "roughness", "norm": "normal", "map_Ke": "emission"}
    extra = {k: tex[v] for k, v in keys.items() if v in tex}
    return formats.build_mtl(tex.get("base_color"), extra)


MAPS = {
    "texture_0_metallic.png": (images.metallic_png, maps.metallic_png),
    "texture_0_roughness.png": (images.roughness_png, maps.roughness_png),
    "texture_0_normal.png": (images.normal_png, maps.normal_png),
    "texture_0_emission.png": (images.emission_png, maps.emission_png),
}


def build_file(task: Task, filename: str, size: OutputSize = TEST_SIZE, cache: LargeFiles | None = None) -> bytes:
    """Generate one output file from the task's own request (``cache``: where the base colour is kept)."""
    o = task.opts
    img = task.images[0][0]
    base = _base_color(task, size, cache) if o["should_texture"] else None
    triangles = triangle_target(task, size)
    if filename == "model.glb":
        return formats.build_glb(model_mesh(task, triangles), base, _pbr_maps(task, size))
    if filename == "pre_remeshed_model.glb":
        pre = max(PRE_REMESH_TRIANGLES, size.triangles)  # the highest-precision mesh, before remeshing
        return formats.build_glb(model_mesh(task, pre), base, _pbr_maps(task, size))
    if filename == "model.obj":
        return formats.build_obj(model_mesh(task, triangles), "model.mtl" if base else None)
    if filename == "model.mtl":
        return _mtl(task, size)
    if filename == "model.stl":
        return formats.build_stl(model_mesh(task, triangles))
    if filename == "model.3mf":
        return formats.build_3mf(model_mesh(task, triangles))
    if filename in ("model.fbx", "model.usdz"):
        return formats.placeholder(filename.split(".")[1])
    if filename.startswith("texture_0."):
        return base[0] if base else img
    if filename in MAPS:
        small, large = MAPS[filename]
        return large(size.texture_size) if size.texture_size else small()
    if filename == "preview.png":
        return images.thumbnail_png(img[:4096])
    if filename == "alpha_thumbnail.png":
        return images.thumbnail_png(img[:4096], alpha=True)
    view = filename[len("thumbnail_") : -len(".png")]
    return images.thumbnail_png(img[:4096], view=view)


class LargeFiles:
    """Built files of a megabyte or more, kept for the tasks downloaded last, at most ``limit`` bytes.

    Meshy-size files (a 45 MB GLB, 7 MB maps) are not kept for every task: thirty tasks would hold
    over a gigabyte. One pushed out is built again, to the same bytes, if it is asked for once more.
    """

    def __init__(self, limit: int = 512 << 20, threshold: int = 1 << 20):
        self.limit, self.threshold = limit, threshold
        self._lock = threading.Lock()
        self._files: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            data = self._files.get(key)
            if data is not None:
                self._files.move_to_end(key)
            return data

    def put(self, key: tuple, data: bytes) -> None:
        """Keep data (pushing out the least recently used beyond the limit; the newest always stays)."""
        with self._lock:
            old = self._files.pop(key, None)
            self._bytes -= len(old) if old is not None else 0
            self._files[key] = data
            self._bytes += len(data)
            while self._bytes > self.limit and len(self._files) > 1:
                _, dropped = self._files.popitem(last=False)
                self._bytes -= len(dropped)

    def __len__(self) -> int:
        with self._lock:
            return len(self._files)
