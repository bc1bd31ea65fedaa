"""Hypothesis strategies every fuzz test shares: hostile atoms, JSON values, mutated payloads, answers.

A venue's fuzz module builds its strategies from its own hostile words and field names
(:func:`json_values`) and mutates its real payloads (:func:`mutated`). Everything is
deterministic under :data:`FUZZ` (``derandomize=True``, a bounded example count, no database).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import JsonNumber, MalformedMessage, OutcomeUnknown, RateLimited, VenueError
from venues._common.rest import RawResponse

__all__ = ["FUZZ", "HOSTILE_NUMBERS", "TS_RECV", "answers", "check_answer", "check_parse", "json_values", "mutated",
           "nested_frames", "slots", "venue_fuzz_tests"]

FUZZ = settings(derandomize=True, max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
"Deterministic, bounded: the settings of every venue fuzz test."

TS_RECV = 1_700_000_000_999_000_000
"The receive time (ns) fuzzed messages carry."

HOSTILE_NUMBERS = ["Infinity", "-Infinity", "NaN", "nan", "inf", "1e1000", "1e400000", "-1e-400000", "1E5", "١٢",
                   "１２", "²", "12\n", " 1", "", "-", "+", ".", "0x10", "1_000", "9" * 70, "0." + "0" * 40 + "1",
                   "1" + "0" * 63, "-0"]
"Text a number parser must refuse or read exactly: non-finite, huge, non-ASCII digits, stray signs."


def atoms(hostile_text: Sequence[str]) -> st.SearchStrategy[Any]:
    """What ``loads`` can produce as a leaf: None, bools, bounded ints, hostile and random text,
    decimal strings and :class:`engine.JsonNumber` (a non-integer JSON number, exact)."""
    return st.one_of(
        st.none(), st.booleans(),
        st.integers(min_value=-(10**64) + 1, max_value=10**64 - 1),
        st.sampled_from([0, -1, 1, 10**63, 2**63, 10**20]),
        st.sampled_from(list(hostile_text)),
        st.text(max_size=12),
        st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{0,20})?", fullmatch=True),
        st.from_regex(r"-?[0-9]{1,20}(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True).map(JsonNumber),
    )


def json_values(hostile_text: Sequence[str], fields: Sequence[str]) -> st.SearchStrategy[Any]:
    """Decoded JSON: :func:`atoms` (with ``hostile_text``, e.g. ``HOSTILE_NUMBERS`` and the venue's
    own words) in lists and objects keyed by the venue's ``fields`` or random text."""
    return st.recursive(
        atoms(hostile_text),
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(list(fields)) | st.text(max_size=6), children, max_size=5),
        max_leaves=16,
    )


def slots(obj: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) inside ``obj``."""
    out: list[tuple[Any, Any]] = []
    stack = [obj]
    while stack:
        item = stack.pop()
        keys = list(item) if isinstance(item, dict) else range(len(item)) if isinstance(item, list) else []
        for key in keys:
            out.append((item, key))
            stack.append(item[key])
    return out


@st.composite
def mutated(draw: st.DrawFn, base: Any, values: st.SearchStrategy[Any], *, replace_whole: bool = True) -> Any:
    """``base`` with 1-3 values replaced by ``values`` (or a key deleted); with ``replace_whole``,
    one time in ten a value of ``values`` instead of it."""
    if replace_whole and draw(st.integers(0, 9)) == 0:
        return draw(values)
    obj = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        places = slots(obj)
        if not places:
            break
        container, key = draw(st.sampled_from(places))
        if isinstance(container, dict) and draw(st.integers(0, 4)) == 0:
            del container[key]
        else:
            container[key] = draw(values)
    return obj


def answers(values: st.SearchStrategy[Any]) -> st.SearchStrategy[RawResponse]:
    """REST answers: any status a venue sends, hostile ``Retry-After`` headers, bodies of JSON
    ``values``, random bytes or nesting past the decoder's bound."""
    return st.builds(
        RawResponse,
        st.sampled_from([200, 201, 204, 400, 401, 403, 404, 408, 409, 418, 425, 429, 500, 502, 503]),
        st.dictionaries(st.just("retry-after"), st.sampled_from(["1", "0.5", "-3", "inf", "nan", "1e308", "99999999",
                                                                 "Wed, 21 Oct 2015 07:28:00 GMT", ""])
                        | st.text(max_size=8)),
        st.one_of(values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=30),
                  st.integers(60, 3000).map(lambda n: b"[" * n + b"]" * n)),
    )


def check_answer(raise_for_response: Callable[..., Any], answer: RawResponse, command: bool) -> None:
    """An answer maps to a venue error (a bounded pause for a rate limit; an order command's 5xx
    is OutcomeUnknown: unknown is not failed) or to its decoded body."""
    try:
        raise_for_response(answer, what="fuzz", command=command)
    except RateLimited as e:
        assert 0 <= e.retry_after_s <= 3600
    except VenueError as e:
        assert str(e)
        if command and answer.status >= 500:
            assert isinstance(e, OutcomeUnknown)


def check_parse(parse: Callable[[Any], object], message: Any) -> None:
    """``parse(message)`` returns, or raises a :class:`~engine.MalformedMessage` that says what was wrong."""
    try:
        parse(message)
    except MalformedMessage as e:
        assert str(e)


VenueStream = Callable[[Callable[[MalformedMessage], None]], Any]
"Builds a venue stream (never connected) with its handlers registered, reporting to the callback."


def venue_fuzz_tests(*, parsers: Mapping[str, tuple[Any, Callable[[Any], object]]],
                     error_of: Callable[[object], tuple[int, str] | None], error_body: Any,
                     raise_for_response: Callable[..., Any], values: st.SearchStrategy[Any],
                     frames: st.SearchStrategy[str | bytes], stream: VenueStream) -> tuple[Callable[..., Any], ...]:
    """The fuzz tests every venue runs, for its parsers, error body, answer mapping and stream.

    A venue's fuzz module unpacks them into its own names (``test_… = venue_fuzz_tests(...)``):
    a parser returns or raises MalformedMessage, ``error_of`` never raises, every answer maps to
    a venue error (or its body), and the stream's dispatch never lets an exception out.
    """

    def test_the_fuzz_starts_from_payloads_that_parse() -> None:
        for name, (base, parse) in parsers.items():
            assert parse(copy.deepcopy(base)) is not None, name

    @pytest.mark.parametrize("name", sorted(parsers))
    @FUZZ
    @given(data=st.data())
    def test_parsers_raise_only_malformed_message(name: str, data: st.DataObject) -> None:
        base, parse = parsers[name]
        check_parse(parse, data.draw(mutated(base, values)))

    @FUZZ
    @given(body=values | mutated(error_body, values))
    def test_error_of_never_raises(body: Any) -> None:
        coded = error_of(body)
        assert coded is None or (type(coded[0]) is int and isinstance(coded[1], str))

    @FUZZ
    @given(answer=answers(values), command=st.booleans())
    def test_answers_map_to_venue_errors_and_bounded_pauses(answer: RawResponse, command: bool) -> None:
        check_answer(raise_for_response, answer, command)

    @FUZZ
    @given(batch=st.lists(frames, min_size=1, max_size=3))
    async def test_frame_dispatch_never_raises(batch: list[str | bytes]) -> None:
        errors: list[MalformedMessage] = []
        venue_stream = stream(errors.append)
        for frame in batch:
            venue_stream.dispatch(frame, TS_RECV)
        stats = venue_stream.statistics()
        assert stats.messages == len(batch) and stats.malformed == len(errors) <= len(batch)
        await trio.lowlevel.checkpoint()

    return (test_the_fuzz_starts_from_payloads_that_parse, test_parsers_raise_only_malformed_message,
            test_error_of_never_raises, test_answers_map_to_venue_errors_and_bounded_pauses,
            test_frame_dispatch_never_raises)


def nested_frames(values: st.SearchStrategy[Any], key: str) -> st.SearchStrategy[str | bytes]:
    """Frames no venue sends: any JSON, nesting past the decoder's bound, random text and bytes."""
    return st.one_of(
        values.map(json.dumps),
        st.integers(60, 5000).map(lambda n: "[" * n + "]" * n),
        st.integers(60, 5000).map(lambda n: f'{{"{key}":' * n + "1" + "}" * n),
        st.text(max_size=40), st.binary(max_size=40),
    )
