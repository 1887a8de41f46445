package io.edgebb.core

/** One class of a classification result. */
data class Prediction(val index: Int, val label: String, val score: Float)

/** Top-k selection over a score vector. */
object TopK {
    /**
     * The indices of the [k] highest [scores], highest first; equal scores keep the lower index first (a stable
     * sort, as numpy's `argsort(-scores, kind="stable")`), NaN ranks below every number. Fewer than [k] when there
     * are fewer scores.
     */
    fun indices(scores: FloatArray, k: Int): IntArray {
        require(k >= 0) { "k must be >= 0, got $k" }
        val n = minOf(k, scores.size)
        val chosen = IntArray(n)
        val taken = BooleanArray(scores.size)
        // k is small (5) and scores are ~1000: k linear scans beat sorting everything
        for (slot in 0 until n) {
            var best = -1
            for (i in scores.indices) {
                if (taken[i]) continue
                if (best < 0 || better(scores[i], scores[best])) best = i
            }
            chosen[slot] = best
            taken[best] = true
        }
        return chosen
    }

    private fun better(a: Float, b: Float): Boolean = when {
        a.isNaN() -> false
        b.isNaN() -> true
        else -> a > b
    }

    /** [indices] with their labels and scores. */
    fun predictions(scores: FloatArray, k: Int, labels: Labels): List<Prediction> =
        indices(scores, k).map { Prediction(it, labels[it], scores[it]) }
}

/**
 * Everything between a camera frame and the top-k for one artifact, with no Android in it: the app hands it RGB
 * frames and the runtime's raw output bytes.
 */
class ClassifierPipeline(val manifest: ModelManifest, val artifact: ArtifactInfo, val labels: Labels) {
    private val pp = manifest.preprocessing

    init {
        require(artifact.inputs.size == 1) { "${artifact.path} has ${artifact.inputs.size} inputs; the demo takes one image input" }
        val shape = artifact.input.shape
        require(shape.size == 4 && shape[1] == pp.size && shape[2] == pp.size && shape[3] == 3) {
            "${artifact.path} takes ${shape.joinToString("x")}, but the preprocessing makes ${pp.size}x${pp.size}x3"
        }
    }

    /** The bytes for the model's input tensor (quantized or float32 little-endian) for an upright [image]. */
    fun inputBytes(image: RgbImage): ByteArray = artifact.input.encode(pp.floats(image))

    /** Real scores from the raw bytes of the model's first output (dequantized when it is an integer tensor). */
    fun scores(rawOutput: ByteArray): FloatArray = artifact.output.decode(rawOutput)

    /** The top [k] classes for the raw output bytes. */
    fun top(rawOutput: ByteArray, k: Int = 5): List<Prediction> = TopK.predictions(scores(rawOutput), k, labels)
}
