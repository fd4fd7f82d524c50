"""Which files a task offers and how each is built from the task's own request (on first download)."""

from __future__ import annotations

from . import formats, images
from .mesh import Mesh, build_mesh
from .pngread import read_alpha
from .relief import build_relief
from .tasks import Task

DEFAULT_TRIANGLES = 5000
LOWPOLY_TRIANGLES = 1000
PRE_REMESH_TRIANGLES = 20000
VIEWS = ("front", "right", "back", "left")


def base_color_name(task: Task) -> str:
    return "texture_0.jpg" if task.images[0][1] == "image/jpeg" else "texture_0.png"


def texture_files(task: Task) -> dict[str, str]:
    o = task.opts
    if not o["should_texture"]:
        return {}
    out = {"base_color": base_color_name(task)}
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


def all_files(task: Task) -> set[str]:
    names = set(output_files(task).values()) | set(texture_files(task).values()) | {"preview.png"}
    names |= set(thumbnail_files(task).values())
    if task.opts["alpha_thumbnail"]:
        names.add("alpha_thumbnail.png")
    return names


def triangle_target(task: Task) -> int:
    o = task.opts
    if o["should_remesh"]:
        return o["target_polycount"]
    return LOWPOLY_TRIANGLES if o["model_type"] == "lowpoly" else DEFAULT_TRIANGLES


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
    if alpha is not None:
        relief = build_relief(alpha, triangles, origin)
        if relief is not None:
            return relief
    w, h = images.image_size(data)
    return build_mesh(triangles, w / h, origin)


def _pbr_maps(task: Task) -> dict:
    o = task.opts
    if not (o["should_texture"] and o["enable_pbr"]):
        return {}
    maps = {"metallic_roughness": images.metallic_roughness_png(), "normal": images.normal_png()}
    if o["ai_model"] != "meshy-5":
        maps["emission"] = images.emission_png()
    return maps


def _mtl(task: Task) -> bytes:
    """MTL naming the served texture files (PBR extension keys when enable_pbr)."""
    tex = texture_files(task)
    keys = {"map_Pm": "metallic", "map_Pr": "roughness", "norm": "normal", "map_Ke": "emission"}
    extra = {k: tex[v] for k, v in keys.items() if v in tex}
    return formats.build_mtl(tex.get("base_color"), extra)


MAPS = {
    "texture_0_metallic.png": images.metallic_png,
    "texture_0_roughness.png": images.roughness_png,
    "texture_0_normal.png": images.normal_png,
    "texture_0_emission.png": images.emission_png,
}


def build_file(task: Task, filename: str) -> bytes:
    """Generate one output file from the task's own request."""
    o = task.opts
    img, mime = task.images[0]
    base = (img, mime) if o["should_texture"] else None
    if filename == "model.glb":
        return formats.build_glb(model_mesh(task, triangle_target(task)), base, _pbr_maps(task))
    if filename == "pre_remeshed_model.glb":
        return formats.build_glb(model_mesh(task, PRE_REMESH_TRIANGLES), base, _pbr_maps(task))
    if filename == "model.obj":
        return formats.build_obj(model_mesh(task, triangle_target(task)), "model.mtl" if base else None)
    if filename == "model.mtl":
        return _mtl(task)
    if filename == "model.stl":
        return formats.build_stl(model_mesh(task, triangle_target(task)))
    if filename == "model.3mf":
        return formats.build_3mf(model_mesh(task, triangle_target(task)))
    if filename in ("model.fbx", "model.usdz"):
        return formats.placeholder(filename.split(".")[1])
    if filename.startswith("texture_0."):
        return img
    if filename in MAPS:
        return MAPS[filename]()
    if filename == "preview.png":
        return images.thumbnail_png(img[:4096])
    if filename == "alpha_thumbnail.png":
        return images.thumbnail_png(img[:4096], alpha=True)
    view = filename[len("thumbnail_") : -len(".png")]
    return images.thumbnail_png(img[:4096], view=view)
