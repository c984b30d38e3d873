"""Single-key tagging in a terminal, for ``dmi-sensors record``.

================  ===============================================================
key               action
================  ===============================================================
``n``             next exercise of the plan (closes the current one)
``r``             next repetition
space             pause / resume
``e``             end the current exercise (without starting the next)
``t``             type a note, Enter to save it, Esc to cancel
``q``             stop: closes everything open and resolves :meth:`KeyTagger.wait_quit`
``?`` / ``h``     show the keys
================  ===============================================================

The current exercise, repetition and elapsed time are shown on one status line (rewritten
in place with ``\\r``, refreshed every ``refresh_s``).

It is asyncio-friendly: :meth:`KeyTagger.start` puts the terminal in cbreak mode (keys
arrive one by one, no echo) and registers ``loop.add_reader`` on stdin; :meth:`stop`
removes the reader and restores the terminal exactly as it was. When stdin is not a
terminal (piped, CI, Jupyter) :meth:`start` does nothing and returns False.

Wiring it into a recorder::

    tagger = Tagger(plan, clock=lambda: time.monotonic(), start_s=session_t0,
                    on_event=lambda rec: store.add_events(session_id, events_frame([rec])))
    with KeyTagger(tagger, on_action=lambda action, tagger: log.info(action)) as keys:
        recording = asyncio.create_task(record_until_stopped())
        if keys.active:
            await keys.wait_quit()          # the therapist pressed q
        else:
            await asyncio.sleep(duration_s)  # no terminal: fixed duration
        stop_recording()
    events = tagger.events()                # everything, closed at the q press

``with`` (or ``async with``) must run inside the event loop (it calls
``asyncio.get_running_loop()``); leaving it always restores the terminal.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import sys
from collections.abc import Callable
from typing import IO

from dmi_sensors.errors import StateError
from dmi_sensors.session.tagger import Tagger

__all__ = ["HELP_TEXT", "KeyTagger"]

HELP_TEXT = "keys: n next exercise, r next repetition, space pause/resume, e end exercise, t note, q stop"

_ESC = "\x1b"
_BACKSPACE = ("\x7f", "\b")
_ENTER = ("\r", "\n")


class KeyTagger:
    """Drive a :class:`~dmi_sensors.session.tagger.Tagger` from single key presses.

    Parameters
    ----------
    tagger
        The tagger to drive.
    stdin
        The terminal to read keys from (default ``sys.stdin``).
    output
        Where the status line goes (default ``"stderr"``: ``sys.stderr`` at call time); None
        for no output.
    on_action
        Called as ``on_action(action, tagger)`` after each action; ``action`` is one of
        ``next_exercise``, ``end_of_plan``, ``next_repetition``, ``pause``, ``resume``,
        ``end_exercise``, ``note``, ``quit``, ``error``.
    refresh_s
        Status line refresh period, seconds (0 disables the timer).
    """

    def __init__(
        self,
        tagger: Tagger,
        *,
        stdin: IO[str] | None = None,
        output: IO[str] | str | None = "stderr",
        on_action: Callable[[str, Tagger], None] | None = None,
        refresh_s: float = 1.0,
    ) -> None:
        self.tagger = tagger
        self._stdin = stdin
        self.output: IO[str] | None = sys.stderr if output == "stderr" else output  # type: ignore[assignment]
        self.on_action = on_action
        self.refresh_s = refresh_s
        self._fd: int | None = None
        self._saved_attrs: list | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._quit: asyncio.Event | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._note: str | None = None  # text typed so far while in note mode
        self.message = ""

    # -- lifecycle --------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """True while keys are being read (between a successful start and stop)."""
        return self._fd is not None

    def start(self) -> bool:
        """Enter cbreak mode and start reading keys; False (and no-op) if stdin is not a TTY."""
        if self.active:
            return True
        self._loop = asyncio.get_running_loop()
        self._quit = asyncio.Event()
        stdin = self._stdin if self._stdin is not None else sys.stdin
        try:
            import termios
            import tty

            fd = stdin.fileno()
        except (ImportError, AttributeError, OSError, ValueError):
            return False
        if not os.isatty(fd):
            return False
        self._saved_attrs = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd, termios.TCSANOW)
            self._loop.add_reader(fd, self._on_readable)
        except BaseException:
            termios.tcsetattr(fd, termios.TCSANOW, self._saved_attrs)
            raise
        self._fd = fd
        self._show()
        return True

    def stop(self) -> None:
        """Stop reading keys and restore the terminal (idempotent)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        fd, self._fd = self._fd, None
        if fd is None:
            return
        import termios

        if self._loop is not None:
            self._loop.remove_reader(fd)
        if self._saved_attrs is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, self._saved_attrs)
            self._saved_attrs = None
        if self.output is not None:
            self.output.write("\n")
            self.output.flush()

    async def wait_quit(self) -> None:
        """Wait until ``q`` is pressed."""
        if self._quit is None:
            raise StateError("call start() (or enter the context) first")
        await self._quit.wait()

    def __enter__(self) -> KeyTagger:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> KeyTagger:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    # -- keys -------------------------------------------------------------------------

    def handle_key(self, key: str) -> str | None:
        """Apply one key press; returns the action taken (or None). Usable without a terminal."""
        if self._note is not None:
            return self._note_key(key)
        tg = self.tagger
        if tg.stopped:
            return None
        action: str | None = None
        try:
            if key == "n":
                ex = tg.next_exercise()
                action = "next_exercise" if ex is not None else "end_of_plan"
                self.message = "" if ex is not None else "end of plan"
            elif key == "r":
                if tg.current is None:
                    self.message = "no exercise running: press n first"
                else:
                    tg.next_repetition()
                    action = "next_repetition"
            elif key == " ":
                action = "pause" if tg.toggle_pause() else "resume"
            elif key == "e":
                if tg.current is not None:
                    tg.end_exercise()
                    action = "end_exercise"
            elif key == "t":
                self._note = ""
            elif key == "q":
                tg.stop()
                action = "quit"
                if self._quit is not None:
                    self._quit.set()
            elif key in ("?", "h"):
                self.message = HELP_TEXT
        except (RuntimeError, ValueError, KeyError) as exc:
            self.message = f"error: {exc}"
            action = "error"
        if action is not None and self.on_action is not None:
            self.on_action(action, tg)
        return action

    def _note_key(self, key: str) -> str | None:
        assert self._note is not None
        if key in _ENTER:
            text, self._note = self._note, None
            if text.strip():
                self.tagger.note(text)
                self.message = "note saved"
                if self.on_action is not None:
                    self.on_action("note", self.tagger)
                return "note"
            self.message = "empty note ignored"
        elif key == _ESC:
            self._note = None
            self.message = "note cancelled"
        elif key in _BACKSPACE:
            self._note = self._note[:-1]
        elif key.isprintable():
            self._note += key
        return None

    def status_text(self) -> str:
        """The status line (without control characters)."""
        if self._note is not None:
            return f"note> {self._note}"
        line = self.tagger.status_line()
        return f"{line} | {self.message}" if self.message else line

    # -- internals --------------------------------------------------------------------

    def _on_readable(self) -> None:
        fd = self._fd
        if fd is None:
            return
        data = os.read(fd, 1024)
        if not data:  # end of input: stop reading, keep the recording going
            assert self._loop is not None
            self._loop.remove_reader(fd)
            return
        for ch in self._decoder.decode(data):
            self.handle_key(ch)
        self._show()

    def _show(self) -> None:
        if self.output is not None:
            self.output.write("\r\x1b[2K" + self.status_text())
            self.output.flush()
        if self.refresh_s > 0 and self._loop is not None and self.active:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_later(self.refresh_s, self._show)
