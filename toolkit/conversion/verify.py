"""Does an exported artifact still compute what the float model computes?

Compares an artifact's outputs with the Keras float model's on the same preprocessed inputs: top-1 agreement,
top-1 accuracy of both when labels exist, max abs error and cosine similarity of the output vectors.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

from ..core.errors import InputError


@dataclass(frozen=True)
class Budget:
    """What an artifact must keep: at most `max_drop` top-1 points lost (checked where labels match the model's
    classes) and at least `min_agreement` % top-1 agreement with the float model. `judged` is False where the
    figures cannot mean anything (a quantized artifact of a model with random weights): then nothing is checked."""

    max_drop: float = 1.0
    min_agreement: float = 90.0
    judged: bool = True


@dataclass(frozen=True)
class Verification:
    """Figures of one artifact against the float model. Percentages are in points (0..100).

    `accuracy`, `reference_accuracy` and `drop` (accuracy lost, in points) are None without labels that match the
    model's classes. `passed` is whether the budget held (drop <= max_drop where there are labels, and
    top1_agreement >= min_agreement), None when the budget was not judged; `failed_because` says why it failed.
    """

    samples: int
    top1_agreement: float
    accuracy: float | None
    reference_accuracy: float | None
    max_abs_error: float
    mean_abs_error: float
    cosine: float
    drop: float | None
    max_drop: float
    passed: bool | None
    min_agreement: float | None = None
    failed_because: str | None = None
    # the same artifact in the other runtimes that load its format here (OpenVINO for .onnx): each one's top-1
    # agreement and max abs error against the artifact's own runtime, and its own figures and verdict against the
    # float model (float_top1_agreement, accuracy, drop, passed)
    other_runtimes: dict | None = None
    random_samples: int = 0
    random_top1_agreement: float | None = None
    random_max_abs_error: float | None = None

    def to_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over samples of the cosine similarity of their output vectors. A zero vector points nowhere: two of
    them agree (1), and one against a non-zero vector has nothing in common with it (0), so an artifact whose
    output died (an int8 output stuck at its lowest code dequantizes to 0) does not read as a perfect match."""
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    unit_a, unit_b = a / np.where(na > 0, na, 1.0)[:, None], b / np.where(nb > 0, nb, 1.0)[:, None]
    cos = np.clip((unit_a * unit_b).sum(axis=1), -1.0, 1.0)  # 0 where either is zero
    cos = np.where((na == 0) & (nb == 0), 1.0, cos)
    return float(np.mean(cos))


def top1(outputs: np.ndarray) -> np.ndarray:
    return outputs.reshape(len(outputs), -1).argmax(axis=1)


def compare(reference: np.ndarray, got: np.ndarray, labels: np.ndarray | None, budget: Budget | float,
            random_reference: np.ndarray | None = None, random_got: np.ndarray | None = None) -> Verification:
    """Figures for `got` (artifact outputs) against `reference` (float outputs) on the same inputs, and whether
    `budget` held (a number is a max_drop with no agreement floor)."""
    if not isinstance(budget, Budget):
        budget = Budget(max_drop=budget, min_agreement=0.0)
    ref_top, got_top = top1(reference), top1(got)

    def share(hits) -> float:  # from the count: 100 * mean() made 51 of 80 63.74999..., printed "63.7%" (63.75)
        return 100.0 * int(np.sum(hits)) / len(hits)

    agreement = share(ref_top == got_top)
    diff = np.abs(reference.astype(np.float64) - got.astype(np.float64))
    accuracy = reference_accuracy = drop = None
    failures = []
    if labels is not None:
        accuracy, reference_accuracy = share(got_top == labels), share(ref_top == labels)
        drop = reference_accuracy - accuracy
        if drop > budget.max_drop + 1e-9:
            # where one image is worth more than the budget, say so where the failure is read (a sweep's table)
            one = 100.0 / len(labels)
            failures.append(f"lost {drop:.2f} points > {budget.max_drop:g}" + (
                f" (one of its {len(labels)} images is {one:.2f} points)" if one > budget.max_drop else ""))
    if agreement < budget.min_agreement - 1e-9:
        failures.append(f"top-1 agreement {agreement:.1f}% < {budget.min_agreement:g}%")
    passed = not failures if budget.judged else None
    extra = {}
    if random_reference is not None and random_got is not None:
        extra = {
            "random_samples": len(random_reference),
            "random_top1_agreement": 100.0 * float(np.mean(top1(random_reference) == top1(random_got))),
            "random_max_abs_error": float(np.abs(random_reference - random_got).max()),
        }
    return Verification(
        samples=len(reference), top1_agreement=agreement, accuracy=accuracy, reference_accuracy=reference_accuracy,
        max_abs_error=float(diff.max()), mean_abs_error=float(diff.mean()), cosine=_cosine(reference, got),
        drop=drop, max_drop=budget.max_drop, passed=passed,
        min_agreement=budget.min_agreement if budget.judged else None,
        failed_because="; ".join(failures) if budget.judged and failures else None, **extra,
    )


class Unloadable(InputError):
    """The artifact's own runtime refused to load it: `runtime` names the runtime, `reason` is its one line."""

    def __init__(self, runtime: str, reason: str):
        super().__init__(f"{runtime} cannot load it: {reason}")
        self.runtime, self.reason = runtime, reason


def refuse(refused: list, notes: list[str], step, target: str, recipe: str, exc: Unloadable,
            reference: np.ndarray) -> None:
    """An artifact left out: listed in `refused` with its one line, which the notes and the progress show too."""
    why = refusal(os.path.basename(target), recipe, exc, reference)
    refused.append((target, why))
    notes.append(why)
    step.advance(detail=why, log=True)


def refusal(name: str, recipe: str, exc: Unloadable, reference: np.ndarray) -> str:
    """One line on an artifact its runtime cannot load, naming the likely cause where the float model shows it."""
    flat = reference.reshape(len(reference), -1)
    if len(flat) > 1 and np.allclose(flat, flat[:1], rtol=1e-5, atol=1e-7):
        return (f"{name} was not written: the model's output is the same for every evaluation image (a model that "
                f"did not learn), and {exc.runtime} cannot load its {recipe} file: {exc.reason}")
    return f"{name} was not written: {exc.runtime} cannot load it: {exc.reason}"


@dataclass
class ArtifactCheck:
    """An artifact's bytes run in their runtime: its figures against the float model, its tensors as the runtime
    sees them, and its outputs on the evaluation inputs."""

    verification: Verification
    inputs: list
    outputs: list
    eval_outputs: np.ndarray


def verify_content(content: bytes, fmt: str, ev, reference: np.ndarray, random_reference: np.ndarray,
                   budget: Budget) -> ArtifactCheck:
    """Run artifact bytes of format `fmt` in that format's default runtime on the evaluation and random inputs
    of `ev` (an EvalData), against the float model's outputs on the same inputs."""
    import tempfile

    from ..core.errors import first_line
    from ..core.formats import FORMATS
    from ..core.tf import quiet
    from ..runtimes import load_artifact, runtime_for

    with tempfile.TemporaryDirectory(prefix="edgebb-verify-") as tmp:
        path = os.path.join(tmp, f"artifact{FORMATS[fmt].suffix}")
        with open(path, "wb") as f:
            f.write(content)
        try:
            with quiet():  # quiet: LiteRT announces its XNNPACK delegate on fd 2
                session = load_artifact(path)
        except InputError as exc:  # its file is a temporary one: the runtime's own words, not the path
            raise Unloadable(runtime_for(path).name, first_line(exc.__cause__ or exc).replace(path, "the file")) \
                from exc
        with quiet(), session:  # a failure to run (not to load) is the conversion's, reported as such
            got = session.run(ev.eval_x)
            random_got = session.run(ev.random_x)
            inputs, outputs = session.inputs, session.outputs
        others = _other_runtimes(path, fmt, ev.eval_x, got, reference, ev.eval_labels, budget)
    verification = compare(reference, got, ev.eval_labels, budget, random_reference, random_got)
    if others:
        from dataclasses import replace

        verification = replace(verification, other_runtimes=others)
    return ArtifactCheck(verification, inputs, outputs, got)


def as_run_by(verification: dict, runtime: str) -> dict:
    """A manifest's verification of an artifact as `runtime` ran it: where convert also ran the artifact there
    (`other_runtimes`, e.g. an int8 ONNX file in OpenVINO), that runtime's own figures against the float model
    (top-1 agreement, accuracy, drop) and its own verdict on the budget replace those of the format's default
    runtime, and "runtime" says whose they are; otherwise the verification as it is."""
    other = (verification.get("other_runtimes") or {}).get(runtime) or {}
    if "float_top1_agreement" not in other:  # not run there (or by an edgebb that did not record its own figures)
        return verification
    out = {**verification, "runtime": runtime, "top1_agreement": other["float_top1_agreement"],
           "passed": other.get("passed"), "failed_because": other.get("failed_because")}
    if other.get("accuracy") is not None:
        out.update(accuracy=other["accuracy"], drop=other.get("drop"))
    return out


def _other_runtimes(path: str, fmt: str, x: np.ndarray, expected: np.ndarray, reference: np.ndarray,
                    labels: np.ndarray | None, budget: Budget) -> dict:
    """The artifact run by every other available CPU runtime of its format: its agreement with and largest
    difference from the artifact's own runtime, and its own figures and verdict against the float model (the same
    int8 file's accuracy moves with the runtime's arithmetic)."""
    from ..core.formats import FORMATS
    from ..core.tf import quiet
    from ..runtimes import RUNTIMES, RuntimeUnavailable, available

    found = {}
    for name, runtime in RUNTIMES.items():
        if runtime.format != fmt or name == FORMATS[fmt].default_runtime or runtime.target != "cpu" \
                or not available(name)[0]:
            continue
        try:
            with quiet(), runtime.load(path) as session:
                got = session.run(x)
        except (RuntimeUnavailable, ValueError) as exc:  # a runtime that cannot load it says so in the manifest
            found[name] = {"error": str(exc).splitlines()[0][:200]}
            continue
        got = got[0] if isinstance(got, list) else got
        own = compare(reference, got, labels, budget)
        found[name] = {"top1_agreement": round(100.0 * float(np.mean(top1(got) == top1(expected))), 4),
                       "max_abs_error": float(np.abs(got.astype(np.float64) - expected).max()),
                       "float_top1_agreement": round(own.top1_agreement, 4), "passed": own.passed}
        if own.accuracy is not None:
            found[name].update(accuracy=round(own.accuracy, 4), drop=round(own.drop, 6))
        if own.failed_because:
            found[name]["failed_because"] = own.failed_because
    return found
