"""A simulator corpus of every log type, mapped through the NDJSON path: every event validates.

The simulator's template pool enumerates every value of the spec's lists plus realistic noise
(missing ``record_type``, casing, stray spaces, empty defaults, unlisted values), so
``RECORDS_PER_TYPE`` >= its pool size exercises every template of every log type.
"""

from __future__ import annotations

import json
from collections import Counter

import orjson
import pytest

from netskope_provider.ocsf.mapper import MapCounts, map_lines
from netskope_provider.ocsf.validate import validate_event
from netskope_provider.registry import CLASSES
from netskope_provider.simulator.records import LOG_TYPE_NAMES, POOL_SIZE, generate

RECORDS_PER_TYPE = 2 * POOL_SIZE + 88
START, END, SEED = 1_719_792_000, 1_719_878_400, 20240701


@pytest.fixture(scope="module")
def corpus() -> dict[str, tuple[list[bytes], list[bytes], MapCounts]]:
    """Per log type: the input NDJSON lines, the output lines and the counts."""
    result = {}
    for log_type in LOG_TYPE_NAMES:
        lines = [orjson.dumps(record) for record in generate(log_type, RECORDS_PER_TYPE, START, END, SEED)]
        counts = MapCounts()
        result[log_type] = (lines, list(map_lines(lines, log_type, counts)), counts)
    return result


def test_every_record_is_accounted_for_once(corpus: dict[str, tuple[list[bytes], list[bytes], MapCounts]]) -> None:
    for log_type, (lines, output, counts) in corpus.items():
        assert counts.total == len(lines) == RECORDS_PER_TYPE, log_type
        assert counts.rejected == 0, (log_type, counts.rejections[:3])
        crashes = [reason for reason in counts.raw_reasons if "mapper error" in reason]
        assert not crashes, (log_type, crashes)
        assert len(output) == counts.ocsf + counts.raw, log_type


def _ocsf_lines(lines: list[bytes], output: list[bytes]) -> list[bytes]:
    """The output lines that are OCSF events (raw records come out as their input line)."""
    inputs = {line + b"\n" for line in lines}
    return [line for line in output if line not in inputs]


def test_every_ocsf_event_validates(corpus: dict[str, tuple[list[bytes], list[bytes], MapCounts]]) -> None:
    problems: Counter[str] = Counter()
    classes: Counter[int] = Counter()
    for log_type, (lines, output, _) in corpus.items():
        for line in _ocsf_lines(lines, output):
            event = json.loads(line)
            classes[event["class_uid"]] += 1
            problems.update(f"{log_type} {event['class_uid']}: {error}" for error in validate_event(event))
    assert not problems, problems.most_common(10)
    assert set(classes) == set(CLASSES)


def test_fast_check_and_jsonschema_agree_on_a_corpus_sample(
    corpus: dict[str, tuple[list[bytes], list[bytes], MapCounts]],
) -> None:
    """The compiled check passed these events; jsonschema itself (slower) passes a sample of them too."""
    for lines, output, _ in corpus.values():
        for line in _ocsf_lines(lines, output)[::25]:
            assert validate_event(json.loads(line), thorough=True) == []


def test_raw_records_come_out_byte_for_byte_and_counts_match(
    corpus: dict[str, tuple[list[bytes], list[bytes], MapCounts]],
) -> None:
    for log_type, (lines, output, counts) in corpus.items():
        events = _ocsf_lines(lines, output)
        assert len(output) - len(events) == counts.raw, log_type
        assert Counter(orjson.loads(line)["class_uid"] for line in events) == counts.by_class, log_type


def test_big_ids_survive_exactly(corpus: dict[str, tuple[list[bytes], list[bytes], MapCounts]]) -> None:
    """Ids beyond 2**53 in the input appear with the same digits in the output (uid strings or unmapped ints)."""
    checked = 0
    for lines, output, _ in corpus.values():
        for line_in, line_out in zip(lines, output):
            record = json.loads(line_in)
            big = {str(v) for v in record.values() if type(v) is int and v > 2**53}
            text = line_out.decode()
            for digits in big:
                assert digits in text
                checked += 1
    assert checked > 1000
