"""`edgebb data` (generated image sets) and `edgebb cache` (what edgebb keeps between runs)."""

from __future__ import annotations

import click

from ..core.errors import InputError
from . import cli
from .common import quiet_option, terminal


@cli.group()
def data():
    """Image data: generate a learnable stand-in set (synth), or write real handwritten-digit scans (digits)."""


@data.command("synth")
@click.argument("out_dir", type=click.Path())
@click.option("--kind", default="shapes", show_default=True,
              help="shapes: one bright shape per image, learnt in a few epochs; textures: fine low-contrast "
                   "textures under clutter and lighting, hard enough for int8 to show what it costs.")
@click.option("--classes", type=int, default=None, help="Number of classes [default: 4 shapes, 10 textures].")
@click.option("--per-class", type=int, default=50, show_default=True, help="Images per class.")
@click.option("--size", type=int, default=64, show_default=True, help="Image size in pixels.")
@click.option("--seed", type=int, default=0, show_default=True)
@quiet_option
def data_synth(out_dir, kind, classes, per_class, size, seed):
    """Write a procedurally generated image set (one subfolder per class)."""
    from ..data.synth import generate, validate

    classes = classes if classes is not None else {"textures": 10}.get(kind, 4)
    validate(out_dir, kind, classes, per_class, size, seed)  # before "drawing" shows
    term = terminal()
    with term.progress().step(f"drawing {classes} x {per_class} images", total=classes * per_class) as step:
        summary = generate(out_dir, classes=classes, per_class=per_class, size=size, seed=seed,
                           progress=lambda i, n: step.advance(), kind=kind)
    term.line(f"wrote {summary.n_images} {kind} images of {len(summary.classes)} classes "
              f"({', '.join(summary.classes)}) at {size}x{size} to {out_dir}")


@data.command("digits")
@click.argument("out_dir", type=click.Path())
@click.option("--split", default="all", show_default=True,
              help="all, or train / eval: a fixed stratified 70/30 split, the same every time.")
@click.option("--size", type=int, default=64, show_default=True, help="Image size in pixels (the scans are 8x8).")
@quiet_option
def data_digits(out_dir, split, size):
    """Write real scans: the 1,797 handwritten digits scikit-learn ships in its wheel (needs scikit-learn)."""
    from ..data.scans import write_digits

    meta = write_digits(out_dir, size=size, split=split)
    terminal().line(f"wrote {meta['n_images']} digit scans ({split}) at {size}x{size} to {out_dir}; source: "
                    f"{meta['source']}")


@cli.group()
def cache():
    """What edgebb keeps between runs: converted backbones for `bench NAME`, `list`'s profiles, the emulated
    Raspberry Pi's sysroot."""


@cache.command("info")
@quiet_option
def cache_info():
    """Where the cache is and what it holds."""
    from ..core.cache import cache_root, cache_usage
    from ..core.numbers import size

    rows = cache_usage()
    term = terminal()
    term.line(f"cache: {cache_root()} (EDGEBB_CACHE or XDG_CACHE_HOME moves it)")
    if not rows:
        term.line("empty")
        return
    term.table([{"name": r["name"], "size": size(r["bytes"])} for r in rows], [("name", "entry"), ("size", "size")])
    term.line(f"total {size(sum(r['bytes'] for r in rows))}; edgebb cache clear removes it")


@cache.command("clear")
@click.argument("names", nargs=-1)
@quiet_option
def cache_clear(names):
    """Remove the cache, or only the NAMES entries (as `edgebb cache info` lists them)."""
    from ..core.cache import cache_root, cache_usage, clear_cache
    from ..core.numbers import size

    known = [r["name"] for r in cache_usage()]
    for name in names:
        if name not in known:
            raise InputError(f"no cache entry {name!r} in {cache_root()}; entries: {', '.join(known) or 'none'}")
    if not known:  # "freed 0.0 kB" of nothing
        terminal().line(f"the cache at {cache_root()} is empty: nothing to free")
        return
    freed = clear_cache(list(names) or None)
    terminal().line(f"freed {size(freed)} from {cache_root()}")
