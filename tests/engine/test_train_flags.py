"""`train(overwrite=...)` and `allow_config_change=` take True or False only (docs/io.md, "`overwrite` is True
or False"): a truthy "no" would start afresh over another run, removing its best.pt and logs."""

from __future__ import annotations

import pytest
import yaml

from egvsr.engine.train import train
from egvsr.errors import ConfigError


@pytest.mark.parametrize("flag", ["overwrite", "allow_config_change"])
@pytest.mark.parametrize("value", ["no", 1, None])
def test_a_flag_that_is_not_a_bool_is_refused_before_the_folder_is_touched(tmp_path, flag, value):
    exp = tmp_path / "exp" / "run"
    (exp / "checkpoints").mkdir(parents=True)
    (exp / "logs").mkdir()
    (exp / "checkpoints" / "best.pt").write_bytes(b"an earlier run's best weights")
    (exp / "logs" / "train.csv").write_text("step,loss\n1,0.5\n")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"name": "run", "output_root": str(tmp_path / "exp")}))
    with pytest.raises(ConfigError, match=rf"^`{flag}` {value!r}: expected True or False"):
        train(cfg, progress=False, log=None, **{flag: value})
    assert (exp / "checkpoints" / "best.pt").read_bytes() == b"an earlier run's best weights"
    assert (exp / "logs" / "train.csv").read_text() == "step,loss\n1,0.5\n"
