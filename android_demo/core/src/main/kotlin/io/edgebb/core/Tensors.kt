package io.edgebb.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/** Element types of model inputs and outputs that the app feeds and reads (names as numpy and the manifest spell them). */
enum class DType(val key: String, val bytes: Int, val min: Int, val max: Int) {
    FLOAT32("float32", 4, 0, 0),
    INT8("int8", 1, -128, 127),
    UINT8("uint8", 1, 0, 255),
    ;

    companion object {
        fun named(name: String): DType = entries.firstOrNull { it.key == name }
            ?: throw IllegalArgumentException("tensor dtype \"$name\" is not supported; supported: ${entries.joinToString { it.key }}")
    }
}

/**
 * One model input or output as an edgebb manifest describes it (`artifacts[].inputs[]` / `outputs[]`).
 * [scale] and [zeroPoint] are set for quantized integer tensors: real = (q - zeroPoint) * scale.
 */
class TensorSpec(val name: String, val shape: IntArray, val dtype: DType, val scale: Double?, val zeroPoint: Int?) {
    /** True for an int8/uint8 tensor with quantization parameters. */
    val quantized: Boolean get() = dtype != DType.FLOAT32 && scale != null && zeroPoint != null

    /** Elements in one sample (the shape without its batch dimension; a dynamic dimension counts as 1). */
    val elements: Int get() = shape.drop(1).fold(1) { acc, d -> acc * maxOf(d, 1) }

    /** Bytes of one sample. */
    val byteSize: Int get() = elements * dtype.bytes

    override fun toString() = "$name ${shape.joinToString("x")} ${dtype.key}" +
        if (quantized) " (scale $scale, zero point $zeroPoint)" else ""

    /**
     * Real values to this tensor's integers exactly as edgebb's Python `quantize` (`edgebb.runtimes`) computes them
     * with numpy: `clip(round(x / float32(scale)) + zero_point)`, all in float32, `round` halving to even.
     * Returns one byte per value (the integer's low 8 bits: two's complement for int8, unsigned for uint8).
     */
    fun quantize(values: FloatArray): ByteArray {
        check(quantized) { "$name is not a quantized tensor" }
        val s = scale!!.toFloat()
        val zp = zeroPoint!!.toFloat()
        val lo = dtype.min.toFloat()
        val hi = dtype.max.toFloat()
        val out = ByteArray(values.size)
        for (i in values.indices) {
            val r = Math.rint((values[i] / s).toDouble()).toFloat() + zp
            val q = if (r < lo) lo else if (r > hi) hi else r
            out[i] = q.toInt().toByte()
        }
        return out
    }

    /** Integer bytes of this tensor back to real float32 values: `(q - zero_point) * scale`, as edgebb's `dequantize`. */
    fun dequantize(raw: ByteArray): FloatArray {
        check(quantized) { "$name is not a quantized tensor" }
        val s = scale!!.toFloat()
        val zp = zeroPoint!!.toFloat()
        return FloatArray(raw.size) { i ->
            val q = if (dtype == DType.UINT8) raw[i].toInt() and 0xFF else raw[i].toInt()
            (q.toFloat() - zp) * s
        }
    }

    /**
     * The bytes to copy into the model's input tensor for float32 [values] already normalized by the preprocessing:
     * quantized for an int8/uint8 input, float32 little-endian for a float input.
     */
    fun encode(values: FloatArray): ByteArray {
        require(values.size == elements) { "$name takes $elements values, got ${values.size}" }
        return when (dtype) {
            DType.FLOAT32 -> {
                val buffer = ByteBuffer.allocate(values.size * 4).order(ByteOrder.LITTLE_ENDIAN)
                buffer.asFloatBuffer().put(values)
                buffer.array()
            }
            else -> quantize(values)
        }
    }

    /** Real float32 values from the raw bytes of this (output) tensor: dequantized, or float32 little-endian. */
    fun decode(raw: ByteArray): FloatArray {
        require(raw.size == byteSize) { "$name has $byteSize bytes, got ${raw.size}" }
        return when (dtype) {
            DType.FLOAT32 -> {
                val out = FloatArray(elements)
                ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out)
                out
            }
            else -> if (quantized) dequantize(raw) else FloatArray(raw.size) {
                if (dtype == DType.UINT8) (raw[it].toInt() and 0xFF).toFloat() else raw[it].toFloat()
            }
        }
    }

    companion object {
        /** Reads one entry of an edgebb manifest's `inputs` / `outputs` list. */
        fun fromJson(json: Map<String, Any?>): TensorSpec {
            val shape = json["shape"].asList("tensor shape").map {
                (it as? Number)?.toInt() ?: throw JsonException("tensor shape: $it is not a number")
            }
            return TensorSpec(
                name = json.string("name"),
                shape = shape.toIntArray(),
                dtype = DType.named(json.string("dtype")),
                scale = json.doubleOrNull("scale"),
                zeroPoint = json.longOrNull("zero_point")?.toInt(),
            )
        }
    }
}
