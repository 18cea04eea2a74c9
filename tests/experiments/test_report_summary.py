"""reports/README.md generator on a fake reports/ tree."""

import json

import pytest

from nascore.experiments import report_summary as R


def _tree(tmp_path):
    full = tmp_path / "reports" / "full"
    a = full / "01_survey_baselines"
    a.mkdir(parents=True)
    (a / "rank_disorder.png").write_bytes(b"png")
    (a / "metrics.json").write_text(json.dumps({
        "rank_disorder_kendall": 0.1234567, "ranking": {"kendall_12ep": 0.5},
        "provenance": {"git_sha": "abc123", "timestamp": "2026-01-01T00:00:00+00:00"},
        "key_numbers": [
            {"label": "rank disorder", "path": "rank_disorder_kendall", "source": "rank_disorder.png"},
            {"label": "12-epoch tau", "path": "ranking.kendall_12ep", "source": "ranking.csv"},
            {"label": "absent", "path": "nope.nothing", "source": "rank_disorder.png"}]}))
    b = full / "99_other"
    b.mkdir()
    (b / "metrics.json").write_text(json.dumps({"alpha": 2, "flag": True, "nested": {"x": 1},
                                                "summary": [{"k": "a", "v": 3.5}]}))
    return full


def test_summary_reads_numbers_links_sources_and_marks_missing(tmp_path):
    full = _tree(tmp_path)
    out = R.write_summary(full)
    assert out == tmp_path / "reports" / "README.md"
    text = out.read_text()
    assert "| rank disorder | 0.1235 | [rank_disorder.png](full/01_survey_baselines/rank_disorder.png) |" in text
    assert "| 12-epoch tau | 0.5 | ranking.csv (not found) |" in text
    assert "| absent | missing |" in text
    assert "abc123" in text and "2026-01-01" in text
    # a notebook without key_numbers nor a known spec: its top-level numbers, from metrics.json
    assert "| alpha | 2 | [metrics.json](full/99_other/metrics.json) |" in text
    assert "flag" not in text and "| x |" not in text


def test_lookup_selectors_and_errors():
    m = {"s": [{"strategy": "evolution", "objective": "hybrid_rule@published", "v": 1.5},
               {"strategy": "random", "objective": "oracle", "v": 2.5}]}
    assert R.lookup(m, "s[strategy=random,objective=oracle].v") == 2.5
    assert R.lookup(m, "s[objective=hybrid_rule@published].v") == 1.5
    with pytest.raises(KeyError, match="no element"):
        R.lookup(m, "s[strategy=none].v")
    with pytest.raises(KeyError, match="'t'"):
        R.lookup(m, "t")


def test_other_profiles_write_beside_their_folder_and_bad_input_is_named(tmp_path):
    smoke = tmp_path / "reports" / "smoke"
    (smoke / "00_x").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        R.render(tmp_path / "reports" / "empty", tmp_path / "o.md")
    (smoke / "00_x" / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="00_x/metrics.json"):
        R.write_summary(smoke)
    assert not (smoke / "README.md").exists()  # nothing half-written
    (smoke / "00_x" / "metrics.json").write_text('{"a": 1}')
    assert R.main([str(smoke)]) == 0 and (smoke / "README.md").is_file()


def test_the_committed_full_summary_is_current():
    """reports/README.md holds exactly the numbers of reports/full/*/metrics.json."""
    from nascore.paths import repo_root

    full = repo_root() / "reports" / "full"
    readme = repo_root() / "reports" / "README.md"
    if not list(full.glob("*/metrics.json")) or not readme.is_file():
        pytest.skip("no reports/full results in this checkout")
    body = lambda t: [l for l in t.splitlines() if l.startswith("|") or l.startswith("## ")]
    assert body(R.render(full, readme)) == body(readme.read_text())


def test_a_path_may_name_alternatives_for_renamed_fields():
    m = {"s": [{"objective": "hybrid_rule@published", "v": 1.5}]}
    [(label, v, src)] = R.key_numbers("x", {**m, "key_numbers": [
        {"label": "l", "path": "s[objective=hybrid_v1@published].v | s[objective=hybrid_rule@published].v"}]})
    assert v == 1.5
    [(_, v, _)] = R.key_numbers("x", {**m, "key_numbers": [{"label": "l", "path": "s[objective=z].v | q"}]})
    assert v is None
