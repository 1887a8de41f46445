#!/usr/bin/env bash
# Give a GPU-less Debian machine a Vulkan device LiteRT's GPU accelerator accepts: Mesa's lavapipe (a software
# Vulkan driver) from Mesa >= 25. LiteRT's GPU path is WebGPU (Dawn) over Vulkan, and Dawn rejects bookworm's own
# lavapipe (Mesa 22.3: "Vulkan shaderUniform*ArrayDynamicIndexing required"), so on bookworm the driver comes from
# bookworm-backports. That suite's apt source is derived from the machine's own Debian source configuration (same
# mirror, components and keyring), so this script names no package host itself.
#
# Run as root; idempotent (a machine that already has Mesa >= 25's Vulkan drivers is left alone and apt is not
# touched). Never fails CI: when the packages cannot be had (no apt, backports unreachable, not root) it says why
# and exits 0, and the litert-gpu tests then skip with their own reason. EDGEBB_GPU_SETUP_STRICT=1 makes those
# cases exit 1 instead, for a job that must have the GPU path.
set -uo pipefail

MIN_MESA=25                     # the first Mesa whose lavapipe Dawn accepts (22.3 is refused)
OURS=edgebb-backports           # file name (without suffix) of the apt source this script writes
PACKAGES=(mesa-vulkan-drivers libvulkan1)
# Where apt reads its sources from, as apt itself says (so APT_CONFIG is honoured); Debian's defaults otherwise.
SOURCES_DIR=/etc/apt/sources.list.d
SOURCES_LIST=/etc/apt/sources.list
if command -v apt-config >/dev/null; then
    eval "$(apt-config shell SOURCES_DIR Dir::Etc::sourceparts/d SOURCES_LIST Dir::Etc::sourcelist/f)"
    SOURCES_DIR=${SOURCES_DIR%/}
fi

started=$SECONDS
say() { printf 'gpu-setup: %s\n' "$*"; }

# Gives up on the GPU path without failing the caller (see the header).
give_up() {
    say "SKIPPED: $*"
    say "the litert-gpu runtime stays unavailable; its tests skip"
    if [[ ${EDGEBB_GPU_SETUP_STRICT:-0} == 1 ]]; then
        exit 1
    fi
    exit 0
}

# The installed version of a package, or nothing.
installed_version() {
    dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null | awk '$1 == "ii" { print $2 }'
}

mesa_is_new_enough() {
    local version
    version=$(installed_version mesa-vulkan-drivers)
    [[ -n $version ]] && dpkg --compare-versions "$version" ge "$MIN_MESA" && [[ -n $(installed_version libvulkan1) ]]
}

# Whether `suite` is already named by any enabled apt source (either format), ours included.
suite_configured() {
    local suite=$1 file
    for file in "$SOURCES_LIST" "$SOURCES_DIR"/*.list; do
        [[ -f $file ]] || continue
        # one-line format: "deb [options] URI SUITE COMPONENTS..."; options never contain the bare suite name
        if grep -Eq "^[[:space:]]*deb[[:space:]].*[[:space:]]${suite}([[:space:]]|$)" "$file"; then
            return 0
        fi
    done
    for file in "$SOURCES_DIR"/*.sources; do
        [[ -f $file ]] || continue
        if awk -v suite="$suite" '
            /^[[:space:]]*#/ { next }
            /^[[:space:]]*$/ { if (found && enabled) hit = 1; found = 0; enabled = 1; next }
            tolower($1) == "enabled:" && tolower($2) == "no" { enabled = 0 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) found = 1 }
            END { if (found && enabled) hit = 1; exit hit ? 0 : 1 }' enabled=1 "$file"; then
            return 0
        fi
    done
    return 1
}

# deb822: print, for every enabled stanza of type "deb" whose Suites include `codename`, a copy with
# Suites: `target` and every other field (URIs, Components, Signed-By, Architectures, ...) kept as it is, including
# multi-line fields such as an inline Signed-By key. Comments are dropped.
derive_deb822() {
    local codename=$1 target=$2 file
    for file in "$SOURCES_DIR"/*.sources; do
        [[ -f $file && $(basename "$file") != "$OURS.sources" ]] || continue
        awk -v codename="$codename" -v target="$target" '
            function flush(   i, out, types, suites, n, k, matched, isdeb) {
                if (nfields == 0) return
                matched = 0; isdeb = 0
                n = split(value["types"], types, /[[:space:]]+/)
                for (k = 1; k <= n; k++) if (types[k] == "deb") isdeb = 1
                n = split(value["suites"], suites, /[[:space:]]+/)
                for (k = 1; k <= n; k++) if (suites[k] == codename) matched = 1
                if (isdeb && matched && tolower(value["enabled"]) != "no") {
                    out = "Types: deb\n"
                    for (i = 1; i <= nfields; i++) {
                        if (key[i] == "types" || key[i] == "suites") continue
                        out = out raw[i] "\n"
                        if (key[i] == "uris") out = out "Suites: " target "\n"
                    }
                    printf "%s\n", out
                }
                nfields = 0
                delete value
            }
            /^#/ { next }
            /^[[:space:]]*$/ { flush(); next }
            /^[[:space:]]/ { if (nfields) raw[nfields] = raw[nfields] "\n" $0; next }   # continuation line
            {
                colon = index($0, ":")
                if (!colon) next
                name = tolower(substr($0, 1, colon - 1))
                nfields++
                key[nfields] = name
                raw[nfields] = $0
                v = substr($0, colon + 1)
                gsub(/^[[:space:]]+|[[:space:]]+$/, "", v)
                value[name] = v
            }
            END { flush() }' "$file"
    done
}

# One-line format: print every "deb" line for `codename` with the suite replaced by `target`.
derive_one_line() {
    local codename=$1 target=$2 file
    for file in "$SOURCES_LIST" "$SOURCES_DIR"/*.list; do
        [[ -f $file && $(basename "$file") != "$OURS.list" ]] || continue
        awk -v codename="$codename" -v target="$target" '
            $1 != "deb" { next }
            {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }   # skip "[ option=value ... ]"
                if ($(i + 1) != codename) next                                 # $i is the URI
                $(i + 1) = target
                print
            }' "$file"
    done
}

# Writes `content` to `path` unless it already holds exactly that (so a re-run changes nothing).
write_if_changed() {
    local path=$1 content=$2
    if [[ -f $path ]] && [[ $(cat "$path") == "$content" ]]; then
        return
    fi
    printf '%s\n' "$content" >"$path.tmp" && mv "$path.tmp" "$path"
    say "wrote $path"
}

# ---------------------------------------------------------------------------------------------------------------

if mesa_is_new_enough; then
    say "mesa-vulkan-drivers $(installed_version mesa-vulkan-drivers) and libvulkan1 $(installed_version libvulkan1)" \
        "already installed; nothing to do"
    exit 0
fi

if [[ $(id -u) != 0 ]]; then
    give_up "not root (run as root to install mesa-vulkan-drivers >= $MIN_MESA)"
fi
command -v apt-get >/dev/null || give_up "no apt-get: not a Debian machine"

codename=$( . /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
[[ -n $codename ]] || give_up "cannot read VERSION_CODENAME from /etc/os-release"

target_release=()
if [[ $codename == bookworm ]]; then
    suite=bookworm-backports
    if suite_configured "$suite"; then
        say "$suite is already an apt source"
    else
        stanzas=$(derive_deb822 "$codename" "$suite")
        if [[ -n $stanzas ]]; then
            write_if_changed "$SOURCES_DIR/$OURS.sources" "${stanzas%$'\n'}"
        else
            lines=$(derive_one_line "$codename" "$suite" | sort -u)
            [[ -n $lines ]] || give_up "no enabled Debian apt source for $codename to derive $suite from"
            write_if_changed "$SOURCES_DIR/$OURS.list" "$lines"
        fi
    fi
    target_release=(-t "$suite")
else
    # Later releases (trixie on) ship Mesa >= 25 in their own suite; older ones are caught by the check below.
    suite=$codename
fi

say "apt-get update"
update_log=/tmp/edgebb-gpu-setup-update.log
# Another apt run (an unattended upgrade, a parallel job) holds the dpkg lock: wait for it rather than fail.
APT_OPTIONS=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=2 -o Acquire::http::Timeout=30)
if ! timeout 600 apt-get update "${APT_OPTIONS[@]}" >"$update_log" 2>&1; then
    say "apt-get update failed (see $update_log)"
fi
# apt-get update exits 0 when a source cannot be reached; the candidate check below decides whether the suite that
# matters was fetched. Show what failed meanwhile.
grep -E '^(Err|E):' "$update_log" | head -4 | sed 's/^/    /'

# The version apt would install from the suite (-t pins the suite above the release, as the install below does).
candidate=$(apt-cache "${target_release[@]}" policy mesa-vulkan-drivers 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
if [[ -z $candidate || $candidate == "(none)" ]]; then
    give_up "no mesa-vulkan-drivers in $suite (is $suite reachable? see $update_log)"
fi
if ! dpkg --compare-versions "$candidate" ge "$MIN_MESA"; then
    give_up "$suite offers mesa-vulkan-drivers $candidate; LiteRT's WebGPU needs Mesa >= $MIN_MESA"
fi

say "installing ${PACKAGES[*]} (mesa-vulkan-drivers $candidate) from $suite"
if ! DEBIAN_FRONTEND=noninteractive timeout 1200 apt-get install -y --no-install-recommends "${APT_OPTIONS[@]}" \
        "${target_release[@]}" "${PACKAGES[@]}" >/tmp/edgebb-gpu-setup-install.log 2>&1; then
    tail -5 /tmp/edgebb-gpu-setup-install.log | sed 's/^/    /'
    give_up "apt-get install failed (see /tmp/edgebb-gpu-setup-install.log)"
fi
mesa_is_new_enough || give_up "installed, yet mesa-vulkan-drivers is $(installed_version mesa-vulkan-drivers)"

say "installed mesa-vulkan-drivers $(installed_version mesa-vulkan-drivers), libvulkan1" \
    "$(installed_version libvulkan1) in $((SECONDS - started)) s"
