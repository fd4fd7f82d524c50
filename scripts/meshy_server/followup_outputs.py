"""The files of a follow-up task, each built from its source and its own request (on first download).

Remesh: the source resampled (remesh.py) in the formats asked for; Retexture: the source mesh with a
base colour in the style's colour (retexture.py) and PBR maps; Rigging: the source skinned to a
humanoid skeleton with Walking and Running clips (rig.py, anim.py); Animation: the rig task's
character with the library action's clip. FBX, USDZ and .blend files are labelled placeholders.
"""

from __future__ import annotations

import sys
from array import array

from . import anim, formats, images, outputs
from .mesh import Mesh
from .modelio import SourceModel, planar_uvs, read_model
from .remesh import decimation_target, remesh, resize
from .retexture import base_colour_png, image_colour, prompt_colour
from .rig import Rig, build_rig, build_rigged_glb
from .tasks import Task

_this = sys.modules[__name__]

PBR_FILES = {"metallic": "texture_0_metallic.png", "roughness": "texture_0_roughness.png",
             "normal": "texture_0_normal.png", "emission": "texture_0_emission.png"}
MAPS = {"texture_0_metallic.png": images.metallic_png, "texture_0_roughness.png": images.roughness_png,
        "texture_0_normal.png": images.normal_png, "texture_0_emission.png": images.emission_png}


def placeholder(filename: str) -> bytes:
    ext = filename.rsplit(".", 1)[-1]
    return f"MESHY_SERVER PLACEHOLDER: {filename} is not a real {ext.upper()} file.\n".encode()


# --------------------------------------------------------------------------- which files


def model_files(task: Task) -> dict[str, str]:
    """model_urls keys -> filenames (Remesh, Retexture): only the formats made."""
    out = {fmt: f"model.{fmt}" for fmt in task.opts["target_formats"]}
    if task.kind == "retexture" and "obj" in out:
        out["mtl"] = "model.mtl"
    return out


def texture_files(task: Task) -> dict[str, str]:
    if task.kind != "retexture":
        return {}
    o = task.opts
    out = {"base_color": "texture_0.png"}
    if o["enable_pbr"]:
        out.update({k: v for k, v in PBR_FILES.items() if k != "emission" or o["ai_model"] != "meshy-5"})
    return out


def _action_name(task: Task) -> str:
    return anim.LIBRARY[task.opts["action_id"]][0]


def result_files(task: Task) -> dict[str, str]:
    """result keys -> filenames (Rigging, Animation)."""
    if task.kind == "rigging":
        out = {"rigged_character_glb_url": "rigged_character.glb", "rigged_character_fbx_url": "rigged_character.fbx"}
        for clip in ("Walking", "Running"):
            key = clip.lower()
            out.update({f"{key}_glb_url": f"Animation_{clip}_withSkin.glb",
                        f"{key}_fbx_url": f"Animation_{clip}_withSkin.fbx",
                        f"{key}_armature_glb_url": f"Animation_{clip}_armature.glb"})
        return out
    name = _action_name(task)
    out = {"animation_glb_url": f"Animation_{name}_withSkin.glb", "animation_fbx_url": f"Animation_{name}_withSkin.fbx"}
    op = task.opts["operation_type"]
    if op == "change_fps":
        out["processed_animation_fps_fbx_url"] = f"Animation_{name}_{task.opts['fps']}fps.fbx"
    elif op == "fbx2usdz":
        out["processed_usdz_url"] = f"Animation_{name}.usdz"
    elif op == "extract_armature":
        out["processed_armature_fbx_url"] = f"Animation_{name}_armature.fbx"
    return out


def all_files(task: Task) -> set[str]:
    names = set(result_files(task).values()) if task.kind in ("rigging", "animations") else set()
    if task.kind in ("remesh", "retexture"):
        names |= set(model_files(task).values()) | set(texture_files(task).values()) | {"preview.png"}
        if task.opts["alpha_thumbnail"]:
            names.add("alpha_thumbnail.png")
    return names


# --------------------------------------------------------------------------- sources


def glb_of(task: Task) -> bytes:
    """A task's model.glb (a source of another task), built when it is not among its formats."""
    with task.files_lock:
        if "model.glb" in task.files:
            return task.files["model.glb"]
        if "glb_copy" not in task.derived:  # not one of its downloads: kept aside, never served
            module = outputs if task.kind in ("image-to-3d", "multi-image-to-3d") else _this
            data = module.build_file(task, "model.glb")
            if "model.glb" not in module.all_files(task):
                task.derived["glb_copy"] = data
                return data
            task.files["model.glb"] = data
            return data
        return task.derived["glb_copy"]


def source_model(task: Task) -> SourceModel:
    """The model a Remesh / Retexture / Rigging task starts from (parsed once; files_lock held)."""
    if "source" not in task.derived:
        src = task.opts["_source_task"]
        data, fmt = (glb_of(src), "glb") if src is not None else task.opts["_source_model"]
        task.derived["source"] = read_model(data, fmt)
    return task.derived["source"]


def rig_of(task: Task) -> Rig:
    """A rigging task's rig (built once; files_lock held for its own task, taken for a rig task's)."""
    if task.kind == "animations":
        rig_task = task.opts["_rig_task"]
        with rig_task.files_lock:
            return rig_of(rig_task)
    if "rig" not in task.derived:
        task.derived["rig"] = build_rig(source_model(task), task.opts["height_meters"], task.opts["texture"])
    return task.derived["rig"]


# --------------------------------------------------------------------------- building


def _remeshed(task: Task) -> tuple[Mesh, list, SourceModel]:
    if "remeshed" not in task.derived:
        o = task.opts
        src = source_model(task)
        m = src.mesh
        mesh = Mesh(array("f", m.positions), array("f", m.normals), array("f", m.uvs), array("I", m.indices))
        faces: list = [tuple(mesh.indices[k : k + 3]) for k in range(0, len(mesh.indices), 3)]
        if not o["convert_format_only"]:
            target = o["target_polycount"]
            if o["decimation_mode"] is not None:
                target = decimation_target(m.triangle_count, o["decimation_mode"])
            mesh, faces = remesh(mesh, target, quads=o["topology"] == "quad")
            height = o["resize_height"] or (_auto_height(mesh) if o["auto_size"] else 0.0)
            origin = o["origin_at"] or ("bottom" if o["auto_size"] else "")
            resize(mesh, height=height, longest=o["resize_longest_side"] or 0.0, origin=origin)
        task.derived["remeshed"] = (mesh, faces, src)
    return task.derived["remeshed"]


def _auto_height(mesh: Mesh) -> float:
    """auto_size's "real height": 1.7 m for something taller than wide (a figure), else 0.5 m."""
    p = mesh.positions
    w, h = max(p[0::3]) - min(p[0::3]), max(p[1::3]) - min(p[1::3])
    return 1.7 if h > w else 0.5


def _retextured(task: Task) -> tuple[Mesh, bytes]:
    if "retextured" not in task.derived:
        o = task.opts
        src = source_model(task)
        m = src.mesh
        mesh = Mesh(m.positions, m.normals, array("f", m.uvs), m.indices)
        if not o["enable_original_uv"]:
            planar_uvs(mesh)  # Meshy unwraps again; here: a front projection
        colour = image_colour(o["style_image"][0]) if o["style_image"] else prompt_colour(o["text_style_prompt"])
        task.derived["retextured"] = (mesh, base_colour_png(colour, hd=o["hd_texture"]))
    return task.derived["retextured"]


def _pbr(textures: dict) -> dict:
    return {k: textures[k][0] for k in ("metallic_roughness", "normal", "emission") if k in textures}


def _retexture_pbr(o: dict) -> dict:
    """The GLB's packed metallic-roughness, normal and (not on meshy-5) emission maps."""
    maps = {"metallic_roughness": images.metallic_roughness_png(), "normal": images.normal_png()}
    if o["ai_model"] != "meshy-5":
        maps["emission"] = images.emission_png()
    return maps


def _obj(mesh: Mesh, faces: list, mtl: str | None) -> bytes:
    """OBJ with the faces as given (quads stay quads)."""
    p, n, t = mesh.positions, mesh.normals, mesh.uvs
    out = ["# meshy_server follow-up OBJ\n"]
    if mtl:
        out.append(f"mtllib {mtl}\nusemtl MeshyMaterial\n")
    out += [f"v {p[k]:.5f} {p[k + 1]:.5f} {p[k + 2]:.5f}\n" for k in range(0, len(p), 3)]
    out += [f"vt {t[k]:.5f} {1 - t[k + 1]:.5f}\n" for k in range(0, len(t), 2)]
    out += [f"vn {n[k]:.4f} {n[k + 1]:.4f} {n[k + 2]:.4f}\n" for k in range(0, len(n), 3)]
    out += ["f " + " ".join(f"{i + 1}/{i + 1}/{i + 1}" for i in f) + "\n" for f in faces]
    return "".join(out).encode()


def build_file(task: Task, filename: str) -> bytes:
    """One output file of a follow-up task (the caller holds task.files_lock)."""
    if filename.endswith((".fbx", ".usdz", ".blend")):
        return placeholder(filename)
    if task.kind in ("rigging", "animations"):
        return _rig_file(task, filename)
    if task.kind == "remesh":
        mesh, faces, src = _remeshed(task)
        base, pbr = src.textures.get("base_color"), _pbr(src.textures)
    else:
        mesh, png = _retextured(task)
        faces = [tuple(mesh.indices[k : k + 3]) for k in range(0, len(mesh.indices), 3)]
        base = (png, "image/png")
        pbr = _retexture_pbr(task.opts) if task.opts["enable_pbr"] else {}
    seed = base[0][:4096] if base else task.id.encode()
    if filename == "model.glb":
        return formats.build_glb(mesh, base, pbr)
    if filename == "model.obj":
        return _obj(mesh, faces, "model.mtl" if task.kind == "retexture" else None)
    if filename == "model.mtl":
        tex = texture_files(task)
        keys = {"map_Pm": "metallic", "map_Pr": "roughness", "norm": "normal", "map_Ke": "emission"}
        return formats.build_mtl(tex["base_color"], {k: tex[v] for k, v in keys.items() if v in tex})
    if filename == "model.stl":
        return formats.build_stl(mesh)
    if filename == "model.3mf":
        return formats.build_3mf(mesh)
    if filename == "texture_0.png":
        return base[0]
    if filename in MAPS:
        return MAPS[filename]()
    return images.thumbnail_png(seed, alpha=filename == "alpha_thumbnail.png")


def _rig_file(task: Task, filename: str) -> bytes:
    rig = rig_of(task)
    if task.kind == "animations":
        fps = task.opts["fps"] if task.opts["operation_type"] == "change_fps" else anim.DEFAULT_FPS
        return build_rigged_glb(rig, [anim.action_clip(rig, task.opts["action_id"], fps)])
    if filename == "rigged_character.glb":
        return build_rigged_glb(rig, [anim.walking(rig), anim.running(rig)])
    clip = anim.walking(rig) if "Walking" in filename else anim.running(rig)
    return build_rigged_glb(rig, [clip], with_mesh="armature" not in filename)

