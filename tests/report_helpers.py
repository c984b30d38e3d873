"""Helpers for the report tests: decode PNG bytes and check they hold a real picture."""

from __future__ import annotations

import io

import numpy as np


def png_array(png: bytes) -> np.ndarray:
    """Decode PNG bytes into an (h, w, channels) float array in [0, 1] (matplotlib's reader)."""
    import matplotlib.image as mpimg

    assert png.startswith(b"\x89PNG\r\n\x1a\n"), "not a PNG"
    return mpimg.imread(io.BytesIO(png), format="png")


def assert_real_figure(png: bytes, min_px: int = 200) -> np.ndarray:
    """A decodable PNG of at least ``min_px`` on each side with visible content (not blank)."""
    img = png_array(png)
    h, w = img.shape[:2]
    assert h >= min_px and w >= min_px, (h, w)
    rgb = img[..., :3]
    assert float(rgb.std()) > 0.02, "figure is (nearly) uniform"
    # a meaningful fraction of non-white pixels
    ink = np.mean(np.any(rgb < 0.9, axis=-1))
    assert ink > 0.01, ink
    return img
