# ruff: noqa: E501  (the catalogue is a table: one exercise per line)
"""A built-in catalogue of common DMI exercises (standard library only).

Each entry is an :class:`~dmi_sensors.session.model.Exercise` with sensible defaults
(5 repetitions; hold times typical of DMI practice, each repetition well under a minute).
Plans can refer to an entry by id (``catalogue = "stand_box_knees"`` in TOML) and override
any field. The example plan shipped with the package (:func:`example_plan`) is a short
session with support moving from proximal to distal.
"""

from __future__ import annotations

from importlib import resources
from types import MappingProxyType

from dmi_sensors.session.model import Exercise, Plan

__all__ = ["CATALOGUE", "EXAMPLE_PLAN_RESOURCE", "example_plan", "example_plan_text"]

# id, description, milestone, position, surface, support, target repetitions, hold_s
# fmt: off
_ROWS: tuple[tuple[str, str, str, str, str, str, int, float], ...] = (
    # head control and rolling, on the table top
    ("prone_head_lift", "Prone on forearms, lifting and holding the head", "head_control", "prone", "table_top", "trunk", 5, 10.0),
    ("side_lying_trunk", "Side-lying, holding the position", "rolling", "side_lying", "table_top", "trunk", 5, 10.0),
    ("roll_supine_to_prone_hips", "Rolling supine to prone, guided at the hips", "rolling", "supine", "table_top", "hips", 5, 8.0),
    # sitting
    ("sit_table_trunk", "Sitting on the table top, support at the trunk", "sitting", "sitting", "table_top", "trunk", 5, 10.0),
    ("sit_box_hips", "Sitting on the DMI box, support at the hips", "sitting", "sitting", "dmi_box", "hips", 5, 10.0),
    ("sit_box_none", "Sitting on the DMI box without support", "sitting", "sitting", "dmi_box", "none", 5, 10.0),
    ("sit_foam_hips", "Sitting on foam, support at the hips", "sitting", "sitting", "foam", "hips", 5, 10.0),
    # four-point and crawling
    ("four_point_hips", "Four-point kneeling, support at the hips", "four_point", "four_point", "table_top", "hips", 5, 10.0),
    ("four_point_floor_hips", "Four-point kneeling on the floor, support at the hips", "four_point", "four_point", "floor", "hips", 5, 10.0),
    ("four_point_none", "Four-point kneeling without support", "four_point", "four_point", "floor", "none", 5, 10.0),
    ("crawl_floor_hips", "Crawling on the floor, guided at the hips", "crawling", "four_point", "floor", "hips", 3, 15.0),
    # kneeling
    ("kneel_box_hips", "Tall kneeling at the DMI box, support at the hips", "kneeling", "kneeling", "dmi_box", "hips", 5, 10.0),
    ("kneel_box_thighs", "Tall kneeling at the DMI box, support at the thighs", "kneeling", "kneeling", "dmi_box", "thighs", 5, 10.0),
    ("half_kneel_floor_hips", "Half-kneeling on the floor, support at the hips", "kneeling", "half_kneeling", "floor", "hips", 5, 10.0),
    # standing, support moving proximal -> distal
    ("stand_box_hips", "Standing on the DMI box, support at the hips", "standing", "standing", "dmi_box", "hips", 5, 10.0),
    ("stand_box_thighs", "Standing on the DMI box, support at the thighs", "standing", "standing", "dmi_box", "thighs", 5, 10.0),
    ("stand_box_knees", "Standing on the DMI box, support at the knees", "standing", "standing", "dmi_box", "knees", 5, 10.0),
    ("stand_box_shanks", "Standing on the DMI box, support at the shanks", "standing", "standing", "dmi_box", "shanks", 5, 10.0),
    ("stand_box_ankles", "Standing on the DMI box, support at the ankles", "standing", "standing", "dmi_box", "ankles", 5, 10.0),
    ("stand_box_feet", "Standing on the DMI box, feet held", "standing", "standing", "dmi_box", "feet", 5, 10.0),
    ("stand_floor_none", "Standing on the floor without support", "standing", "standing", "floor", "none", 5, 10.0),
    ("stand_foam_ankles", "Standing on foam, support at the ankles", "standing", "standing", "foam", "ankles", 5, 10.0),
    ("stand_ladder_knees", "Standing on a ladder rung, support at the knees", "standing", "standing", "ladder", "knees", 5, 8.0),
    # transitions and walking
    ("sit_to_stand_box_knees", "Sit-to-stand from the DMI box, support at the knees", "transitions", "sit_to_stand", "dmi_box", "knees", 5, 4.0),
    ("sit_to_stand_box_none", "Sit-to-stand from the DMI box without support", "transitions", "sit_to_stand", "dmi_box", "none", 5, 4.0),
    ("walk_floor_hips", "Walking on the floor, guided at the hips", "walking", "walking", "floor", "hips", 3, 15.0),
)
# fmt: on

#: id -> Exercise, read-only.
CATALOGUE: MappingProxyType[str, Exercise] = MappingProxyType({row[0]: Exercise(*row) for row in _ROWS})

#: Name of the example plan inside the package (``dmi_sensors.session.data``).
EXAMPLE_PLAN_RESOURCE = "example_plan.toml"


def example_plan_text() -> str:
    """The example plan TOML shipped with the package (with its comments)."""
    return resources.files("dmi_sensors.session.data").joinpath(EXAMPLE_PLAN_RESOURCE).read_text(encoding="utf-8")


def example_plan() -> Plan:
    """The example plan: six exercises, support moving from the trunk to none."""
    return Plan.from_toml(example_plan_text(), source=f"dmi_sensors.session.data/{EXAMPLE_PLAN_RESOURCE}")
