"""The Blender half of the demo, run by scripts/demo.py inside the bpy module's Python.

Takes one JSON argument from demo.py (zip, out, images, options, samples, timeout); the API key
and URL arrive through MESHY_API_KEY / MESHY_API_BASE_URL, never on the command line.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import _headless


def log(msg: str) -> None:
    print(msg, flush=True)


class Progress:
    """A progress bar on a terminal, plain lines otherwise."""

    def __init__(self):
        self.tty = sys.stdout.isatty()
        self.last = None
        self.t0 = time.monotonic()

    def __call__(self, view):
        pct = round(view.progress * 100)
        line = f"{view.phase or view.state}"
        if self.tty:
            filled = pct * 30 // 100
            bar = "#" * filled + "-" * (30 - filled)
            sys.stdout.write(f"\r[{bar}] {pct:3d}%  {line:<48.48} {time.monotonic() - self.t0:5.0f} s")
            sys.stdout.flush()
        else:
            key = (view.state, pct // 10)
            if key != self.last:
                log(f"  {time.monotonic() - self.t0:6.1f} s  {pct:3d}%  {line}")
                self.last = key

    def done(self):
        if self.tty:
            sys.stdout.write("\n")


def sample_photo(bpy, path: Path) -> Path:
    """A product photo made here (no third-party images): a glazed vase on a transparent background."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    vase = bpy.data.objects.new("Vase", _lathe(bpy))
    scene.collection.objects.link(vase)
    bpy.context.view_layer.objects.active = vase
    vase.select_set(True)
    bpy.ops.object.shade_smooth()
    mat = bpy.data.materials.new("Glaze")
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = nodes["Principled BSDF"]
    wave = nodes.new("ShaderNodeTexWave")
    wave.inputs["Scale"].default_value = 3.0
    ramp = nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (0.05, 0.18, 0.45, 1)
    ramp.color_ramp.elements[1].color = (0.95, 0.62, 0.2, 1)
    links.new(wave.outputs["Fac"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.25
    vase.data.materials.append(mat)
    _camera_and_light(bpy, [vase], distance_scale=1.7)
    _render(bpy, path, samples=24, size=(512, 512))
    return path


def _lathe(bpy, rings: int = 40, segments: int = 64):
    """A vase profile turned around Z (a mesh built from numbers, no third-party asset)."""
    verts, faces = [], []
    for i in range(rings + 1):
        t = i / rings
        r = 0.32 + 0.38 * math.sin(math.pi * min(1.0, t * 1.15)) ** 1.5 + (0.12 * (t - 0.85) / 0.15 if t > 0.85 else 0)
        for j in range(segments):
            a = 2 * math.pi * j / segments
            verts.append((r * math.cos(a), r * math.sin(a), 1.6 * t))
    for i in range(rings):
        for j in range(segments):
            a, b = i * segments + j, i * segments + (j + 1) % segments
            faces.append((a, b, b + segments, a + segments))
    faces.append(tuple(reversed(range(segments))))  # the base
    mesh = bpy.data.meshes.new("Vase")
    mesh.from_pydata(verts, [], faces)
    return mesh


def _world(bpy):
    scene = bpy.context.scene
    if scene.world is None:
        scene.world = bpy.data.worlds.new("World")
    scene.world.use_nodes = True
    bg = scene.world.node_tree.nodes.get("Background")
    bg.inputs[0].default_value = (0.9, 0.9, 0.92, 1.0)
    bg.inputs[1].default_value = 0.6


def _bounds(objects):
    from mathutils import Vector

    pts = [o.matrix_world @ Vector(c) for o in objects if o.type == "MESH" for c in o.bound_box]
    lo = Vector((min(p.x for p in pts), min(p.y for p in pts), min(p.z for p in pts)))
    hi = Vector((max(p.x for p in pts), max(p.y for p in pts), max(p.z for p in pts)))
    return lo, hi


def _camera_and_light(bpy, objects, distance_scale=1.9):
    """A camera on a three-quarter view and a key light, framing the objects' bounds."""
    from mathutils import Vector

    scene = bpy.context.scene
    lo, hi = _bounds(objects)
    center = (lo + hi) / 2
    size = max((hi - lo).length, 1e-3)
    cam_data = bpy.data.cameras.new("Camera")
    cam_data.lens = 50
    cam = bpy.data.objects.new("Camera", cam_data)
    scene.collection.objects.link(cam)
    direction = Vector((0.55, -1.0, 0.45)).normalized()
    cam.location = center + direction * size * distance_scale
    cam.rotation_euler = (center - cam.location).to_track_quat("-Z", "Y").to_euler()
    scene.camera = cam
    light_data = bpy.data.lights.new("Key", "AREA")
    light_data.energy = 60.0 * size * size
    light_data.size = size
    light = bpy.data.objects.new("Key", light_data)
    light.location = center + Vector((-1.0, -1.2, 1.6)) * size
    light.rotation_euler = (center - light.location).to_track_quat("-Z", "Y").to_euler()
    scene.collection.objects.link(light)
    _world(bpy)


def _render(bpy, path: Path, samples: int, size=(960, 720)):
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)


def summary_of(objects):
    meshes = [o for o in objects if o.type == "MESH"]
    triangles = sum(sum(len(p.vertices) - 2 for p in o.data.polygons) for o in meshes)
    materials = sorted({s.material.name for o in meshes for s in o.material_slots if s.material})
    return triangles, materials


def main() -> int:
    job = json.loads(sys.argv[-1])
    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    meshy = _headless.start(job["zip"])
    import bpy

    images = job["images"]
    if not images:
        photo = out / "sample_photo.png"
        log("no --image given: rendering a sample photo (a glazed vase) ...")
        images = [str(sample_photo(bpy, photo))]
        log(f"sample photo: {photo}")
    bpy.ops.wm.read_homefile(use_empty=True)

    options = job["options"]
    progress = Progress()
    try:
        if len(images) == 1:
            handle = meshy.submit_image(images[0], **options)
        else:
            handle = meshy.submit_images(images, **options)
        kind = "Image to 3D" if len(images) == 1 else f"Multi-Image to 3D ({len(images)} photos)"
        log(f"submitted {kind}; job {handle.id}")
        objects = meshy.wait(handle, timeout=job["timeout"], on_progress=progress)
    except (meshy.JobFailed, TimeoutError, ValueError, RuntimeError) as exc:
        progress.done()
        print(f"demo: failed: {exc}", file=sys.stderr)
        return 1
    progress.done()
    view = handle.view
    triangles, materials = summary_of(objects)
    _camera_and_light(bpy, objects)
    blend = out / "demo.blend"
    png = out / "demo.png"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    log(f"rendering {png.name} (Cycles, CPU, {job['samples']} samples) ...")
    _render(bpy, png, samples=job["samples"])
    log(
        f"task {view.task_id} | {triangles} triangles | materials: {', '.join(materials) or 'none'} "
        f"| files: {blend}, {png}"
    )
    return 0


if __name__ == "__main__":
    _headless.leave(main())
