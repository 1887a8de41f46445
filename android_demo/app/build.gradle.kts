// The Android layer: CameraX frames -> RGB bytes -> :core -> LiteRT (CPU/XNNPACK, GPU delegate, NNAPI) -> :core.
// Kotlin is compiled by AGP 9's built-in Kotlin support (no kotlin-android plugin).
plugins {
    alias(libs.plugins.android.application)
}

android {
    namespace = "io.edgebb.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "io.edgebb.demo"
        minSdk = 26
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
        buildConfigField("String", "LITERT_VERSION", "\"${libs.versions.litert.get()}\"")
    }

    buildFeatures {
        buildConfig = true
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    androidResources {
        // stored uncompressed, so LiteRT can memory-map the model straight from the APK
        noCompress.add("tflite")
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.activity.ktx)
    implementation(libs.camera.core)
    implementation(libs.camera.camera2)
    implementation(libs.camera.lifecycle)
    implementation(libs.camera.view)
    implementation(libs.litert)
    implementation(libs.litert.gpu)
    implementation(libs.litert.gpu.api)
}
