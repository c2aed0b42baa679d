import os

from irn_core.stages.summary import elapsed_seconds, stage_seconds


def _bench(folder, name, seconds, end):
    p = folder / f"{name}.tsv"
    p.write_text(f"s\th:m:s\n{seconds}\t0:00:00\n")
    os.utime(p, (end, end))


def test_elapsed_counts_overlapping_rules_once(tmp_path):
    _bench(tmp_path, "a", 10.0, 1010.0)  # 1000 -> 1010
    _bench(tmp_path, "b", 30.0, 1040.0)  # 1010 -> 1040
    _bench(tmp_path, "c", 25.0, 1035.0)  # 1010 -> 1035, beside b
    assert stage_seconds(tmp_path) == {"a": 10.0, "b": 30.0, "c": 25.0}
    assert elapsed_seconds(tmp_path) == 40.0
    assert elapsed_seconds(tmp_path, until="c") == 35.0
    assert elapsed_seconds(tmp_path, until="missing") is None
    assert elapsed_seconds(tmp_path / "none") is None
