"""Two gloo processes x 3 queries give the loss and the gradients of one process x 6 queries (issue 10).

One spawn of 2 ranks computes every case (4 losses, GradCache under DDP, the cross-process label matrix);
the single-process reference runs in the test process. Dropout is off (eval mode): two processes cannot draw
the masks one process draws for the whole batch. Tolerances (float32, tiny BERT): losses rtol 1e-5 and
atol 1e-6; gradients as :func:`dist_utils.assert_grads_close` states (relative L2 error of the whole gradient
<= 2e-5, element-wise rtol 1e-3 / atol 1e-5; measured: about 5e-7 for the plain step, 4e-6 with GradCache
chunks of one query). The ranks encode 3-query batches padded to their own longest text while one process
pads 6 queries together, so sums run in another order. Gradients are compared after
:meth:`Dist.sum_gradients`, i.e. what the optimiser sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from dist_utils import (
    GROUP_SIZE,
    QRELS,
    assert_grads_close,
    corpus,
    global_batch,
    grads,
    load_model,
    run_ranks,
)
from dying_rank import dying_worker

from gradedpr.commands.checks import check_parallel_settings
from gradedpr.config.schema import TrainConfig
from gradedpr.data.collator import collate_groups
from gradedpr.data.sampler import TrainGroup
from gradedpr.errors import ConfigError
from gradedpr.losses import get_loss
from gradedpr.train.distributed import Dist, init_distributed, shutdown
from gradedpr.train.step import InBatchStep

WORLD = 2
CASES: list[tuple[str, int | None]] = [("nll", None), ("listnet", None), ("lambdaloss", None),
                                       ("neural_ndcg", None), ("listnet", 1), ("lambdaloss", 2)]
"""(loss, grad_cache_chunk) computed by both processes; None = the plain step."""
LOSS_TOL = {"rtol": 1e-5, "atol": 1e-6}


def group(qid: str, docids: list[str]) -> TrainGroup:
    judged = QRELS[qid]
    return TrainGroup(qid, qid, tuple(docids), tuple(judged.get(d, 0) for d in docids))


# rank 0: q0, q1; rank 1: q2, q3. d0 (relevant to q0) is drawn by both ranks; d13 (relevant to q1) is drawn only
# by rank 1; d2 (q2's own positive) is also a negative in q0's group on rank 0; d3 (q3's own positive, rank 1)
# is a negative in q1's group on rank 0.
LABEL_GROUPS = [
    group("q0", ["d0", "d6", "d2", "d5"]),
    group("q1", ["d1", "d7", "d3", "d4"]),
    group("q2", ["d2", "d8", "d0", "d13"]),
    group("q3", ["d3", "d9", "d10", "d11"]),
]


def step_for(model_dir: Path, loss: str, chunk: int | None, dist: Dist) -> InBatchStep:
    model = load_model(model_dir)
    return InBatchStep(model, corpus(), QRELS, GROUP_SIZE, get_loss(loss), dist=dist, grad_cache_chunk=chunk)


def equivalence_worker(rank: int, world: int, init_method: str, model_dir: Path) -> dict[str, Any]:
    dist = init_distributed(rank, world, init_method=init_method, timeout_s=60)
    try:
        batch = global_batch()
        results: dict[str, Any] = {}
        for loss, chunk in CASES:
            step = step_for(model_dir, loss, chunk, dist)
            value = step.forward_backward(dist.local_slice(batch))
            dist.sum_gradients([p for p in step.model.parameters() if p.requires_grad])
            results[f"{loss}-{chunk}"] = {"loss": value, "grads": grads(step.model)}
        for chunk in (None, 1):  # a 1-query batch: rank 1's share is empty, it only takes part in the collectives
            step = step_for(model_dir, "listnet", chunk, dist)
            value = step.forward_backward(dist.local_slice(batch[:1]))
            dist.sum_gradients([p for p in step.model.parameters() if p.requires_grad])
            results[f"short-{chunk}"] = {"loss": value, "grads": grads(step.model)}
        torch.manual_seed(rank)  # as run_training seeds each process (distinct dropout streams)
        step = step_for(model_dir, "xe_ndcg", None, dist)
        results["xe_ndcg"] = step.forward_backward(dist.local_slice(batch))
        prepared = step.prepare(dist.local_slice(LABEL_GROUPS))
        results["labels"], results["mask"] = prepared.labels, prepared.mask
        return results
    finally:
        shutdown(dist)


@pytest.fixture(scope="module")
def two_ranks(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    results = run_ranks(equivalence_worker, WORLD, tmp_path_factory.mktemp("ddp"), tiny_model_dir)
    for rank, result in enumerate(results):
        assert result is not None, f"rank {rank} did not finish"
        assert "error" not in result, f"rank {rank} failed:\n{result['error']}"
    return results


@pytest.mark.parametrize(("loss", "chunk"), CASES)
def test_two_processes_equal_one_process_with_the_whole_batch(two_ranks: list[dict[str, Any]], tiny_model_dir: Path,
                                                              loss: str, chunk: int | None) -> None:
    reference = step_for(tiny_model_dir, loss, None, Dist())
    want_loss = reference.forward_backward(global_batch())  # one process, all 6 queries, plain step
    want = grads(reference.model)
    assert want and all(g.abs().sum() > 0 for g in want.values() if g.dim() > 1)
    for result in two_ranks:
        got = result[f"{loss}-{chunk}"]
        torch.testing.assert_close(torch.tensor(got["loss"]), torch.tensor(want_loss), **LOSS_TOL)
        assert_grads_close(got["grads"], want)


@pytest.mark.parametrize("chunk", [None, 1])
def test_a_process_with_an_empty_share_of_a_short_batch(two_ranks: list[dict[str, Any]], tiny_model_dir: Path,
                                                        chunk: int | None) -> None:
    reference = step_for(tiny_model_dir, "listnet", None, Dist())
    want_loss = reference.forward_backward(global_batch()[:1])
    for result in two_ranks:
        got = result[f"short-{chunk}"]
        torch.testing.assert_close(torch.tensor(got["loss"]), torch.tensor(want_loss), **LOSS_TOL)
        assert_grads_close(got["grads"], grads(reference.model))


def test_a_loss_with_random_draws_is_the_same_loss_in_every_process(two_ranks: list[dict[str, Any]]) -> None:
    """xe_ndcg draws its gammas at random: seeded from the batch's ids, not from each process's own RNG."""
    assert two_ranks[0]["xe_ndcg"] == two_ranks[1]["xe_ndcg"]


def test_both_processes_hold_identical_gradients(two_ranks: list[dict[str, Any]]) -> None:
    for key, value in two_ranks[0].items():
        if isinstance(value, dict):
            for name, g in value["grads"].items():
                assert torch.equal(g, two_ranks[1][key]["grads"][name]), (key, name)


def test_labels_over_the_global_batch(two_ranks: list[dict[str, Any]]) -> None:
    want = collate_groups(LABEL_GROUPS, QRELS, GROUP_SIZE)  # what one process builds for the same 4 groups
    for result in two_ranks:
        assert torch.equal(result["labels"], want.labels) and torch.equal(result["mask"], want.mask)
    labels, mask = two_ranks[0]["labels"], two_ranks[0]["mask"]
    column = {(g, i): g * GROUP_SIZE + i for g in range(4) for i in range(GROUP_SIZE)}
    # d0 drawn by both ranks: valid once per query -- in the query's own group when it has it there
    assert mask[0, column[0, 0]] and not mask[0, column[2, 2]] and labels[0, column[0, 0]] == 2
    assert mask[2, column[2, 2]] and not mask[2, column[0, 0]] and labels[2, column[2, 2]] == 0
    assert mask[1, column[0, 0]] and not mask[1, column[2, 2]]  # elsewhere: its first column only
    # d13 is relevant to q1 (rank 0) but sampled by rank 1: labelled 1 for q1, not a false negative
    assert mask[1, column[2, 3]] and labels[1, column[2, 3]] == 1
    assert labels[0, column[2, 3]] == 0
    # d2: q2's own positive, also drawn in q0's group on rank 0
    assert labels[2, column[2, 0]] == 2 and mask[2, column[2, 0]] and not mask[2, column[0, 2]]
    assert (mask.sum(dim=1) == 16 - 3).all()  # d0, d2, d3 drawn twice: each valid once per query


def test_bad_parallel_settings_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="not divisible by the world size 2"):
        check_parallel_settings(TrainConfig(batch_size=5), 2)
    with pytest.raises(ConfigError, match=r"train.grad_cache_chunk=0: must be an integer \(or null = off\) >= 1"):
        TrainConfig(grad_cache_chunk=0)
    with pytest.raises(ConfigError, match="larger than the 4 queries each of the 2"):
        check_parallel_settings(TrainConfig(batch_size=8, grad_cache_chunk=5), 2)
    check_parallel_settings(TrainConfig(batch_size=8, grad_cache_chunk=4), 2)
    with pytest.raises(ConfigError, match="one process only"):
        check_parallel_settings(TrainConfig(batch_size=8), 2, custom_step=True)


def test_uneven_split_of_a_short_last_batch() -> None:
    assert Dist(0, 2).bounds(3) == [0, 2, 3] and Dist(1, 2).local_slice([1, 2, 3]) == [3]
    assert Dist(1, 2).local_slice([7]) == [] and Dist(0, 1).local_slice([1, 2]) == [1, 2]


@pytest.mark.parametrize("mode", ["exit", "stall"])
def test_a_dead_or_stalled_rank_ends_in_a_clear_error_not_a_hang(mode: str, tmp_path: Path) -> None:
    results = run_ranks(dying_worker, WORLD, tmp_path, mode, timeout=40, wait_for=0)  # dying_rank.py
    rank0 = results[0]
    assert rank0 is not None and "error" not in rank0, rank0
    assert rank0["error_type"] == "DistributedError", rank0
    assert rank0["seconds"] < 25, rank0
    message = rank0["message"]
    assert "\n" not in message and "rank 0 of 2" in message and "train.dist_timeout=4 s" in message
