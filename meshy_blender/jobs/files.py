"""The job folder in the model library: names we choose, never the server's.

Every path the engine writes is built here from a fixed vocabulary (model.glb, thumbnail.png,
textures/<known map>.png, input_N.png|jpg, option_<option>.png|jpg) plus one readable name made from
the job's label, and checked to stay inside the library folder, so nothing a server, URL or label
says can write elsewhere.

Names follow the strictest platform, so a library folder can be copied between machines:
Windows forbids ``<>:"/\\|?*`` and control characters, a trailing dot or space, and device names
(CON, PRN, AUX, NUL, COM1-9, LPT1-9, also with an extension: ``con.png``); ext4 allows 255 bytes
per name, NTFS 255 UTF-16 units. Non-ASCII letters are kept (NFC, as Windows and Linux store them;
macOS file systems match either form), so ``Café 椅子`` stays readable.

Windows also limits a whole path to 259 characters (MAX_PATH without its NUL; a folder to 247, which
the reserve below keeps), and Blender does not opt in to long paths. The budget, measured on the
default library folder of a typical Windows account with the longest local user name (20 characters)::

    C:\\Users\\<20 characters>\\AppData\\Roaming\\Blender Foundation\\Blender\\4.5\\
        extensions\\.user\\user_default\\meshy_blender\\library            128 characters
    \\<label>-<8 hex of the job id>                                        label + 10
    \\.option_<longest option>.png.<pid>.<thread id>.tmp (atomic write)   at most 64

leaves 259 - 128 - 10 - 64 = 57 characters for the label part. A longer library folder (the "Model
Library" preference) shortens the label part; when not even the job id fits, Windows gets a clear
error instead of a path it cannot open.
"""

from __future__ import annotations

import base64
import errno
import os
import re
import unicodedata
from pathlib import Path

MODEL = "model.glb"
THUMBNAIL = "thumbnail.png"
BLEND = "model.blend"  # written by the converter (a background Blender), appended by the main thread
BLEND_RESULT = "model.blend.json"  # the converter's result: written before BLEND gets its final name
CONVERT_LOG = "convert.log"  # the converter's own output, for its error message
TEXTURE_MAPS = ("base_color", "metallic", "roughness", "normal", "emission")
_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/jpg": "jpg"}
MIME_OF_EXT = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg"}

NAME_MAX = 120  # characters (UTF-16 units, as Windows counts them) in any name we create
NAME_MAX_BYTES = 255  # UTF-8 bytes in one name (ext4 counts bytes; NTFS and HFS+ count 255 UTF-16 units)
WINDOWS_MAX_PATH = 259  # a whole path: MAX_PATH (260) less the terminating NUL
DEFAULT_LIBRARY_WINDOWS = (
    "C:\\Users\\" + "u" * 20 + "\\AppData\\Roaming\\Blender Foundation\\Blender\\4.5\\"
    "extensions\\.user\\user_default\\meshy_blender\\library"
)
ID_PART = 8  # hex characters of the job id in its folder name
OPTION_KEY_MAX = 24  # option names are Meshy's (at most 23 characters)
INSIDE_RESERVE = 64  # longest path written inside a job folder, with its separator (see above)
LABEL_MAX = WINDOWS_MAX_PATH - len(DEFAULT_LIBRARY_WINDOWS) - (2 + ID_PART) - INSIDE_RESERVE  # 57

_FORBIDDEN = frozenset('<>:"/\\|?*')
_INVISIBLE = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")
RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{dev}{n}" for dev in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3"}
)
_WINDOWS = os.name == "nt"  # a module attribute, so the tests can apply Windows' rules anywhere


def utf16_len(text: str) -> int:
    """Length as Windows counts it (characters outside the BMP take two units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _unsafe(ch: str) -> bool:
    """Forbidden on Windows, invisible (bidi overrides that disguise a name) or not encodable."""
    return ch in _FORBIDDEN or ch in _INVISIBLE or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp")


def _replace_unsafe(text: str) -> str:
    out = []
    for ch in unicodedata.normalize("NFC", text):
        if _unsafe(ch):
            out.append("_")
        elif unicodedata.category(ch) == "Zs":  # no-break and other spaces become plain ones
            out.append(" ")
        else:
            out.append(ch)
    return re.sub(r" {2,}", " ", re.sub(r"_{2,}", "_", "".join(out)))


def _fit(text: str, units: int, max_bytes: int = NAME_MAX_BYTES) -> str:
    """The longest prefix within both limits that does not split a letter from its marks."""
    used = size = cut = 0
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        size += len(ch.encode("utf-8", "surrogatepass"))
        if used > units or size > max_bytes:
            break
        cut += 1
    if cut < len(text):
        while cut > 0 and (unicodedata.combining(text[cut]) or text[cut] in "\u200c\u200d\ufe0e\ufe0f"):
            cut -= 1
    return text[:cut]


def _trim(text: str) -> str:
    return text.strip(" ._").rstrip("\u200c\u200d")


def is_reserved(name: str) -> bool:
    """A Windows device name, also with an extension or spaces before it (``nul .txt``)."""
    return name.partition(".")[0].rstrip(" ").upper() in RESERVED_NAMES


def is_safe_name(name: str, limit: int = NAME_MAX) -> bool:
    """The rule every name we create follows (a file or folder name, not a path)."""
    return (
        bool(name)
        and name not in (".", "..")
        and name == unicodedata.normalize("NFC", name)
        and not any(_unsafe(ch) for ch in name)
        and name[-1] not in ". "
        and not is_reserved(name)
        and utf16_len(name) <= limit
        and len(name.encode("utf-8", "surrogatepass")) <= NAME_MAX_BYTES
    )


def safe_name(label: str, limit: int = NAME_MAX, fallback: str = "job", max_bytes: int = NAME_MAX_BYTES) -> str:
    """A readable name for a label that is valid on Windows, macOS and Linux (see the module doc)."""
    text = _trim(_fit(_trim(_replace_unsafe(label or "")), limit, max_bytes))
    if text and is_reserved(text):
        text = _fit("_" + text, limit, max_bytes).rstrip(" .")
    return text or _fit(fallback, limit, max_bytes)


def label_budget(library_dir: Path) -> int:
    """Characters left for the label part of a job folder under this library (at most LABEL_MAX)."""
    used = utf16_len(str(library_dir)) + 2 + ID_PART + INSIDE_RESERVE
    return max(0, min(LABEL_MAX, WINDOWS_MAX_PATH - used))


def job_folder(library_dir: Path, label: str, job_id: str) -> Path:
    """``<library>/<safe label>-<id prefix>``; guaranteed to be a direct child of the library.

    Raises OSError (ENAMETOOLONG) on Windows when the library path leaves no room for a job.
    """
    library = Path(library_dir).resolve()
    job = safe_name(re.sub(r"[^0-9A-Za-z]", "", job_id or ""), ID_PART, fallback="0" * ID_PART)
    budget = label_budget(library)
    name = f"{safe_name(label, budget)}-{job}" if budget else job
    folder = (library / name).resolve()
    if folder.parent != library:
        raise ValueError(f"job folder {folder} escapes the library {library}")
    longest = utf16_len(str(folder)) + INSIDE_RESERVE
    if _WINDOWS and longest > WINDOWS_MAX_PATH:
        raise OSError(errno.ENAMETOOLONG, (
            f"the model library folder {library} is too long for Windows ({utf16_len(str(library))} characters; "
            f"paths inside it would reach {longest}, over Windows' {WINDOWS_MAX_PATH}): choose a shorter "
            "Model Library folder in the add-on preferences"))
    return folder


def inside(folder: Path, relative: str) -> Path:
    """folder/relative, refusing anything that would land outside folder or break the name rules."""
    base = Path(folder).resolve()
    parts = re.split(r"[\\/]", relative)
    if not all(is_safe_name(p) for p in parts):
        raise ValueError(f"{relative!r} is not a file name the add-on writes")
    path = (base / relative).resolve()
    if path != base and base not in path.parents:
        raise ValueError(f"{relative!r} escapes {base}")
    return path


def ext_for_mime(mime: str) -> str:
    try:
        return _EXT[(mime or "").lower()]
    except KeyError:
        raise ValueError(f"unsupported image type {mime!r}: Meshy takes PNG or JPEG") from None


def input_file_name(index: int, mime: str) -> str:
    return f"input_{int(index)}.{ext_for_mime(mime)}"


def option_file_name(key: str, mime: str) -> str:
    """Where an image given as an option (texture_image_url as a data URI) is kept."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", key or "") or len(key) > OPTION_KEY_MAX:
        raise ValueError(f"{key!r} is not a Meshy option name")
    return f"option_{key}.{ext_for_mime(mime)}"


def texture_file_name(map_name: str) -> str:
    if map_name not in TEXTURE_MAPS:
        raise ValueError(f"unknown texture map {map_name!r}")
    return f"textures/{map_name}.png"


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def parse_data_uri(value: str) -> tuple[str, bytes] | None:
    """(mime, bytes) for a base64 data URI, None for anything else (a plain URL)."""
    m = re.match(r"^data:([\w.+-]+/[\w.+-]+)?(;[^,]*)?,", value or "")
    if not m or ";base64" not in (m.group(2) or ""):
        return None
    try:
        return (m.group(1) or "image/png").lower(), base64.b64decode(value[m.end():], validate=False)
    except ValueError:
        return None
