"""Shared checks on what Blender holds: node links behind a Principled BSDF, datablock snapshots."""

import bpy
import pytest


def bsdf_of(obj):
    mat = obj.material_slots[0].material
    return next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")


def feeder(bsdf, name):
    """(node feeding the input, its output socket name); the input must be linked."""
    socket = bsdf.inputs[name]
    assert socket.is_linked, f"{name} is not connected"
    link = socket.links[0]
    return link.from_node, link.from_socket.name


def image_behind(node):
    """The image node feeding `node` (or node itself); asserts there is one."""
    if node.type == "TEX_IMAGE":
        return node
    links = [link for inp in node.inputs for link in inp.links]
    assert links, f"nothing feeds {node.name}"
    return image_behind(links[0].from_node)


def space(tex):
    return tex.image.colorspace_settings.name


def emission_input(bsdf):
    return "Emission Color" if "Emission Color" in bsdf.inputs else "Emission"


def assert_fully_wired(bsdf):
    tex, out = feeder(bsdf, "Base Color")
    assert (tex.type, out, space(tex)) == ("TEX_IMAGE", "Color", "sRGB")
    for name in ("Metallic", "Roughness"):
        node, _ = feeder(bsdf, name)
        assert space(image_behind(node)) == "Non-Color"
    nmap, out = feeder(bsdf, "Normal")
    assert (nmap.type, out) == ("NORMAL_MAP", "Normal")
    assert space(image_behind(nmap)) == "Non-Color"
    tex, _ = feeder(bsdf, emission_input(bsdf))
    assert (tex.type, space(tex)) == ("TEX_IMAGE", "sRGB")
    assert bsdf.inputs["Emission Strength"].default_value == pytest.approx(1.0)


def data_names():
    """Every datablock name in every bpy.data collection, to compare before/after a failure."""
    out = {}
    for prop in bpy.data.bl_rna.properties:
        if prop.type == "COLLECTION":
            out[prop.identifier] = sorted(i.name for i in getattr(bpy.data, prop.identifier))
    return out
