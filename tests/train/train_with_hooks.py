"""``scripts/train.py`` with two test hooks, for the kill-and-resume tests (run directly or under torchrun).

* every process writes its pid to ``$GRADEDPR_TEST_PID_DIR/<rank>.pid`` (so a test can SIGKILL all of them);
* with ``GRADEDPR_TEST_PAUSE_AT_SAVE=n`` the ``n``-th checkpoint write stops half-way -- after the query and
  passage encoders are in the temporary directory, before the rest -- touches ``$GRADEDPR_TEST_PAUSE_MARKER``
  and sleeps, so the test kills the run in the middle of writing ``checkpoints/last``.
"""

from __future__ import annotations

import os
import runpy
import time
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train.py"

pid_dir = os.environ.get("GRADEDPR_TEST_PID_DIR")
if pid_dir:
    Path(pid_dir).mkdir(parents=True, exist_ok=True)
    (Path(pid_dir) / f"{os.environ.get('RANK', '0')}.pid").write_text(str(os.getpid()))

pause_at = int(os.environ.get("GRADEDPR_TEST_PAUSE_AT_SAVE", "0"))
if pause_at:
    original = PreTrainedModel.save_pretrained
    saves = {"n": 0}

    def paused(self: PreTrainedModel, directory: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, directory, *args, **kwargs)
        if Path(directory).name == "passage_encoder":
            saves["n"] += 1
            if saves["n"] == pause_at:
                Path(os.environ["GRADEDPR_TEST_PAUSE_MARKER"]).write_text(str(directory))
                time.sleep(600)
        return result

    PreTrainedModel.save_pretrained = paused  # type: ignore[method-assign]

runpy.run_path(str(SCRIPT), run_name="__main__")
