#!/usr/bin/env bash
# `make android-test`: compile the app's pure-Kotlin core (android_demo/core) and its JUnit 4 tests with kotlinc and
# run them on the JVM, without Gradle or the Android SDK. Installs what it needs by itself:
#   - Java 17+ (Debian's openjdk-17-jdk-headless, only if no `java`/`javac`),
#   - the Kotlin compiler of the version the Gradle build uses (gradle/libs.versions.toml), from the npm registry's
#     `kotlin-compiler` package, into a cache folder outside the repository ($EDGEBB_CACHE, default ~/.cache/edgebb),
#   - JUnit 4 and Hamcrest (Debian's junit4 and libhamcrest-java, only if their jars are missing).
# Compiled classes go to android_demo/core/build/jvm (git-ignored) and are reused while the sources are unchanged.
# Ends with JUnit's "OK (N tests)" and a line "android-test: N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"          # android_demo/
core="$here/core"
build="$core/build/jvm"
say() { printf 'android-test: %s\n' "$*" >&2; }

kotlin_version="$(sed -n 's/^kotlin *= *"\([^"]*\)".*/\1/p' "$here/gradle/libs.versions.toml")"
[ -n "$kotlin_version" ] || { say "no kotlin version in $here/gradle/libs.versions.toml"; exit 2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        say "needs root to run: $*"; return 1; fi
}

apt_install() {  # apt_install PACKAGE...: with a fresh package list only if the first try fails
    say "installing $* (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y --no-install-recommends "$@" >/dev/null \
        || { as_root apt-get update >/dev/null && as_root apt-get install -y --no-install-recommends "$@" >/dev/null; }
}

# --- Java
if ! command -v java >/dev/null || ! command -v javac >/dev/null; then
    apt_install openjdk-17-jdk-headless
fi
java_major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')"
[ "${java_major:-0}" -ge 17 ] || { say "Java 17 or newer is needed; java is version ${java_major:-unknown}"; exit 2; }

# --- JUnit 4 + Hamcrest
junit="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
hamcrest="${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}"
if [ ! -f "$junit" ] || [ ! -f "$hamcrest" ]; then
    apt_install junit4 libhamcrest-java
fi
for jar in "$junit" "$hamcrest"; do
    [ -f "$jar" ] || { say "missing $jar (set JUNIT_JAR / HAMCREST_JAR to use other copies)"; exit 2; }
done

# --- Kotlin compiler, cached per version
cache="${EDGEBB_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/edgebb}/kotlin-compiler-$kotlin_version"
kotlin_home="$cache/node_modules/kotlin-compiler"
if [ ! -x "$kotlin_home/bin/kotlinc" ] || [ ! -f "$kotlin_home/lib/kotlin-stdlib.jar" ]; then
    command -v npm >/dev/null || apt_install npm
    say "installing kotlin-compiler $kotlin_version (npm) into $cache"
    rm -rf "$cache.partial"
    mkdir -p "$cache.partial"
    npm install --prefix "$cache.partial" --no-save --no-audit --no-fund --loglevel=error \
        "kotlin-compiler@$kotlin_version" >/dev/null
    chmod +x "$cache.partial/node_modules/kotlin-compiler/bin/"*
    rm -rf "$cache"
    mv "$cache.partial" "$cache"
fi
kotlinc="$kotlin_home/bin/kotlinc"
stdlib="$kotlin_home/lib/kotlin-stdlib.jar"

# --- The core must stay plain Kotlin: no Android, AndroidX or other third-party imports in its main sources.
if grep -rnE '^import +(android|androidx|com\.google|org\.tensorflow|kotlinx)\.' "$core/src/main/kotlin"; then
    say "core/src/main imports Android or a third-party library (above); it must stay pure Kotlin + the JDK"
    exit 1
fi

# --- Compile (main alone, so it cannot lean on JUnit; then the tests against it), unless nothing changed.
digest="$( { echo "$kotlin_version"; find "$core/src" -name '*.kt' -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-64)"
if [ "$(cat "$build/.sources" 2>/dev/null || true)" != "$digest" ]; then
    rm -rf "$build"
    mkdir -p "$build/main" "$build/test"
    say "compiling core (kotlinc $kotlin_version)"
    "$kotlinc" -jvm-target 17 -no-reflect -Werror -d "$build/main" "$core/src/main/kotlin" 2>&1 | grep -v '^$' >&2 || true
    [ -n "$(find "$build/main" -name '*.class' -print -quit)" ] || { say "core did not compile"; exit 1; }
    "$kotlinc" -jvm-target 17 -no-reflect -Werror -cp "$build/main:$junit:$hamcrest" -d "$build/test" \
        "$core/src/test/kotlin" 2>&1 | grep -v '^$' >&2 || true
    [ -f "$build/test/io/edgebb/core/RunTestsKt.class" ] || { say "core tests did not compile"; exit 1; }
    echo "$digest" > "$build/.sources"
else
    say "core unchanged since the last compile: reusing $build"
fi

# --- Run
exec java -cp "$build/main:$build/test:$core/src/test/resources:$stdlib:$junit:$hamcrest" \
    io.edgebb.core.RunTestsKt "$build/test"
