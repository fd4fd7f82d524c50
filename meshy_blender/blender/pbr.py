"""Wire a glTF material's Principled BSDF to the PBR maps Meshy sent as separate files.

Maps the GLB already links stay as they are (their colour spaces fixed); a missing link gets an
Image Texture node reading the map's file. Colour maps are sRGB, every other map holds data.
"""

from __future__ import annotations

import bpy

MAP_KEYS = ("base_color", "metallic", "roughness", "normal", "emission")

# Principled BSDF input names per map; "Emission" is the pre-4.0 name of "Emission Color".
_INPUTS = {
    "base_color": ("Base Color",),
    "metallic": ("Metallic",),
    "roughness": ("Roughness",),
    "normal": ("Normal",),
    "emission": ("Emission Color", "Emission"),
}
_COLOR_SPACE = {"base_color": "sRGB", "emission": "sRGB"}  # all other maps hold data
_DATA_SPACE = "Non-Color"


def wire_material(material, texture_files: dict[str, str]) -> None:
    """Make every map the model has reach the Principled BSDF, with the right colour space."""
    tree = material.node_tree  # glTF materials always use nodes (use_nodes is deprecated in 5.0)
    bsdf = _principled(tree) if tree else None
    if bsdf is None:
        return
    for key in MAP_KEYS:
        socket = _input(bsdf, key)
        if socket is None:
            continue
        space = _COLOR_SPACE.get(key, _DATA_SPACE)
        if socket.is_linked:
            _fix_color_spaces(socket, space)
        elif texture_files.get(key):
            _connect_map(tree, bsdf, socket, key, texture_files[key], space)


def _principled(tree):
    for node in tree.nodes:
        if node.type == "BSDF_PRINCIPLED":
            return node
    return None


def _input(bsdf, key: str):
    for name in _INPUTS[key]:
        socket = bsdf.inputs.get(name)
        if socket is not None:
            return socket
    return None


def _upstream_images(socket, depth: int = 4):
    """Image nodes feeding a socket, through Separate Color / Normal Map / Mix nodes."""
    frontier = [link.from_node for link in socket.links]
    for _ in range(depth):
        nxt = []
        for node in frontier:
            if node.type == "TEX_IMAGE":
                yield node
            else:
                nxt += [link.from_node for inp in node.inputs for link in inp.links]
        frontier = nxt


def _fix_color_spaces(socket, space: str) -> None:
    for node in _upstream_images(socket):
        settings = node.image.colorspace_settings if node.image else None
        if settings is not None and settings.name != space:
            settings.name = space


def _load_image(path: str):
    """The image, or None when the file is missing or unreadable (the material keeps its other maps)."""
    try:
        image = bpy.data.images.load(path, check_existing=True)
    except RuntimeError:
        image = None
    if image is not None and image.size[0] == 0:  # loading is lazy: size reads the pixels
        if image.users == 0:
            bpy.data.images.remove(image)
        image = None
    if image is None:
        print(f"Meshy: could not read texture {path!r}; the material keeps its other maps")
    return image


def _connect_map(tree, bsdf, socket, key: str, path: str, space: str) -> None:
    """Add an image node for a map the glTF lacked; normal maps go through a Normal Map node."""
    image = _load_image(path)
    if image is None:
        return
    image.colorspace_settings.name = space
    tex = tree.nodes.new("ShaderNodeTexImage")
    tex.image = image
    tex.label = f"Meshy {key}"
    tex.location = (bsdf.location.x - 600, bsdf.location.y - 300 * MAP_KEYS.index(key))
    out = tex.outputs["Color"]
    if key == "normal":
        normal_map = tree.nodes.new("ShaderNodeNormalMap")
        normal_map.location = (bsdf.location.x - 250, tex.location.y)
        tree.links.new(out, normal_map.inputs["Color"])
        out = normal_map.outputs["Normal"]
    tree.links.new(out, socket)
    if key == "emission" and bsdf.inputs.get("Emission Strength") is not None:
        bsdf.inputs["Emission Strength"].default_value = 1.0
