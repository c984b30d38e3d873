"""Third-party sensors: decoders, encoders and identification for the IMUs labs already own.

One registry for the vendors the toolkit speaks to (``docs/vendors.md``):

============  ===================================  ======================  ===============
name          sensors                              decoder                 loss accounting
============  ===================================  ======================  ===============
metamotion    MbientLab MetaMotion R/RL/C/S        :class:`MetaMotionDecoder`  estimated (plain) / exact (accounter)
dot           Movella (Xsens) DOT                  :class:`DotDecoder`     exact
polar         Polar Verity Sense, H10 (PMD)        :class:`PolarDecoder`   exact
witmotion     WitMotion WT901BLECL, WT9011DCL      :class:`WitMotionDecoder`   estimated
============  ===================================  ======================  ===============

* :func:`decoder_for` — ``decoder_for("polar", "S1", model="H10", rate_hz=100,
  gyroscope=False)``: a streaming decoder with the contract of
  :class:`dmi_sensors.protocol.StreamDecoder` (``process(packets) -> SampleBatch`` in SI
  units with counters, device and host times and gap flags for :mod:`dmi_sensors.timing`;
  ``reset()``, ``state``, ``get_params()``; running totals for the link statistics) plus
  ``loss_accounting`` (``"exact"``/``"estimated"``), ``timing_source`` and ``flush()``.
  The keyword settings are those of the vendor's setup exchange (rate, range, frame type).
* :func:`decode_vendor_stream` — a whole recording of one sensor at once.
* :func:`identify` — an advertisement (name, service UUIDs, manufacturer data) ->
  :class:`Identification` (vendor and model) or None, a pure function for scanners.
* Each vendor module (:mod:`~dmi_sensors.vendors.metamotion`, :mod:`~dmi_sensors.vendors.dot`,
  :mod:`~dmi_sensors.vendors.polar`, :mod:`~dmi_sensors.vendors.witmotion`) keeps the byte
  layouts: decoder, encoder (the device side, for emulated peripherals and tests) and the
  command bytes of its setup exchange, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dmi_sensors.errors import ParameterError
from dmi_sensors.types import RawPacket
from dmi_sensors.vendors import dot, metamotion, polar, witmotion
from dmi_sensors.vendors._base import (
    LOSS_ACCOUNTING,
    TIMING_SOURCES,
    VendorDecodedStream,
    VendorDecoder,
    VendorDecoderState,
    finish,
)
from dmi_sensors.vendors.dot import DotDecoder
from dmi_sensors.vendors.metamotion import MetaMotionDecoder
from dmi_sensors.vendors.polar import PolarDecoder
from dmi_sensors.vendors.witmotion import WitMotionDecoder

__all__ = [
    "DECODERS",
    "LOSS_ACCOUNTING",
    "TIMING_SOURCES",
    "VENDORS",
    "DotDecoder",
    "Identification",
    "MetaMotionDecoder",
    "PolarDecoder",
    "VendorDecodedStream",
    "VendorDecoder",
    "VendorDecoderState",
    "WitMotionDecoder",
    "decode_vendor_stream",
    "decoder_for",
    "identify",
    "stored_decoder",
]

#: Registry: vendor name -> decoder class.
DECODERS: dict[str, type[VendorDecoder]] = {
    "metamotion": MetaMotionDecoder,
    "dot": DotDecoder,
    "polar": PolarDecoder,
    "witmotion": WitMotionDecoder,
}
VENDORS = tuple(DECODERS)

_IDENTIFIERS = (
    ("polar", polar.identify),
    ("dot", dot.identify),
    ("metamotion", metamotion.identify),
    ("witmotion", witmotion.identify),
)


def _vendor(vendor: str) -> type[VendorDecoder]:
    try:
        return DECODERS[vendor]
    except (KeyError, TypeError):
        raise ParameterError(f"vendor must be one of {', '.join(VENDORS)}, got {vendor!r}") from None


def decoder_for(vendor: str, sensor_id: str, **settings: Any) -> VendorDecoder:
    """A fresh streaming decoder for ``vendor`` with the settings of its setup exchange.

    Unknown settings raise :class:`~dmi_sensors.errors.ParameterError` naming the ones the
    vendor's decoder takes.
    """
    cls = _vendor(vendor)
    import inspect

    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "sensor_id")]
    unknown = sorted(set(settings) - set(accepted))
    if unknown:
        raise ParameterError(f"{vendor} decoder settings are {', '.join(accepted)}; unknown: {', '.join(unknown)}")
    return cls(sensor_id=sensor_id, **settings)


def stored_decoder(spec: Mapping[str, Any] | None, sensor_id: str) -> VendorDecoder | None:
    """The decoder a stored sensor's raw notifications need: ``spec`` is what the store keeps
    for a third-party sensor (``{"vendor": name, "settings": {...}}``, written by the recorder
    from the setup exchange); None (our own protocol) gives None."""
    if spec is None:
        return None
    try:
        vendor, settings = spec["vendor"], dict(spec.get("settings") or {})
    except (KeyError, TypeError, AttributeError):
        raise ParameterError(
            f"a stored decoder must be {{'vendor': name, 'settings': {{...}}}}, got {spec!r}"
        ) from None
    return decoder_for(vendor, sensor_id, **settings)


def decode_vendor_stream(
    packets: Sequence[RawPacket], vendor: str, sensor_id: str, **settings: Any
) -> VendorDecodedStream:
    """Decode a whole recording of one vendor sensor (process everything, then flush)."""
    return finish(decoder_for(vendor, sensor_id, **settings), packets)


@dataclass(frozen=True)
class Identification:
    """What an advertisement says about a third-party sensor.

    Attributes
    ----------
    vendor
        Registry name (``metamotion``, ``dot``, ``polar``, ``witmotion``).
    model
        The model as far as the advertisement tells it (``"H10"``, ``"Verity Sense"``,
        ``"DOT"``, ``"MetaMotion"``, ``"WT901BLECL"``, …); a connection may refine it.
    """

    vendor: str
    model: str


def identify(
    name: str | None = None,
    service_uuids: Sequence[str] = (),
    manufacturer_data: Mapping[int, bytes] | None = None,
) -> Identification | None:
    """The vendor and model of an advertisement, or None when it is none of the known vendors.

    ``manufacturer_data`` maps the company identifier to its payload as bleak reports it.
    Pure function: call it on each scan result.
    """
    uuids = tuple(str(u).lower() for u in service_uuids)
    mfr = dict(manufacturer_data or {})
    for vendor, check in _IDENTIFIERS:
        model = check(name, uuids, mfr)
        if model is not None:
            return Identification(vendor, model)
    return None
