"""A run that fails before its first checkpoint removes the levels of output_root it made, also when it
failed below one it made (a level too long for the file system was never created)."""

from __future__ import annotations

from egvsr.engine.experiment import Experiment


def test_levels_above_one_never_made_are_still_removed(tmp_path):
    root = tmp_path / "exp" / ("n" * 300)  # mkdir makes exp/, then fails at the name too long
    exp = Experiment(root, "run")
    levels = exp.missing_levels()
    assert levels == [root, tmp_path / "exp"]
    (tmp_path / "exp").mkdir()
    exp.discard_unstarted(levels)
    assert not (tmp_path / "exp").exists()


def test_a_level_holding_something_else_is_kept_with_those_above(tmp_path):
    root = tmp_path / "a" / "b"
    exp = Experiment(root, "run")
    levels = exp.missing_levels()
    root.mkdir(parents=True)
    (root / "other.txt").write_text("kept")
    exp.discard_unstarted(levels)
    assert (root / "other.txt").read_text() == "kept"
