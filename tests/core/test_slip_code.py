"""Printed ballot slip codes: the household comes back only for a genuine code of the same motion."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.core.db import new_id
from app.core.security import read_slip_code, slip_code

SECRET = "slip-test-secret-" + "x" * 32
hex32 = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)


@given(motion=hex32, household=hex32)
def test_a_genuine_code_round_trips(motion: str, household: str) -> None:
    code = slip_code(SECRET, motion_id=motion, household_id=household)
    assert read_slip_code(SECRET, code, motion_id=motion) == household
    # as a scanner or a clerk may hand it over
    assert read_slip_code(SECRET, f"  {code.upper()}\n", motion_id=motion) == household


def test_another_motion_another_secret_or_a_changed_character_is_refused() -> None:
    motion, other, household = new_id(), new_id(), new_id()
    code = slip_code(SECRET, motion_id=motion, household_id=household)
    assert read_slip_code(SECRET, code, motion_id=other) is None
    assert read_slip_code("another-secret-" + "y" * 32, code, motion_id=motion) is None
    # the same household's slip of another motion does not count here either
    assert read_slip_code(SECRET, slip_code(SECRET, motion_id=other, household_id=household),
                          motion_id=motion) is None
    for i in range(3, len(code)):
        if code[i] == "-":
            continue
        changed = code[:i] + ("0" if code[i] != "0" else "1") + code[i + 1:]
        assert read_slip_code(SECRET, changed, motion_id=motion) is None


def test_garbage_is_refused_without_error() -> None:
    motion = new_id()
    for junk in ["", "S1", "S1---", "S1-x-y-z", "🙂" * 40, "S1-" + "-".join(["g" * 32, "g" * 32, "g" * 20]),
                 "S2-" + slip_code(SECRET, motion_id=motion, household_id=new_id())[3:]]:
        assert read_slip_code(SECRET, junk, motion_id=motion) is None
