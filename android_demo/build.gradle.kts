// Plugin versions live in gradle/libs.versions.toml. AGP 9 compiles the app's Kotlin itself (built-in Kotlin);
// the Kotlin JVM plugin is for the pure-Kotlin core module, and its version also sets the app's Kotlin.
plugins {
    alias(libs.plugins.android.application) apply false
    alias(libs.plugins.kotlin.jvm) apply false
}
