"""Build every backbone at 224x224 and record build time and its static profile, as JSON.

    python benchmarks/zoo_build.py --out benchmarks/results/zoo_build.json

Each row: name, width, build_s (wall time of create_model), params_total, macs, weights_fp32_bytes,
weights_int8_bytes, peak_activation_bytes. The env block records the versions and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

from _common import count, json_file


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=json_file, default="benchmarks/results/zoo_build.json")
    parser.add_argument("--size", type=count(1), default=224)
    parser.add_argument("--only", default=None, help="shell pattern of backbone names")
    args = parser.parse_args(argv)

    from edgebb import __version__
    from edgebb.build.profile import profile_model
    from edgebb.core.files import write_atomic
    from edgebb.core.tf import load_tensorflow
    from edgebb.models import create_model, get_spec, list_models

    tf = load_tensorflow()
    rows = []
    for name in list_models(args.only):
        for width in get_spec(name).widths:
            start = time.perf_counter()
            model = create_model(name, width=width, input_size=args.size)
            build_s = time.perf_counter() - start
            p = profile_model(model)
            rows.append({"name": name, "width": width, "input_size": args.size, "build_s": round(build_s, 3),
                         **{k: v for k, v in p.to_dict().items() if k not in ("name", "output_shapes")}})
            print(f"{name:34s} {width:<5g} {build_s:6.2f} s  {p.macs / 1e6:9.1f} MMACs", file=sys.stderr)
    env = {"edgebb": __version__, "tensorflow": tf.__version__, "python": platform.python_version(),
           "machine": platform.machine(), "cpu_count": os.cpu_count(), "platform": platform.platform()}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_atomic(args.out, json.dumps({"env": env, "results": rows}, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
