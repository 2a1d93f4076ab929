"""Numbers as a reader wants them: whole counts, three significant digits, readable ranges."""

import math

from kit.report.formatting import (
    MINUS,
    decimals_for,
    fmt_number,
    fmt_range,
    is_constant,
    ratio_colour,
    share_colour,
)


def test_counts_are_whole_numbers_with_separators():
    assert fmt_number(10020.667, integer=True) == "10,021"
    assert fmt_number(2499.8, integer=True) == "2,500"
    assert fmt_number(757) == "757"  # an int never gets decimals


def test_three_significant_digits_and_true_minus_signs():
    assert fmt_number(0.123456) == "0.123"
    assert fmt_number(12.3456) == "12.3"
    assert fmt_number(-0.206) == f"{MINUS}0.206"
    assert fmt_number(-0.00001, 3) == "0.000"  # no "-0.000"
    assert fmt_number(math.inf) == "∞" and fmt_number(math.nan) == "–" and fmt_number(None) == "–"


def test_ranges_read_lo_to_hi():
    assert fmt_range(-0.206, -0.049, 3) == f"{MINUS}0.206 to {MINUS}0.049"
    assert fmt_range(9967.0, 10066.0, integer=True) == "9,967 to 10,066"
    assert fmt_range(0.5, 0.5) == "0.500"


def test_column_decimals_follow_the_largest_value():
    assert decimals_for([0.7, -0.049]) == 3
    assert decimals_for([12.0, 3.5]) == 1
    assert decimals_for([10020.7]) == 0
    assert is_constant([0.0041, 0.00412], 3) and not is_constant([0.004, 0.005], 3)


def test_colour_scales_deepen_with_badness():
    def red(c):
        return 255 - int(c[3:5], 16)  # less green = redder

    assert ratio_colour(1.0) == "#ffffff"
    assert red(ratio_colour(0.9)) < red(ratio_colour(0.8)) < red(ratio_colour(0.6)) < red(ratio_colour(0.4))
    assert ratio_colour(0.2) == ratio_colour(0.4)  # deepest at 0.4 or less
    assert share_colour(0.0) == "#ffffff" and share_colour(-0.3) != share_colour(0.3)
