package io.edgebb.core

import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.security.MessageDigest
import javax.imageio.ImageIO

/**
 * The shared test vectors written by android_demo/tools/write_vectors.py with edgebb's own Python functions
 * (test resources under /vectors; `make android-vectors` regenerates them).
 */
object Vectors {
    val index: Map<String, Any?> by lazy { Json.parseObject(text("index.json")) }

    fun bytes(rel: String): ByteArray {
        val stream = Vectors::class.java.getResourceAsStream("/vectors/$rel")
            ?: throw AssertionError("test vector /vectors/$rel is missing (run `make android-vectors`)")
        return stream.use { it.readBytes() }
    }

    fun text(rel: String): String = String(bytes(rel), Charsets.UTF_8)

    fun list(key: String): List<Map<String, Any?>> = index[key].asList(key).map { it.asObject(key) }

    fun obj(key: String): Map<String, Any?> = index[key].asObject(key)

    /** A PNG of the vectors as an [RgbImage] (decoded by the JDK, not by the code under test). */
    fun png(rel: String): RgbImage {
        val image = ImageIO.read(bytes(rel).inputStream()) ?: throw AssertionError("$rel: not a PNG")
        val argb = image.getRGB(0, 0, image.width, image.height, null, 0, image.width)
        return RgbImage.fromArgb(argb, image.width, image.height)
    }

    /** An image of the vectors by name (`index.images`). */
    fun image(name: String): RgbImage = png(obj("images").getValue(name).asObject(name).string("file"))

    fun floats(raw: ByteArray): FloatArray {
        val out = FloatArray(raw.size / 4)
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out)
        return out
    }

    fun floatBytes(values: FloatArray): ByteArray {
        val buffer = ByteBuffer.allocate(values.size * 4).order(ByteOrder.LITTLE_ENDIAN)
        buffer.asFloatBuffer().put(values)
        return buffer.array()
    }

    fun sha256(data: ByteArray): String =
        MessageDigest.getInstance("SHA-256").digest(data).joinToString("") { "%02x".format(it) }

    fun preprocessing(name: String): Preprocessing = Preprocessing.fromJson(obj("preprocessing").getValue(name).asObject(name))

    /**
     * write_vectors.py's `hash_image`: every byte from lowbias32(i * 0x9E3779B1 + seed * 0x85EBCA77), "noise" its top
     * 8 bits, "texture" `(x * 5 + y * 3 + c * 85 + top 4 bits) & 255`. Integer-only, so both languages agree.
     */
    fun hashImage(width: Int, height: Int, seed: Int, kind: String): RgbImage {
        val out = ByteArray(width * height * 3)
        val seedTerm = (seed.toLong() * 0x85EBCA77L).toInt()
        for (i in out.indices) {
            var x = i * 0x9E3779B1.toInt() + seedTerm
            x = x xor (x ushr 16)
            x *= 0x7FEB352D
            x = x xor (x ushr 15)
            x *= 0x846CA68B.toInt()
            x = x xor (x ushr 16)
            out[i] = when (kind) {
                "noise" -> (x ushr 24).toByte()
                "texture" -> {
                    val c = i % 3
                    val px = (i / 3) % width
                    val py = i / 3 / width
                    ((px * 5 + py * 3 + c * 85 + (x ushr 28)) and 255).toByte()
                }
                else -> throw IllegalArgumentException(kind)
            }
        }
        return RgbImage(width, height, out)
    }
}

fun Map<String, Any?>.int(key: String): Int = long(key).toInt()
