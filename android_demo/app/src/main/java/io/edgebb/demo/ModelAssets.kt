package io.edgebb.demo

import android.content.res.AssetManager
import io.edgebb.core.ArtifactInfo
import io.edgebb.core.ClassifierPipeline
import io.edgebb.core.Labels
import io.edgebb.core.ModelManifest
import java.io.FileInputStream
import java.io.FileNotFoundException
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

/** The assets hold no usable model; [message] says what is missing. */
class NoModelException(message: String) : Exception(message)

/**
 * What `make android-assets` put into the app's assets: manifest.json (read by the core), labels.txt, and the
 * .tflite artifacts the manifest lists.
 */
class ModelAssets private constructor(
    private val assets: AssetManager,
    val manifest: ModelManifest,
    val labels: Labels,
    /** The .tflite artifacts of the manifest that are present in the assets. */
    val artifacts: List<ArtifactInfo>,
) {
    fun pipeline(artifact: ArtifactInfo) = ClassifierPipeline(manifest, artifact, labels)

    /** The model file memory-mapped from the APK (stored uncompressed: see `noCompress` in app/build.gradle.kts). */
    fun map(artifact: ArtifactInfo): MappedByteBuffer =
        assets.openFd(fileName(artifact)).use { fd ->
            FileInputStream(fd.fileDescriptor).channel.use { channel ->
                channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
            }
        }

    companion object {
        const val MANIFEST = "manifest.json"
        const val LABELS = "labels.txt"

        fun fileName(artifact: ArtifactInfo) = artifact.path.substringAfterLast('/')

        /** Reads the assets; throws [NoModelException] when there is no manifest or none of its models. */
        fun load(assets: AssetManager): ModelAssets {
            val files = assets.list("")?.toSet() ?: emptySet()
            if (MANIFEST !in files) throw NoModelException("(no $MANIFEST in the assets)")
            val manifest = try {
                ModelManifest.parse(assets.open(MANIFEST).bufferedReader().use { it.readText() })
            } catch (e: IllegalArgumentException) {
                throw NoModelException("$MANIFEST cannot be read: ${e.message}")
            }
            val present = manifest.tflite.filter { fileName(it) in files }
            if (present.isEmpty()) {
                val wanted = manifest.tflite.joinToString { fileName(it) }.ifEmpty { "no .tflite artifact" }
                throw NoModelException("($MANIFEST lists $wanted, not in the assets)")
            }
            val labels = when {
                manifest.labels != null -> Labels(manifest.labels!!)
                LABELS in files -> Labels.parse(readText(assets, LABELS))
                else -> Labels.NONE
            }
            return ModelAssets(assets, manifest, labels, present)
        }

        private fun readText(assets: AssetManager, name: String): String = try {
            assets.open(name).bufferedReader().use { it.readText() }
        } catch (e: FileNotFoundException) {
            ""
        }
    }
}
