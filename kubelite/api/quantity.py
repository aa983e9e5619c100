"""Resource quantities (``resource.Quantity``): parse, compare, add, and print them as upstream.

A quantity is an exact number with a remembered notation. We keep the value as an integer
count of nano-units, which is exact: upstream rounds every parsed value up to a multiple of
10⁻⁹, and sums of such values stay multiples. The notation (`QuantityFormat`) only decides
how the value is printed::

    "1.5Gi"  -> 1610612736 (BinarySI)   -> "1536Mi"
    "0.5"    -> 0.5 (DecimalSI)         -> "500m"
    "1e3"    -> 1000 (DecimalExponent)  -> "1e3"
    "1000m"  -> 1 (DecimalSI)           -> "1"
    "100M"   -> 10⁸ (DecimalSI)         -> "100M"

Canonical form: the largest suffix that needs no fraction digits; BinarySI prints as DecimalSI
when the value is below 1024 in magnitude or not a whole number. Like upstream, a string that
was already in canonical form when parsed is emitted verbatim (so "+1" stays "+1").

`normalize_quantity` is the API server's entry point: clients may send numbers (``cpu: 1``) but
we always store and emit strings, because the Python client rejects numbers.

Deliberate differences from upstream, all for values no resource has: an exponent beyond ±1000
or more than 1000 digits is rejected (upstream wraps exponents at 2³¹ and would make us build
huge integers); a DecimalSI value of 10²¹ or more prints in exponent form ("1e21"), where
upstream drops the suffix and prints a different number; BinarySI never goes past "Ei".
"""

from __future__ import annotations

import decimal
import enum
import math
from dataclasses import dataclass

FORMAT_MESSAGE = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
NUMERIC_MESSAGE = "unable to parse numeric part of quantity"
SUFFIX_MESSAGE = "unable to parse quantity's suffix"

_NANO = 10**9
_MAX_BINARY = 2**63 - 1  # BinarySI values are capped at the largest int64
_MAX_EXPONENT = 1000
_MAX_DIGITS = 1000
_DIGITS = frozenset("0123456789")
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
# Go's strings.TrimSpace (unicode.IsSpace), which upstream applies when decoding JSON.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(
    chr(code) for code in range(0x2000, 0x200B)
)


class QuantityError(ValueError):
    """A string that is not a quantity; `message` is the API server's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class QuantityFormat(enum.Enum):
    DECIMAL_EXPONENT = "DecimalExponent"  # 12e6
    BINARY_SI = "BinarySI"  # 12Mi
    DECIMAL_SI = "DecimalSI"  # 12M


_DECIMAL_SUFFIXES = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX_OF = {exponent: suffix for suffix, exponent in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIX_OF = {exponent // 10: suffix for suffix, exponent in _BINARY_SUFFIXES.items()}


def _round_away(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded away from zero (upstream's "round up")."""
    quotient = -(-abs(numerator) // denominator)
    return quotient if numerator >= 0 else -quotient


@dataclass(frozen=True, eq=False)
class Quantity:
    """An exact quantity: `nanos` * 10⁻⁹ in notation `format`.

    `verbatim` is the parsed text when upstream would re-emit it unchanged; arithmetic drops
    it. Comparison and hashing use the value only, so ``parse("1") == parse("1000m")``.
    """

    nanos: int
    format: QuantityFormat = QuantityFormat.DECIMAL_SI
    verbatim: str | None = None

    @classmethod
    def from_int(cls, value: int, fmt: QuantityFormat = QuantityFormat.DECIMAL_SI) -> Quantity:
        return cls(value * _NANO, fmt)

    @classmethod
    def from_milli(cls, milli: int, fmt: QuantityFormat = QuantityFormat.DECIMAL_SI) -> Quantity:
        return cls(milli * (_NANO // 1000), fmt)

    def value(self) -> int:
        """The value as an integer, rounded away from zero (``1.2`` → 2, ``-1.2`` → -2)."""
        return _round_away(self.nanos, _NANO)

    def milli_value(self) -> int:
        """The value in thousandths, rounded away from zero (``0.1m`` → 1)."""
        return _round_away(self.nanos, _NANO // 1000)

    def is_zero(self) -> bool:
        return self.nanos == 0

    def sign(self) -> int:
        return (self.nanos > 0) - (self.nanos < 0)

    def cmp(self, other: Quantity) -> int:
        return (self.nanos > other.nanos) - (self.nanos < other.nanos)

    def __add__(self, other: Quantity) -> Quantity:
        # Upstream: a zero quantity takes the other operand's format.
        fmt = other.format if self.nanos == 0 else self.format
        return Quantity(self.nanos + other.nanos, fmt)

    def __sub__(self, other: Quantity) -> Quantity:
        fmt = other.format if self.nanos == 0 else self.format
        return Quantity(self.nanos - other.nanos, fmt)

    def __neg__(self) -> Quantity:
        return Quantity(-self.nanos, self.format)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.nanos == other.nanos

    def __hash__(self) -> int:
        return hash(self.nanos)

    def __lt__(self, other: Quantity) -> bool:
        return self.nanos < other.nanos

    def __le__(self, other: Quantity) -> bool:
        return self.nanos <= other.nanos

    def __gt__(self, other: Quantity) -> bool:
        return self.nanos > other.nanos

    def __ge__(self, other: Quantity) -> bool:
        return self.nanos >= other.nanos

    def __str__(self) -> str:
        return self.verbatim if self.verbatim is not None else self.canonical()

    def canonical(self) -> str:
        """The canonical spelling, ignoring any verbatim text."""
        return format_quantity(self.nanos, self.format)


# --- parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scanned:
    negative: bool
    whole: str  # integer digits without leading zeros; "0" when there are none
    fraction: str  # digits after the point, as written
    suffix: str


def _take_digits(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _DIGITS:
        pos += 1
    return pos


def _scan(text: str) -> _Scanned:
    """Split `text` as upstream's ``parseQuantityString`` does (it is laxer than its regex)."""
    negative = text[0] == "-"
    pos = 1 if text[0] in "+-" else 0
    while pos < len(text) and text[pos] == "0":
        pos += 1
    start, pos = pos, _take_digits(text, pos)
    whole = text[start:pos] or "0"
    fraction = ""
    if pos < len(text) and text[pos] == ".":
        start, pos = pos + 1, _take_digits(text, pos + 1)
        fraction = text[start:pos]
    suffix_start = pos
    while pos < len(text) and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < len(text) and text[pos] in "+-":
        pos += 1
    if _take_digits(text, pos) != len(text):
        raise QuantityError(FORMAT_MESSAGE)
    return _Scanned(negative, whole, fraction, text[suffix_start:])


def _interpret_suffix(suffix: str) -> tuple[int, int, QuantityFormat]:
    """(base, exponent, format) for a suffix: "Ki" → (2, 10), "m" → (10, -3), "e6" → (10, 6)."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], QuantityFormat.DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], QuantityFormat.BINARY_SI
    exponent_text = suffix[1:]
    if len(suffix) < 2 or suffix[0] not in "eE" or not _is_int64(exponent_text):
        raise QuantityError(SUFFIX_MESSAGE)
    exponent = int(exponent_text)
    if abs(exponent) > _MAX_EXPONENT:
        raise QuantityError(NUMERIC_MESSAGE)
    return 10, exponent, QuantityFormat.DECIMAL_EXPONENT


def _is_int64(text: str) -> bool:
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not set(digits) <= _DIGITS or len(digits.lstrip("0")) > 19:
        return False
    return -(2**63) <= int(text) < 2**63


def _magnitude_nanos(scanned: _Scanned, base: int, exponent: int) -> int:
    """|value| in nano-units, rounded up to a whole nano-unit as upstream does."""
    digits = int(scanned.whole + scanned.fraction)
    numerator: int = digits * _NANO
    denominator: int = 10 ** len(scanned.fraction)
    if base == 2:
        numerator *= 2**exponent
    elif exponent >= 0:
        numerator *= 10**exponent
    else:
        denominator *= 10**-exponent
    return -(-numerator // denominator)


def _verbatim(text: str, scanned: _Scanned, exponent: int, fmt: QuantityFormat) -> str | None:
    """`text` if upstream's int64 fast path would keep it as the quantity's string."""
    shifted = scanned.whole + scanned.fraction
    if fmt is QuantityFormat.BINARY_SI:
        precision = 15 - len(scanned.whole) - exponent * 3 // 10 - 1
        if scanned.fraction or precision < 0:
            return None
        return text if int(shifted) & 7 else None
    scale = exponent - len(scanned.fraction)
    if len(shifted) > 18 or scale < -9:
        return None
    canonical = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
    return text if canonical else None


def parse_quantity(text: str) -> Quantity:
    """Upstream ``resource.ParseQuantity`` (no surrounding whitespace allowed).

    >>> str(parse_quantity("1.5Gi")), str(parse_quantity("0.1"))
    ('1536Mi', '100m')
    """
    if not text:
        raise QuantityError(FORMAT_MESSAGE)
    if text == "0":
        return Quantity(0, QuantityFormat.DECIMAL_SI, "0")
    scanned = _scan(text)
    if len(scanned.whole) + len(scanned.fraction) > _MAX_DIGITS:
        raise QuantityError(NUMERIC_MESSAGE)
    base, exponent, fmt = _interpret_suffix(scanned.suffix)
    verbatim = _verbatim(text, scanned, exponent, fmt)
    nanos = _magnitude_nanos(scanned, base, exponent)
    if fmt is QuantityFormat.BINARY_SI:
        nanos = min(nanos, _MAX_BINARY * _NANO)
        if 0 < nanos < _NANO:
            fmt = QuantityFormat.DECIMAL_SI  # a fraction of one byte reads better as "1n"
    return Quantity(-nanos if scanned.negative else nanos, fmt, verbatim)


# --- formatting ---------------------------------------------------------------------------------


def _remove_factors(value: int, factor: int) -> tuple[int, int]:
    times = 0
    while value and value % factor == 0:
        value //= factor
        times += 1
    return value, times


def _format_binary(nanos: int) -> str | None:
    """ "1536Mi" for whole values of at least 1024 in magnitude; None to print as DecimalSI."""
    if abs(nanos) < 1024 * _NANO or nanos % _NANO:
        return None
    mantissa, power = _remove_factors(nanos // _NANO, 1024)
    if power > 6:
        mantissa, power = mantissa * 1024 ** (power - 6), 6
    return f"{mantissa}{_BINARY_SUFFIX_OF.get(power, '')}"


def _format_decimal(nanos: int, fmt: QuantityFormat) -> str:
    mantissa, power = _remove_factors(nanos, 10)
    exponent = power - 9
    shift = exponent % 3  # make the exponent a multiple of three, with no fraction digits
    mantissa, exponent = mantissa * 10**shift, exponent - shift
    if fmt is QuantityFormat.DECIMAL_SI and exponent in _DECIMAL_SUFFIX_OF:
        return f"{mantissa}{_DECIMAL_SUFFIX_OF[exponent]}"
    return f"{mantissa}e{exponent}" if exponent else str(mantissa)


def format_quantity(nanos: int, fmt: QuantityFormat) -> str:
    """The canonical string of `nanos` * 10⁻⁹ in notation `fmt`."""
    if nanos == 0:
        return "0"
    if fmt is QuantityFormat.BINARY_SI:
        binary = _format_binary(nanos)
        if binary is not None:
            return binary
        fmt = QuantityFormat.DECIMAL_SI
    return _format_decimal(nanos, fmt)


def _number_text(number: decimal.Decimal) -> str:
    # Plain decimals for fractions ("0.0000001", not "1E-7"), exponent form only for what
    # cannot have been written without one ("1e16").
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return f"{number.scaleb(-exponent):f}e{exponent}"
    return f"{number:f}"


def normalize_quantity(value: object) -> str:
    """The string the API server stores for a quantity sent as a JSON string or number.

    ``1`` → "1", ``0.5`` → "500m", ``" 2Gi "`` → "2Gi", ``None`` → "0" (upstream decodes a
    null ResourceList entry as a zero quantity). A float or Decimal no longer knows how the
    JSON spelled it, so ``1e-7`` reads as ``0.0000001`` ("100n"; upstream keeps the exponent
    form, "100e-9"); the value is always the same.
    """
    if value is None:
        return "0"
    if isinstance(value, str):
        return str(parse_quantity(value.strip(_GO_SPACE)))
    if isinstance(value, bool):
        raise QuantityError(FORMAT_MESSAGE)
    if isinstance(value, int):
        return str(parse_quantity(str(value)))
    if isinstance(value, float) and math.isfinite(value):
        value = decimal.Decimal(repr(value))
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return str(parse_quantity(_number_text(value)))
    raise QuantityError(FORMAT_MESSAGE)
