// The edgebb Android demo: `core` is plain Kotlin/JVM (preprocessing, quantization, top-k, manifest, bench JSON;
// tested on the JVM by `make android-test` and `./gradlew :core:test`), `app` is the thin Android layer on top.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "edgebb-android-demo"
include(":core", ":app")
