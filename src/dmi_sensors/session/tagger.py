"""Tagging a session as it happens: exercises, repetitions, pauses and notes.

A :class:`Tagger` turns the therapist's actions into event records (see
:mod:`dmi_sensors.session.events`) with times in seconds since the session start. Its clock
is injectable, so tests (and replays) drive it with known times; every action also accepts
an explicit ``at_s``.

State machine::

    idle --start_exercise/next_exercise--> in exercise (repetition 1 running)
    in exercise --next_repetition--> repetition k+1 (closes repetition k)
    in exercise --pause--> paused --resume--> in exercise   (a pause row is written)
    in exercise --end_exercise / next_exercise / stop--> idle / next exercise

Each closed interval becomes a row: ``kind="exercise"`` (``repetition = 0``), one
``kind="repetition"`` row per repetition, ``kind="pause"`` rows, and zero-length
``kind="note"`` rows. Exercise and repetition rows carry the exercise's support point and
the posture its position implies (``Exercise.expected_posture``). Repetition intervals
include any pause inside them; :func:`dmi_sensors.session.windows.tag_windows` subtracts
pauses when it assigns windows.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dmi_sensors import contract
from dmi_sensors.errors import NotFoundError, ParameterError, StateError
from dmi_sensors.session.catalogue import CATALOGUE
from dmi_sensors.session.events import EventRecord, events_frame
from dmi_sensors.session.model import Exercise, Plan

__all__ = ["Tagger"]


class Tagger:
    """Mark exercise start/end, next repetition, pause/resume and notes.

    Parameters
    ----------
    plan
        The session's plan; :meth:`next_exercise` walks through it. Optional.
    clock
        A function returning seconds (any origin, monotonic); default ``time.monotonic``.
    start_s
        The clock reading at the session start (times are ``clock() - start_s``); default:
        the clock reading when the tagger is created.
    source
        ``source`` of the rows written (``"manual"`` for key presses; see
        ``contract.EVENT_SOURCES``).
    on_event
        Called with each :class:`EventRecord` as soon as it is closed (e.g. to store it
        immediately, so a crash loses no finished tag).
    auto_first_repetition
        True (default): starting an exercise starts its repetition 1. False: the exercise
        starts in repetition 0 (placing the child; no repetition row) and the first
        :meth:`next_repetition` starts repetition 1.

    Attributes
    ----------
    records
        Closed event records, in the order they were closed.
    """

    def __init__(
        self,
        plan: Plan | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        start_s: float | None = None,
        source: str = "manual",
        on_event: Callable[[EventRecord], None] | None = None,
        auto_first_repetition: bool = True,
    ) -> None:
        if source not in contract.EVENT_SOURCES:
            raise ParameterError(f"source must be one of {', '.join(contract.EVENT_SOURCES)}; got {source!r}")
        self.plan = plan
        self._clock = clock
        self._start = clock() if start_s is None else float(start_s)
        self.source = source
        self.on_event = on_event
        self.auto_first_repetition = auto_first_repetition
        self.records: list[EventRecord] = []
        self._last_s = 0.0
        self._plan_index = -1
        self._exercise: Exercise | None = None
        self._exercise_onset = 0.0
        self._rep = 0
        self._rep_onset = 0.0
        self._pause_onset: float | None = None
        self.stopped = False

    # -- state ------------------------------------------------------------------------

    def now_s(self) -> float:
        """Seconds since the session start by the tagger's clock."""
        return self._clock() - self._start

    @property
    def current(self) -> Exercise | None:
        """The exercise in progress, or None."""
        return self._exercise

    @property
    def repetition(self) -> int:
        """The repetition in progress (1, 2, ...); 0 when no exercise is running or before the
        first repetition (``auto_first_repetition=False``)."""
        return self._rep

    @property
    def repetition_onset_s(self) -> float | None:
        """Onset of the repetition in progress, s since the session start (None when there is none)."""
        return self._rep_onset if self._exercise is not None and self._rep > 0 else None

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return self._pause_onset is not None

    @property
    def plan_index(self) -> int:
        """Index in the plan of the last exercise started from it (-1 before the first)."""
        return self._plan_index

    def upcoming(self) -> Exercise | None:
        """The plan's next exercise (what :meth:`next_exercise` would start), or None."""
        if self.plan is None or self._plan_index + 1 >= len(self.plan):
            return None
        return self.plan.exercises[self._plan_index + 1]

    # -- actions ----------------------------------------------------------------------

    def start_exercise(self, exercise: Exercise | str | None = None, *, at_s: float | None = None) -> Exercise:
        """Start an exercise (closing the one in progress); its repetition 1 starts too
        (unless ``auto_first_repetition`` is False).

        ``exercise`` may be an :class:`Exercise`, an id from the plan or the catalogue, or
        None for the plan's next exercise.
        """
        t = self._time(at_s)
        ex = self._resolve(exercise)
        if self._exercise is not None:
            self._close_exercise(t)
        self._exercise = ex
        self._exercise_onset = t
        self._rep = 1 if self.auto_first_repetition else 0
        self._rep_onset = t
        return ex

    def end_exercise(self, *, at_s: float | None = None) -> None:
        """Close the exercise in progress (and its repetition and pause); no-op when idle."""
        t = self._time(at_s)
        if self._exercise is not None:
            self._close_exercise(t)

    def next_exercise(self, *, at_s: float | None = None) -> Exercise | None:
        """Close the current exercise and start the plan's next one; None at the end of the plan."""
        t = self._time(at_s)
        nxt = self.upcoming()
        if nxt is None:
            if self._exercise is not None:
                self._close_exercise(t)
            return None
        return self.start_exercise(None, at_s=t)

    def next_repetition(self, *, at_s: float | None = None) -> int:
        """Close the current repetition and start the next; returns its number.

        Resumes first if paused. Raises ``RuntimeError`` when no exercise is running.
        """
        t = self._time(at_s)
        if self._exercise is None:
            raise StateError("next_repetition: no exercise is running (start one first)")
        if self.paused:
            self._close_pause(t)
        self._emit_repetition(t)
        self._rep += 1
        self._rep_onset = t
        return self._rep

    def pause(self, *, at_s: float | None = None) -> None:
        """Start a pause (no-op if already paused)."""
        t = self._time(at_s)
        if self._pause_onset is None:
            self._pause_onset = t

    def resume(self, *, at_s: float | None = None) -> None:
        """End the pause (no-op if not paused); writes a ``kind="pause"`` row."""
        t = self._time(at_s)
        if self._pause_onset is not None:
            self._close_pause(t)

    def toggle_pause(self, *, at_s: float | None = None) -> bool:
        """Pause or resume; returns True if now paused."""
        if self.paused:
            self.resume(at_s=at_s)
        else:
            self.pause(at_s=at_s)
        return self.paused

    def note(self, text: str, *, at_s: float | None = None) -> EventRecord:
        """A free-text note at this instant (``kind="note"``, ``duration_s = 0``)."""
        t = self._time(at_s)
        if not isinstance(text, str) or not text.strip():
            raise ParameterError("a note needs some text")
        ex = self._exercise
        rec = EventRecord(
            t,
            0.0,
            exercise=ex.exercise_id if ex else "",
            repetition=self._rep,
            support=ex.support if ex else "",
            source=self.source,
            kind="note",
            note=text.strip(),
        )
        self._emit(rec)
        return rec

    def stop(self, *, at_s: float | None = None):  # -> pandas.DataFrame
        """Close everything open and return the events table; further actions raise."""
        t = self._time(at_s)
        if self.paused:
            self._close_pause(t)
        if self._exercise is not None:
            self._close_exercise(t)
        self.stopped = True
        return self.events()

    def events(self):  # -> pandas.DataFrame
        """The closed events as a table (``contract.EVENT_COLUMNS`` + kind, posture, note)."""
        return events_frame(self.records)

    def status_line(self, *, at_s: float | None = None) -> str:
        """One line for a terminal: the exercise in progress, repetition, elapsed time."""
        t = self.now_s() if at_s is None else at_s
        total = f"/{len(self.plan)}" if self.plan is not None else ""
        if self.stopped:
            return f"[{_mmss(t)}] stopped"
        if self._exercise is None:
            nxt = self.upcoming()
            hint = f" - next: {nxt.exercise_id} (press n)" if nxt else ""
            return f"[{_mmss(t)}] idle{hint}"
        ex = self._exercise
        number = f"{self._plan_index + 1}{total} " if self._in_plan(ex) else ""
        paused = " PAUSED" if self.paused else ""
        return (
            f"[{_mmss(t)}] {number}{ex.exercise_id} (support: {ex.support}) "
            f"rep {self._rep or '-'}/{ex.target_repetitions} {_mmss(t - self._rep_onset)}{paused}"
        )

    # -- internals --------------------------------------------------------------------

    def _time(self, at_s: float | None) -> float:
        if self.stopped:
            raise StateError("the tagger has been stopped")
        t = self.now_s() if at_s is None else float(at_s)
        if t < self._last_s:
            raise ParameterError(f"time went backwards: {t} s after {self._last_s} s")
        self._last_s = t
        return t

    def _in_plan(self, ex: Exercise) -> bool:
        return (
            self.plan is not None
            and 0 <= self._plan_index < len(self.plan)
            and self.plan.exercises[self._plan_index] is ex
        )

    def _resolve(self, exercise: Exercise | str | None) -> Exercise:
        if isinstance(exercise, Exercise):
            return exercise
        if exercise is None:
            nxt = self.upcoming()
            if nxt is None:
                raise StateError("no plan or the plan is finished: name the exercise to start")
            self._plan_index += 1
            return nxt
        if self.plan is not None:
            for i, ex in enumerate(self.plan.exercises):
                if ex.exercise_id == exercise:
                    self._plan_index = i
                    return ex
        if exercise in CATALOGUE:
            return CATALOGUE[exercise]
        raise NotFoundError(f"exercise {exercise!r} is neither in the plan nor in the catalogue")

    def _emit(self, rec: EventRecord) -> None:
        self.records.append(rec)
        if self.on_event is not None:
            self.on_event(rec)

    def _row(self, kind: str, onset: float, end: float, repetition: int) -> EventRecord:
        ex = self._exercise
        assert ex is not None
        return EventRecord(
            onset,
            end - onset,
            exercise=ex.exercise_id,
            repetition=repetition,
            support=ex.support,
            source=self.source,
            kind=kind,
            posture=ex.expected_posture,
        )

    def _emit_repetition(self, t: float) -> None:
        if self._rep > 0:
            self._emit(self._row("repetition", self._rep_onset, t, self._rep))

    def _close_pause(self, t: float) -> None:
        onset = self._pause_onset
        assert onset is not None
        self._pause_onset = None
        ex = self._exercise
        self._emit(
            EventRecord(
                onset,
                t - onset,
                exercise=ex.exercise_id if ex else "",
                repetition=self._rep,
                support=ex.support if ex else "",
                source=self.source,
                kind="pause",
            )
        )

    def _close_exercise(self, t: float) -> None:
        if self.paused:
            self._close_pause(t)
        self._emit_repetition(t)
        self._emit(self._row("exercise", self._exercise_onset, t, 0))
        self._exercise = None
        self._rep = 0


def _mmss(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 60:02d}:{s % 60:02d}"
