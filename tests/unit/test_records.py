"""``decode_record``: every JSON object text decodes to exactly its values, or is refused with a reason.

Property tests over generated records: any separator style, integers of any size, any Unicode
(lone surrogates included) round-trip exactly; a key written twice in any object at any depth is
always refused, however the counting shortcut is fooled by colons inside strings or spacing.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netskope_provider.exceptions import PoisonRecordError
from netskope_provider.records import MAX_DEPTH, decode_record, nesting_depth, single_line

#: Keys and strings that stress the counting proof: quotes, colons, backslashes, braces.
TEXT = st.text(alphabet=st.sampled_from(list('ab":\\{}[], \t\u00e9\U0001f600')) | st.characters(), max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
#: A JSON value as a tree whose objects are lists of (key, value) pairs, so a key can be repeated.
PAIRS_TREE = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4).map(lambda items: ("array", items))
        | st.lists(st.tuples(TEXT, children), max_size=4).map(lambda pairs: ("object", pairs))
    ),
    max_leaves=12,
)
#: (comma, colon); "mixed" alternates ``:`` and `` :`` key by key, the case the counting proof must not miss.
SEPARATORS = st.sampled_from([(",", ":"), (", ", ": "), (",", " : "), (" ,\t", "\t:\n"), (",", "mixed")])


def unique(tree: Any) -> Any:
    """The tree with each object's repeated keys dropped (first one kept)."""
    if isinstance(tree, tuple) and tree[0] == "object":
        seen: dict[str, Any] = {}
        for key, value in tree[1]:
            seen.setdefault(key, unique(value))
        return ("object", list(seen.items()))
    if isinstance(tree, tuple):
        return ("array", [unique(item) for item in tree[1]])
    return tree


def text_of(tree: Any, separators: tuple[str, str]) -> str:
    comma, colon = separators
    if isinstance(tree, tuple) and tree[0] == "object":
        colons = [(" :" if n % 2 else ":") if colon == "mixed" else colon for n in range(len(tree[1]))]
        return (
            "{"
            + comma.join(json.dumps(k) + c + text_of(v, separators) for c, (k, v) in zip(colons, tree[1], strict=True))
            + "}"
        )
    if isinstance(tree, tuple):
        return "[" + comma.join(text_of(item, separators) for item in tree[1]) + "]"
    return json.dumps(tree)


def value_of(tree: Any) -> Any:
    if isinstance(tree, tuple) and tree[0] == "object":
        return {k: value_of(v) for k, v in tree[1]}
    if isinstance(tree, tuple):
        return [value_of(item) for item in tree[1]]
    return tree


def objects_in(tree: Any) -> list[Any]:
    if isinstance(tree, tuple):
        found = [tree] if tree[0] == "object" else []
        for child in tree[1]:
            found += objects_in(child[1] if tree[0] == "object" else child)
        return found
    return []


RECORDS = st.lists(st.tuples(TEXT, PAIRS_TREE), max_size=6).map(lambda pairs: unique(("object", pairs)))


@settings(max_examples=80, deadline=None)
@given(RECORDS, SEPARATORS)
def test_a_record_without_repeated_keys_decodes_to_exactly_its_values(record: Any, separators) -> None:
    raw = text_of(record, separators).encode("utf-8", "surrogatepass")
    if nesting_depth(raw) > MAX_DEPTH:
        return
    assert decode_record(raw) == value_of(record)
    assert decode_record(single_line(raw)) == value_of(record)
    try:
        canonical = orjson.dumps(value_of(record))  # the fast path: orjson's own text
    except TypeError:  # an integer beyond 64 bits: orjson cannot write it
        return
    assert decode_record(canonical) == value_of(record)


@settings(max_examples=80, deadline=None)
@given(RECORDS, SEPARATORS, st.data())
def test_a_key_written_twice_in_any_object_is_always_refused(record: Any, separators, data) -> None:
    objects = [obj for obj in objects_in(record) if obj[1]]
    if not objects:
        return
    target = data.draw(st.sampled_from(objects))
    key, value = data.draw(st.sampled_from(target[1]))
    target[1].insert(data.draw(st.integers(0, len(target[1]))), (key, value))
    raw = text_of(record, separators).encode("utf-8", "surrogatepass")
    with pytest.raises(PoisonRecordError, match="appears twice in one object"):
        decode_record(raw)


def test_integers_of_any_size_stay_integers() -> None:
    for number in (2**64 - 1, 2**64, 10**30, -(2**63) - 1, -(10**30)):
        decoded = decode_record(b'{"n":%d}' % number)["n"]
        assert decoded == number and type(decoded) is int


@pytest.mark.parametrize("depth", [MAX_DEPTH - 1, MAX_DEPTH])
def test_nesting_up_to_the_limit_is_kept(depth: int) -> None:
    raw = b'{"v":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    assert nesting_depth(raw) == depth
    decode_record(raw)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 2_000, 100_000])
def test_nesting_past_the_limit_is_refused_at_any_depth(depth: int) -> None:
    raw = b'{"v":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    with pytest.raises(PoisonRecordError, match=f"nested {depth} levels deep"):
        decode_record(raw)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    raw = b'{"v":"' + b"[" * 500 + b'"}'
    assert nesting_depth(raw) == 1 and decode_record(raw) == {"v": "[" * 500}


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b'{"v":NaN}', "NaN is not a JSON number"),
        (b'{"v":-Infinity}', "-Infinity is not a JSON number"),
        (b'{"v":1e400}', "number 1e400 is beyond the range of a double"),
        (b'{"v":-1e999}', "beyond the range of a double"),
        (b'{"v":"\xff"}', "not valid JSON: invalid UTF-8 at byte 6"),
        (b'{"v":1,}', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'"text"', "not a JSON object but a string"),
        (b"null", "not a JSON object but null"),
    ],
)
def test_what_cannot_be_kept_exactly_is_refused_with_its_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(PoisonRecordError, match=reason):
        decode_record(raw)


def test_a_lone_surrogate_escape_is_kept() -> None:
    assert decode_record(b'{"v":"a\\ud800b","w":"\\udc00"}') == {"v": "a\ud800b", "w": "\udc00"}


def test_single_line_changes_only_whitespace_between_tokens() -> None:
    raw = b'{\r\n "a" : 1,\n "b": "x\\ny"\n}'
    assert single_line(raw) == b'{   "a" : 1,  "b": "x\\ny" }'
    assert decode_record(single_line(raw)) == decode_record(raw) == {"a": 1, "b": "x\ny"}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"k":1,"k" :1}',  # the repeat hides behind whitespace: one '":' for one key decoded
        b'{"o":{"k":1,"k"\t:2}}',
        b'{"k" :1,"s":"\\":","k":2}',  # a '":' inside a string makes up for the spaced key
        b'{"a":"x\\":y","a":1}',
        b'{"k":1,\n"k"\r\n:2}',
    ],
)
def test_repeats_that_the_byte_counts_alone_would_miss_are_refused(raw: bytes) -> None:
    with pytest.raises(PoisonRecordError, match="appears twice"):
        decode_record(raw)
