"""Numbers and colours as a reader of the reports wants them.

Counts print as whole numbers with thousands separators (a mean of counts over seeds is rounded:
``10,021``, never ``10020.667``); other numbers print to three significant digits, with the same
decimals down a table column so that they line up; a negative number takes a true minus sign and a
range reads ``−0.206 to −0.049`` (never ``-0.206–-0.049``). Group tables colour each cell on a
scale whose meaning the report states (see `ratio_colour` and `share_colour`).
"""

from __future__ import annotations

import html
import math

import numpy as np

MINUS = "\u2212"  # a minus sign: never read as a hyphen or a range dash
DASH = "–"  # a missing value, or a cell suppressed for having too few customers
MAX_DECIMALS = 4


def decimals_for(values, sig: int = 3) -> int:
    """Decimals that show the largest finite |value| in `values` to `sig` significant digits."""
    finite = [abs(float(v)) for v in values if v is not None and _is_finite(v) and float(v) != 0]
    if not finite:
        return min(sig - 1, MAX_DECIMALS)
    top = max(finite)
    return int(max(0, min(MAX_DECIMALS, sig - 1 - math.floor(math.log10(top)))))


def _is_finite(v) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def fmt_number(v, decimals: int | None = None, integer: bool = False, sig: int = 3) -> str:
    """One number as text: ``–`` when missing, ``∞`` for infinity, whole with thousands separators
    when `integer` (or an int), else with `decimals` (default: `sig` significant digits)."""
    if v is None:
        return DASH
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(x):
        return DASH
    if math.isinf(x):
        return "∞" if x > 0 else f"{MINUS}∞"
    if integer or isinstance(v, int | np.integer):
        text = f"{round(x):,}"
    else:
        d = decimals_for([x], sig) if decimals is None else decimals
        text = f"{x:,.{d}f}"
        if float(text.replace(",", "")) == 0:
            text = text.lstrip("-")  # no "-0.000"
    return text.replace("-", MINUS)


def fmt_range(lo, hi, decimals: int | None = None, integer: bool = False) -> str:
    """A range as ``lo to hi``; a single value when both ends print the same."""
    a, b = fmt_number(lo, decimals, integer), fmt_number(hi, decimals, integer)
    return a if a == b else f"{a} to {b}"


def is_constant(values, decimals: int | None = None, integer: bool = False) -> bool:
    """True when every value prints the same: a column that tells no two rows apart."""
    return len({fmt_number(v, decimals, integer) for v in values}) <= 1


def escaped(v, decimals: int | None = None, integer: bool = False) -> str:
    """`fmt_number`, escaped for HTML built by hand."""
    return html.escape(fmt_number(v, decimals, integer))


# --- Colour scales of the group tables --------------------------------------------------------

WHITE, RED, BLUE = (255, 255, 255), (214, 96, 77), (67, 147, 195)


def _mix(c0: tuple, c1: tuple, t: float) -> str:
    t = min(max(t, 0.0), 1.0)
    r, g, b = (round(a + (b - a) * t) for a, b in zip(c0, c1))
    return f"#{r:02x}{g:02x}{b:02x}"


def ratio_colour(ratio: float) -> str:
    """Background of a cell whose value is `ratio` times its row's best-off group: white at the best,
    a pale red down to the four-fifths line (0.8), deepening red below it, deepest at 0.4 or less."""
    if ratio is None or not _is_finite(ratio):
        return ""
    if ratio >= 0.8:
        return _mix(WHITE, RED, (1.0 - ratio) / 0.2 * 0.25)
    return _mix(WHITE, RED, 0.25 + (0.8 - ratio) / 0.4 * 0.75)


def share_colour(share: float) -> str:
    """Background of a gain-share cell: white at 0 (no better than mass), blue towards 1 (the oracle),
    red below 0 (the group loses against mass)."""
    if share is None or not _is_finite(share):
        return ""
    if share < 0:
        return _mix(WHITE, RED, min(1.0, -share / 0.5))
    return _mix(WHITE, BLUE, min(1.0, share) * 0.8)
