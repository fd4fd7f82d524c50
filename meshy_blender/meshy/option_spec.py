"""What every UI needs to know about one Meshy option, and the rules under which an option applies.

Rule, Choice and OptionField are NamedTuples, not dataclasses: the Blender panel builds its
properties from them when the add-on is enabled, and a frozen dataclass costs about 1.5 ms to
create (its generated methods are compiled), a NamedTuple a tenth of that.

The options themselves are declared once, as fields of the dataclasses in options.py, each with an
``option(...)`` describing it. The Blender panel and its properties, the command-line flags, the
payload and the validation are all built from these descriptions, so they cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from . import IMAGE_TO_3D, MULTI_IMAGE_TO_3D

__all__ = [
    "AUTO_SIZED",
    "GROUPS",
    "MESHY6",
    "PRE_MESHY6_MODELS",
    "REMESHED",
    "RULES",
    "TEXTURED",
    "Choice",
    "OptionField",
    "Rule",
    "asks_for_something",
    "option",
]

BOTH = (IMAGE_TO_3D, MULTI_IMAGE_TO_3D)
# Panel groups, in panel order: key -> title. "input" holds the images, never drawn as a setting.
GROUPS = {"model": "Model", "texture": "Texture", "remesh": "Remesh", "output": "Output"}
# Models known to lack the meshy-6 only features (hd_texture, image_enhancement, remove_lighting).
PRE_MESHY6_MODELS = frozenset({"meshy-5"})


def asks_for_something(value: Any) -> bool:
    """True for values that ask for a feature (True, non-empty text); False, "" and None do not."""
    return value is True or (isinstance(value, str) and value != "")


class Rule(NamedTuple):
    """An option only means something while another option is not one of `off`.

    The panel greys the option while the rule does not hold, the payload leaves it out, and
    validation rejects a value set anyway when `rejects(field, value)` says it asks for the
    impossible (None: never rejected, the server simply ignores it).
    """

    key: str
    option: str  # the option the rule looks at
    off: tuple  # its values (API form) under which the rule does not hold
    hint: str  # why the option is greyed, for the panel
    error: str  # the validation message; may use {ai_model}
    rejects: Callable[[OptionField, Any], bool] | None

    def holds(self, values: Mapping[str, Any]) -> bool:
        """`values`: option values by API name; missing or None = not set (list None in `off` if that is off)."""
        value = values.get(self.option)
        if isinstance(value, str):
            value = value.lower()
        return value not in self.off


TEXTURED = Rule("textured", "should_texture", (False,), "needs Texture on",
                "needs should_texture (texturing is turned off)",
                lambda field, value: asks_for_something(value))
MESHY6 = Rule("meshy6", "ai_model", tuple(sorted(PRE_MESHY6_MODELS)), "Meshy 6 only",
              "is only supported on meshy-6 / latest, not {ai_model}",
              lambda field, value: value != field.server_default)  # sending the default is harmless
AUTO_SIZED = Rule("auto_sized", "auto_size", (False, None), "needs Real-World Size on",
                  "only applies with auto_size turned on", lambda field, value: True)
REMESHED = Rule("remeshed", "should_remesh", (False,), "needs Remesh", "", None)
RULES = {rule.key: rule for rule in (TEXTURED, MESHY6, AUTO_SIZED, REMESHED)}


class Choice(NamedTuple):
    """One allowed value of an option, as a UI names and explains it."""

    value: str
    label: str
    description: str = ""


class OptionField(NamedTuple):
    """One documented option: its API name and type, how a UI shows it, and when it applies."""

    name: str
    type: type  # bool, int, str or list (of str)
    label: str  # a UI's name for it
    description: str  # the tooltip / --help text
    group: str  # a key of GROUPS, or "input"
    choices: tuple[Choice, ...] = ()  # allowed values (list items for list options); () = free
    open_choices: bool = False  # other values pass too (newer model names)
    range: tuple[int, int] | None = None  # inclusive, for int options
    max_length: int | None = None  # for text options
    server_default: Any = None  # what Meshy uses when the option is not sent; None = model-dependent
    kinds: tuple[str, ...] = BOTH  # the endpoints that take it
    rules: tuple[Rule, ...] = ()  # all must hold for the option to apply

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)

    @property
    def allowed(self) -> tuple | None:
        """The allowed values, or the (min, max) range; None when free."""
        return self.range if self.range is not None else (self.values or None)

    def inactive_reason(self, values: Mapping[str, Any], kind: str | None = None) -> str:
        """Why this option does not apply with these other values ('' when it does)."""
        if kind is not None and kind not in self.kinds:
            return "single image only" if self.kinds == (IMAGE_TO_3D,) else f"not for {kind}"
        return next((rule.hint for rule in self.rules if not rule.holds(values)), "")


def option(label: str, description: str, group: str, *, default: Any = None, kw_only: bool = False,
           **about: Any) -> Any:
    """A dataclass field (default None = not set) carrying its OptionField details as metadata."""
    details = {"label": label, "description": description, "group": group, "server_default": default, **about}
    if kw_only:
        return dataclasses.field(default=None, kw_only=True, metadata={"option": details})
    return dataclasses.field(default=None, metadata={"option": details})
