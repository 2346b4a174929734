import pytest

from embedkit.timing import format_seconds, measure


def test_format_seconds():
    assert format_seconds(123.4) == "123 s"
    assert format_seconds(1.5) == "1.5 s"
    assert format_seconds(0.0123) == "12.3 ms"
    assert format_seconds(7.06e-4) == "706 µs"
    assert format_seconds(5e-9) == "5 ns"


def test_measure_runs_warmup_plus_repeats():
    calls = []
    seconds = measure(lambda: calls.append(1), repeat=3, warmup=2)
    assert len(calls) == 5 and seconds >= 0
    with pytest.raises(ValueError):
        measure(lambda: None, repeat=0)
