package io.edgebb.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * A tiny MobileNetV2 converted by `edgebb convert` (fp32, int8 with int8 I/O, int8 with uint8 I/O): the app builds
 * the exact input tensor bytes the Python toolkit fed it, and reads its raw outputs into the same scores and top-k.
 */
class ModelTest {
    private val cases = Vectors.list("model_cases")

    private fun manifest(model: String) = ModelManifest.parse(Vectors.text("models/$model/manifest.json"))

    @Test
    fun readsTheManifest() {
        val m = manifest("int8io")
        assertEquals("mobilenet_v2", m.model)
        assertEquals(listOf("fp32", "int8"), m.tflite.map { it.recipe })
        assertEquals(32, m.preprocessing.size)
        assertEquals(6, m.labels!!.size)
        val int8 = m.tflite[1]
        assertEquals(DType.INT8, int8.input.dtype)
        assertTrue(int8.input.quantized)
        assertEquals(listOf(1, 32, 32, 3), int8.input.shape.toList())
        assertEquals(DType.FLOAT32, m.tflite[0].input.dtype)
        assertNull(m.tflite[0].input.scale)
        val u = manifest("uint8io").tflite.single()
        assertEquals(DType.UINT8, u.input.dtype)
        assertEquals(DType.UINT8, u.output.dtype)
        assertEquals("uint8", u.ioDtype)
        assertEquals(Labels.parse(Vectors.text("models/int8io/labels.txt")).names, m.labels)
    }

    @Test
    fun everyDtypeIsCovered() {
        assertEquals(setOf("float32", "int8", "uint8"), cases.map { it.string("input_dtype") }.toSet())
    }

    @Test
    fun inputTensorBytesAreExact() {
        for (case in cases) {
            val label = "${case["model"]} ${case["recipe"]} ${case["image"]} (${case["input_dtype"]})"
            val m = manifest(case.string("model"))
            val artifact = m.artifacts.single { it.path == case.string("artifact") }
            val pipeline = ClassifierPipeline(m, artifact, Labels(m.labels!!))
            val expected = Vectors.bytes(case.string("input"))
            val got = pipeline.inputBytes(Vectors.image(case.string("image")))
            val differing = expected.indices.count { expected[it] != got[it] }
            assertEquals("$label: $differing of ${expected.size} input bytes differ from what edgebb fed the model", 0, differing)
            assertArrayEquals(label, expected, got)
        }
        println("    model inputs: ${cases.size} tensors (float32, int8, uint8) byte-exact")
    }

    @Test
    fun outputsDequantizeAndRankAsPython() {
        for (case in cases) {
            val label = "${case["model"]} ${case["recipe"]} ${case["image"]}"
            val m = manifest(case.string("model"))
            val artifact = m.artifacts.single { it.path == case.string("artifact") }
            val pipeline = ClassifierPipeline(m, artifact, Labels(m.labels!!))
            val raw = Vectors.bytes(case.string("output"))
            val scores = pipeline.scores(raw)
            val expected = Vectors.floats(Vectors.bytes(case.string("scores")))
            assertArrayEquals("$label: scores", Vectors.floatBytes(expected), Vectors.floatBytes(scores))
            val top = pipeline.top(raw, 5)
            val want = case["topk"].asList("topk").map { it.asObject("topk") }
            assertEquals("$label: top-k indices", want.map { it.int("index") }, top.map { it.index })
            assertEquals("$label: top-k labels", want.map { it.string("label") }, top.map { it.label })
            assertEquals("$label: top-k scores", want.map { it.double("score").toFloat() }, top.map { it.score })
        }
    }

    @Test
    fun quantizeRoundsHalfToEvenAndClips() {
        val int8 = TensorSpec("x", intArrayOf(1, 6), DType.INT8, 0.5, -1)
        // x / 0.5 = 0.5, 1.5, 2.5, -0.5, 1000, -1000 -> round half even 0, 2, 2, -0 -> + zp, clipped
        val q = int8.quantize(floatArrayOf(0.25f, 0.75f, 1.25f, -0.25f, 500f, -500f))
        assertEquals(listOf(-1, 1, 1, -1, 127, -128), q.map { it.toInt() })
        val uint8 = TensorSpec("x", intArrayOf(1, 3), DType.UINT8, 1.0, 128)
        assertEquals(listOf(0, 255, 130), uint8.quantize(floatArrayOf(-300f, 300f, 2.5f)).map { it.toInt() and 0xFF })
        assertArrayEquals(floatArrayOf(-128f, 127f, 2f), uint8.dequantize(byteArrayOf(0, -1, -126)), 0f)
    }

    @Test
    fun floatTensorsAreLittleEndian() {
        val spec = TensorSpec("x", intArrayOf(1, 2), DType.FLOAT32, null, null)
        val bytes = spec.encode(floatArrayOf(1f, -2f))
        assertEquals(listOf(0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0), bytes.map { it.toInt() and 0xFF })
        assertArrayEquals(floatArrayOf(1f, -2f), spec.decode(bytes), 0f)
    }

    @Test
    fun topKIsStableAndSkipsNaN() {
        val scores = floatArrayOf(0.1f, 0.5f, 0.5f, Float.NaN, 0.9f, 0.1f)
        assertEquals(listOf(4, 1, 2, 0, 5), TopK.indices(scores, 5).toList())
        assertEquals(listOf(4, 1, 2, 0, 5, 3), TopK.indices(scores, 10).toList())
        assertEquals("class 7", Labels.NONE[7])
    }

    @Test
    fun labelsFileAsEdgebbWritesIt() {
        assertEquals(listOf("a", "b c"), Labels.parse("a\nb c\n").names)
        assertEquals(listOf("a", "", "b"), Labels.parse("a\r\n\r\nb\r\n\n").names)
    }

    @Test
    fun pipelineRejectsAMismatchedModel() {
        val m = manifest("int8io")
        val input = TensorSpec("in", intArrayOf(1, 64, 64, 3), DType.FLOAT32, null, null)
        val wrong = ArtifactInfo("x.tflite", "tflite", "fp32", listOf(input), m.tflite[0].outputs, null, null, null, null)
        assertThrows { ClassifierPipeline(m, wrong, Labels.NONE) }
    }
}
