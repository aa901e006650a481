"""WiSE-FT weight interpolation between the start and the trained model, the mixing weight chosen on dev."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gradedpr.config.schema import TrainConfig
from gradedpr.errors import ConfigError
from gradedpr.model.biencoder import BiEncoder
from gradedpr.train.interpolate import choose_mix, interpolate
from test_end_to_end import run_script
from test_train_regimes import common
from tiny_beir import write_tiny_beir
from tiny_model import make_tiny_model_dir


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[BiEncoder, BiEncoder]:
    a = BiEncoder.from_pretrained(make_tiny_model_dir(tmp_path_factory.mktemp("a"), seed=1))
    b = BiEncoder.from_pretrained(make_tiny_model_dir(tmp_path_factory.mktemp("b"), seed=2))
    return a, b


def test_interpolation_is_the_weighted_mean_of_every_weight(pair: tuple[BiEncoder, BiEncoder]) -> None:
    start, trained = pair
    for alpha in (0.0, 0.3, 1.0):
        mixed = interpolate(start, trained, alpha)
        for name, value in mixed.state_dict().items():
            s, t = start.state_dict()[name], trained.state_dict()[name]
            want = (1 - alpha) * s + alpha * t if value.is_floating_point() else t
            torch.testing.assert_close(value, want, rtol=1e-6, atol=1e-7)
    assert trained.state_dict()["query_encoder.embeddings.word_embeddings.weight"].data_ptr() != \
        interpolate(start, trained, 0.5).state_dict()["query_encoder.embeddings.word_embeddings.weight"].data_ptr()


def test_choose_mix_keeps_the_best_dev_value(pair: tuple[BiEncoder, BiEncoder]) -> None:
    start, trained = pair
    target = start.state_dict()["query_encoder.embeddings.word_embeddings.weight"]
    far = trained.state_dict()["query_encoder.embeddings.word_embeddings.weight"]

    def dev(model: BiEncoder) -> float:  # closest to 0.25 of the way from start to trained scores best
        w = model.state_dict()["query_encoder.embeddings.word_embeddings.weight"]
        return -float((w - (0.75 * target + 0.25 * far)).abs().mean())

    choice, model, extra = choose_mix(start, trained, [0.25, 0.5, 0.75], (dev(trained), "trained"),
                                      lambda m: (dev(m), id(m)))
    assert choice.alpha == 0.25 and set(choice.dev) == {0.25, 0.5, 0.75, 1.0}
    assert dev(model) == choice.dev[0.25] and extra == id(model)  # what evaluate computed for the kept mix
    choice, model, extra = choose_mix(start, trained, [0.5], (1.0, "trained"),
                                      lambda m: (0.0, "mix"))  # nothing beats the trained model
    assert choice.alpha == 1.0 and model is trained and extra == "trained"


def test_train_records_the_interpolation_it_kept(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = write_tiny_beir(tmp_path / "tiny")
    run_dir = tmp_path / "wise"
    # dev = the training queries, so that training surely beats the random start model there
    out = run_script("train.py", *common(data, tiny_model_dir, run_dir), "train.regime=frozen",
                     f"train.embeddings_dir={tmp_path / 'emb'}", "train.interpolate=[0.5]", "train.guard_p=null",
                     "train.eval_split=train")
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert summary["best_step"] > 0 and summary["selected"] == "trained"
    assert set(summary["interpolation"]["dev"]) == {"0.5", "1.0"} and "interpolation with the start model" in out
    dev = summary["interpolation"]["dev"]
    assert dev[str(summary["interpolation"]["alpha"])] == max(dev.values())
    assert dev["1.0"] == pytest.approx(summary["best_dev_metric"])
    with pytest.raises(ConfigError, match="mixing weights"):
        TrainConfig(interpolate=[1.5])
