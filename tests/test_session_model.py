"""Session model: subjects, exercises, plans, the catalogue and the plan TOML format."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmi_sensors import contract
from dmi_sensors.errors import DataFileError
from dmi_sensors.session import (
    CATALOGUE,
    MILESTONES,
    POSITIONS,
    SURFACES,
    Exercise,
    Plan,
    Subject,
    example_plan,
    example_plan_text,
)
from dmi_sensors.session.vocab import POSITION_POSTURE, POSTURES, support_rank

# --- strategies ---------------------------------------------------------------------------

ids = st.from_regex(r"\A[a-z0-9][a-z0-9_]{0,20}\Z")
names = st.text(min_size=1, max_size=60).filter(lambda s: s.strip() != "")
exercises = st.builds(
    Exercise,
    exercise_id=ids,
    name=names,
    milestone=st.sampled_from(MILESTONES),
    position=st.sampled_from(POSITIONS),
    surface=st.sampled_from(SURFACES),
    support=st.sampled_from(contract.SUPPORT_POINTS),
    target_repetitions=st.integers(1, 100),
    hold_s=st.floats(min_value=1e-3, max_value=600.0, allow_nan=False, allow_infinity=False),
)


@st.composite
def plans(draw):
    exs = draw(st.lists(exercises, max_size=8, unique_by=lambda e: e.exercise_id))
    return Plan(name=draw(names), exercises=exs, description=draw(st.text(max_size=80)))


# --- round trips --------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(plans())
def test_plan_toml_round_trip(plan):
    text = plan.to_toml()
    assert tomllib.loads(text)["plan_format"] == 1
    back = Plan.from_toml(text)
    assert back == plan
    assert back.to_toml() == text


@settings(max_examples=20, deadline=None)
@given(plans())
def test_plan_file_round_trip(tmp_path_factory, plan):
    path = tmp_path_factory.mktemp("plans") / "plan.toml"
    plan.write(path)
    assert Plan.read(path) == plan
    assert Plan.from_dict(plan.to_dict()) == plan


def subjects():
    """Every subject the rules accept: each optional field absent (None) or present."""
    from datetime import UTC, datetime

    from dmi_sensors.session.model import BODY_HEIGHT_RANGE, COM_HEIGHT_RANGE

    this_year = datetime.now(UTC).year
    pseudonyms = st.from_regex(r"\A[A-Za-z0-9]{0,20}[0-9][A-Za-z0-9]{0,11}\Z")
    com = st.floats(min_value=COM_HEIGHT_RANGE.lo, max_value=COM_HEIGHT_RANGE.hi)
    body = st.floats(min_value=BODY_HEIGHT_RANGE.lo, max_value=BODY_HEIGHT_RANGE.hi)

    @st.composite
    def build(draw):
        h = draw(st.none() | com)
        height = draw(st.none() | body.filter(lambda b: h is None or b > h))
        return Subject(
            draw(pseudonyms),
            draw(st.none() | st.integers(1900, this_year)),
            h,
            draw(st.none() | st.sampled_from(["cerebral_palsy", "down_syndrome", "other"])),
            height,
        )

    return build()


@settings(max_examples=60, deadline=None)
@given(subjects())
def test_subject_dict_round_trip(s):
    d = s.to_dict()
    assert Subject.from_dict(d) == s
    assert "name" not in d
    assert ("diagnosis_category" in d) == (s.diagnosis_category is not None)
    assert ("body_height_m" in d) == (s.body_height_m is not None)


def test_no_name_field_anywhere():
    for cls in (Subject, Exercise):
        assert not [f for f in cls.__dataclass_fields__ if "name" in f and f != "name"]
    assert "name" not in Subject.__dataclass_fields__


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"subject_id": "Jane Doe"},  # space: not a pseudonymous label
        {"subject_id": ""},
        {"subject_id": "P-001"},  # BIDS labels are alphanumeric
        {"subject_id": "AnnaSchmidt"},  # a name: no digit
        {"birth_year": 1850},
        {"birth_year": 2015.0},
        {"birth_year": 3000},  # in the future
        {"com_height_m": 0.0},
        {"com_height_m": -1},
        {"com_height_m": 5.0},  # no child or adult has a COM 5 m up
        {"com_height_m": float("nan")},
        {"body_height_m": 0.1},
        {"body_height_m": 3.5},
        {"diagnosis_category": "Cerebral palsy, severe"},  # closed list, no free text
    ],
)
def test_subject_rejects_bad_values(kwargs):
    base = {"subject_id": "P001", "birth_year": 2019, "com_height_m": 0.45}
    base.update(kwargs)
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Subject(**base)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("exercise_id", "Stand Box"),
        ("name", "  "),
        ("milestone", "running"),
        ("position", "handstand"),
        ("surface", "trampoline"),
        ("support", "elbows"),
        ("target_repetitions", 0),
        ("target_repetitions", True),
        ("hold_s", -1.0),
        ("hold_s", float("inf")),
    ],
)
def test_exercise_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        CATALOGUE["stand_box_knees"].replace(**{field: value})


def test_plan_rejects_duplicate_ids():
    ex = CATALOGUE["sit_box_hips"]
    with pytest.raises(ValueError, match="exercise_id"):
        Plan("p", [ex, ex])


# --- bad files ----------------------------------------------------------------------------

GOOD = """\
name = "plan"
[[exercises]]
exercise_id = "a"
name = "A"
milestone = "sitting"
position = "sitting"
surface = "dmi_box"
support = "hips"
"""


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (GOOD.replace('support = "hips"', 'support = "elbow"'), "exercises[0].support", "one of trunk, hips"),
        (GOOD.replace('support = "hips"', 'suport = "hips"'), "exercises[0].suport", "one of the keys"),
        (GOOD.replace('surface = "dmi_box"\n', ""), "exercises[0].surface", "this required key"),
        (GOOD.replace('name = "plan"\n', ""), "'name'", "this required key"),
        (GOOD + "target_repetitions = -2\n", "exercises[0].target_repetitions", "an integer from 1 to 100"),
        (GOOD + 'hold_s = "long"\n', "exercises[0].hold_s", "a number"),
        ("plan_format = 2\n" + GOOD, "plan_format", "expected 1"),
        ("colour = 'red'\n" + GOOD, "colour", "one of the keys"),
        (GOOD + "[[exercises]]\ncatalogue = 'no_such'\n", "exercises[1].catalogue", "built-in catalogue"),
        (
            GOOD + "[[exercises]]\ncatalogue = 'sit_box_hips'\nexercise_id = 'a'\n",
            "exercises[1].exercise_id",
            "exercises[0]",
        ),
        ('name = "p"\nexercises = 3\n', "exercises", "array of tables"),
    ],
)
def test_bad_plan_file_names_file_and_key(tmp_path, text, key, expected):
    path = tmp_path / "bad_plan.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataFileError) as info:
        Plan.read(path)
    msg = str(info.value)
    assert str(path) in msg
    assert key in msg
    assert expected in msg


def test_bad_toml_syntax_names_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('name = "p"\n[[exercises]\n', encoding="utf-8")
    with pytest.raises(DataFileError, match=r"broken\.toml.*valid TOML.*line 2"):
        Plan.read(path)


def test_missing_and_binary_plan_files(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        Plan.read(tmp_path / "absent.toml")
    path = tmp_path / "binary.toml"
    path.write_bytes(b"name = \xff\xfe\n")
    with pytest.raises(DataFileError, match="UTF-8"):
        Plan.read(path)


def test_failed_read_leaves_file_untouched(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD + "support = 1\n", encoding="utf-8")  # duplicate key: TOML error
    before = path.read_bytes()
    with pytest.raises(DataFileError):
        Plan.read(path)
    assert path.read_bytes() == before


# --- catalogue and example plan -----------------------------------------------------------


def test_catalogue_entries_are_valid_and_cover_the_milestones():
    assert len(CATALOGUE) >= 20
    for key, ex in CATALOGUE.items():
        assert key == ex.exercise_id
        assert Exercise.from_dict(ex.to_dict()) == ex
        assert ex.expected_posture in POSTURES
    assert {ex.milestone for ex in CATALOGUE.values()} == set(MILESTONES)
    assert {ex.surface for ex in CATALOGUE.values()} == set(SURFACES)
    assert set(POSITION_POSTURE) == set(POSITIONS)
    standing = [ex.support for ex in CATALOGUE.values() if ex.surface == "dmi_box" and ex.position == "standing"]
    assert set(standing) >= {"hips", "thighs", "knees", "shanks", "ankles", "feet"}


def test_catalogue_reference_with_override():
    plan = Plan.from_toml('name = "p"\n[[exercises]]\ncatalogue = "stand_box_knees"\ntarget_repetitions = 2\n')
    assert plan.exercises[0] == CATALOGUE["stand_box_knees"].replace(target_repetitions=2)


def test_example_plan_decreasing_support():
    plan = example_plan()
    assert 5 <= len(plan) <= 8
    ranks = [support_rank(ex.support) for ex in plan]
    assert ranks == sorted(ranks)
    assert ranks[0] < ranks[-1]
    assert plan.exercises[-1].support == "none"
    assert "catalogue" in example_plan_text()
    assert Plan.from_toml(plan.to_toml()) == plan


def test_model_import_is_light():
    code = (
        "import sys, dmi_sensors.session as s; s.example_plan(); "
        "print(sorted({'numpy', 'pandas', 'scipy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_docs_list_the_whole_catalogue():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "sessions.md").read_text(encoding="utf-8")
    for key, ex in CATALOGUE.items():
        assert f"| `{key}` | {ex.name} | {ex.milestone} | {ex.position} | {ex.surface} | {ex.support} |" in doc
