package io.edgebb.core

/**
 * How an RGB image becomes the model's input, exactly as edgebb's Python `Preprocessing` describes it (the
 * `preprocessing` object of an edgebb manifest.json):
 * resize the shorter side to `round(size / cropFraction)` and the longer side in proportion (rounded) with Pillow's
 * [resize] filter, cut the centre `size` x `size` square at offset `(dim - size) / 2`, put the channels in
 * [channelOrder] ("rgb" or "bgr"), then `(x - mean) / std` per channel in float32 (mean and std in the model's
 * channel order). Rounding is Python's `round`: halves go to the even neighbour.
 */
class Preprocessing(
    val size: Int,
    val mean: DoubleArray,
    val std: DoubleArray,
    val cropFraction: Double = 0.875,
    val channelOrder: String = "rgb",
    val resize: String = "bilinear",
) {
    private val filter: ResampleFilter = ResampleFilter.named(resize)
    private val meanF = FloatArray(3) { mean[it].toFloat() }
    private val stdF = FloatArray(3) { std[it].toFloat() }

    init {
        require(size > 0) { "preprocessing size must be positive, got $size" }
        require(mean.size == 3 && std.size == 3) { "mean and std need 3 values each" }
        require(cropFraction > 0 && cropFraction <= 1) { "crop_fraction must be in (0, 1], got $cropFraction" }
        require(channelOrder == "rgb" || channelOrder == "bgr") { "channel_order must be rgb or bgr, got $channelOrder" }
        require(std.all { it != 0.0 }) { "std must not be 0" }
    }

    /** The (height, width) an image of [height] x [width] is resized to before the centre crop. */
    fun resizedShape(height: Int, width: Int): Pair<Int, Int> {
        val short = pyRound(size / cropFraction).toInt()
        return if (height <= width) {
            short to pyRound((width.toLong() * short).toDouble() / height).toInt()
        } else {
            pyRound((height.toLong() * short).toDouble() / width).toInt() to short
        }
    }

    /**
     * Resize, centre crop and channel order: the `size * size * 3` bytes (HWC, unsigned) that edgebb's
     * `preprocess_uint8` returns for the same image.
     */
    fun pixels(image: RgbImage): ByteArray {
        val (nh, nw) = resizedShape(image.height, image.width)
        require(nh >= size && nw >= size) { "a ${image.width}x${image.height} image resizes to ${nw}x$nh, smaller than $size" }
        val resized = if (nh != image.height || nw != image.width) Resample.resize(image, nw, nh, filter) else image
        val out = resized.crop((nw - size) / 2, (nh - size) / 2, size, size).pixels
        if (channelOrder == "bgr") {
            for (i in out.indices step 3) {
                val r = out[i]
                out[i] = out[i + 2]
                out[i + 2] = r
            }
        }
        return out
    }

    /** `(x - mean) / std` per channel in float32, for the bytes [pixels] returns (HWC). */
    fun normalize(pixels: ByteArray): FloatArray {
        val out = FloatArray(pixels.size)
        for (i in pixels.indices) {
            val c = i % 3
            out[i] = ((pixels[i].toInt() and 0xFF).toFloat() - meanF[c]) / stdF[c]
        }
        return out
    }

    /** The float32 model input for [image]: [pixels] then [normalize], as edgebb's `preprocess`. */
    fun floats(image: RgbImage): FloatArray = normalize(pixels(image))

    companion object {
        /** Reads the `preprocessing` object of an edgebb manifest.json. */
        fun fromJson(json: Map<String, Any?>): Preprocessing {
            fun triple(key: String): DoubleArray {
                val list = json[key].asList("preprocessing.$key")
                if (list.size != 3) throw JsonException("preprocessing.$key: expected 3 numbers, found ${list.size}")
                return DoubleArray(3) { (list[it] as? Number)?.toDouble() ?: throw JsonException("preprocessing.$key[$it]: not a number") }
            }
            return Preprocessing(
                size = json.long("size").toInt(),
                mean = triple("mean"),
                std = triple("std"),
                cropFraction = json.doubleOrNull("crop_fraction") ?: 0.875,
                channelOrder = json.stringOrNull("channel_order") ?: "rgb",
                resize = json.stringOrNull("resize") ?: "bilinear",
            )
        }

        /** Python's `round()` of a float: to the nearest integer, halves to the even one. */
        fun pyRound(x: Double): Double = Math.rint(x)
    }
}
