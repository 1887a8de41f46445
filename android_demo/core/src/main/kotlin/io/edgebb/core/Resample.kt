package io.edgebb.core

import kotlin.math.PI
import kotlin.math.ceil
import kotlin.math.sin

/**
 * Image resizing that gives the same bytes as Pillow's `Image.resize(size, filter)` on an 8-bit RGB image, which is
 * what edgebb's Python preprocessing (`edgebb.data.preprocess_uint8`) and so `edgebb convert`'s calibration use.
 *
 * How Pillow resamples (its documented behaviour, reproduced here from that description, not from its code):
 * - the resize is separable: a horizontal pass (only when the width changes) and a vertical pass (only when the
 *   height changes), the second working on the 8-bit result of the first. Since Pillow 13 (python-pillow/Pillow
 *   #9549, "if height is scaled down significantly more than width, resize vertically first") the vertical pass
 *   goes first when the height loses more than twice as many pixels as the width:
 *   `max(inH - outH, 0) > 2 * max(inW - outW, 0)` (the threshold found by experiment against Pillow 13.0.0's
 *   output, thousands of sizes, no exception); Pillow 12 and older always went horizontal first. The order
 *   changes a few pixels by one level, so it matters for byte equality;
 * - output pixel `i` of a pass is centred on input coordinate `(i + 0.5) * scale`, `scale = in / out`; the filter is
 *   stretched by `max(scale, 1)` so a downscale averages every input pixel it covers (antialiasing) while an upscale
 *   interpolates; its support is `filter.support * max(scale, 1)` input pixels on each side, the first and last
 *   input pixel taken are the rounded ends of that window clipped to the image, and each tap weighs
 *   `filter((j - centre + 0.5) / max(scale, 1))`, the taps then divided by their sum;
 * - the normalized weights are stored in fixed point with 22 fractional bits (rounded half away from zero), each
 *   output is the integer sum of `pixel * weight` plus half of one unit, shifted right by 22 and clamped to 0..255.
 * Doubles are IEEE binary64 on the JVM and in Pillow's C, evaluated in the same order, so the weights are the same
 * integers and the sums the same bytes.
 */
enum class ResampleFilter(val key: String, val support: Double) {
    /** Pillow's BILINEAR: the triangle filter 1 - |x| on [-1, 1]. */
    BILINEAR("bilinear", 1.0) {
        override fun weight(x: Double): Double {
            val t = if (x < 0.0) -x else x
            return if (t < 1.0) 1.0 - t else 0.0
        }
    },

    /** Pillow's BICUBIC: Keys' cubic convolution with a = -0.5 on [-2, 2]. */
    BICUBIC("bicubic", 2.0) {
        override fun weight(x: Double): Double {
            val a = -0.5
            val t = if (x < 0.0) -x else x
            if (t < 1.0) return ((a + 2.0) * t - (a + 3.0)) * t * t + 1
            if (t < 2.0) return (((t - 5) * t + 8) * t - 4) * a
            return 0.0
        }
    },

    /** Pillow's LANCZOS: sinc(x) * sinc(x / 3) on [-3, 3). */
    LANCZOS("lanczos", 3.0) {
        override fun weight(x: Double): Double =
            if (-3.0 <= x && x < 3.0) sinc(x) * sinc(x / 3) else 0.0
    };

    /** The filter's value at [x] (in units of input pixels, before stretching). */
    abstract fun weight(x: Double): Double

    companion object {
        /** The filter named like edgebb's `Preprocessing.resize` ("bilinear", "bicubic", "lanczos"). */
        fun named(name: String): ResampleFilter = entries.firstOrNull { it.key == name }
            ?: throw IllegalArgumentException(
                "resize filter \"$name\" is not supported here; supported: ${entries.joinToString { it.key }} " +
                    "(\"nearest\" uses a different Pillow code path that this app does not reproduce)",
            )

        private fun sinc(x: Double): Double {
            if (x == 0.0) return 1.0
            val px = x * PI
            return sin(px) / px
        }
    }
}

/** Pillow-exact 8-bit resampling; see [ResampleFilter] for the arithmetic. */
object Resample {
    private const val PRECISION_BITS = 32 - 8 - 2
    private const val HALF = 1 shl (PRECISION_BITS - 1)

    /**
     * One pass's taps: output `i` reads `count[i]` input pixels from `first[i]` on, weighted by
     * `weights[i * taps + j]` (fixed point, [PRECISION_BITS] fractional bits).
     */
    class Taps(val taps: Int, val first: IntArray, val count: IntArray, val weights: IntArray)

    /** The taps Pillow uses to resample a line of [inSize] pixels to [outSize] pixels with [filter]. */
    fun taps(inSize: Int, outSize: Int, filter: ResampleFilter): Taps {
        require(inSize > 0 && outSize > 0) { "sizes must be positive, got $inSize -> $outSize" }
        val scale = inSize.toDouble() / outSize
        val filterScale = if (scale < 1.0) 1.0 else scale
        val support = filter.support * filterScale
        val taps = ceil(support).toInt() * 2 + 1
        val first = IntArray(outSize)
        val count = IntArray(outSize)
        val weights = IntArray(outSize * taps)
        val w = DoubleArray(taps)
        val inverse = 1.0 / filterScale
        for (i in 0 until outSize) {
            val center = 0.0 + (i + 0.5) * scale
            // the window's ends, rounded by adding 0.5 and truncating toward zero, then clipped to the line
            var lo = (center - support + 0.5).toInt()
            if (lo < 0) lo = 0
            var hi = (center + support + 0.5).toInt()
            if (hi > inSize) hi = inSize
            val n = hi - lo
            var total = 0.0
            for (j in 0 until n) {
                val v = filter.weight(((j + lo).toDouble() - center + 0.5) * inverse)
                w[j] = v
                total += v
            }
            for (j in 0 until n) {
                if (total != 0.0) w[j] /= total
            }
            for (j in 0 until taps) {
                val v = if (j < n) w[j] else 0.0
                // fixed point, rounded half away from zero (truncation after adding +-0.5)
                weights[i * taps + j] = if (v < 0) (-0.5 + v * (1 shl PRECISION_BITS)).toInt()
                else (0.5 + v * (1 shl PRECISION_BITS)).toInt()
            }
            first[i] = lo
            count[i] = n
        }
        return Taps(taps, first, count, weights)
    }

    /** [image] resized to [width] x [height] exactly as Pillow's `Image.resize((width, height), filter)`. */
    fun resize(image: RgbImage, width: Int, height: Int, filter: ResampleFilter = ResampleFilter.BILINEAR): RgbImage {
        require(width > 0 && height > 0) { "target size must be positive, got ${width}x$height" }
        var current = image
        if (verticalFirst(image.width, image.height, width, height)) {
            if (height != image.height) current = vertical(current, height, taps(image.height, height, filter))
            if (width != image.width) current = horizontal(current, width, taps(image.width, width, filter))
        } else {
            if (width != image.width) current = horizontal(current, width, taps(image.width, width, filter))
            if (height != image.height) current = vertical(current, height, taps(image.height, height, filter))
        }
        return current
    }

    /** Pillow 13's pass order: vertical first when the height shrinks by more than twice the width's shrink. */
    fun verticalFirst(inWidth: Int, inHeight: Int, outWidth: Int, outHeight: Int): Boolean =
        maxOf(inHeight - outHeight, 0) > 2 * maxOf(inWidth - outWidth, 0)

    private fun clip8(sum: Int): Byte {
        val v = sum shr PRECISION_BITS
        return (if (v < 0) 0 else if (v > 255) 255 else v).toByte()
    }

    private fun horizontal(image: RgbImage, outWidth: Int, t: Taps): RgbImage {
        val src = image.pixels
        val inWidth = image.width
        val out = ByteArray(outWidth * image.height * 3)
        for (y in 0 until image.height) {
            val row = y * inWidth * 3
            for (x in 0 until outWidth) {
                var r = HALF
                var g = HALF
                var b = HALF
                val base = t.first[x]
                val k = x * t.taps
                for (j in 0 until t.count[x]) {
                    val weight = t.weights[k + j]
                    val p = row + (base + j) * 3
                    r += (src[p].toInt() and 0xFF) * weight
                    g += (src[p + 1].toInt() and 0xFF) * weight
                    b += (src[p + 2].toInt() and 0xFF) * weight
                }
                val o = (y * outWidth + x) * 3
                out[o] = clip8(r)
                out[o + 1] = clip8(g)
                out[o + 2] = clip8(b)
            }
        }
        return RgbImage(outWidth, image.height, out)
    }

    private fun vertical(image: RgbImage, outHeight: Int, t: Taps): RgbImage {
        val src = image.pixels
        val width = image.width
        val stride = width * 3
        val out = ByteArray(width * outHeight * 3)
        for (y in 0 until outHeight) {
            val base = t.first[y]
            val k = y * t.taps
            val n = t.count[y]
            for (i in 0 until stride) {
                var s = HALF
                var p = base * stride + i
                for (j in 0 until n) {
                    s += (src[p].toInt() and 0xFF) * t.weights[k + j]
                    p += stride
                }
                out[y * stride + i] = clip8(s)
            }
        }
        return RgbImage(width, outHeight, out)
    }
}
