"""edgebb bench NAME@WIDTH: a backbone name at one of its widths, converted into a cache entry of its own, its rows
named with the width; bad widths refused in one line before TensorFlow is imported."""

import csv
import json

import pytest
from test_bad_input import assert_one_line, early, run, world  # noqa: F401  (world: the catalogue's blocked TF)

SIZE = 32
FAST = ["--runs", "3", "--min-seconds", "0", "--warmup", "1", "--baseline", "none"]


def _profile(width: float):
    """(MACs, parameters) of MobileNetV2 at `width` and SIZE, from the registry's own model."""
    from edgebb.build.profile import profile_model
    from edgebb.models import create_model

    model = create_model("mobilenet_v2", width=width, input_size=SIZE)
    return profile_model(model).macs, model.count_params()


def test_bench_a_backbone_at_a_width(tmp_path):
    """mobilenet_v2@0.35 is the 0.35 model (its MACs, its parameters), on an artifact runtime and on keras, and
    the table, the JSON and the CSV name the width."""
    cache = tmp_path / "cache"
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    result = run("bench", "mobilenet_v2@0.35", "--runtime", "litert,keras", "-s", SIZE, *FAST, "--json", out_json,
                 "--csv", out_csv, env={"XDG_CACHE_HOME": str(cache)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "converting mobilenet_v2 at width 0.35 to fp32" in result.stderr
    rows = json.loads(out_json.read_text())["results"]
    assert sorted((r["model"], r["runtime"], r["status"]) for r in rows) == \
        [("mobilenet_v2@0.35", "keras", "ok"), ("mobilenet_v2@0.35", "litert", "ok")], rows
    with open(out_csv) as f:
        assert {r["model"] for r in csv.DictReader(f)} == {"mobilenet_v2@0.35"}
    assert any(line.startswith("mobilenet_v2@0.35 ") for line in result.stdout.splitlines()), result.stdout

    macs, params = _profile(0.35)
    assert macs != _profile(1.0)[0]
    assert all(r["macs"] == macs and r["input_size"] == SIZE for r in rows), rows
    # a cache entry of its own, whose manifest says the width; a width of 1.0 keeps the folder it always had
    entries = sorted(p.name for p in (cache / "edgebb" / "artifacts").iterdir())
    assert entries == [f"mobilenet_v2_0.35_{SIZE}_fp32"], entries
    folder = cache / "edgebb" / "artifacts" / entries[0]
    source = json.loads((folder / "manifest.json").read_text())["source"]
    assert (source["backbone"], source["width"]) == ("mobilenet_v2", 0.35)
    from edgebb.benchmark.targets import from_manifest
    from edgebb.models import load_model

    assert [t.width for t in from_manifest(str(folder / "manifest.json"))] == [0.35]
    keras = next(r for r in rows if r["runtime"] == "keras")
    assert keras["artifact"] == "mobilenet_v2_0.35.keras"
    assert load_model(keras["path"]).count_params() == params  # keras built it at the width too


def test_a_cached_keras_model_is_not_built_again_for_its_macs(tmp_path, monkeypatch):
    """The MACs are kept beside the cached .keras: a second bench builds nothing (and imports no TensorFlow for
    it); a model saved by other model code is built again."""
    import edgebb.models
    from edgebb.benchmark import targets

    monkeypatch.setenv("EDGEBB_CACHE", str(tmp_path))
    macs = _profile(0.35)[0]
    built = []
    create = edgebb.models.create_model
    monkeypatch.setattr(edgebb.models, "create_model", lambda *a, **kw: built.append(kw) or create(*a, **kw))

    first = targets.convert_backbone("mobilenet_v2", "fp32", ["keras"], SIZE, None, width=0.35)
    assert built == [{"width": 0.35, "input_size": SIZE}] and first.macs == macs
    assert first.model == "mobilenet_v2@0.35" and first.width == 0.35
    path = first.artifacts["keras"]
    assert path == str(tmp_path / "artifacts" / f"mobilenet_v2_0.35_{SIZE}_fp32" / "mobilenet_v2_0.35.keras")
    again = targets.convert_backbone("mobilenet_v2", "fp32", ["keras"], SIZE, None, width=0.35)
    assert len(built) == 1 and again.macs == first.macs and again.artifacts == first.artifacts
    sidecar = json.loads(open(path + ".json").read())
    open(path + ".json", "w").write(json.dumps({**sidecar, "converter": "0" * 12}))
    targets.convert_backbone("mobilenet_v2", "fp32", ["keras"], SIZE, None, width=0.35)
    assert len(built) == 2
    # width 1.0: the folder and file a bare name always had
    plain = targets.convert_backbone("mobilenet_v2", "fp32", ["keras"], SIZE, None)
    assert plain.model == "mobilenet_v2" and plain.macs != first.macs
    assert plain.artifacts["keras"] == str(tmp_path / "artifacts" / f"mobilenet_v2_{SIZE}_fp32" / "mobilenet_v2.keras")


def test_items_at_widths_are_read_as_sweep_reads_them(monkeypatch):
    """One parser: "name@w1+w2" as sweep takes it, one target per width and recipe, in order; 1.0 is the bare name."""
    from edgebb.benchmark import targets
    from edgebb.core.errors import InputError
    from edgebb.selection.grid import _split_pin

    asked = []
    monkeypatch.setattr(targets, "convert_backbone", lambda name, recipe, formats, size, progress, width:
                        asked.append((name, width, recipe)) or targets.Target(model=name, recipe=recipe))
    targets.collect_targets(["mobilenet_v2@0.35+0.5", "squeezenet_1_1", "mobilenet_v2@1"], recipes=["fp32", "int8"],
                            formats=["tflite"], size=SIZE)
    assert asked == [("mobilenet_v2", 0.35, "fp32"), ("mobilenet_v2", 0.35, "int8"), ("mobilenet_v2", 0.5, "fp32"),
                     ("mobilenet_v2", 0.5, "int8"), ("squeezenet_1_1", 1.0, "fp32"), ("squeezenet_1_1", 1.0, "int8"),
                     ("mobilenet_v2", 1.0, "fp32"), ("mobilenet_v2", 1.0, "int8")]
    assert targets.label("mobilenet_v2", 1.0) == "mobilenet_v2" and targets.label("shufflenet_v2", 2.0) == \
        "shufflenet_v2@2"
    # sweep reads them the same way, and refuses what bench refuses with bench's words ("mobilenet_v2@" was read as
    # no width at all)
    assert _split_pin("mobilenet_v2@0.35+0.5") == ("mobilenet_v2", (0.35, 0.5))
    assert _split_pin("mobilenet_v2") == ("mobilenet_v2", None)
    for item, received in (("mobilenet_v2@", 'nothing after "@"'), ("mobilenet_v2@abc", "abc")):
        with pytest.raises(InputError, match=f"{item}: width for mobilenet_v2 must be one of .*; received {received}"):
            _split_pin(item)


WIDTHS = "one of 0.35, 0.5, 0.75, 1, 1.3, 1.4"
BAD = [
    ("unknown-backbone", ["foo@0.5"], "foo@0.5: unknown backbone 'foo'; known: darknet19"),
    ("width-not-offered", ["mobilenet_v2@0.3"], f"mobilenet_v2@0.3: width for mobilenet_v2 must be {WIDTHS}; "
                                                "received 0.3"),
    ("no-width-multiplier", ["resnet50@0.5"],
     "resnet50@0.5: width for resnet50 must be 1 (resnet50 has no width multiplier); received 0.5"),
    ("width-words", ["mobilenet_v2@abc"], f"mobilenet_v2@abc: width for mobilenet_v2 must be {WIDTHS}; received abc"),
    ("width-missing", ["mobilenet_v2@"], f'must be {WIDTHS}; received nothing after "@"'),
    ("beside-good-items", ["squeezenet_1_1", "mobilenet_v2@0.35", "mobilenet_v2@0.7"],
     f"mobilenet_v2@0.7: width for mobilenet_v2 must be {WIDTHS}; received 0.7"),
]


@pytest.mark.parametrize("name, items, message", BAD, ids=[c[0] for c in BAD])
def test_a_bad_width_is_one_line_before_tensorflow(name, items, message, world, tmp_path):  # noqa: F811
    cache = tmp_path / "cache"
    result = run("bench", *items, "-s", SIZE, *FAST, "--json", tmp_path / "r.json",
                 env={**early(world), "XDG_CACHE_HOME": str(cache)})
    assert_one_line(result, 2, message)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (cache / "edgebb" / "artifacts").exists() and not (tmp_path / "r.json").exists()


SIZES = "must be a multiple of 32 and between 32 and 2048; received"
BAD_SIZES = [
    ("name", ["mobilenet_v2", "-s", "16", "--baseline", "none"], [f"input size for mobilenet_v2 {SIZES} 16"]),
    ("name-at-width", ["mobilenet_v2@0.35+0.5", "-s", "16", "--baseline", "none"],
     [f"input size for mobilenet_v2 {SIZES} 16"]),
    ("and-the-baseline", ["squeezenet_1_1", "mobilenet_v2@0.35", "-s", "16"],
     [f"input size for squeezenet_1_1 {SIZES} 16", f"input size for mobilenet_v2 {SIZES} 16",
      f"--baseline resnet50: input size for resnet50 {SIZES} 16 (--baseline none benches without one)"]),
    ("only-the-baseline", ["inception_resnet_v2", "-s", "75"],  # 75 px is inception_resnet_v2's smallest
     [f"--baseline resnet50: input size for resnet50 {SIZES} 75 (--baseline none benches without one)"]),
    ("unknown-baseline", ["squeezenet_1_1", "-s", "32", "--baseline", "resnet5"],
     ["--baseline resnet5: unknown backbone 'resnet5'; did you mean: resnet50"]),
    ("baseline-width-not-offered", ["squeezenet_1_1", "-s", "32", "--baseline", "mobilenet_v2@0.3"],
     [f"--baseline mobilenet_v2@0.3: width for mobilenet_v2 must be {WIDTHS}; received 0.3 (--baseline none"]),
    ("baseline-two-widths", ["squeezenet_1_1", "-s", "32", "--baseline", "mobilenet_v2@0.35+0.5"],
     ["--baseline mobilenet_v2@0.35+0.5: a baseline is one backbone at one width"]),
    ("baseline-at-width-size", ["squeezenet_1_1", "-s", "16", "--baseline", "mobilenet_v2@0.35"],
     [f"input size for squeezenet_1_1 {SIZES} 16", f"--baseline mobilenet_v2@0.35: input size for mobilenet_v2 "
                                                   f"{SIZES} 16"]),
]


@pytest.mark.parametrize("name, args, lines", BAD_SIZES, ids=[c[0] for c in BAD_SIZES])
def test_a_bad_size_is_refused_before_anything_is_converted(name, args, lines, world, tmp_path):  # noqa: F811
    """A size a backbone name (or the baseline it is compared with) cannot be built at, or an unknown baseline, is
    refused with one line each before anything is announced, converted or TensorFlow imported: bench named the
    conversion ("converting mobilenet_v2 to fp32 (tflite) at 16x16") and then failed in it."""
    cache = tmp_path / "cache"
    result = run("bench", *args, "--runs", "3", "--min-seconds", "0", "--json", tmp_path / "r.json",
                 env={**early(world), "XDG_CACHE_HOME": str(cache)})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    got = result.stderr.strip().splitlines()
    assert len(got) == len(lines), result.stderr
    assert got[0].startswith("edgebb: error: ") and "converting" not in result.stderr
    for line, expected in zip([got[0][len("edgebb: error: "):]] + got[1:], lines):
        assert line.startswith(expected), (line, expected)
    assert not (cache / "edgebb" / "artifacts").exists() and not (tmp_path / "r.json").exists()


def test_a_baseline_at_a_width(tmp_path):
    """--baseline mobilenet_v2@0.350: the 0.35 model is converted and measured as the baseline, its row is named
    as bench names a backbone at a width, the ratios are against it, and the table's columns and legend name it
    (they said "x vs R50" and "ResNet-50 p50" whatever the baseline)."""
    out = tmp_path / "r.json"
    result = run("bench", "squeezenet_1_1", "-s", SIZE, "--runs", "3", "--min-seconds", "0", "--warmup", "1",
                 "--baseline", "mobilenet_v2@0.350", "--json", out, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {r["model"]: r for r in json.loads(out.read_text())["results"]}
    assert set(rows) == {"squeezenet_1_1", "mobilenet_v2@0.35"}, rows
    base, item = rows["mobilenet_v2@0.35"], rows["squeezenet_1_1"]
    assert base["baseline"] and not item["baseline"] and base["macs"] == _profile(0.35)[0]
    assert item["speedup_vs_baseline"] == pytest.approx(base["latency_ms"]["p50"] / item["latency_ms"]["p50"])
    header = next(line for line in result.stdout.splitlines() if line.startswith("model "))
    assert "x vs mobilenet_v2@0.35" in header and "R50" not in result.stdout, result.stdout
    assert "* baseline; x vs mobilenet_v2@0.35 = mobilenet_v2@0.35 p50 / this p50" in result.stdout
