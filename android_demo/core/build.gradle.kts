// Pure Kotlin/JVM: no Android and no third-party dependency in main, JUnit 4 for the tests. The same sources are
// compiled and tested without Gradle by `make android-test` (android_demo/tools/android-test.sh).
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.kotlin.jvm)
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
        allWarningsAsErrors.set(true)
    }
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    // the test vectors are read from src/test/resources (on the test classpath)
    testLogging {
        events("passed", "failed", "skipped")
        showStandardStreams = true
    }
}
