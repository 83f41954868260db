"""WGS-84 ↔ GCJ-02 conversion.

GCJ-02 is the obfuscated datum that Chinese map services (Gaode/AMap, Tencent) use; phones
report WGS-84. The forward transform is the published polynomial approximation; the inverse has
no closed form and is solved by fixed-point iteration to well under a metre. No maintained
Python package on the registry does only this, so the twenty lines live here, with tests against
known pairs.
"""

from __future__ import annotations

import math

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323


def _outside_china(lat: float, lng: float) -> bool:
    return not (73.66 < lng < 135.05 and 3.86 < lat < 53.55)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """Shift a WGS-84 position into GCJ-02 (unchanged outside mainland China)."""
    if _outside_china(lat, lng):
        return lat, lng
    d_lat = _transform_lat(lng - 105.0, lat - 35.0)
    d_lng = _transform_lng(lng - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return lat + d_lat, lng + d_lng


def gcj02_to_wgs84(lat: float, lng: float, *, tolerance: float = 1e-7) -> tuple[float, float]:
    """Invert the GCJ-02 shift by iteration (error below 1e-7 degrees, about a centimetre)."""
    if _outside_china(lat, lng):
        return lat, lng
    guess_lat, guess_lng = lat, lng
    for _ in range(30):
        shifted_lat, shifted_lng = wgs84_to_gcj02(guess_lat, guess_lng)
        err_lat, err_lng = shifted_lat - lat, shifted_lng - lng
        if abs(err_lat) < tolerance and abs(err_lng) < tolerance:
            break
        guess_lat -= err_lat
        guess_lng -= err_lng
    return guess_lat, guess_lng
