"""Numba kernels of the metrics layer (module-level ``@njit(cache=True)``).

Every kernel works on a whole signal and a list of windows given as sample index ranges
``[starts[i], stops[i])``, so one call computes all windows of a recording. A single
measure on a whole signal is the one-window case, which keeps whole-signal and windowed
results identical by construction. Pure-Python references live in
``tests/test_metrics_kernels.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Indices of the per-window statistics returned by :func:`planar_window_stats`.
S_N = 0  # number of samples N
S_MDIST = 1  # mean(RD), RD = sqrt(AP^2 + ML^2) after removing the window mean
S_MDIST_AP = 2  # mean(|AP|)
S_MDIST_ML = 3  # mean(|ML|)
S_RDIST = 4  # sqrt(mean(RD^2))
S_VAR_AP = 5  # mean(AP^2)            (1/N)
S_VAR_ML = 6  # mean(ML^2)            (1/N)
S_COV = 7  # mean(AP*ML)              (1/N)
S_TOTEX = 8  # sum sqrt(dAP^2 + dML^2)
S_TOTEX_AP = 9  # sum |dAP|
S_TOTEX_ML = 10  # sum |dML|
S_RANGE = 11  # largest distance between two samples (diameter of the convex hull)
S_RANGE_AP = 12  # max(AP) - min(AP)
S_RANGE_ML = 13  # max(ML) - min(ML)
S_CROSS = 14  # sum |AP[n+1] ML[n] - AP[n] ML[n+1]|
S_DIFF2 = 15  # sum (dAP^2 + dML^2)
S_RD_MAX = 16  # max(RD)
S_RD_MIN = 17  # min(RD)
N_STATS = 18


@njit(cache=True)
def _cross(ox, oy, ax, ay, bx, by):
    return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox)


#: Relative margin of the interior test in :func:`hull_diameter`'s pre-filter: a point is
#: dropped only when it lies inside the octagon by more than this (rounding cannot matter).
HULL_FILTER_MARGIN = 1e-9


@njit(cache=True)
def hull_diameter(x, y):
    """Largest distance between any two of the points ``(x[i], y[i])``.

    Akl-Toussaint pre-filter, then :func:`_hull_diameter_sorted` of the survivors: the
    extreme points in eight directions (min/max of x, y, x + y, x - y) are hull vertices,
    so a point inside their octagon cannot be one and is dropped before the O(N log N)
    sort (a window of sway keeps a few per cent of its samples). Points on or near the
    octagon's edges (within :data:`HULL_FILTER_MARGIN`) are kept; a degenerate octagon
    (all points on a line) keeps every point. Same result as the sort of all points.
    """
    n = x.shape[0]
    if n < 16:
        return _hull_diameter_sorted(x, y)
    # the extreme points in eight directions, counter-clockwise from west
    ext = np.empty(8, dtype=np.int64)
    best = np.empty(8)
    for k in range(8):
        ext[k] = 0
    x0 = x[0]
    y0 = y[0]
    best[0] = x0  # min x
    best[1] = x0 + y0  # min x + y
    best[2] = y0  # min y
    best[3] = x0 - y0  # max x - y
    best[4] = x0  # max x
    best[5] = x0 + y0  # max x + y
    best[6] = y0  # max y
    best[7] = x0 - y0  # min x - y
    for i in range(1, n):
        xi = x[i]
        yi = y[i]
        s = xi + yi
        d = xi - yi
        if xi < best[0]:
            best[0] = xi
            ext[0] = i
        if s < best[1]:
            best[1] = s
            ext[1] = i
        if yi < best[2]:
            best[2] = yi
            ext[2] = i
        if d > best[3]:
            best[3] = d
            ext[3] = i
        if xi > best[4]:
            best[4] = xi
            ext[4] = i
        if s > best[5]:
            best[5] = s
            ext[5] = i
        if yi > best[6]:
            best[6] = yi
            ext[6] = i
        if d < best[7]:
            best[7] = d
            ext[7] = i
    keep = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        px = x[i]
        py = y[i]
        inside = True
        edges = 0
        for k in range(8):
            a = ext[k]
            b = ext[(k + 1) % 8]
            ex = x[b] - x[a]
            ey = y[b] - y[a]
            if ex == 0.0 and ey == 0.0:
                continue  # a repeated vertex: no edge
            edges += 1
            qx = px - x[a]
            qy = py - y[a]
            cross = ex * qy - ey * qx
            if not cross > HULL_FILTER_MARGIN * (abs(ex) + abs(ey)) * (abs(qx) + abs(qy)):
                inside = False
                break
        if not inside or edges < 3:
            keep[m] = i
            m += 1
    if m == n:
        return _hull_diameter_sorted(x, y)
    xs = np.empty(m)
    ys = np.empty(m)
    for j in range(m):
        xs[j] = x[keep[j]]
        ys[j] = y[keep[j]]
    return _hull_diameter_sorted(xs, ys)


@njit(cache=True)
def _hull_diameter_sorted(x, y):
    """Largest distance between any two of the points ``(x[i], y[i])``.

    Andrew's monotone chain convex hull (collinear points dropped) followed by rotating
    calipers over antipodal pairs: O(N log N). Exact for any input, including repeated
    and collinear points.
    """
    n = x.shape[0]
    if n < 2:
        return 0.0
    # lexicographic order (x, then y): stable sort on y, then stable sort on x
    o1 = np.argsort(y, kind="mergesort")
    o2 = np.argsort(x[o1], kind="mergesort")
    order = o1[o2]
    hx = np.empty(2 * n)
    hy = np.empty(2 * n)
    k = 0
    for idx in range(n):  # lower hull
        px = x[order[idx]]
        py = y[order[idx]]
        while k >= 2 and _cross(hx[k - 2], hy[k - 2], hx[k - 1], hy[k - 1], px, py) <= 0.0:
            k -= 1
        hx[k] = px
        hy[k] = py
        k += 1
    lower = k + 1
    for idx in range(n - 2, -1, -1):  # upper hull
        px = x[order[idx]]
        py = y[order[idx]]
        while k >= lower and _cross(hx[k - 2], hy[k - 2], hx[k - 1], hy[k - 1], px, py) <= 0.0:
            k -= 1
        hx[k] = px
        hy[k] = py
        k += 1
    h = k - 1  # last point repeats the first
    if h <= 1:
        return 0.0
    if h == 2:
        return np.hypot(hx[1] - hx[0], hy[1] - hy[0])
    best = 0.0
    j = 1
    for i in range(h):
        ni = (i + 1) % h
        while True:
            nj = (j + 1) % h
            a_next = abs(_cross(hx[i], hy[i], hx[ni], hy[ni], hx[nj], hy[nj]))
            a_here = abs(_cross(hx[i], hy[i], hx[ni], hy[ni], hx[j], hy[j]))
            if a_next > a_here:
                j = nj
            else:
                break
        d1 = np.hypot(hx[i] - hx[j], hy[i] - hy[j])
        d2 = np.hypot(hx[ni] - hx[j], hy[ni] - hy[j])
        if d1 > best:
            best = d1
        if d2 > best:
            best = d2
    return best


@njit(cache=True, inline="always")
def _window_means(ap, ml, a, b):
    """Means of ``ap[a:b]`` and ``ml[a:b]`` (summed in order, as the references do)."""
    mean_ap = 0.0
    mean_ml = 0.0
    for i in range(a, b):
        mean_ap += ap[i]
        mean_ml += ml[i]
    n = b - a
    return mean_ap / n, mean_ml / n


@njit(cache=True)
def planar_window_stats(ap, ml, starts, stops, out):
    """Time-domain statistics of a 2-D trajectory in each window.

    Each window is de-meaned on its own (Prieto 1996 eq. 3) before the statistics are
    taken. ``out`` has shape ``(len(starts), N_STATS)``; columns are the ``S_*`` indices
    of this module. Windows with fewer than 2 samples get NaN.
    """
    n_win = starts.shape[0]
    for w in range(n_win):
        a = starts[w]
        b = stops[w]
        n = b - a
        for s in range(N_STATS):
            out[w, s] = np.nan
        out[w, S_N] = n
        if n < 2:
            continue
        mean_ap, mean_ml = _window_means(ap, ml, a, b)
        x = np.empty(n)
        y = np.empty(n)
        s_rd = 0.0
        s_ap = 0.0
        s_ml = 0.0
        s_rd2 = 0.0
        s_xx = 0.0
        s_yy = 0.0
        s_xy = 0.0
        rd_max = -np.inf
        rd_min = np.inf
        min_x = np.inf
        max_x = -np.inf
        min_y = np.inf
        max_y = -np.inf
        for i in range(n):
            xi = ap[a + i] - mean_ap
            yi = ml[a + i] - mean_ml
            x[i] = xi
            y[i] = yi
            rd = np.sqrt(xi * xi + yi * yi)
            s_rd += rd
            s_ap += abs(xi)
            s_ml += abs(yi)
            s_xx += xi * xi
            s_yy += yi * yi
            s_xy += xi * yi
            rd_max = max(rd_max, rd)
            rd_min = min(rd_min, rd)
            min_x = min(min_x, xi)
            max_x = max(max_x, xi)
            min_y = min(min_y, yi)
            max_y = max(max_y, yi)
        s_rd2 = s_xx + s_yy
        tot = 0.0
        tot_ap = 0.0
        tot_ml = 0.0
        cross = 0.0
        diff2 = 0.0
        for i in range(n - 1):
            dx = x[i + 1] - x[i]
            dy = y[i + 1] - y[i]
            tot += np.sqrt(dx * dx + dy * dy)
            tot_ap += abs(dx)
            tot_ml += abs(dy)
            cross += abs(x[i + 1] * y[i] - x[i] * y[i + 1])
            diff2 += dx * dx + dy * dy
        out[w, S_MDIST] = s_rd / n
        out[w, S_MDIST_AP] = s_ap / n
        out[w, S_MDIST_ML] = s_ml / n
        out[w, S_RDIST] = np.sqrt(s_rd2 / n)
        out[w, S_VAR_AP] = s_xx / n
        out[w, S_VAR_ML] = s_yy / n
        out[w, S_COV] = s_xy / n
        out[w, S_TOTEX] = tot
        out[w, S_TOTEX_AP] = tot_ap
        out[w, S_TOTEX_ML] = tot_ml
        out[w, S_RANGE] = hull_diameter(x, y)
        out[w, S_RANGE_AP] = max_x - min_x
        out[w, S_RANGE_ML] = max_y - min_y
        out[w, S_CROSS] = cross
        out[w, S_DIFF2] = diff2
        out[w, S_RD_MAX] = rd_max
        out[w, S_RD_MIN] = rd_min
    return out


@njit(cache=True)
def speed_mean(vx, vy, starts, stops, out):
    """Mean speed ``mean(sqrt(vx² + vy²))`` of a 2-D velocity in each window; NaN for an empty window."""
    for w in range(starts.shape[0]):
        a = starts[w]
        b = stops[w]
        if b <= a:
            out[w] = np.nan
            continue
        acc = 0.0
        for i in range(a, b):
            acc += np.sqrt(vx[i] * vx[i] + vy[i] * vy[i])
        out[w] = acc / (b - a)
    return out


# Indices of the per-window trunk-angle statistics of :func:`tilt_window_stats`.
T_RMS_AP = 0  # RMS of the AP angle about its window mean, rad
T_RMS_ML = 1
T_RANGE_AP = 2  # max - min, rad
T_RANGE_ML = 3
T_SPEED_AP = 4  # mean |dθ/dt| (angular path per second), rad/s
T_SPEED_ML = 5
N_TILT_STATS = 6


@njit(cache=True)
def tilt_window_stats(q, starts, stops, fs_hz, out):
    """Trunk angles about each window's mean attitude: RMS, range and mean angular speed, AP and ML.

    Per window: the mean attitude ``q_ref`` (the normalised sum of the quaternions, each
    sign-aligned with the window's first); per sample the rotation ``δq = q_ref* ⊗ q`` as a
    rotation vector ``r = 2·atan2(|v|, w)·v/|v|`` in the reference's body axes; AP angle
    ``r_y`` (about the left axis: + forward), ML angle ``-r_x`` (about the forward axis:
    + to the left). RMS about the window mean, range max - min, mean angular speed
    ``Σ|Δθ|·fs/(n - 1)``. Windows with fewer than 2 samples get NaN.
    """
    for w in range(starts.shape[0]):
        a = starts[w]
        b = stops[w]
        n = b - a
        if n < 2:
            for k in range(N_TILT_STATS):
                out[w, k] = np.nan
            continue
        sw = 0.0
        sx = 0.0
        sy = 0.0
        sz = 0.0
        for i in range(a, b):
            sign = 1.0
            if q[i, 0] * q[a, 0] + q[i, 1] * q[a, 1] + q[i, 2] * q[a, 2] + q[i, 3] * q[a, 3] < 0.0:
                sign = -1.0
            sw += sign * q[i, 0]
            sx += sign * q[i, 1]
            sy += sign * q[i, 2]
            sz += sign * q[i, 3]
        norm = np.sqrt(sw * sw + sx * sx + sy * sy + sz * sz)
        rw = sw / norm
        rx = -sx / norm  # conjugate of the reference
        ry = -sy / norm
        rz = -sz / norm
        ap = np.empty(n)
        ml = np.empty(n)
        for k in range(n):
            i = a + k
            qw = q[i, 0]
            qx = q[i, 1]
            qy = q[i, 2]
            qz = q[i, 3]
            # d = r ⊗ q
            dw = rw * qw - rx * qx - ry * qy - rz * qz
            dx = rw * qx + rx * qw + ry * qz - rz * qy
            dy = rw * qy - rx * qz + ry * qw + rz * qx
            dz = rw * qz + rx * qy - ry * qx + rz * qw
            if dw < 0.0:
                dw = -dw
                dx = -dx
                dy = -dy
                dz = -dz
            vn = np.sqrt(dx * dx + dy * dy + dz * dz)
            scale = 2.0 if vn < 1e-12 else 2.0 * np.arctan2(vn, dw) / vn
            ap[k] = scale * dy
            ml[k] = -scale * dx
        m_ap = ap.mean()
        m_ml = ml.mean()
        s_ap = 0.0
        s_ml = 0.0
        for k in range(n):
            s_ap += (ap[k] - m_ap) ** 2
            s_ml += (ml[k] - m_ml) ** 2
        out[w, T_RMS_AP] = np.sqrt(s_ap / n)
        out[w, T_RMS_ML] = np.sqrt(s_ml / n)
        out[w, T_RANGE_AP] = ap.max() - ap.min()
        out[w, T_RANGE_ML] = ml.max() - ml.min()
        p_ap = 0.0
        p_ml = 0.0
        for k in range(1, n):
            p_ap += abs(ap[k] - ap[k - 1])
            p_ml += abs(ml[k] - ml[k - 1])
        out[w, T_SPEED_AP] = p_ap * fs_hz / (n - 1)
        out[w, T_SPEED_ML] = p_ml * fs_hz / (n - 1)
    return out
