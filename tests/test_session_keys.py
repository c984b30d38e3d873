"""The terminal key tagger, driven through a real pseudo-terminal (pty)."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import termios

import pytest

from dmi_sensors.session import Tagger, example_plan
from dmi_sensors.session.keys import KeyTagger

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX terminal")


class FakeClock:
    def __init__(self) -> None:
        self.t = 50.0

    def __call__(self) -> float:
        return self.t


async def _until(cond, timeout_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    slave_file = os.fdopen(slave, "r", closefd=True)
    yield master, slave_file
    slave_file.close()
    os.close(master)


async def test_keys_through_a_pty(pty_pair):
    master, slave = pty_pair
    before = termios.tcgetattr(slave.fileno())
    assert before[3] & termios.ICANON and before[3] & termios.ECHO
    clock = FakeClock()
    plan = example_plan()
    tg = Tagger(plan, clock)
    out = io.StringIO()
    actions: list[str] = []
    keys = KeyTagger(tg, stdin=slave, output=out, on_action=lambda a, t: actions.append(a), refresh_s=0.05)

    async def press(data: bytes, at_s: float, expect_actions: int) -> None:
        clock.t = 50.0 + at_s
        os.write(master, data)
        await _until(lambda: len(actions) >= expect_actions)

    async with keys:
        assert keys.active
        during = termios.tcgetattr(slave.fileno())
        assert not during[3] & termios.ICANON  # cbreak: keys arrive one by one
        assert not during[3] & termios.ECHO
        await press(b"n", 1.0, 1)
        assert tg.current is plan.exercises[0]
        await press(b"r", 3.0, 2)
        assert tg.repetition == 2
        await press(b" ", 4.0, 3)
        assert tg.paused
        await press(b" ", 6.0, 4)
        assert not tg.paused
        clock.t = 57.0
        os.write(master, b"tgood head control caf\xc3")  # a UTF-8 character split across reads
        await _until(lambda: "note> good head control caf" in keys.status_text())
        os.write(master, b"\xa9x\x7f\r")  # finish the character, type x, erase it, Enter
        await _until(lambda: len(actions) >= 5)
        await press(b"n", 9.0, 6)
        assert tg.current is plan.exercises[1]
        await press(b"q", 12.0, 7)
        await asyncio.wait_for(keys.wait_quit(), 5.0)
    assert not keys.active
    assert termios.tcgetattr(slave.fileno()) == before  # terminal restored exactly

    assert actions == ["next_exercise", "next_repetition", "pause", "resume", "note", "next_exercise", "quit"]
    ev = tg.events()
    e0, e1 = plan.exercises[0].exercise_id, plan.exercises[1].exercise_id
    assert [(r.kind, r.onset_s, r.duration_s, r.exercise, r.repetition) for r in ev.itertuples()] == [
        ("repetition", 1.0, 2.0, e0, 1),
        ("exercise", 1.0, 8.0, e0, 0),
        ("repetition", 3.0, 6.0, e0, 2),
        ("pause", 4.0, 2.0, e0, 2),
        ("note", 7.0, 0.0, e0, 2),
        ("repetition", 9.0, 3.0, e1, 1),
        ("exercise", 9.0, 3.0, e1, 0),
    ]
    assert ev.loc[ev.kind == "note", "note"].tolist() == ["good head control café"]
    shown = out.getvalue()
    assert "\r\x1b[2K" in shown
    assert e0 in shown and e1 in shown and "PAUSED" in shown and "stopped" in shown


async def test_terminal_restored_after_an_error(pty_pair):
    _master, slave = pty_pair
    before = termios.tcgetattr(slave.fileno())
    tg = Tagger(example_plan(), FakeClock())
    with pytest.raises(ZeroDivisionError):
        async with KeyTagger(tg, stdin=slave, output=None):
            assert not termios.tcgetattr(slave.fileno())[3] & termios.ICANON
            _ = 1 / 0
    assert termios.tcgetattr(slave.fileno()) == before


async def test_not_a_tty_is_a_no_op():
    r, w = os.pipe()
    with os.fdopen(r, "r") as pipe_in:
        tg = Tagger(example_plan(), FakeClock())
        keys = KeyTagger(tg, stdin=pipe_in, output=None)
        assert keys.start() is False
        assert not keys.active
        keys.stop()
    os.close(w)
    # without a terminal the same keys still work programmatically
    assert keys.handle_key("n") == "next_exercise"
    assert keys.handle_key("r") == "next_repetition"
    assert keys.handle_key("x") is None


async def test_keys_without_exercise_and_end_of_plan():
    tg = Tagger(example_plan(), FakeClock())
    keys = KeyTagger(tg, output=None)
    assert keys.handle_key("r") is None
    assert "press n" in keys.status_text()
    for _ in range(len(tg.plan)):
        assert keys.handle_key("n") == "next_exercise"
    assert keys.handle_key("n") == "end_of_plan"
    assert tg.current is None
    assert keys.handle_key("t") is None
    assert keys.handle_key("\r") is None  # empty note ignored
    assert keys.handle_key("?") is None
    assert "q stop" in keys.status_text()
