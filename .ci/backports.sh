#!/usr/bin/env bash
# Derive an apt source for another suite of this machine's Debian release (bookworm-backports, or bookworm itself
# for a private apt root) from the machine's own Debian source configuration: the same mirror, components and
# keyring, so nothing here names a package host.
#
# As a script (root): make CODENAME-backports an apt source of this machine, unless one already is.
#     bash .ci/backports.sh            # then: apt-get update; apt-get install -t bookworm-backports PACKAGE
# As a library (any user): write a derived source into a folder of one's own, e.g. for a private apt root.
#     source .ci/backports.sh
#     derive_apt_source bookworm bookworm-backports "$dir/sources.list.d/backports" amd64
#
# Both source formats are read: deb822 (*.sources, Debian 12's default) and one-line (sources.list, *.list);
# the derived source is written in the format its origin had. Idempotent: an unchanged source is not rewritten.

# Where apt reads its sources from, as apt itself says (so APT_CONFIG is honoured); Debian's defaults otherwise.
apt_source_paths() {
    SOURCES_DIR=/etc/apt/sources.list.d
    SOURCES_LIST=/etc/apt/sources.list
    if command -v apt-config >/dev/null; then
        eval "$(apt-config shell SOURCES_DIR Dir::Etc::sourceparts/d SOURCES_LIST Dir::Etc::sourcelist/f)"
        SOURCES_DIR=${SOURCES_DIR%/}
    fi
}

# This machine's Debian codename (bookworm), or nothing.
debian_codename() {
    (. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
}

# Whether `suite` is named by an enabled apt source of this machine (either format).
suite_configured() {
    local suite=$1 file
    apt_source_paths
    for file in "$SOURCES_LIST" "$SOURCES_DIR"/*.list; do
        [[ -f $file ]] || continue
        # "deb [options] URI SUITE COMPONENTS...": options never hold the bare suite name
        grep -Eq "^[[:space:]]*deb[[:space:]].*[[:space:]]${suite}([[:space:]]|$)" "$file" && return 0
    done
    for file in "$SOURCES_DIR"/*.sources; do
        [[ -f $file ]] || continue
        awk -v suite="$suite" '
            function stanza_end() { if (found && enabled) hit = 1; found = 0; enabled = 1 }
            BEGIN { enabled = 1 }
            /^[[:space:]]*#/ { next }
            /^[[:space:]]*$/ { stanza_end(); next }
            tolower($1) == "enabled:" && tolower($2) == "no" { enabled = 0 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) found = 1 }
            END { stanza_end(); exit hit ? 0 : 1 }' "$file" && return 0
    done
    return 1
}

# deb822: every enabled "deb" stanza whose Suites include `codename`, printed with Suites: `target` and every other
# field kept (multi-line ones too, such as an inline Signed-By key), except Architectures when `arches` is given.
_derive_deb822() {
    local codename=$1 target=$2 arches=$3 skip=$4 file
    for file in "$SOURCES_DIR"/*.sources; do
        [[ -f $file && $(basename "$file") != "$skip".* ]] || continue
        awk -v codename="$codename" -v target="$target" -v arches="$arches" '
            function flush(   i, n, k, list, isdeb, matched, out) {
                if (nfields == 0) return
                n = split(value["types"], list, /[[:space:]]+/)
                isdeb = 0; for (k = 1; k <= n; k++) if (list[k] == "deb") isdeb = 1
                n = split(value["suites"], list, /[[:space:]]+/)
                matched = 0; for (k = 1; k <= n; k++) if (list[k] == codename) matched = 1
                if (isdeb && matched && tolower(value["enabled"]) != "no") {
                    out = "Types: deb\nSuites: " target "\n"
                    if (arches != "") out = out "Architectures: " arches "\n"
                    for (i = 1; i <= nfields; i++) {
                        if (key[i] == "types" || key[i] == "suites") continue
                        if (key[i] == "architectures" && arches != "") continue
                        out = out raw[i] "\n"
                    }
                    printf "%s\n", out
                }
                nfields = 0
                delete value
            }
            /^#/ { next }
            /^[[:space:]]*$/ { flush(); next }
            /^[[:space:]]/ { if (nfields) raw[nfields] = raw[nfields] "\n" $0; next }   # a continuation line
            {
                colon = index($0, ":")
                if (!colon) next
                nfields++
                key[nfields] = tolower(substr($0, 1, colon - 1))
                raw[nfields] = $0
                v = substr($0, colon + 1)
                gsub(/^[[:space:]]+|[[:space:]]+$/, "", v)
                value[key[nfields]] = v
            }
            END { flush() }' "$file"
    done
}

# One-line format: every "deb" line for `codename`, with the suite replaced by `target` (and arch= by `arches`).
_derive_one_line() {
    local codename=$1 target=$2 arches=$3 skip=$4 file
    for file in "$SOURCES_LIST" "$SOURCES_DIR"/*.list; do
        [[ -f $file && $(basename "$file") != "$skip".* ]] || continue
        awk -v codename="$codename" -v target="$target" -v arches="$arches" '
            $1 != "deb" { next }
            {
                options = ""; i = 2
                if ($2 ~ /^\[/) {                               # "[ key=value ... ]", with or without spaces
                    while (i <= NF) { options = options " " $i; if ($i ~ /\]$/) break; i++ }
                    i++
                    gsub(/^ *\[ *| *\] *$/, "", options)
                }
                if ($(i + 1) != codename) next                 # $i is the URI, $(i + 1) the suite
                n = split(options, opt, / +/); kept = ""
                for (k = 1; k <= n; k++)
                    if (opt[k] != "" && !(arches != "" && opt[k] ~ /^arch=/)) kept = kept " " opt[k]
                if (arches != "") kept = kept " arch=" arches
                line = "deb" (kept != "" ? " [" substr(kept, 2) "]" : "") " " $i " " target
                for (k = i + 2; k <= NF; k++) line = line " " $k
                print line
            }' "$file"
    done | sort -u
}

# Writes `content` to `path` unless it already holds exactly that.
_write_if_changed() {
    local path=$1 content=$2
    [[ -f $path && $(cat "$path") == "$content" ]] && return 0
    printf '%s\n' "$content" >"$path.tmp" && mv "$path.tmp" "$path"
}

# derive_apt_source CODENAME TARGET BASE [ARCHES]: write the sources of this machine's CODENAME, moved to suite
# TARGET (and limited to ARCHES, comma-separated, when given), to BASE.sources (deb822) or BASE.list (one-line),
# whichever format the machine's Debian source has. Prints the path written; returns 1 when there is no enabled
# Debian source for CODENAME to derive from. Files named BASE.* are never read as an origin.
derive_apt_source() {
    local codename=$1 target=$2 base=$3 arches=${4:-} skip derived
    skip=$(basename "$base")
    apt_source_paths
    derived=$(_derive_deb822 "$codename" "$target" "${arches//,/ }" "$skip")
    if [[ -n $derived ]]; then
        rm -f "$base.list"
        _write_if_changed "$base.sources" "${derived%$'\n'}" && echo "$base.sources"
        return
    fi
    derived=$(_derive_one_line "$codename" "$target" "$arches" "$skip")
    [[ -n $derived ]] || return 1
    rm -f "$base.sources"
    _write_if_changed "$base.list" "$derived" && echo "$base.list"
}

# Script mode: make CODENAME-backports an apt source of this machine (root; apt-get update is the caller's).
_ensure_backports() {
    local codename suite written
    codename=$(debian_codename)
    [[ -n $codename ]] || { echo "backports: cannot read VERSION_CODENAME from /etc/os-release" >&2; return 1; }
    suite=$codename-backports
    if suite_configured "$suite"; then
        echo "backports: $suite is already an apt source"
        return 0
    fi
    [[ $(id -u) == 0 ]] || { echo "backports: adding $suite needs root" >&2; return 1; }
    apt_source_paths
    if ! written=$(derive_apt_source "$codename" "$suite" "$SOURCES_DIR/edgebb-backports"); then
        echo "backports: no enabled Debian apt source for $codename to derive $suite from" >&2
        return 1
    fi
    echo "backports: wrote $written (run apt-get update)"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -uo pipefail
    _ensure_backports
fi
