package io.edgebb.core

/** One exported model listed in an edgebb manifest.json (`artifacts[]`). */
class ArtifactInfo(
    /** The file name, relative to the manifest's folder (in the app: the assets folder). */
    val path: String,
    val format: String,
    val recipe: String,
    val inputs: List<TensorSpec>,
    val outputs: List<TensorSpec>,
    val sizeBytes: Long?,
    val sha256: String?,
    val macs: Long?,
    val ioDtype: String?,
) {
    val input: TensorSpec get() = inputs.first()
    val output: TensorSpec get() = outputs.first()

    /** "mobilenet_v2_int8.tflite (int8, int8 in/out)" */
    fun describe(): String = "$path ($recipe, ${input.dtype.key} in / ${output.dtype.key} out)"
}

/**
 * What `edgebb convert` wrote into manifest.json that the app needs: the preprocessing, the labels, and for every
 * artifact its input/output tensors with their quantization. Everything else in the manifest (verification, tool
 * versions, ...) is left to the Python side.
 */
class ModelManifest(
    val model: String,
    val edgebbVersion: String?,
    val preprocessing: Preprocessing,
    val labels: List<String>?,
    val artifacts: List<ArtifactInfo>,
) {
    /** The .tflite artifacts, in manifest order. */
    val tflite: List<ArtifactInfo> get() = artifacts.filter { it.format == "tflite" }

    companion object {
        /** Reads the text of an edgebb manifest.json. Throws [JsonException] / [IllegalArgumentException] naming the problem. */
        fun parse(text: String): ModelManifest {
            val json = Json.parseObject(text)
            val schema = json.stringOrNull("schema")
            if (schema != null && !schema.startsWith("edgebb.manifest/")) {
                throw JsonException("not an edgebb manifest (schema \"$schema\")")
            }
            val artifacts = json["artifacts"].asList("artifacts").mapIndexed { i, item ->
                val a = item.asObject("artifacts[$i]")
                ArtifactInfo(
                    path = a.string("path"),
                    format = a.string("format"),
                    recipe = a.string("recipe"),
                    inputs = a["inputs"].asList("artifacts[$i].inputs").map { TensorSpec.fromJson(it.asObject("input")) },
                    outputs = a["outputs"].asList("artifacts[$i].outputs").map { TensorSpec.fromJson(it.asObject("output")) },
                    sizeBytes = a.longOrNull("size_bytes"),
                    sha256 = a.stringOrNull("sha256"),
                    macs = a.longOrNull("macs"),
                    ioDtype = (a["options"] as? Map<*, *>)?.get("io_dtype") as? String,
                )
            }
            val labels = (json["labels"] as? List<*>)?.map { it.toString() }
            return ModelManifest(
                model = modelName(json, artifacts),
                edgebbVersion = json.stringOrNull("edgebb"),
                preprocessing = Preprocessing.fromJson(json["preprocessing"].asObject("preprocessing")),
                labels = labels,
                artifacts = artifacts,
            )
        }

        // As edgebb bench names a manifest's model: the backbone name, else the artifact file's stem before "_recipe".
        private fun modelName(json: Map<String, Any?>, artifacts: List<ArtifactInfo>): String {
            val source = json["source"] as? Map<*, *>
            when (val backbone = source?.get("backbone")) {
                is String -> return backbone
                is Map<*, *> -> (backbone["name"] as? String)?.let { return it }
            }
            val first = artifacts.firstOrNull()?.path ?: return "model"
            return first.substringAfterLast('/').substringBeforeLast('.').substringBeforeLast('_')
        }
    }
}

/** Class names by output index: labels.txt (one per line) or the manifest's `labels`, with a fallback name. */
class Labels(val names: List<String>) {
    /** The name of class [index], or "class N" when there is no label for it. */
    operator fun get(index: Int): String = names.getOrNull(index) ?: "class $index"

    val size: Int get() = names.size

    companion object {
        /** labels.txt as edgebb writes it: one label per line, a final newline; blank trailing lines ignored. */
        fun parse(text: String): Labels {
            val lines = text.replace("\r\n", "\n").split('\n').toMutableList()
            while (lines.isNotEmpty() && lines.last().isBlank()) lines.removeAt(lines.size - 1)
            return Labels(lines)
        }

        val NONE = Labels(emptyList())
    }
}
