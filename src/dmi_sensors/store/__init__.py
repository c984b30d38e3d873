"""Crash-safe SQLite session store, replay, and exports (CSV, Parquet, BIDS-Motion).

Raw packets are written first, in short transactions (at most 0.5 s apart) from a writer
thread; sessions stay ``incomplete`` until finalised, so a crashed recording is visible and
still analysable. The store keeps and returns records (:mod:`.records`): it does not parse
calibrations or build session objects. Samples of a recorded session are timed by
:func:`dmi_sensors.timing.timed_samples`, the path the analysis uses too. See ``docs/store.md``.

>>> from dmi_sensors.store import SessionStore
>>> store = SessionStore("sessions.sqlite")            # doctest: +SKIP
>>> sid = store.create_session(subject, plan, {"DMI-0001": "trunk"}, therapist_id="T01")  # doctest: +SKIP
>>> with store.packet_writer(sid) as writer:           # doctest: +SKIP
...     writer.append(packet)
"""

from dmi_sensors.store.export import export_session, import_path
from dmi_sensors.store.paths import DB_ENV, default_db_path
from dmi_sensors.store.records import CalibrationRecord, ResultRecord, SensorInfo, SessionInfo
from dmi_sensors.store.replay import replay
from dmi_sensors.store.samples import recorded_samples, session_samples, session_trial
from dmi_sensors.store.schema import SCHEMA_VERSION
from dmi_sensors.store.sessionstore import SessionStore, UnknownSessionError
from dmi_sensors.store.writer import CommitPolicy, PacketWriter

__all__ = [
    "DB_ENV",
    "SCHEMA_VERSION",
    "CalibrationRecord",
    "CommitPolicy",
    "PacketWriter",
    "ResultRecord",
    "SensorInfo",
    "SessionInfo",
    "SessionStore",
    "UnknownSessionError",
    "default_db_path",
    "export_session",
    "import_path",
    "recorded_samples",
    "replay",
    "session_samples",
    "session_trial",
]
