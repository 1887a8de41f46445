package io.edgebb.core

import java.nio.ByteBuffer

/**
 * An 8-bit RGB image: [pixels] holds `height * width * 3` bytes, row by row, R G B per pixel (the layout of a
 * numpy `uint8 (H, W, 3)` array). Bytes are unsigned values 0..255 stored in Kotlin's signed [Byte].
 */
class RgbImage(val width: Int, val height: Int, val pixels: ByteArray) {
    init {
        require(width > 0 && height > 0) { "image size must be positive, got ${width}x$height" }
        require(pixels.size == width * height * 3) {
            "an RGB ${width}x$height image has ${width * height * 3} bytes, got ${pixels.size}"
        }
    }

    /** The value 0..255 of channel [c] (0 = R) at column [x], row [y]. */
    fun get(x: Int, y: Int, c: Int): Int = pixels[(y * width + x) * 3 + c].toInt() and 0xFF

    /** The [w] x [h] window whose top-left corner is at column [left], row [top]. */
    fun crop(left: Int, top: Int, w: Int, h: Int): RgbImage {
        require(left >= 0 && top >= 0 && w > 0 && h > 0 && left + w <= width && top + h <= height) {
            "crop ($left, $top, $w, $h) does not fit a ${width}x$height image"
        }
        val out = ByteArray(w * h * 3)
        for (y in 0 until h) {
            System.arraycopy(pixels, ((top + y) * width + left) * 3, out, y * w * 3, w * 3)
        }
        return RgbImage(w, h, out)
    }

    /**
     * This image turned clockwise by [degrees] (0, 90, 180 or 270): what a camera frame needs to be upright when
     * the camera reports that rotation (CameraX's `ImageInfo.rotationDegrees`), as a photo is once its EXIF
     * orientation is applied.
     */
    fun rotate(degrees: Int): RgbImage {
        val d = ((degrees % 360) + 360) % 360
        require(d % 90 == 0) { "rotation must be a multiple of 90 degrees, got $degrees" }
        if (d == 0) return this
        val w = if (d == 180) width else height
        val h = if (d == 180) height else width
        val out = ByteArray(pixels.size)
        for (y in 0 until height) {
            for (x in 0 until width) {
                // Where source pixel (x, y) lands in the turned image (column nx, row ny).
                val nx = when (d) {
                    90 -> height - 1 - y
                    180 -> width - 1 - x
                    else -> y
                }
                val ny = when (d) {
                    90 -> x
                    180 -> height - 1 - y
                    else -> width - 1 - x
                }
                val src = (y * width + x) * 3
                val dst = (ny * w + nx) * 3
                out[dst] = pixels[src]
                out[dst + 1] = pixels[src + 1]
                out[dst + 2] = pixels[src + 2]
            }
        }
        return RgbImage(w, h, out)
    }

    companion object {
        /** A [width] x [height] image with every pixel set by [rgb] (x, y) -> packed 0xRRGGBB. */
        fun generate(width: Int, height: Int, rgb: (Int, Int) -> Int): RgbImage {
            val out = ByteArray(width * height * 3)
            for (y in 0 until height) {
                for (x in 0 until width) {
                    val v = rgb(x, y)
                    val i = (y * width + x) * 3
                    out[i] = (v ushr 16).toByte()
                    out[i + 1] = (v ushr 8).toByte()
                    out[i + 2] = v.toByte()
                }
            }
            return RgbImage(width, height, out)
        }

        /**
         * Copies an RGBA_8888 plane (CameraX `ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888`, or a Bitmap's
         * ARGB_8888 bytes read with `copyPixelsToBuffer`) into an RGB image, dropping alpha. [rowStride] and
         * [pixelStride] are in bytes, as `ImageProxy.PlaneProxy` reports them; the buffer is read from index 0
         * (its position is left unchanged).
         */
        fun fromRgba(buffer: ByteBuffer, width: Int, height: Int, rowStride: Int, pixelStride: Int = 4): RgbImage {
            require(pixelStride >= 3) { "an RGBA plane has at least 3 bytes per pixel, got pixelStride $pixelStride" }
            require(rowStride >= width * pixelStride) { "rowStride $rowStride is shorter than a row of $width pixels" }
            val needed = (height - 1) * rowStride + (width - 1) * pixelStride + 3
            require(buffer.limit() >= needed) { "the plane holds ${buffer.limit()} bytes; ${width}x$height needs $needed" }
            val out = ByteArray(width * height * 3)
            var o = 0
            for (y in 0 until height) {
                var p = y * rowStride
                for (x in 0 until width) {
                    out[o] = buffer.get(p)
                    out[o + 1] = buffer.get(p + 1)
                    out[o + 2] = buffer.get(p + 2)
                    o += 3
                    p += pixelStride
                }
            }
            return RgbImage(width, height, out)
        }

        /** An image from packed `0xAARRGGBB` ints (Android `Bitmap.getPixels`, `BufferedImage.getRGB`). */
        fun fromArgb(argb: IntArray, width: Int, height: Int): RgbImage {
            require(argb.size == width * height) { "expected ${width * height} pixels, got ${argb.size}" }
            val out = ByteArray(width * height * 3)
            for (i in argb.indices) {
                val v = argb[i]
                out[i * 3] = (v ushr 16).toByte()
                out[i * 3 + 1] = (v ushr 8).toByte()
                out[i * 3 + 2] = v.toByte()
            }
            return RgbImage(width, height, out)
        }
    }
}
