#!/usr/bin/env bash
# make pi-smoke: prove the Raspberry Pi path on an emulated aarch64 machine.
#
# A Raspberry Pi 4 runs 64-bit Raspberry Pi OS Bookworm: Debian 12 arm64, Python 3.11, a Cortex-A72. This script
# builds that user space here and runs `edgebb bench` in it:
#   1. a private apt root (nothing on the machine is changed; no root needed) whose sources are derived from this
#      machine's own Debian sources (.ci/backports.sh): bookworm for arm64, bookworm-backports for the host;
#   2. Debian's arm64 Python 3.11 and the libraries it needs, unpacked into a sysroot (apt-get download, dpkg -x);
#   3. qemu-user from bookworm-backports (qemu 10: qemu 7.2, bookworm's own, crashes inside LiteRT), unpacked;
#   4. the aarch64 wheels of `edgebb[device]` (read from pyproject.toml), installed into the sysroot's Python;
#   5. edgebb itself from this checkout, without its dependencies (refreshed on every run);
#   6. an fp32 and an int8 .tflite converted here on the host (MobileNetV2 0.35 at 96x96);
#   7. `edgebb bench` on both under qemu-aarch64 -cpu cortex-a72, and checks of its JSON.
# Everything is kept under $EDGEBB_PI_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/edgebb/pi-sysroot), never in the
# repository; each step is skipped when what it makes is already there and its inputs have not changed, so a
# second run does only steps 5-7. PI_SMOKE_FRESH=1 starts from an empty cache.
set -euo pipefail
shopt -s nullglob

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOST_PYTHON=${HOST_PYTHON:-$REPO/.venv/bin/python}     # has edgebb[full]: converts the artifacts, runs pip
CACHE=${EDGEBB_PI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgebb/pi-sysroot}
CPU=cortex-a72                     # the Raspberry Pi 4's core
GUEST_ARCH=arm64
PY=python3.11                      # Raspberry Pi OS Bookworm's Python
# Raspberry Pi OS Bookworm has glibc 2.36: any manylinux wheel from 2.17 to 2.36 installs there. pip does not widen
# a --platform tag to the older glibc versions it implies, so every one is named.
WHEEL_PLATFORM=manylinux_2_36_aarch64
MIN_QEMU=10
SIZE=96
RUNS=${PI_SMOKE_RUNS:-10}          # emulated LiteRT is ~100x slower than the host: a few runs prove the path

started=$SECONDS
total=7
step() { printf '\npi-smoke: [%s/%s] %s (%ss)\n' "$1" "$total" "$2" "$((SECONDS - started))"; }
say() { printf 'pi-smoke:     %s\n' "$*"; }
die() { printf 'pi-smoke: FAILED: %s\n' "$*" >&2; exit 1; }

# A stamp records the inputs a step was built from; the step is redone when they change.
stamp_ok() { [[ -f $CACHE/stamps/$1 && $(cat "$CACHE/stamps/$1") == "$2" ]]; }
stamp_set() { mkdir -p "$CACHE/stamps" && printf '%s' "$2" >"$CACHE/stamps/$1"; }

[[ -x $HOST_PYTHON ]] || die "no host Python at $HOST_PYTHON (run make install, or set HOST_PYTHON)"
for tool in apt-get apt-cache dpkg dpkg-deb; do
    command -v "$tool" >/dev/null || die "$tool not found: pi-smoke builds its sysroot from Debian packages"
done
HOST_ARCH=$(dpkg --print-architecture)
[[ $HOST_ARCH != "$GUEST_ARCH" ]] || die "this machine is $GUEST_ARCH already: run edgebb bench natively"
# shellcheck source=.ci/backports.sh
source "$REPO/.ci/backports.sh"
CODENAME=$(debian_codename)
[[ $CODENAME == bookworm ]] || die "the sysroot is Debian 12 (bookworm), as on the Pi; this machine is '$CODENAME'"
if [[ ${PI_SMOKE_FRESH:-0} == 1 ]]; then
    say "PI_SMOKE_FRESH=1: removing $CACHE"
    rm -rf "$CACHE"
fi
mkdir -p "$CACHE"
echo "pi-smoke: emulated Raspberry Pi 4 ($CPU, Debian 12 $GUEST_ARCH, $PY); cache: $CACHE"

# ------------------------------------------------------------------------------------------------------------------
step 1 "private apt root: Debian sources derived from this machine's"
APT=$CACHE/apt
mkdir -p "$APT/sources.list.d" "$APT/preferences.d" "$APT/state/lists/partial" "$APT/cache/archives/partial"
touch "$APT/state/status"
derive_apt_source "$CODENAME" "$CODENAME" "$APT/sources.list.d/guest" "$GUEST_ARCH" >/dev/null \
    || die "no enabled Debian apt source for $CODENAME on this machine to derive the $GUEST_ARCH source from"
derive_apt_source "$CODENAME" "$CODENAME-backports" "$APT/sources.list.d/backports" "$HOST_ARCH" >/dev/null \
    || die "no enabled Debian apt source for $CODENAME to derive $CODENAME-backports from"
sandbox=""
[[ $(id -u) == 0 ]] && sandbox='APT::Sandbox::User "root";'   # _apt cannot enter a root-owned cache folder
cat >"$APT/apt.conf" <<EOF
Dir::State "$APT/state";
Dir::State::status "$APT/state/status";
Dir::Cache "$APT/cache";
Dir::Etc::SourceList "$APT/sources.list";
Dir::Etc::SourceParts "$APT/sources.list.d";
Dir::Etc::Preferences "$APT/preferences";
Dir::Etc::PreferencesParts "$APT/preferences.d";
APT::Architecture "$HOST_ARCH";
APT::Architectures { "$HOST_ARCH"; "$GUEST_ARCH"; };
Acquire::Retries "3";
$sandbox
EOF
export APT_CONFIG=$APT/apt.conf
sources=$(cat "$APT"/sources.list.d/*)
# Package lists are refetched when the sources change or after a day (so the pinned versions stay downloadable).
if ! stamp_ok apt-lists "$sources" || [[ -n $(find "$CACHE/stamps/apt-lists" -mmin +1440 2>/dev/null) ]]; then
    say "apt-get update ($CODENAME for $GUEST_ARCH, $CODENAME-backports for $HOST_ARCH)"
    apt-get update -qq >"$APT/update.log" 2>&1 || { tail -5 "$APT/update.log"; die "apt-get update failed"; }
    stamp_set apt-lists "$sources"
else
    say "package lists are current"
fi

# ------------------------------------------------------------------------------------------------------------------
step 2 "sysroot: Debian's $GUEST_ARCH $PY and its libraries"
SYSROOT=$CACHE/sysroot
# The closure of Depends and Pre-Depends; libstdc++ is what the manylinux wheels (LiteRT, numpy) link against.
roots=("$PY:$GUEST_ARCH" "libstdc++6:$GUEST_ARCH" "libgcc-s1:$GUEST_ARCH")
mapfile -t packages < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances "${roots[@]}" | awk '/^[a-z0-9]/ { print }' | sort -u)
# Architecture: all packages come without a suffix; keep only what exists for the guest (no virtual names).
mapfile -t wanted < <(apt-cache show --no-all-versions "${packages[@]}" 2>/dev/null \
        | awk -v arch="$GUEST_ARCH" '/^Package:/ { p = $2 } /^Architecture:/ { if ($2 == arch) print p ":" arch;
                                                           else if ($2 == "all") print p }' | sort -u)
(( ${#wanted[@]} > 10 )) || die "could not resolve $PY for $GUEST_ARCH (see $APT/update.log)"
versions=$(apt-cache show --no-all-versions "${wanted[@]}" | awk '/^Package:/ { p = $2 } /^Version:/ { print p "=" $2 }')
if stamp_ok sysroot "$versions" && [[ -x $SYSROOT/usr/bin/$PY ]]; then
    say "${#wanted[@]} packages unpacked already"
else
    mkdir -p "$CACHE/debs"
    say "downloading ${#wanted[@]} packages"
    (cd "$CACHE/debs" && apt-get download -qq "${wanted[@]}" >/dev/null) || die "apt-get download failed"
    rm -rf "$SYSROOT.new"
    mkdir -p "$SYSROOT.new"
    for name in "${wanted[@]}"; do
        pkg=${name%%:*}
        debs=("$CACHE/debs/${pkg}_"*"_$GUEST_ARCH.deb" "$CACHE/debs/${pkg}_"*_all.deb)
        deb=$(printf '%s\n' "${debs[@]}" | sort -V | tail -1)
        [[ -n $deb ]] || die "no .deb for $name"
        dpkg-deb -x "$deb" "$SYSROOT.new"
    done
    # Debian 12 merges /lib into /usr/lib on an installed system (usrmerge); dpkg -x does not, so the loader and
    # libraries can sit in either. qemu -L looks a path up in the sysroot first and on the host second: Python's
    # Debian package folders must exist in the sysroot, so that host x86_64 packages are never picked up.
    mkdir -p "$SYSROOT.new/usr/lib/python3/dist-packages" "$SYSROOT.new/usr/local/lib/$PY/dist-packages"
    rm -rf "$SYSROOT"
    mv "$SYSROOT.new" "$SYSROOT"
    rm -f "$CACHE/stamps/wheels"   # a new sysroot has no wheels installed
    stamp_set sysroot "$versions"
    say "unpacked $(du -sh "$SYSROOT" | cut -f1) into $SYSROOT"
fi

# ------------------------------------------------------------------------------------------------------------------
step 3 "qemu-user from $CODENAME-backports (qemu >= $MIN_QEMU)"
QEMU_DIR=$CACHE/qemu
# Debian's qemu >= 9 ships static binaries in qemu-user (qemu-user-static is its transitional name).
qemu_pkg=$(apt-cache show --no-all-versions "qemu-user:$HOST_ARCH/$CODENAME-backports" 2>/dev/null \
    | awk '/^Version:/ { print "qemu-user=" $2; exit }')
[[ -n $qemu_pkg ]] || die "no qemu-user in $CODENAME-backports (see $APT/update.log)"
qemu_version=${qemu_pkg#qemu-user=}
qemu_upstream=${qemu_version#*:}
dpkg --compare-versions "$qemu_upstream" ge "$MIN_QEMU" \
    || die "$CODENAME-backports has qemu $qemu_version; LiteRT needs qemu >= $MIN_QEMU"
QEMU=""
for candidate in "$QEMU_DIR/usr/bin/qemu-aarch64-static" "$QEMU_DIR/usr/bin/qemu-aarch64"; do
    [[ -x $candidate ]] && { QEMU=$candidate; break; }
done
if [[ -n $QEMU ]] && stamp_ok qemu "$qemu_pkg"; then
    say "qemu $qemu_version unpacked already"
else
    mkdir -p "$CACHE/debs/host"
    (cd "$CACHE/debs/host" && rm -f qemu-user_*.deb && apt-get download -qq "qemu-user:$HOST_ARCH=$qemu_version" \
        >/dev/null) || die "apt-get download qemu-user failed"
    rm -rf "$QEMU_DIR"
    dpkg-deb -x "$CACHE/debs/host"/qemu-user_*.deb "$QEMU_DIR"
    for candidate in "$QEMU_DIR/usr/bin/qemu-aarch64-static" "$QEMU_DIR/usr/bin/qemu-aarch64"; do
        [[ -x $candidate ]] && { QEMU=$candidate; break; }
    done
    [[ -n $QEMU ]] || die "qemu-user $qemu_version has no qemu-aarch64"
    stamp_set qemu "$qemu_pkg"
    say "unpacked $("$QEMU" --version | head -1)"
fi

# The guest's Python as a host program. argv[0] stays this script (-0), so sys.executable, which edgebb bench starts
# its worker processes with, leads back here: without binfmt_misc the kernel cannot exec an aarch64 binary itself.
# One OpenBLAS thread: under qemu-user the idle threads of numpy's OpenBLAS spin without end (both host cores busy
# while Python sleeps), which bench read as "other work used 100% of the CPU" and which slowed the emulated rows.
GUEST_PY=$CACHE/bin/$PY
mkdir -p "$CACHE/bin"
cat >"$GUEST_PY.tmp" <<EOF
#!/bin/sh
# $PY of the emulated Raspberry Pi 4 (written by device/pi-smoke.sh).
export PYTHONHOME=/usr PYTHONNOUSERSITE=1 EDGEBB_EMULATED="\${EDGEBB_EMULATED:-qemu-aarch64-$CPU}"
export OPENBLAS_NUM_THREADS="\${OPENBLAS_NUM_THREADS:-1}"
exec "$QEMU" -cpu $CPU -L "$SYSROOT" -0 "\$0" "$SYSROOT/usr/bin/$PY" "\$@"
EOF
chmod +x "$GUEST_PY.tmp" && mv "$GUEST_PY.tmp" "$GUEST_PY"
machine=$("$GUEST_PY" -c 'import platform, sys; print(platform.machine(), sys.version.split()[0])') \
    || die "the emulated $PY does not start"
say "guest Python: $machine"

# ------------------------------------------------------------------------------------------------------------------
step 4 "aarch64 wheels of edgebb[device]"
SITE=$SYSROOT/usr/local/lib/$PY/dist-packages
mapfile -t requirements < <("$HOST_PYTHON" -c '
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    project = tomllib.load(f)["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["device"]))' "$REPO/pyproject.toml")
pip_target=(--only-binary=:all: --python-version 3.11 --implementation cp --abi cp311)
for glibc_minor in $(seq 36 -1 17); do
    pip_target+=(--platform "manylinux_2_${glibc_minor}_aarch64")
done
if stamp_ok wheels "${requirements[*]} $WHEEL_PLATFORM" && [[ -d $SITE/ai_edge_litert ]]; then
    say "installed already: ${requirements[*]}"
else
    say "pip download ${requirements[*]} for $WHEEL_PLATFORM"
    rm -rf "$CACHE/wheels"
    "$HOST_PYTHON" -m pip download --quiet --disable-pip-version-check "${pip_target[@]}" -d "$CACHE/wheels" \
        "${requirements[@]}" >"$CACHE/pip.log" 2>&1 || { tail -5 "$CACHE/pip.log"; die "pip download failed"; }
    rm -rf "$SITE" && mkdir -p "$SITE"
    "$HOST_PYTHON" -m pip install --quiet --disable-pip-version-check --no-index --find-links "$CACHE/wheels" \
        "${pip_target[@]}" --target "$SITE" "${requirements[@]}" >>"$CACHE/pip.log" 2>&1 \
        || { tail -5 "$CACHE/pip.log"; die "pip install --target failed"; }
    stamp_set wheels "${requirements[*]} $WHEEL_PLATFORM"
    say "$(ls "$CACHE/wheels" | sed 's/-[^-]*-[^-]*-[^-]*\.whl$//' | tr '\n' ' ')"
fi

# ------------------------------------------------------------------------------------------------------------------
step 5 "edgebb from this checkout, without dependencies"
# Built from a copy of the sources, so the checkout gets no build/ or egg-info folder.
work=$(mktemp -d "${TMPDIR:-/tmp}/edgebb-pi-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
(cd "$REPO" && cp -r pyproject.toml README.md toolkit models "$work/src/")
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
rm -rf "${SITE:?}/edgebb" "${SITE:?}"/edgebb-*.dist-info "${SITE:?}/bin"
"$HOST_PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps --target "$SITE" "$work/src" \
    >"$work/pip.log" 2>&1 || { tail -5 "$work/pip.log"; die "pip install of edgebb failed"; }
tf=$("$GUEST_PY" -c 'import importlib.util as u; print([m for m in ("tensorflow", "tf_keras") if u.find_spec(m)])')
[[ $tf == "[]" ]] || die "the device install has $tf: edgebb[device] must not pull in TensorFlow"
say "$("$GUEST_PY" -m edgebb --version) in $SITE (no TensorFlow)"

# ------------------------------------------------------------------------------------------------------------------
step 6 "fp32 and int8 .tflite on the host (mobilenet_v2 width 0.35, ${SIZE}x$SIZE)"
# Conversion is deterministic, so the artifacts are kept until the code that makes them changes.
ARTIFACTS=$CACHE/artifacts
code=$(cd "$REPO" && find toolkit models -name '*.py' -not -path '*/__pycache__/*' | LC_ALL=C sort | xargs cat \
    | sha256sum | cut -c1-16)
if stamp_ok artifacts "$code $SIZE" && [[ -f $ARTIFACTS/manifest.json ]]; then
    say "converted already (same conversion code): $(cd "$ARTIFACTS" && echo *.tflite)"
else
    rm -rf "$ARTIFACTS"
    "$HOST_PYTHON" - "$ARTIFACTS" "$SIZE" <<'EOF'
import sys

from edgebb.conversion import convert

result = convert("mobilenet_v2", sys.argv[1], None, recipes="fp32,int8", formats="tflite", width=0.35,
                 size=int(sys.argv[2]), calib_samples=16, eval_samples=8)
for a in result.artifacts:
    print(f"pi-smoke:     {a.path} ({a.size_bytes / 1e6:.2f} MB)")
EOF
    stamp_set artifacts "$code $SIZE"
fi

# ------------------------------------------------------------------------------------------------------------------
step 7 "edgebb bench under qemu-aarch64 -cpu $CPU"
RESULTS=${PI_SMOKE_JSON:-$CACHE/pi-smoke.json}  # kept: bench says it wrote it
bench_started=$SECONDS
"$GUEST_PY" -m edgebb bench "$ARTIFACTS/manifest.json" --runtime litert --threads 1 --runs "$RUNS" \
    --min-seconds 0 --warmup 1 --baseline none --json "$RESULTS" || die "edgebb bench failed in the emulated Pi"
say "bench took $((SECONDS - bench_started)) s"
"$HOST_PYTHON" "$REPO/device/check_bench.py" "$RESULTS" --machine aarch64 --emulated --recipes fp32,int8 \
    || die "the results are not what a Pi 4 run must give"
echo "pi-smoke: OK in $((SECONDS - started)) s"
