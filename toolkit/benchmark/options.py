"""`BenchOptions`: how `edgebb bench` measures, validated once, shared by the CLI, the Python API and remote bench
(which turns them back into the device's command line with `to_argv`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..core.checks import check_int, check_number, parse_ints, parse_list
from ..core.errors import InputError, unknown_name

BASELINE = "resnet50"
MAX_THREADS = 256  # more is a typo: runtimes would try to start that many threads


def check_seconds(min_seconds: float, max_seconds: float | None, *, default: float) -> float:
    """The --min-seconds of a steady state of at least `min_seconds` and at most `max_seconds` (None: no cap). A cap
    under --min-seconds's `default` (not asked for) lowers it to the cap; under one asked for, the two contradict:
    InputError in one line naming both (it ran with no word: each row got the cap's steady state)."""
    if max_seconds is None or max_seconds >= min_seconds:
        return min_seconds
    if min_seconds == default:
        return max_seconds
    raise InputError(f"--max-seconds {max_seconds:g} is less than --min-seconds {min_seconds:g}: a steady state "
                     f"cannot last at least {min_seconds:g} s and stop at {max_seconds:g} s; lower --min-seconds or "
                     "raise --max-seconds")


@dataclass(frozen=True)
class BenchOptions:
    """How `edgebb bench` measures.

    runtimes: registered runtime names; empty: each artifact's own (litert for .tflite, onnxruntime for .onnx), and
      backbone names are converted to .tflite. threads: thread counts. recipes, size: how backbone names are
      converted. data: an image folder to feed instead of random inputs. runs, min_seconds: the steady state runs
      until both are met; max_seconds caps it (and the warm-up). warmup: runs after the first. timeout: seconds
      before a row is killed. memory_limit_mb: resident memory (peak RSS, as the rows report it) a row may use
      before it fails. baseline: a backbone (NAME@WIDTH at a width), or "none".
      profile: per-op times where the runtime offers them. sustained: seconds of steady state per row, reported
      in windows (p50, temperature, clock, throttling per window, and the drift), instead of runs/min_seconds.
      best: measure every deployment (without runtimes: `best_runtimes`, every CPU runtime that loads an artifact,
      less those no item gives a file to; without recipes: fp32 and int8) and name the fastest whose accuracy holds
      (drop within max_drop points; edgebb.benchmark.best). `runtimes` stays empty then: edgebb chose them, not the
      user (and a device chooses its own with to_argv). gpu_fp32: a GPU runtime computes in float32 (LiteRT lets
      the GPU use float16 by default, as a phone's does); only with a runtime that has the choice (litert-gpu)."""

    runtimes: tuple[str, ...] = ()
    threads: tuple[int, ...] = (1,)
    recipes: tuple[str, ...] | None = None  # None: fp32 (fp32 and int8 with best)
    size: int = 224
    data: str | None = None
    runs: int = 50
    min_seconds: float = 2.0
    max_seconds: float | None = None
    warmup: int = 5
    timeout: float = 600.0
    memory_limit_mb: float | None = None
    baseline: str = BASELINE
    profile: bool = False
    sustained: float | None = None
    best: bool = False
    max_drop: float = 1.0
    gpu_fp32: bool = False

    def __post_init__(self):
        from ..conversion.recipes import RECIPES
        from ..runtimes import RUNTIMES

        if self.recipes is None or self.recipes == "":
            object.__setattr__(self, "recipes", ("fp32", "int8") if self.best else ("fp32",))
        check_number("--max-drop", self.max_drop, 0)

        object.__setattr__(self, "runtimes", tuple(parse_list(self.runtimes, RUNTIMES, "runtime")) if self.runtimes
                           else ())
        object.__setattr__(self, "threads", tuple(parse_ints(self.threads, "--threads", maximum=MAX_THREADS)))
        object.__setattr__(self, "recipes", tuple(parse_list(self.recipes, RECIPES, "recipe")))
        check_int("--runs", self.runs, 1)
        check_int("--warmup", self.warmup, 0)
        check_number("--min-seconds", self.min_seconds, 0)
        check_number("--timeout", self.timeout, positive=True)
        if self.max_seconds is not None:
            check_number("--max-seconds", self.max_seconds, positive=True)
        object.__setattr__(self, "min_seconds", check_seconds(self.min_seconds, self.max_seconds,
                                                              default=BenchOptions.min_seconds))
        if self.memory_limit_mb is not None:
            check_number("--memory-limit", self.memory_limit_mb, positive=True)
        check_int("--size", self.size, 1)
        if self.sustained is not None:
            check_number("--sustained", self.sustained, positive=True)
        if self.gpu_fp32 and not any("enforce_f32" in RUNTIMES[r].options for r in self.runtimes):
            takes = ", ".join(name for name, r in RUNTIMES.items() if "enforce_f32" in r.options)
            raise InputError(f"--gpu-fp32 sets how a GPU runtime computes; no runtime of this run has the choice "
                             f"(add one to --runtime: {takes})")
        if "@" in self.baseline:  # rows name a backbone at a width one way: mobilenet_v2@0.350 -> mobilenet_v2@0.35
            from ..core.checks import split_width
            from .targets import label

            name, text = split_width(self.baseline)
            try:
                object.__setattr__(self, "baseline", label(name, float(text)))
            except ValueError:
                pass  # not a number: collect_targets says so, with the widths the backbone has

    @property
    def best_runtimes(self) -> tuple[str, ...]:
        """The runtimes --best measures when --runtime names none: every CPU runtime of artifacts but the legacy
        stand-ins (tflite-runtime, which runs where litert cannot); () without --best or with --runtime."""
        from ..core.formats import FORMATS
        from ..runtimes import RUNTIMES

        if not self.best or self.runtimes:
            return ()
        fallbacks = {r.fallback for r in RUNTIMES.values() if r.fallback}
        return tuple(n for n, r in RUNTIMES.items() if r.target == "cpu" and FORMATS[r.format].artifact
                     and n not in fallbacks)

    @property
    def formats(self) -> list[str]:
        """The artifact formats the chosen runtimes load (--runtime's, or --best's; without either: TFLite,
        LiteRT's): what backbone names are converted to."""
        from ..runtimes import RUNTIMES

        chosen = self.runtimes or self.best_runtimes
        return sorted({RUNTIMES[r].format for r in chosen}) if chosen else ["tflite"]

    def to_dict(self) -> dict:
        return asdict(self)

    def to_argv(self) -> list[str]:
        """These options as `edgebb bench` arguments (everything but --data, whose path differs on a device)."""
        argv = (["--runtime", ",".join(self.runtimes)] if self.runtimes else []) + [
                "--threads", ",".join(map(str, self.threads)),
                "--runs", str(self.runs), "--min-seconds", repr(self.min_seconds), "--warmup", str(self.warmup),
                "--timeout", repr(self.timeout), "--baseline", self.baseline]
        if self.memory_limit_mb:
            argv += ["--memory-limit", repr(self.memory_limit_mb)]
        if self.max_seconds is not None:
            argv += ["--max-seconds", repr(self.max_seconds)]
        if self.profile:
            argv.append("--profile")
        if self.sustained is not None:
            argv += ["--sustained", repr(self.sustained)]
        if self.best:
            argv += ["--best", "--max-drop", repr(self.max_drop)]
        if self.gpu_fp32:
            argv.append("--gpu-fp32")
        return argv

    @classmethod
    def from_kwargs(cls, options: BenchOptions | None, kwargs: dict) -> BenchOptions:
        known = {f.name for f in fields(cls)}
        for key in kwargs:
            if key not in known:
                raise unknown_name("bench option", key, sorted(known))
        return cls(**{**(asdict(options) if options else {}), **kwargs})
