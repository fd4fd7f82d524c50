"""What Meshy counts against its image size limit: one definition for every check and every shrink.

Meshy's docs say images go "up to 100 MB" and are sent as a public URL or a base64 data URI, without
saying whether the file or the text sent is counted, nor whether a MB is 10**6 or 2**20 bytes. We take
the reading that is safe under all of them: the data URI exactly as sent (``data:image/png;base64,``
plus the base64 text) must be at most 100 * 10**6 characters. That admits files of up to 74,999,982
bytes (about 71.5 MiB); anything larger is shrunk by the add-on before it is sent, never refused late.
"""

from __future__ import annotations

from .errors import ValidationError

__all__ = [
    "LIMIT_TEXT", "MAX_DATA_URI_CHARS", "check_image_size", "data_uri_length", "fits", "max_file_bytes", "megabytes",
]

MAX_DATA_URI_CHARS = 100 * 1000 * 1000
LIMIT_TEXT = "100 MB"  # how the limit is named to the user (Meshy's own words)


def _prefix_length(mime: str) -> int:
    return len(f"data:{mime};base64,")


def data_uri_length(mime: str, n_bytes: int) -> int:
    """Characters of the data URI that carries `n_bytes` of a `mime` image (what Meshy receives)."""
    return _prefix_length(mime) + 4 * ((n_bytes + 2) // 3)


def fits(mime: str, n_bytes: int) -> bool:
    """Whether an image file of `n_bytes` can be sent to Meshy as it is."""
    return data_uri_length(mime, n_bytes) <= MAX_DATA_URI_CHARS


def max_file_bytes(mime: str) -> int:
    """The largest image file that fits (the aim when shrinking)."""
    return (MAX_DATA_URI_CHARS - _prefix_length(mime)) // 4 * 3


def megabytes(n_bytes: int) -> str:
    """A size as the user reads it next to the limit (decimal MB, like the limit)."""
    return f"{n_bytes / 1e6:.1f} MB"


def check_image_size(name: str, mime: str, n_bytes: int) -> None:
    """Raise ValidationError naming the image when its data URI would be over the limit."""
    if not fits(mime, n_bytes):
        raise ValidationError(
            name,
            f"is {megabytes(n_bytes)}, {megabytes(data_uri_length(mime, n_bytes))} once encoded for upload; "
            f"Meshy takes at most {LIMIT_TEXT} per image as sent (a file of up to "
            f"{megabytes(max_file_bytes(mime))}): use a smaller image, or send it from Blender, which shrinks it",
        )
