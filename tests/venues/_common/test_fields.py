"""The shared field decoders: exact, bounded, and every failure names venue, message and field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine import Instrument, InstrumentKind, MalformedMessage
from venues._common.fields import FieldReader

SIGNED = FieldReader("venue-a", signed_int_strings=True)
UNSIGNED = FieldReader("venue-b", symbol_word="market")


def test_malformed_names_the_venue_the_message_and_redacts_the_excerpt() -> None:
    with pytest.raises(MalformedMessage) as err:
        SIGNED.get({"secret": "hunter2-hunter2", "a": 1}, "price", "order")
    assert err.value.venue == "venue-a"
    assert "order: missing field 'price'" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_null_is_not_a_value() -> None:
    with pytest.raises(MalformedMessage, match="field 'x' is null"):
        SIGNED.get({"x": None}, "x", "m")


def test_signed_integer_strings_only_where_the_venue_allows_them() -> None:
    assert SIGNED.integer({"n": "-5"}, "n", "m") == -5
    assert UNSIGNED.integer({"n": "5"}, "n", "m") == 5
    with pytest.raises(MalformedMessage, match="is not an integer: '-5'"):
        UNSIGNED.integer({"n": "-5"}, "n", "m")


@pytest.mark.parametrize("value", [True, 1.5, "1.0", "١٢", "9" * 25, [1]])
def test_integers_are_ascii_bounded_and_not_booleans(value: object) -> None:
    for reader in (SIGNED, UNSIGNED):
        with pytest.raises(MalformedMessage):
            reader.integer({"n": value}, "n", "m")


def test_decimals_are_exact_and_never_via_float() -> None:
    assert SIGNED.dec({"p": "0.1"}, "p", "m") == Decimal("0.1")
    assert SIGNED.dec({"p": 3}, "p", "m") == Decimal(3)
    assert SIGNED.opt_dec({"p": ""}, "p", "m") is None
    assert SIGNED.opt_dec({}, "p", "m") is None
    for bad in (0.1, "NaN", "Infinity", "1e5", True, Decimal("NaN"), "1" * 500):
        with pytest.raises(MalformedMessage, match="field 'p'"):
            SIGNED.decimal_of(bad, "p", "m")


def test_strings_accept_integers_but_not_other_kinds() -> None:
    assert UNSIGNED.string({"id": 42}, "id", "m") == "42"
    for bad in (True, 1.5, {}, []):
        with pytest.raises(MalformedMessage, match="is not a string"):
            UNSIGNED.string({"id": bad}, "id", "m")


def test_containers_and_booleans() -> None:
    assert UNSIGNED.as_object({"a": 1}, "m") == {"a": 1}
    assert UNSIGNED.as_list([1], "m") == [1]
    with pytest.raises(MalformedMessage, match="expected a JSON object, got list"):
        UNSIGNED.as_object([], "m")
    with pytest.raises(MalformedMessage, match="expected a JSON array, got dict"):
        UNSIGNED.as_list({}, "m")
    assert UNSIGNED.boolean({}, "b", "m") is False
    with pytest.raises(MalformedMessage, match="is not a boolean"):
        UNSIGNED.boolean({"b": "true"}, "b", "m")


def _instrument() -> Instrument:
    return Instrument(venue="venue-b", symbol="BTC-USD", base="BTC", quote="USD", kind=InstrumentKind.SPOT,
                      tick_size=Decimal("0.01"), lot_size=Decimal("0.001"))


def test_scaled_fields_are_exact_on_the_instruments_grid() -> None:
    inst = _instrument()
    assert UNSIGNED.price_raw(inst, "101.25", "price", "m", None) == 10125
    assert UNSIGNED.size_raw(inst, "0.002", "size", "m", None) == 2
    with pytest.raises(MalformedMessage, match="field 'price'"):
        UNSIGNED.price_raw(inst, "101.255", "price", "m", None)


def test_unknown_instrument_uses_the_venues_word() -> None:
    inst = _instrument()
    assert UNSIGNED.instrument({"BTC-USD": inst}, "BTC-USD", "m", None) is inst
    with pytest.raises(MalformedMessage, match="unknown market 'ETH-USD'"):
        UNSIGNED.instrument({"BTC-USD": inst}, "ETH-USD", "m", None)
    with pytest.raises(MalformedMessage, match="unknown symbol 7"):
        SIGNED.instrument({}, 7, "m", None)


def test_one_malformed_instrument_never_hides_the_others() -> None:
    from venues._common.fields import collect_instruments

    good = _instrument()
    errors: list[MalformedMessage] = []

    def parse(entry: object) -> Instrument:
        if entry == "bad":
            raise UNSIGNED.malformed("market", "no tick", entry)
        return good

    assert collect_instruments(["ok", "bad"], parse, errors.append) == {"BTC-USD": good}
    assert len(errors) == 1 and "market: no tick" in str(errors[0])
