import pytest

from embedkit.timing import format_seconds, measure


def test_format_seconds():
    assert format_seconds(123.4) == "123 s"
    assert format_seconds(1.5) == "1.5 s"
    assert format_seconds(0.0123) == "12.3 ms"
    assert format_seconds(7.06e-4) == "706 µs"
    assert format_seconds(5e-9) == "5 ns"
    assert format_seconds(0) == "0 ns"


def test_format_seconds_refuses_negative_and_non_finite_times():
    for bad in (-1.0, -1e-9, float("nan"), float("inf")):  # "nan ns", "-1e+09 ns", "inf s" before
        with pytest.raises(ValueError, match="seconds must be a finite number of at least 0.*placeholder"):
            format_seconds(bad)


def test_measure_runs_warmup_plus_repeats_and_returns_the_median_of_the_repeats(monkeypatch):
    """A fake clock: the warm-up runs are not timed, and the result is the median of the timed runs."""
    from embedkit import timing

    durations = iter([100.0, 100.0, 3.0, 1.0, 2.0])  # two warm-ups (ignored), then three timed runs
    now = [0.0]
    calls = []

    def run():
        calls.append(1)
        now[0] += next(durations)

    monkeypatch.setattr(timing.time, "perf_counter", lambda: now[0])
    assert measure(run, repeat=3, warmup=2) == 2.0
    assert len(calls) == 5
    with pytest.raises(ValueError, match="repeat must be a whole number of at least 1"):
        measure(lambda: None, repeat=0)
