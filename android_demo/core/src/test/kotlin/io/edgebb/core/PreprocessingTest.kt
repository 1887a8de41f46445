package io.edgebb.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.nio.ByteBuffer
import kotlin.math.abs

/**
 * The app preprocesses exactly as edgebb's Python does (edgebb.data.preprocess_uint8 / preprocess, Pillow's
 * bilinear resize), checked against bytes the Python toolkit wrote.
 */
class PreprocessingTest {
    private val cases = Vectors.list("preprocessing_cases")

    @Test
    fun imagesDecodeAsPythonSawThem() {
        for ((name, entry) in Vectors.obj("images")) {
            val e = entry.asObject(name)
            val image = Vectors.png(e.string("file"))
            assertEquals(name, e.int("width"), image.width)
            assertEquals(name, e.int("height"), image.height)
            assertEquals("$name: decoded RGB differs from edgebb.data.load_image", e.string("sha256_rgb"), Vectors.sha256(image.pixels))
        }
    }

    @Test
    fun resizeTargetIsPythonsRounding() {
        for (case in cases) {
            val image = Vectors.image(case.string("image"))
            val (h, w) = Vectors.preprocessing(case.string("preprocessing")).resizedShape(image.height, image.width)
            val expected = case["resized"].asList("resized").map { (it as Long).toInt() }
            assertEquals("${case["image"]} / ${case["preprocessing"]}", expected, listOf(h, w))
        }
    }

    @Test
    fun resizedCroppedPixelsAreByteExact() {
        assertTrue("expected at least 20 pixel vectors, found ${cases.size}", cases.size >= 20)
        var bytes = 0
        for (case in cases) {
            val label = "${case["image"]} / ${case["preprocessing"]}"
            val expected = Vectors.bytes(case.string("pixels"))
            val got = Vectors.preprocessing(case.string("preprocessing")).pixels(Vectors.image(case.string("image")))
            val differing = expected.indices.count { expected[it] != got[it] }
            assertEquals("$label: $differing of ${expected.size} bytes differ from edgebb.data.preprocess_uint8", 0, differing)
            assertArrayEquals(label, expected, got)
            bytes += got.size
        }
        println("    pixels: ${cases.size} cases, $bytes bytes, all equal to edgebb.data.preprocess_uint8")
    }

    @Test
    fun floatTensorWithin1e6AndBitExact() {
        var maxDiff = 0.0
        var values = 0
        for (case in cases) {
            val label = "${case["image"]} / ${case["preprocessing"]}"
            val expected = Vectors.floats(Vectors.bytes(case.string("floats")))
            val got = Vectors.preprocessing(case.string("preprocessing")).floats(Vectors.image(case.string("image")))
            assertEquals(label, expected.size, got.size)
            for (i in expected.indices) {
                val d = abs(expected[i].toDouble() - got[i].toDouble())
                if (d > maxDiff) maxDiff = d
                if (d > 1e-6) fail("$label: value $i is ${got[i]}, edgebb.data.preprocess gives ${expected[i]}")
            }
            assertArrayEquals("$label: not bit-exact", Vectors.floatBytes(expected), Vectors.floatBytes(got))
            values += got.size
        }
        println("    floats: ${cases.size} cases, $values values, max |difference| $maxDiff (bit-exact)")
    }

    @Test
    fun cameraSizedFramesMatchByDigest() {
        val full = Vectors.list("full_size_cases")
        val quant = Vectors.obj("full_size_quantization")
        val specs = quant.mapValues { (dtype, q) ->
            val m = q.asObject(dtype)
            TensorSpec("input", intArrayOf(1, 224, 224, 3), DType.named(dtype), m.double("scale"), m.int("zero_point"))
        }
        assertTrue(full.size >= 10)
        for (case in full) {
            val label = "${case["width"]}x${case["height"]} ${case["kind"]} / ${case["preprocessing"]}"
            val pp = Preprocessing.fromJson(Vectors.obj("full_size_preprocessing").getValue(case.string("preprocessing")).asObject("pp"))
            val image = Vectors.hashImage(case.int("width"), case.int("height"), case.int("seed"), case.string("kind"))
            val pixels = pp.pixels(image)
            assertEquals("$label: pixels", case.string("pixels_sha256"), Vectors.sha256(pixels))
            val floats = pp.normalize(pixels)
            assertEquals("$label: float32 tensor", case.string("floats_sha256"), Vectors.sha256(Vectors.floatBytes(floats)))
            for ((dtype, spec) in specs) {
                assertEquals("$label: $dtype tensor", case.string("${dtype}_sha256"), Vectors.sha256(spec.quantize(floats)))
            }
        }
        println("    camera-sized frames: ${full.size} cases (640x480 .. 1280x720 -> 224x224) equal by SHA-256")
    }

    @Test
    fun pillowResizeDigests() {
        val resize = Vectors.list("resize_cases")
        val byFilter = HashMap<String, Int>()
        for (case in resize) {
            val filter = ResampleFilter.named(case.string("filter"))
            val image = Vectors.hashImage(case.int("width"), case.int("height"), case.int("seed"), case.string("kind"))
            val out = Resample.resize(image, case.int("out_width"), case.int("out_height"), filter)
            val label = "${case["width"]}x${case["height"]} -> ${case["out_width"]}x${case["out_height"]} ${filter.key} (${case["kind"]})"
            assertEquals(label, case.string("sha256"), Vectors.sha256(out.pixels))
            byFilter.merge(filter.key, 1, Int::plus)
        }
        println("    Pillow resizes equal by SHA-256: $byFilter")
    }

    @Test
    fun tapsSumToOne() {
        for ((inSize, outSize) in listOf(640 to 256, 37 to 37, 5 to 17, 1000 to 1, 3 to 2)) {
            for (filter in ResampleFilter.entries) {
                val t = Resample.taps(inSize, outSize, filter)
                for (i in 0 until outSize) {
                    val sum = (0 until t.taps).sumOf { t.weights[i * t.taps + it] }
                    assertTrue("$inSize->$outSize ${filter.key} out $i: weights sum to $sum", abs(sum - (1 shl 22)) <= t.taps)
                }
            }
        }
    }

    @Test
    fun sameSizeIsOnlyCropped() {
        val pp = Preprocessing(size = 32, mean = doubleArrayOf(0.0, 0.0, 0.0), std = doubleArrayOf(1.0, 1.0, 1.0))
        val image = Vectors.hashImage(50, 37, 9, "noise") // 37 = round(32 / 0.875): no resize
        assertEquals(37 to 50, pp.resizedShape(37, 50))
        assertArrayEquals(image.crop(9, 2, 32, 32).pixels, pp.pixels(image))
    }

    @Test
    fun bgrSwapsChannels() {
        val image = RgbImage.generate(40, 40) { x, y -> (x shl 16) or (y shl 8) or 7 }
        fun pp(order: String) = Preprocessing(32, doubleArrayOf(0.0, 0.0, 0.0), doubleArrayOf(1.0, 1.0, 1.0), 0.875, order)
        val rgb = pp("rgb").pixels(image)
        val bgr = pp("bgr").pixels(image)
        for (i in rgb.indices step 3) {
            assertEquals(rgb[i], bgr[i + 2])
            assertEquals(rgb[i + 1], bgr[i + 1])
            assertEquals(rgb[i + 2], bgr[i])
        }
    }

    @Test
    fun rotationIsClockwise() {
        // 3 wide, 2 high; value = 10 * row + column in the red channel
        val image = RgbImage.generate(3, 2) { x, y -> (10 * y + x) shl 16 }
        fun reds(img: RgbImage) = (0 until img.height).map { y -> (0 until img.width).map { x -> img.get(x, y, 0) } }
        assertEquals(listOf(listOf(10, 0), listOf(11, 1), listOf(12, 2)), reds(image.rotate(90)))
        assertEquals(listOf(listOf(12, 11, 10), listOf(2, 1, 0)), reds(image.rotate(180)))
        assertEquals(listOf(listOf(2, 12), listOf(1, 11), listOf(0, 10)), reds(image.rotate(270)))
        assertEquals(reds(image), reds(image.rotate(-360)))
    }

    @Test
    fun rgbaPlaneWithRowPadding() {
        val width = 3
        val height = 2
        val rowStride = 16 // 12 bytes of pixels + 4 of padding, as camera planes have
        val buffer = ByteBuffer.allocate(rowStride * height)
        for (y in 0 until height) for (x in 0 until width) {
            val p = y * rowStride + x * 4
            buffer.put(p, (x + 1).toByte()).put(p + 1, (y + 100).toByte()).put(p + 2, 200.toByte()).put(p + 3, 255.toByte())
        }
        val image = RgbImage.fromRgba(buffer, width, height, rowStride)
        assertEquals(3, image.get(2, 1, 0))
        assertEquals(101, image.get(2, 1, 1))
        assertEquals(200, image.get(2, 1, 2))
        assertEquals(0, buffer.position())
    }

    @Test
    fun rejectsWhatPythonRejects() {
        assertThrows { ResampleFilter.named("nearest") }
        assertThrows { Preprocessing(32, doubleArrayOf(0.0, 0.0, 0.0), doubleArrayOf(1.0, 1.0, 1.0), 1.5) }
        assertThrows { Preprocessing(32, doubleArrayOf(0.0, 0.0, 0.0), doubleArrayOf(1.0, 1.0, 1.0), 0.875, "rbg") }
    }
}

fun assertThrows(block: () -> Unit) {
    try {
        block()
    } catch (e: Exception) {
        return
    }
    fail("expected an exception")
}

class PassOrderTest {
    @Test
    fun verticalFirstWhenHeightShrinksMoreThanTwiceTheWidth() {
        assertTrue(!Resample.verticalFirst(30, 30, 15, 1)) // 29 > 30 is false
        assertTrue(Resample.verticalFirst(30, 30, 16, 1)) // 29 > 28
        assertTrue(Resample.verticalFirst(3, 1000, 1, 10))
        assertTrue(!Resample.verticalFirst(1000, 3, 10, 1))
        assertTrue(!Resample.verticalFirst(10, 10, 50, 50)) // upscales: horizontal first
        assertTrue(Resample.verticalFirst(10, 100, 50, 20)) // width grows, height shrinks
    }
}
