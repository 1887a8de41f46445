"""edgebb recommend: the choice under a budget, its binding constraint and margin, the runner-up and its trade,
why each other candidate lost, the lectures' factors as inputs, estimates from the latency model (and --measure),
and exit 1 naming the closest miss. Most cases run on cells written by hand (fast); the command line runs on the
session's real sweep (tests/test_sweep.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from test_sweep import GRID, assert_one_line, edgebb, learned_copy, shared_sweep

from edgebb.selection.latency_model import fit
from edgebb.selection.pareto import frontier
from edgebb.selection.recommend import Budget, recommend

STRIDES = "4,8,16,32"


def cell(backbone, recipe, p50, acc, *, width=1.0, size=224, runtime="litert", target="cpu:4", mem=40.0,
         family=None, pretrained=True, strides=STRIDES, status="ok", train=60.0, macs=300e6, params=3e6):
    return {"key": f"{backbone}-{width}-{size}-{recipe}-{runtime}-{target}", "backbone": backbone, "width": width,
            "size": size, "recipe": recipe, "runtime": runtime, "target": target, "threads": 4,
            "family": family or backbone.split("_")[0], "status": status, "error": None if status == "ok" else "boom",
            "stage": None if status == "ok" else "measure", "accuracy": acc, "accuracy_source": "measured",
            "p50_ms": p50, "p90_ms": None if p50 is None else p50 * 1.2, "p99_ms": None if p50 is None else p50 * 1.5,
            "peak_rss_mb": mem, "size_mb": 3.0, "macs": macs, "params": params, "peak_activation_bytes": macs / 100,
            "train_seconds": train, "pretrained": pretrained, "feature_strides": strides, "emulated": False,
            "software": False, "verification": {"passed": True, "top1_agreement": 99.0}}


ROWS = [
    cell("mobilenet_v2", "int8", 6.0, 0.91),
    cell("mobilenet_v2", "fp32", 9.0, 0.92),
    cell("resnet50", "int8", 40.0, 0.95, mem=140, params=25e6, macs=4e9),
    cell("squeezenet_1_1", "int8", 4.0, 0.85, pretrained=False, strides="4,8,16"),
    cell("mobilenet_v3_small", "fp32", 5.0, 0.90, family="mobilenet"),
    cell("shufflenet_v2", "int8", 7.0, 0.89, pretrained=False),  # dominated by mobilenet_v2 int8
    cell("mobilenet_v1", "int8", 3.0, 0.70, status="failed"),
]


def test_choice_binding_runner_up_and_every_rejection():
    rec = recommend(ROWS, Budget("cpu:4", max_latency_ms=10, latency="p90", max_memory_mb=100, min_accuracy=0.88))
    assert rec.choice["label"] == "mobilenet_v2 1 @224 int8 on litert x4"  # fp32's p90 (10.8 ms) is over
    rec = recommend(ROWS, Budget("cpu:4", max_latency_ms=12, latency="p90", max_memory_mb=100, min_accuracy=0.88))
    assert rec.choice["backbone"] == "mobilenet_v2" and rec.choice["recipe"] == "fp32"  # the most accurate that fits
    assert rec.binding["constraint"] == "accuracy" and rec.binding["margin"] == pytest.approx(0.04)
    assert rec.runner_up["recipe"] == "int8" and rec.runner_up["backbone"] == "mobilenet_v2"
    assert rec.trade["accuracy_points"] == pytest.approx(-1.0) and rec.trade["latency_ms"] == pytest.approx(-3.6)
    why = {r["backbone"] + " " + r["recipe"]: " ".join(r["reasons"]) for r in rec.rejected}
    assert "p90 48.00 ms exceeds 12 ms by 36.00 ms" in why["resnet50 int8"]
    assert "peak memory 140.00 MB exceeds 100 MB by 40.00 MB" in why["resnet50 int8"]
    assert "accuracy 0.85 is below 0.88 by 0.03 (3.00 points)" in why["squeezenet_1_1 int8"]
    assert why["shufflenet_v2 int8"].startswith("dominated by mobilenet_v2 1 @224 int8")
    assert why["shufflenet_v2 int8"].endswith("(as accurate or more, and faster or as fast)")  # as the choice's says
    assert why["mobilenet_v3_small fp32"].startswith("ranked below the choice: -2.0 accuracy points")
    assert why["mobilenet_v1 int8"].startswith("failed at measure: boom")
    assert len(rec.rejected) == len(ROWS) - 1


def test_the_runner_up_offers_a_trade_the_choice_does_not_dominate():
    """The same model on a slower runtime (as accurate, slower) ranks second, but the choice beats it on every
    count: the demo printed it as the runner-up while its rejected table called it dominated. The runner-up is
    the best candidate that trades something; none when the choice dominates them all."""
    rows = [cell("mobilenet_v3_small", "fp32", 0.15, 0.85),
            cell("mobilenet_v3_small", "fp32", 0.24, 0.85, runtime="onnxruntime"),
            cell("mobilenet_v2", "fp32", 0.10, 0.80)]
    rec = recommend(rows, Budget("cpu:4", max_latency_ms=2))
    assert (rec.choice["backbone"], rec.choice["runtime"]) == ("mobilenet_v3_small", "litert")
    assert rec.runner_up["backbone"] == "mobilenet_v2", rec.runner_up
    assert rec.trade["accuracy_points"] == pytest.approx(-5.0) and rec.trade["latency_ms"] < 0
    why = {r["runtime"]: r for r in rec.rejected}
    assert why["onnxruntime"]["kind"] == "dominated"
    alone = recommend(rows[:2], Budget("cpu:4", max_latency_ms=2))
    assert alone.runner_up is None and alone.trade is None
    rec = recommend(ROWS, Budget("cpu:4", max_latency_ms=12, latency="p90", max_memory_mb=100))
    assert rec.binding["constraint"] == "latency" and rec.binding["margin"] == pytest.approx(12 - 10.8)


def test_a_difference_that_rounds_to_zero_has_no_minus_sign():
    """The demo said the runner-up trades "-0.00 ms p90": a latency a fraction of a microsecond lower, rounded."""
    from edgebb.reporting.selection import recommendation_lines

    rows = [cell("mobilenet_v3_small", "fp32", 0.150, 0.85), cell("mobilenet_v2", "fp32", 0.1498, 0.80),
            cell("squeezenet_1_1", "fp32", 0.1497, 0.79)]
    rec = recommend(rows, Budget("cpu:4", max_latency_ms=2))
    (line,) = [ln for ln in recommendation_lines(rec) if "it trades" in ln]
    assert "-5.0 accuracy points, +0.000 ms p50, +0.0 MB peak, +0.00 MB file" in line, line
    (ranked,) = [r for r in rec.rejected if r["backbone"] == "squeezenet_1_1"]
    assert ranked["reasons"] == ["ranked below the choice: -6.0 accuracy points, +0.000 ms p50"], ranked


def test_a_latency_difference_keeps_the_decimals_of_its_latency():
    """Trades of latencies near 0.08 ms read "+0.00 ms" where they differed by 2-6%: a difference is signed at
    the decimals its latency is shown with (three significant digits under 1 ms), in the lines and the JSON."""
    from edgebb.reporting.selection import recommendation_lines

    rows = [cell("mobilenet_v3_small", "fp32", 0.0800, 0.85), cell("mobilenet_v2", "fp32", 0.0758, 0.80),
            cell("squeezenet_1_1", "fp32", 0.0729, 0.79)]
    rec = recommend(rows, Budget("cpu:4", max_latency_ms=2))
    lines = recommendation_lines(rec)
    assert any("p50 0.08 ms, p90 0.096 ms" in ln for ln in lines), lines
    (line,) = [ln for ln in lines if "it trades" in ln]
    assert "-5.0 accuracy points, -0.0042 ms p50" in line, line
    (ranked,) = [r for r in rec.rejected if r["backbone"] == "squeezenet_1_1"]
    assert ranked["reasons"] == ["ranked below the choice: -6.0 accuracy points, -0.0071 ms p50"], ranked


def test_a_miss_never_reads_as_its_limit_and_the_binding_line_reads_as_the_figures():
    """"p90 0.12 ms exceeds 0.12 ms by 0.000461 ms": a figure just over its limit gets the digits that set it apart;
    the binding line said "peak memory 101 MB" where the choice's figures said "peak 101.2 MB"."""
    from edgebb.reporting.selection import recommendation_lines

    over = cell("mobilenet_v2", "fp32", 0.120461 / 1.2, 0.95)  # its p90: 0.120461 ms
    fits = cell("squeezenet_1_1", "fp32", 0.05, 0.80, mem=101.24)
    rec = recommend([over, fits], Budget("cpu:4", max_latency_ms=0.12, latency="p90", max_memory_mb=150))
    (missed,) = [r for r in rec.rejected if r["backbone"] == "mobilenet_v2"]
    assert missed["reasons"][0].startswith("p90 0.1205 ms exceeds 0.12 ms by 0.000461 ms"), missed
    lines = recommendation_lines(rec)
    assert any("peak 101.2 MB" in ln for ln in lines), lines
    assert any(ln.strip().startswith("binding constraint: peak memory 101.2 MB against 150 MB (margin 48.8 MB")
               for ln in lines), lines
    # an accuracy just under its floor: "accuracy 0.438 is below 0.438 by 0.001 (0.1 points)" was 0.4375
    rec = recommend([cell("mobilenet_v2", "fp32", 0.05, 0.4375)], Budget("cpu:4", min_accuracy=0.438))
    assert rec.closest["misses"][0]["reason"] == "accuracy 0.4375 is below 0.438 by 0.0005 (0.05 points)", rec.closest
    # a margin too small for its unit's decimals: "margin 3e-05 ms" and "0.0536 ms against 0.0536 ms"
    rec = recommend([cell("mobilenet_v2", "fp32", 0.0536, 0.9)], Budget("cpu:4", max_latency_ms=0.05362))
    (binding,) = [ln for ln in recommendation_lines(rec) if "binding constraint" in ln]
    assert "p50 latency 0.0536 ms against 0.05362 ms (margin 0.00002 ms, 0%)" in binding, binding
    # a trade's latency keeps the digits of the finer of its two latencies (-0.047 of 0.104 and 0.0574)
    rec = recommend([cell("mobilenet_v2", "fp32", 0.104, 0.9), cell("squeezenet_1_1", "fp32", 0.0574, 0.55)],
                    Budget("cpu:4", max_latency_ms=1))
    (trades,) = [ln for ln in recommendation_lines(rec) if "it trades" in ln]
    assert "-35.0 accuracy points, -0.0466 ms p50" in trades, trades


def test_nothing_fits_names_the_closest_miss():
    rec = recommend(ROWS, Budget("cpu:4", max_latency_ms=2.5))
    assert rec.choice is None
    assert rec.closest["backbone"] == "squeezenet_1_1"
    assert "p50 4.00 ms exceeds 2.5 ms by 1.50 ms" in rec.closest["misses"][0]["reason"]
    from edgebb.selection.recommend import _over

    # under a millisecond, the digits its percent has (it read "0.05 ms exceeds 0.01 ms by 0.04 ms (417%)")
    assert _over("p50", 0.0517, 0.01, "ms", {}) == "p50 0.0517 ms exceeds 0.01 ms by 0.0417 ms (417%)"


def test_dense_tasks_need_the_feature_pyramid():
    rec = recommend(ROWS, Budget("cpu:4", max_latency_ms=5.5, task="detection"))
    assert rec.choice["backbone"] == "mobilenet_v3_small"
    squeeze = next(r for r in rec.rejected if r["backbone"] == "squeezenet_1_1")
    assert squeeze["kind"] == "excluded" and "no stride 32 feature map" in squeeze["reasons"][0]
    assert any("feature pyramid" in f for f in rec.factors)


def test_few_images_favour_pretrained_and_smaller_models():
    rows = ROWS + [cell("mobilenet_v2", "int8", 6.5, 0.915, width=0.5, params=1.5e6)]
    rec = recommend(rows, Budget("cpu:4", dataset_size=500))
    rejected = {r["backbone"]: r for r in rec.rejected}
    assert "no pretrained (ImageNet) weights" in rejected["shufflenet_v2"]["reasons"][0]
    assert rec.choice["backbone"] == "resnet50"  # most accurate; nothing else within a point of it
    rec = recommend([r for r in rows if r["backbone"] != "resnet50"], Budget("cpu:4", dataset_size=500))
    assert (rec.choice["backbone"], rec.choice["width"]) == ("mobilenet_v2", 0.5)  # within a point, fewer params
    assert any("few images (500)" in f and "fewer parameters" in f for f in rec.factors)
    assert recommend(rows, Budget("cpu:4", dataset_size=50_000)).choice["backbone"] == "resnet50"


def test_few_images_look_at_what_the_sweep_trained_from():
    """A sweep offline trained MobileNetV3-Small from random weights (its ImageNet weights could not be fetched);
    its rows said `pretrained: true` (the family has them) beside `weights: random`, and `--dataset-size 500` ruled
    out ShuffleNet for training from scratch, then picked MobileNetV3-Small, which had too. The rule reads what the
    sweep recorded each model started from, and says so; a row with no record falls back to the family."""
    from edgebb.selection.factors import from_scratch

    def started(c, weights, asked="auto"):
        return {**c, "weights": weights, "provenance": {"options": {"weights": asked}}}

    v3 = started(cell("mobilenet_v3_small", "fp32", 5.0, 0.90, width=0.75, family="mobilenet"), "random")
    rows = [v3, started(cell("mobilenet_v2", "int8", 6.0, 0.88, family="mobilenet"), "imagenet"),
            started(cell("shufflenet_v2", "int8", 4.0, 0.91, pretrained=False), "random")]
    rec = recommend(rows, Budget("cpu:4", dataset_size=500))
    assert rec.choice["backbone"] == "mobilenet_v2" and rec.choice["weights"] == "imagenet"
    why = {r["backbone"]: r["reasons"] for r in rec.rejected}
    assert why["mobilenet_v3_small"] == [
        "trained from random weights in this sweep (ImageNet weights exist for mobilenet_v3_small 0.75 but were not "
        "used: they could not be fetched or loaded): with 500 images, training from scratch needs far more data than "
        "that"]
    assert why["shufflenet_v2"][0].startswith("trained from random weights in this sweep (shufflenet_v2 1 has no "
                                              "ImageNet weights)")
    assert any("what the sweep recorded" in f or "as the sweep recorded" in f for f in rec.factors)
    assert "the sweep ran with --weights none" in from_scratch(started(v3, "random", None), 500)
    assert from_scratch(started(v3, "/my/weights.h5"), 500) is None  # the user's weights: not from scratch
    assert recommend(rows, Budget("cpu:4", dataset_size=50_000)).choice["backbone"] == "shufflenet_v2"


def test_pretrained_says_what_the_model_started_from(tmp_path):
    """The store's `pretrained` is what a cell's model started from, also for rows an older edgebb wrote with the
    family's ImageNet weights in it."""
    from edgebb.selection.store import Store, started_pretrained

    assert (started_pretrained("imagenet"), started_pretrained("random")) == (True, False)
    assert started_pretrained("/my/weights.h5") is None and started_pretrained(None) is None
    with Store.create(str(tmp_path)) as store:
        store.put_cells([{"key": "old", "backbone": "mobilenet_v3_small", "pretrained": True, "weights": "random"},
                         {"key": "failed", "backbone": "mobilenet_v3_small", "pretrained": None, "weights": None}])
        rows = {r["key"]: r for r in store.cells()}
    assert rows["old"]["pretrained"] is False and rows["failed"]["pretrained"] is None


def test_resolution_and_training_budget():
    rows = [cell("mobilenet_v2", "int8", 3.0, 0.9, size=96), cell("mobilenet_v2", "int8", 6.0, 0.92, train=900)]
    rec = recommend(rows, Budget("cpu:4", resolution=128))
    assert rec.choice["size"] == 224
    assert "input 96 px is below --resolution 128 by 32 px" in rec.rejected[0]["reasons"][0]
    rec = recommend(rows, Budget("cpu:4", max_train_minutes=10))
    assert rec.choice["size"] == 96
    assert "training took 15.0 min, over --max-train-minutes 10 by 5.0 min" in rec.rejected[0]["reasons"][0]


def test_emulated_cells_are_left_out_unless_asked():
    rows = [cell("mobilenet_v2", "int8", 6.0, 0.9), {**cell("mobilenet_v2", "fp32", 1.0, 0.92), "software": True}]
    assert recommend(rows, Budget("cpu:4")).choice["recipe"] == "int8"
    assert recommend(rows, Budget("cpu:4", allow_emulated=True)).choice["recipe"] == "fp32"


def test_an_artifact_that_failed_its_check_is_not_shipped():
    """Faster but no longer computing what the float model computes (agreement under the budget): rejected with
    the reason its conversion gave, like bench --best."""
    broken = {**cell("mobilenet_v2", "int8", 6.0, 0.9),
              "verification": {"passed": False, "failed_because": "top-1 agreement 41.0% < 90%"}}
    rec = recommend([broken, cell("mobilenet_v2", "fp32", 9.0, 0.92)], Budget("cpu:4"))
    assert rec.choice["recipe"] == "fp32"
    (rejected,) = [r for r in rec.rejected if r["recipe"] == "int8"]
    assert "failed its check against the float model: top-1 agreement 41.0% < 90%" in rejected["reasons"]


def _trained(row: dict, float_accuracy: float, samples: int = 100) -> dict:
    """`row` as a sweep with --data records it: held-out images, the data's classes, the float model's accuracy."""
    return {**row, "float_accuracy": float_accuracy, "verification": {**row["verification"], "samples": samples},
            "provenance": {"data": {"classes": ["star", "ring", "square", "vbars"]}}}


def test_a_model_at_chance_is_not_shipped_while_another_learned():
    """4 classes, 100 held-out images: chance is 25%, two standard errors 8.7 points. A float model at 30% is
    guessing; its int8 model's 95% is luck, and it is excluded with the reason."""
    rows = [_trained(cell("mobilenet_v2", "int8", 6.0, 0.80), 0.82),
            _trained(cell("shufflenet_v2", "int8", 5.0, 0.95), 0.30)]
    rec = recommend(rows, Budget("cpu:4"))
    assert rec.choice["backbone"] == "mobilenet_v2"
    (out,) = rec.rejected
    assert out["kind"] == "excluded" and "not clearly above chance" in out["reasons"][0]
    assert "30.0% on 100 held-out images" in out["reasons"][0] and "25% for 4 classes" in out["reasons"][0]
    rows[1] = _trained(rows[1], 0.34)  # 34% is more than two standard errors (25 + 8.66) above chance: it learned
    assert recommend(rows, Budget("cpu:4")).choice["backbone"] == "shufflenet_v2"


def test_a_model_at_chance_is_never_recommended_even_when_none_learned():
    """A new user's sweep where every model stayed at chance (4 classes, all 25.0%) recommended one with a note;
    a model that cannot be told from guessing is no candidate whether or not another learned: nothing is chosen,
    the answer says every candidate is at chance (the command exits 1 with that line), each rejection says why."""
    from edgebb.reporting.selection import recommendation_lines
    from edgebb.selection.recommend import ALL_AT_CHANCE

    rows = [_trained(cell("mobilenet_v2", "int8", 6.0, 0.30), 0.27),
            _trained(cell("shufflenet_v2", "fp32", 5.0, 0.25), 0.25),
            cell("mobilenet_v1", "int8", 3.0, 0.70, status="failed")]
    rec = recommend(rows, Budget("cpu:4", max_latency_ms=10))
    assert rec.choice is None and rec.closest is None and rec.all_at_chance
    assert rec.to_dict()["all_at_chance"] is True
    why = {r["backbone"]: r["reasons"] for r in rec.rejected}
    assert why["mobilenet_v2"][-1].startswith("not clearly above chance: its float model's top-1 27.0% on 100")
    assert why["shufflenet_v2"] == [why["shufflenet_v2"][0]] and "25.0% on 100 held-out" in why["shufflenet_v2"][0]
    lines = recommendation_lines(rec)
    assert "nothing to recommend: every candidate is at chance." in lines and "nothing meets the budget." not in lines
    assert "train longer or on more images" in ALL_AT_CHANCE
    # one model at chance among others that are excluded for another reason: not "every candidate is at chance"
    emulated = {**cell("mobilenet_v3_small", "fp32", 2.0, 0.9), "software": True}
    rec = recommend(rows + [emulated], Budget("cpu:4"))
    assert rec.choice is None and not rec.all_at_chance
    assert "nothing meets the budget." in recommendation_lines(rec)
    # and one that learned is chosen, the one at chance (faster, "more accurate" by luck) never
    rows[1] = _trained(cell("shufflenet_v2", "fp32", 5.0, 0.99), 0.25)
    rec = recommend(rows + [_trained(cell("mobilenet_v2", "fp32", 9.0, 0.80), 0.80)], Budget("cpu:4"))
    assert (rec.choice["backbone"], rec.choice["recipe"]) == ("mobilenet_v2", "fp32") and rec.runner_up is None


def test_an_unjudged_int8_cell_is_not_shipped_and_says_why():
    """A quantized artifact of random weights (a sweep without --data) or of a float model at chance is not judged
    by its conversion (`passed` None): a tiny sweep recommended its int8 cell, faster than fp32, on latency alone.
    It keeps its figures, the agreement its conversion measured included (the store dropped it), and is no
    candidate anywhere: not chosen, on no frontier, and the table and the rejection say why, as bench --best does.
    Without --data there is no accuracy and no chance to be at: the float cell is the answer, as it was."""
    from edgebb.reporting.selection import sweep_lines, sweep_rows
    from edgebb.selection.cells import Cell, add_artifact
    from edgebb.selection.grid import ModelConfig
    from edgebb.selection.pareto import annotate
    from edgebb.selection.sweep import SweepResult
    from edgebb.selection.targets import TargetSpec

    conv = {"path": "/x_int8.tflite", "convert_seconds": 1.0, "size_bytes": 1, "random_weights": True,
            "verification": {"top1_agreement": 13.6, "accuracy": None, "reference_accuracy": None, "drop": None,
                             "passed": None, "failed_because": None, "samples": 100}}
    stored = {"provenance": {}}
    add_artifact(stored, conv, Cell("k", ModelConfig("shufflenet_v2", 1.0, 224), "m", "int8", "tflite", "c",
                                    TargetSpec("cpu:4", ("litert",)), "litert", {}), has_data=False)
    assert stored["agreement"] == pytest.approx(0.136)  # measured, shown; the verdict is what says "not judged"
    int8 = {**cell("shufflenet_v2", "int8", 4.0, None), **stored, "accuracy_source": None}
    fp32 = {**cell("shufflenet_v2", "fp32", 9.0, None), "accuracy_source": None,
            "verification": {"passed": True, "top1_agreement": 100.0}}
    rec = recommend([int8, fp32], Budget("cpu:4", max_latency_ms=10))
    assert rec.choice["recipe"] == "fp32" and not rec.all_at_chance
    (out,) = rec.rejected
    assert out["recipe"] == "int8" and out["kind"] == "excluded" and out["agreement"] == pytest.approx(0.136)
    assert out["reasons"] == ["not judged: its outputs are near-ties (agreement 13.6%)"]
    marks = annotate([int8, fp32])  # no accuracy: p50 against memory
    assert "latency" not in marks[int8["key"]] and marks[fp32["key"]]["latency"]["optimal"]
    result = SweepResult("out", "out/sweep.sqlite", [int8, fp32])
    rows, footnotes = sweep_rows(result)
    shown = {r["recipe"]: r for r in rows}
    assert (shown["int8"]["status"], shown["int8"]["pareto"]) == ("not judged", "")
    assert shown["int8"]["agree"] == pytest.approx(13.6)
    assert shown["fp32"]["pareto"] == "*" and footnotes == []
    assert any(line.startswith("not judged: 1 quantized cell(s)") for line in sweep_lines(result, footnotes))

    # with --data, a float model at chance (4 classes, 25%): its int8 cell is not judged and at chance, its fp32
    # cell at chance; neither is chosen nor on the frontier, and the table says which
    int8 = _trained({**int8, "accuracy": 0.25, "verification": {**conv["verification"], "accuracy": 25.0,
                                                                "reference_accuracy": 25.0, "drop": 0.0}}, 0.25)
    fp32 = _trained({**fp32, "accuracy": 0.25}, 0.25)
    rec = recommend([int8, fp32], Budget("cpu:4", max_latency_ms=10))
    assert rec.choice is None and rec.all_at_chance
    reasons = {r["recipe"]: r["reasons"] for r in rec.rejected}
    assert reasons["int8"][0].startswith("not judged") and reasons["int8"][1].startswith("not clearly above chance")
    assert frontier([int8, fp32]) == {}
    rows, _ = sweep_rows(SweepResult("out", "out/sweep.sqlite", [int8, fp32]))
    assert {r["recipe"]: (r["status"], r["pareto"]) for r in rows} == {"int8": ("not judged", ""),
                                                                       "fp32": ("at chance", "")}


def test_a_latency_margin_within_the_choices_noise_is_said():
    """The binding margin (p90 9.62 ms against 10 ms: 0.38 ms, 4%) is smaller than the chosen cell's measured noise
    (a spread of 12% of 9.62 ms: 1.15 ms), so the choice may flip when measured again: the answer says so, in words
    and in its JSON. A wider margin, a quiet cell or an estimate (no measured spread) says nothing; a few outliers
    (a large std / mean, cv, with a small spread) are no noise to weigh."""
    import json

    from edgebb.reporting.selection import recommendation_lines

    def noisy(c, spread):
        return {**c, "bench": {"status": "ok", "cv": 0.9, "spread": spread}}

    rows = [noisy(cell("mobilenet_v2", "int8", 8.0, 0.91), 0.12), noisy(cell("resnet50", "int8", 40.0, 0.95), 0.01)]
    budget = Budget("cpu:4", max_latency_ms=10, latency="p90", max_memory_mb=1000)
    rec = recommend(rows, budget)
    assert rec.choice["backbone"] == "mobilenet_v2" and rec.choice["spread"] == 0.12
    assert rec.binding["constraint"] == "latency" and rec.binding["margin"] == pytest.approx(0.4)
    assert rec.noise["margin"] == pytest.approx(0.4) and rec.noise["spread_ms"] == pytest.approx(0.12 * 9.6)
    assert json.loads(json.dumps(rec.to_dict()))["noise"]["spread"] == 0.12
    (line,) = [ln for ln in recommendation_lines(rec) if "within noise" in ln]
    assert "p90 latency margin 0.4 ms (4%) is within this cell's measured noise (its runs typically varied by " \
           "1.15 ms, 12% of its latency" in line
    assert "the choice may flip" in line
    rows[0]["bench"]["spread"] = 0.03  # 0.29 ms of noise, 0.4 ms of margin (its cv, 0.9, is outliers)
    assert recommend(rows, budget).noise is None
    rows[0]["bench"]["spread"] = 0.12
    assert recommend(rows, Budget("cpu:4", max_latency_ms=20, latency="p90")).noise is None  # 10.4 ms of margin
    assert recommend(rows, Budget("cpu:4", max_memory_mb=1000)).noise is None  # no latency budget
    from edgebb.selection.recommend import within_noise

    assert within_noise(rows[0], budget) is not None
    assert within_noise({**rows[0], "estimated": True}, budget) is None  # its bench row is another target's


@pytest.mark.parametrize("kwargs, message", [
    ({"min_accuracy": 90}, "fraction between 0 and 1"), ({"latency": "p75"}, "--latency must be one of"),
    ({"task": "pose"}, "--task must be one of"), ({"max_latency_ms": -1}, "--max-latency-ms must be positive"),
    ({"dataset_size": 0}, "--dataset-size must be at least 1"),
])
def test_budget_checks(kwargs, message):
    from edgebb.core.errors import InputError

    with pytest.raises(InputError, match=message):
        Budget("cpu:4", **kwargs)


def test_a_target_the_sweep_did_not_measure_is_named_as_such():
    """cpu:8 is a target edgebb knows, which this sweep did not measure ("unknown target" misled); a word that is
    no target at all gets the close matches."""
    from edgebb.core.errors import InputError

    with pytest.raises(InputError, match=r"the sweep measured nothing on cpu:8 \(it measured on cpu:4\); sweep it "
                                         "with --targets cpu:8"):
        recommend(ROWS, Budget("cpu:8"))
    with pytest.raises(InputError, match="unknown target 'cpu4'; did you mean: cpu:4"):
        recommend(ROWS, Budget("cpu4"))


# ------------------------------------------------------------------------------------------ estimate, measure


def test_latency_model_recovers_a_log_linear_law():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(14):
        macs, params = 10 ** rng.uniform(7, 9.5), 10 ** rng.uniform(5.5, 7.5)
        recipe = "int8" if i % 2 else "fp32"
        p50 = 2e-6 * macs ** 0.8 * params ** 0.1 * (0.7 if recipe == "int8" else 1.0)
        rows.append({**cell(f"b{i}", recipe, p50, 0.9, family="mobilenet" if i % 3 else "resnet", macs=macs,
                            params=params), "peak_activation_bytes": macs / 50})
    model = fit(rows)
    assert model.cells == 14 and model.median_error < 0.05
    new = {**rows[0], "macs": 5e8, "params": 2e6, "peak_activation_bytes": 1e7}
    assert model.predict(new) == pytest.approx(2e-6 * 5e8 ** 0.8 * 2e6 ** 0.1, rel=0.1)
    assert fit(rows[:2]) is None


def test_estimates_are_labelled_with_their_error_and_name_the_cells_to_measure():
    measured = [cell(f"m{i}", r, 5.0 * (i + 1) * (0.8 if r == "int8" else 1), 0.80 + 0.02 * i, macs=2e8 * (i + 1),
                     family="mobilenet") for i in range(3) for r in ("fp32", "int8")]
    elsewhere = [cell("x0", "int8", 1.0, 0.95, target="cpu:1", macs=4e8, family="mobilenet")]
    rec = recommend(measured + elsewhere, Budget("cpu:4", max_latency_ms=12))
    assert rec.choice["backbone"] == "x0" and rec.choice["estimated"] and rec.estimated
    assert rec.choice["p50_ms"] == pytest.approx(8.0, rel=0.25)  # between m0 int8 (4 ms) and m1 int8 (8 ms)
    assert rec.to_measure and rec.to_measure[0]["backbone"] == "x0"
    assert rec.models["p50_ms"]["cells"] == 6 and rec.models["p50_ms"]["loo_median_error"] is not None


def test_pareto_names_a_frontier_cell_that_dominates():
    marks = frontier(ROWS)
    # dominated by MobileNetV2 int8 (6 ms, 0.91) and MobileNetV3-Small (5 ms, 0.90): the fastest of them is named
    assert marks["shufflenet_v2-1.0-224-int8-litert-cpu:4"]["dominated_by"] == \
        "mobilenet_v3_small-1.0-224-fp32-litert-cpu:4"
    optimal = {k for k, m in marks.items() if m["optimal"]}
    assert optimal == {"squeezenet_1_1-1.0-224-int8-litert-cpu:4", "mobilenet_v3_small-1.0-224-fp32-litert-cpu:4",
                       "mobilenet_v2-1.0-224-int8-litert-cpu:4", "mobilenet_v2-1.0-224-fp32-litert-cpu:4",
                       "resnet50-1.0-224-int8-litert-cpu:4"}
    assert all(m["dominated_by"] in optimal for m in marks.values() if not m["optimal"])


def test_a_model_at_chance_is_on_no_frontier_whether_or_not_others_learned():
    from edgebb.selection.pareto import MEMORY, annotate

    def measured(c, float_accuracy):
        return {**c, "float_accuracy": float_accuracy, "verification": {**c["verification"], "samples": 400},
                "provenance": {"data": {"classes": ["a", "b", "c", "d"]}}}

    learned = measured(cell("mobilenet_v2", "int8", 6.0, 0.91), 0.92)
    guessing = measured(cell("squeezenet_1_1", "int8", 4.0, 0.27), 0.26)  # 4 classes: 25% is chance
    marks = frontier([learned, guessing])
    assert marks[learned["key"]]["optimal"] and guessing["key"] not in marks  # not "the fast, inaccurate choice"
    failed = cell("mobilenet_v1", "int8", None, None, status="failed")  # no figures: it learned nothing either
    alone = [guessing, measured(cell("shufflenet_v2", "fp32", 5.0, 0.24), 0.25), failed]
    # where nothing learned, nothing is "worth shipping": no cell is optimal on either frontier, none dominated
    assert frontier(alone) == {} and frontier(alone, MEMORY) == {}
    assert annotate(alone) == {c["key"]: {} for c in alone}


def test_the_sweep_summary_counts_cells_that_failed_their_check():
    from edgebb.reporting.selection import sweep_lines
    from edgebb.selection.sweep import SweepResult

    over = {**cell("resnet50", "int8", 40.0, 0.20), "verification": {"passed": False, "failed_because": "drop 3"}}
    result = SweepResult("out", "out/sweep.sqlite", [cell("mobilenet_v2", "int8", 6.0, 0.91), over])
    assert "2 cells: 0 reused from the store, 0 run now, 0 failed, 1 failed their check against the float model; " \
        "store: out/sweep.sqlite" in sweep_lines(result, [])


# -------------------------------------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    return shared_sweep(tmp_path_factory)


def test_cli_recommends_and_explains(swept, tmp_path):
    store = learned_copy(swept, tmp_path / "learned")
    result = edgebb("recommend", store, "--target", "cpu:1", "--max-latency-ms", "1000", "--latency", "p90",
                    "--max-memory-mb", "1000", "--min-accuracy", "0")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "choice: mobilenet_v2" in out and "binding constraint: " in out
    # MobileNetV2's other cell is as accurate (the copy gives both the same) and slower: dominated, no runner-up
    assert "runner-up: " not in out and "dominated by mobilenet_v2" in out, out
    assert "rejected (3)" in out and out.count("not clearly above chance") == 2  # SqueezeNet's two cells
    data = json.loads(edgebb("recommend", store, "--target", "cpu:1", "--json").stdout)
    assert data["schema"] == "edgebb.recommendation/1" and data["choice"]["target"] == "cpu:1"
    assert len(data["rejected"]) == 3 and data["estimated"] is False and data["all_at_chance"] is False
    assert data["choice"]["spread"] > 0  # the measured noise the answer weighs its margin against
    # --json FILE as sweep takes it: the text on the terminal, the JSON in the file; "-" is stdout
    dash = edgebb("recommend", store, "--target", "cpu:1", "--json", "-")
    assert dash.returncode == 0 and json.loads(dash.stdout) == data
    to_file = edgebb("recommend", store, "--json", str(tmp_path / "rec.json"), "--target", "cpu:1")
    assert to_file.returncode == 0 and "choice: mobilenet_v2" in to_file.stdout, to_file.stderr
    assert json.loads((tmp_path / "rec.json").read_text()) == data
    bad = edgebb("recommend", store, "--target", "cpu:1", "--json", "/proc/rec.json")
    assert_one_line(bad, 2, "/proc/rec.json")


def test_cli_exit_1_when_every_candidate_is_at_chance(swept):
    """The session's sweep, where neither model learned (one epoch on 18 images): it recommended one of them with
    a note; now nothing, exit 1, one line saying why and what to do, and each candidate's reason in the table."""
    result = edgebb("recommend", swept["out"], "--target", "cpu:1", "--max-latency-ms", "1000")
    assert_one_line(result, 1, "nothing to recommend: every candidate is at chance")
    assert "train longer or on more images" in result.stderr
    assert "nothing to recommend: every candidate is at chance." in result.stdout and "choice:" not in result.stdout
    assert "rejected (4)" in result.stdout and result.stdout.count("not clearly above chance") == 4
    data = json.loads(edgebb("recommend", swept["out"], "--target", "cpu:1", "--json").stdout)
    assert data["choice"] is None and data["all_at_chance"] is True and len(data["rejected"]) == 4


def test_cli_exit_1_names_the_closest(swept, tmp_path):
    store = learned_copy(swept, tmp_path / "learned")
    result = edgebb("recommend", store, "--target", "cpu:1", "--max-latency-ms", "0.000001")
    assert_one_line(result, 1, "nothing meets the budget; closest: ")
    assert "closest (the smallest sum of its misses, each a share of its limit): " in result.stdout  # how it is told
    assert "exceeds 1e-06 ms by" in result.stderr


def test_a_sweeps_json_export_recommends_as_its_store_does(swept, tmp_path):
    """`recommend sweep.json` (the file `sweep --json` writes, which `report` reads) said "not an SQLite file":
    the export carries the cells the store's view gives, so the answer from it is the store's; --measure, which
    writes into the store, is refused for it before any work, and a bench JSON is no sweep."""
    store = learned_copy(swept, tmp_path / "learned")
    export = tmp_path / "learned" / "sweep.json"
    rerun = edgebb("sweep", *GRID, "--data", swept["data"], "-o", store, "--jobs", "1", "--json", export)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    budget = ["--target", "cpu:1", "--max-latency-ms", "1000", "--min-accuracy", "0"]
    from_store = edgebb("recommend", store, *budget, "--json")
    from_export = edgebb("recommend", export, *budget, "--json")
    assert from_export.returncode == 0, from_export.stderr
    assert from_export.stdout == from_store.stdout  # byte for byte: cells in the order made, whatever the file's order
    text = edgebb("recommend", export, *budget)
    assert text.returncode == 0 and "choice: mobilenet_v2" in text.stdout, text.stderr
    assert_one_line(edgebb("recommend", export, *budget, "--measure"), 2, "--measure writes what it measures into")
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"schema": "edgebb.bench/1", "results": []}))
    assert_one_line(edgebb("recommend", bench, *budget), 2, "is an edgebb bench result, not a sweep")


# Bad budgets, unknown targets and sources that are no sweep: tests/test_bad_input.py, the catalogue.


def test_measure_turns_estimates_into_measurements(swept, tmp_path):
    """cpu:2 measured for SqueezeNet only (LiteRT and ONNX Runtime: 4 cells, enough for a model); MobileNetV2 is
    estimated there until --measure measures it."""
    out = learned_copy(swept, tmp_path / "copy")
    grid = [a for a in GRID if a != "mobilenet_v2@0.35"]
    grid[grid.index("--targets") + 1] = "cpu:2"
    grid[grid.index("--runtimes") + 1] = "litert,onnxruntime"
    result = edgebb("sweep", *grid, "--data", swept["data"], "-o", out)
    assert result.returncode == 0, result.stderr
    ask = ["recommend", out, "--target", "cpu:2", "--runtime", "litert", "--task", "detection"]  # no SqueezeNet
    estimate = json.loads(edgebb(*ask, "--json").stdout)
    assert estimate["estimated"] and estimate["choice"]["backbone"] == "mobilenet_v2"
    assert estimate["latency_models"]["p50_ms"]["cells"] == 4
    assert not math.isnan(estimate["latency_models"]["p50_ms"]["loo_median_error"])
    text = edgebb(*ask).stdout
    assert "ESTIMATED" in text and "leave-one-out error" in text and "--measure" in text
    measured = edgebb(*ask, "--measure", "--json")
    assert measured.returncode == 0, measured.stderr
    answer = json.loads(measured.stdout)
    assert answer["estimated"] is False and answer["to_measure"] == []
    from edgebb.selection.store import Store

    with Store.open(str(out)) as store:
        rows = [r for r in store.cells() if r["target"] == "cpu:2" and r["backbone"] == "mobilenet_v2"]
        assert store.integrity() == "ok"
    assert rows and all(r["status"] == "ok" and r["threads"] == 2 for r in rows)


def test_an_artifact_that_failed_its_check_is_on_no_frontier_and_says_so():
    """The sweep table and the report once marked such a cell Pareto-optimal with status ok while recommend
    rejected it: its figures are not the model's, so it is on no frontier and its status says why."""
    from types import SimpleNamespace

    from edgebb.reporting.selection import sweep_rows
    from edgebb.selection.pareto import annotate

    broken = {**cell("mobilenet_v2", "int8", 6.0, 0.95),
              "verification": {"passed": False, "failed_because": "top-1 agreement 79.2% < 90%"}}
    good = cell("mobilenet_v2", "fp32", 9.0, 0.92)
    marks = annotate([broken, good])
    assert "latency" not in marks[broken["key"]] and marks[good["key"]]["latency"]["optimal"]
    rows, footnotes = sweep_rows(SimpleNamespace(rows=[broken, good]))
    shown = {r["recipe"]: r for r in rows}
    assert shown["int8"]["status"] == "failed check [1]" and shown["int8"]["pareto"] == ""
    assert shown["fp32"]["pareto"] == "*" and shown["fp32"]["status"] == "ok"
    assert footnotes == ["[1] mobilenet_v2 1 @224 int8 on litert (cpu:4), failed its check against the float model: "
                         "top-1 agreement 79.2% < 90%"]


def test_a_small_violation_is_not_shown_as_zero_percent():
    from edgebb.selection.recommend import _over

    assert _over("peak memory", 100.44, 100, "MB", {}).endswith("by 0.44 MB (0.44%)")
    assert _over("p90", 3.0, 2, "ms", {}).endswith("by 1.00 ms (50%)")
