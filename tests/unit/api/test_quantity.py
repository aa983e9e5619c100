"""Quantities against upstream: emitted strings, rounding, errors, arithmetic, JSON normalising.

The string tables come from apimachinery's ``resource`` tests (TestQuantityString,
TestQuantityParseEmit, TestQuantityParse) plus the quirks read from its parser; the properties
compare against a naive `Fraction` reference.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.quantity import (
    FORMAT_MESSAGE,
    NUMERIC_MESSAGE,
    SUFFIX_MESSAGE,
    Quantity,
    QuantityError,
    QuantityFormat,
    normalize_quantity,
    parse_quantity,
)

BINARY, DECIMAL, EXPONENT = (
    QuantityFormat.BINARY_SI,
    QuantityFormat.DECIMAL_SI,
    QuantityFormat.DECIMAL_EXPONENT,
)

EMITTED = [
    # canonical forms
    pytest.param("1000m", "1", id="milli-to-unit"),
    pytest.param("0.5", "500m", id="half"),
    pytest.param("0.1", "100m", id="tenth"),
    pytest.param("1536Mi", "1536Mi", id="binary-not-a-whole-gi"),
    pytest.param("1.5Gi", "1536Mi", id="fractional-gi"),
    pytest.param("100M", "100M", id="decimal-si-kept"),
    pytest.param("1e3", "1e3", id="exponent-kept"),
    pytest.param("1024Mi", "1Gi", id="binary-up"),
    pytest.param("307200Ki", "300Mi", id="binary-300mi"),
    pytest.param("1025024Mi", "1001Gi", id="binary-1001gi"),
    pytest.param("1000M", "1G", id="decimal-up"),
    pytest.param("0.001T", "1G", id="decimal-from-fraction"),
    pytest.param("1080000000n", "1080m", id="nano-to-milli"),
    pytest.param("1.08", "1080m", id="fraction-to-milli"),
    pytest.param("5000m", "5", id="5000m"),
    pytest.param("1000", "1k", id="thousand"),
    pytest.param("1.5k", "1500", id="1.5k"),
    pytest.param("12E", "12E", id="exa"),
    pytest.param("1.01E", "1010P", id="fractional-exa"),
    pytest.param(".001e12", "1e9", id="exponent-normalised"),
    pytest.param("0.001e0", "1e-3", id="exponent-negative"),
    pytest.param("1000e-12", "1e-9", id="exponent-nano"),
    pytest.param("1e2", "100", id="exponent-zero-printed-plain"),
    pytest.param("-1.5Gi", "-1536Mi", id="negative-binary"),
    pytest.param("-0.5", "-500m", id="negative-decimal"),
    pytest.param(".001Ki", "1024m", id="milli-ki"),
    pytest.param(".000001Ki", "1024u", id="micro-ki"),
    pytest.param(".000000001Ki", "1024n", id="nano-ki"),
    pytest.param("1.5Ki", "1536", id="binary-below-suffix"),
    pytest.param("0.5Ki", "512", id="binary-below-1024"),
    pytest.param("1.1Ki", "1126400m", id="binary-fraction-as-decimal"),
    pytest.param("1Pi", "1Pi", id="pebi"),
    # rounding up to 1n, and capping
    pytest.param("3.001n", "4n", id="round-up-nano"),
    pytest.param("0.0000000001", "1n", id="round-up-tiny"),
    pytest.param("0.00000012345", "124n", id="round-up-digits"),
    pytest.param("1.1E-9", "2e-9", id="round-up-exponent"),
    pytest.param(".000000000001Ki", "2n", id="tiny-binary-becomes-decimal"),
    pytest.param("0.1m", "100u", id="sub-milli-kept"),
    pytest.param("9Ei", "9223372036854775807", id="binary-capped-at-int64"),
    pytest.param("-9Ei", "-9223372036854775807", id="negative-binary-capped"),
    # zeros
    pytest.param("0", "0", id="zero"),
    pytest.param("00", "0", id="zeros"),
    pytest.param("0Ki", "0", id="zero-binary"),
    pytest.param("-0", "0", id="negative-zero"),
    pytest.param(".", "0", id="lone-point"),
    pytest.param("+", "0", id="lone-sign"),
    # upstream keeps an already-canonical input string verbatim
    pytest.param("+1", "+1", id="verbatim-plus"),
    pytest.param("01", "01", id="verbatim-leading-zero"),
    pytest.param("1.", "1.", id="verbatim-trailing-point"),
    pytest.param("1.500k", "1.500k", id="verbatim-fraction"),
    pytest.param("1E3", "1E3", id="verbatim-capital-e"),
    pytest.param("+1Ki", "+1Ki", id="verbatim-binary"),
    # deliberate difference: upstream prints "1" for 1000E
    pytest.param("1000E", "1e21", id="beyond-exa-uses-exponent"),
]


@pytest.mark.parametrize(("text", "emitted"), EMITTED)
def test_emitted_string(text: str, emitted: str) -> None:
    assert str(parse_quantity(text)) == emitted


CANONICAL = [
    pytest.param(2**30, BINARY, "1Gi", id="1Gi"),
    pytest.param(300 * 2**20, BINARY, "300Mi", id="300Mi"),
    pytest.param(5, BINARY, "5", id="small-binary"),
    pytest.param(1025, BINARY, "1025", id="binary-1025"),
    pytest.param(10**9, DECIMAL, "1G", id="1G"),
    pytest.param(3000, DECIMAL, "3k", id="3k"),
    pytest.param(3000, EXPONENT, "3e3", id="3e3"),
    pytest.param(300 * 10**6, EXPONENT, "300e6", id="300e6"),
    pytest.param(2**70, BINARY, "1024Ei", id="binary-stops-at-ei"),
]


@pytest.mark.parametrize(("value", "fmt", "emitted"), CANONICAL)
def test_canonical_form(value: int, fmt: QuantityFormat, emitted: str) -> None:
    assert str(Quantity.from_int(value, fmt)) == emitted
    assert str(-Quantity.from_int(value, fmt)) == "-" + emitted


ERRORS = [
    pytest.param("", FORMAT_MESSAGE, id="empty"),
    pytest.param("1.1.M", FORMAT_MESSAGE, id="two-points"),
    pytest.param("1+1.0M", FORMAT_MESSAGE, id="sign-inside"),
    pytest.param("0.1am", FORMAT_MESSAGE, id="unknown-letter"),
    pytest.param("aoeu", FORMAT_MESSAGE, id="word"),
    pytest.param(" 1", FORMAT_MESSAGE, id="leading-space"),
    pytest.param("1 ", FORMAT_MESSAGE, id="trailing-space"),
    pytest.param("1e3.5", FORMAT_MESSAGE, id="fractional-exponent"),
    pytest.param("0.1mi", SUFFIX_MESSAGE, id="mi"),
    pytest.param(".5i", SUFFIX_MESSAGE, id="bare-i"),
    pytest.param("-3.01i", SUFFIX_MESSAGE, id="negative-i"),
    pytest.param("-3.01e-", SUFFIX_MESSAGE, id="exponent-without-digits"),
    pytest.param("1e", SUFFIX_MESSAGE, id="bare-e"),
    pytest.param("1mm", SUFFIX_MESSAGE, id="double-suffix"),
    pytest.param("1e99999999999999999999", SUFFIX_MESSAGE, id="exponent-beyond-int64"),
    pytest.param("1e1001", NUMERIC_MESSAGE, id="exponent-beyond-our-limit"),
    pytest.param("1" * 1001, NUMERIC_MESSAGE, id="too-many-digits"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(QuantityError) as raised:
        parse_quantity(text)
    assert raised.value.message == message


def test_format_message_is_upstreams() -> None:
    assert FORMAT_MESSAGE == (
        "quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


FORMATS = [
    pytest.param("1", DECIMAL, id="plain"),
    pytest.param("1Ki", BINARY, id="binary"),
    pytest.param("1e3", EXPONENT, id="exponent"),
    pytest.param("1E", DECIMAL, id="exa-is-decimal-si"),
    pytest.param("0.5Ki", BINARY, id="fraction-of-ki"),
    pytest.param(".000000000001Ki", DECIMAL, id="below-one-becomes-decimal"),
]


@pytest.mark.parametrize(("text", "fmt"), FORMATS)
def test_remembered_format(text: str, fmt: QuantityFormat) -> None:
    assert parse_quantity(text).format is fmt


VALUES = [
    pytest.param("1.2", 2, 1200, id="rounds-up"),
    pytest.param("-1.2", -2, -1200, id="negative-rounds-away"),
    pytest.param("1Mi", 2**20, 2**20 * 1000, id="mebi"),
    pytest.param("0.1m", 1, 1, id="sub-milli"),
    pytest.param("100u", 1, 1, id="micro"),
    pytest.param("250m", 1, 250, id="quarter"),
    pytest.param("0", 0, 0, id="zero"),
]


@pytest.mark.parametrize(("text", "value", "milli"), VALUES)
def test_value_and_milli_value(text: str, value: int, milli: int) -> None:
    quantity = parse_quantity(text)
    assert quantity.value() == value
    assert quantity.milli_value() == milli


ARITHMETIC = [
    pytest.param("1", "500m", "1500m", "500m", id="decimal"),
    pytest.param("2Gi", "512Mi", "2560Mi", "1536Mi", id="binary"),
    pytest.param("0", "1Gi", "1Gi", "-1Gi", id="zero-takes-other-format"),
    pytest.param("1Gi", "1Gi", "2Gi", "0", id="cancel"),
    pytest.param("1Ki", "1", "1025", "1023", id="binary-falls-back-to-decimal"),
]


@pytest.mark.parametrize(("left", "right", "total", "difference"), ARITHMETIC)
def test_add_and_sub(left: str, right: str, total: str, difference: str) -> None:
    a, b = parse_quantity(left), parse_quantity(right)
    assert str(a + b) == total
    assert str(a - b) == difference


def test_comparison_uses_value_only() -> None:
    assert parse_quantity("1") == parse_quantity("1000m")
    assert hash(parse_quantity("1Ki")) == hash(parse_quantity("1024"))
    assert parse_quantity("100m") < parse_quantity("1") <= parse_quantity("1")
    assert parse_quantity("1Gi") > parse_quantity("1G") >= parse_quantity("1000M")
    assert parse_quantity("1").cmp(parse_quantity("2")) == -1
    assert sorted(map(parse_quantity, ["1Gi", "1", "500m"])) == list(
        map(parse_quantity, ["500m", "1", "1Gi"])
    )


def test_constructors() -> None:
    assert str(Quantity.from_int(2048, BINARY)) == "2Ki"
    assert str(Quantity.from_milli(1500)) == "1500m"
    assert str(Quantity.from_milli(500, BINARY)) == "500m"
    assert Quantity.from_int(0).is_zero() and Quantity.from_int(-3).sign() == -1


NORMALIZED = [
    pytest.param(1, "1", id="int"),
    pytest.param(1000, "1k", id="int-thousand"),
    pytest.param(0.5, "500m", id="float"),
    pytest.param(1.0, "1", id="float-whole"),
    pytest.param(1e-7, "100n", id="float-small"),
    pytest.param(1e16, "10e15", id="float-large"),
    pytest.param(Decimal("0.25"), "250m", id="decimal"),
    pytest.param(Decimal("1E+3"), "1e3", id="decimal-exponent"),
    pytest.param("512Mi", "512Mi", id="string"),
    pytest.param(" 2Gi\n", "2Gi", id="trimmed-like-go"),
    pytest.param("1000m", "1", id="string-canonicalised"),
    pytest.param(None, "0", id="null-is-zero"),
]


@pytest.mark.parametrize(("value", "stored"), NORMALIZED)
def test_normalize_quantity(value: object, stored: str) -> None:
    assert normalize_quantity(value) == stored


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(True, id="bool"),
        pytest.param(math.inf, id="inf"),
        pytest.param(Decimal("NaN"), id="nan"),
        pytest.param({"a": 1}, id="object"),
        pytest.param("1 Gi", id="inner-space"),
    ],
)
def test_normalize_rejects(value: object) -> None:
    with pytest.raises(QuantityError):
        normalize_quantity(value)


# --- properties ----------------------------------------------------------------------------------

NANO = Fraction(1, 10**9)
SUFFIX_VALUE = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}


@st.composite
def quantity_texts(draw: st.DrawFn) -> tuple[str, Fraction]:
    """A quantity string and its exact value, built independently of the parser."""
    sign = draw(st.sampled_from(["", "+", "-"]))
    whole = draw(st.text("0123456789", max_size=12))
    fraction = draw(st.text("0123456789", max_size=12))
    point = "." if fraction or draw(st.booleans()) else ""
    digits = Fraction(int(whole + fraction or "0"), 10 ** len(fraction))
    if draw(st.booleans()):
        suffix = draw(st.sampled_from(sorted(SUFFIX_VALUE)))
        scale = SUFFIX_VALUE[suffix]
    else:
        exponent = draw(st.integers(-20, 20))
        suffix = draw(st.sampled_from(["e", "E"])) + str(exponent)
        scale = Fraction(10) ** exponent
    value = digits * scale * (-1 if sign == "-" else 1)
    text = f"{sign}{whole}{point}{fraction}{suffix}"
    return text or "0", value  # "" is the one spelling of nothing that does not parse


def reference_nanos(text: str, exact: Fraction) -> int:
    """Round the magnitude up to a whole nano-unit; binary values cap at the largest int64."""
    magnitude = math.ceil(abs(exact) / NANO)
    if text.endswith("i"):
        magnitude = min(magnitude, (2**63 - 1) * 10**9)
    return magnitude if exact >= 0 else -magnitude


# Below the BinarySI cap (2^63 - 1 units), which parsing would apply.
quantities = st.builds(
    Quantity,
    st.integers(-(9 * 10**27), 9 * 10**27) | st.integers(-(2**40), 2**40).map(lambda n: n * 10**9),
    st.sampled_from(list(QuantityFormat)),
)


@given(quantity_texts())
def test_parse_matches_a_fraction_reference(case: tuple[str, Fraction]) -> None:
    text, exact = case
    assert parse_quantity(text).nanos == reference_nanos(text, exact)


@given(quantity_texts())
def test_emitted_string_parses_back_to_the_same_value(case: tuple[str, Fraction]) -> None:
    quantity = parse_quantity(case[0])
    again = parse_quantity(str(quantity))
    assert again == quantity
    assert str(again) == str(quantity)


@given(quantities)
def test_canonical_form_is_exact_and_idempotent(quantity: Quantity) -> None:
    # One round may change the notation (a BinarySI 3125000 prints "3125000", which reads back
    # as DecimalSI "3125k", as upstream); from then on the string is a fixed point.
    text = str(quantity)
    once = parse_quantity(text)
    assert once.nanos == quantity.nanos
    assert "." not in text
    twice = parse_quantity(str(once))
    assert twice.nanos == quantity.nanos
    assert str(twice) == str(once)


@given(quantities)
def test_canonical_form_uses_the_largest_suffix(quantity: Quantity) -> None:
    match = re.fullmatch(r"-?(\d+)(.*)", str(quantity))
    assert match is not None
    mantissa, suffix = match.groups()
    whole = quantity.nanos % 10**9 == 0 and abs(quantity.nanos) >= 1024 * 10**9
    if quantity.format is BINARY and whole:
        assert int(mantissa) % 1024 or suffix == "Ei"
    elif mantissa != "0":
        assert not mantissa.endswith("000")


@given(quantities, quantities)
def test_arithmetic_matches_fractions(a: Quantity, b: Quantity) -> None:
    assert Fraction((a + b).nanos, 10**9) == Fraction(a.nanos, 10**9) + Fraction(b.nanos, 10**9)
    assert Fraction((a - b).nanos, 10**9) == Fraction(a.nanos, 10**9) - Fraction(b.nanos, 10**9)
    assert (a < b) is (Fraction(a.nanos) < Fraction(b.nanos))


@given(quantities)
def test_value_rounds_away_from_zero(quantity: Quantity) -> None:
    exact = Fraction(quantity.nanos, 10**9)
    rounded = math.ceil(abs(exact)) * (1 if exact >= 0 else -1)
    assert quantity.value() == rounded
    assert quantity.milli_value() == math.ceil(abs(exact) * 1000) * (1 if exact >= 0 else -1)


@given(st.integers(-(10**20), 10**20))
def test_normalize_integers_like_their_text(number: int) -> None:
    assert normalize_quantity(number) == str(parse_quantity(str(number)))
