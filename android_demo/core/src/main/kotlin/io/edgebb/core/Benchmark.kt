package io.edgebb.core

/** How long to measure, with `edgebb bench`'s options and defaults (`--runs`, `--min-seconds`, `--warmup`). */
class BenchSettings(
    val runs: Int = 50,
    val minSeconds: Double = 2.0,
    val warmup: Int = 5,
    /** A hard cap on steady-state runs, as edgebb's bench worker has. */
    val maxRuns: Int = 100_000,
) {
    init {
        require(runs >= 1 && warmup >= 0 && minSeconds >= 0 && maxRuns >= runs) {
            "runs must be >= 1, warmup >= 0, min seconds >= 0 (got runs $runs, warmup $warmup, min seconds $minSeconds)"
        }
    }
}

/** Memory figures of the process, in MB (the app reads /proc/self/status; null where unreadable). */
interface MemoryProbe {
    fun rssMb(): Double?
    fun peakRssMb(): Double?
}

/**
 * The measurement method of `edgebb bench` (its worker's `measure`), for a runtime the app drives:
 * memory before loading, the load timed on its own (init), one first inference timed on its own (it pays for lazy
 * allocation and delegate compilation), [BenchSettings.warmup] untimed runs, then a steady state that runs until
 * both [BenchSettings.runs] and [BenchSettings.minSeconds] are met, each run timed alone and cycling through the
 * prepared inputs. Memory after and the peak are read before the model is closed.
 */
object Benchmark {
    /**
     * [open] loads the model; [invoke] runs input number `i` (0 until [inputs]) synchronously, reading its output;
     * [close] releases the model (also when something throws). [clock] is a nanosecond clock.
     */
    fun <S> measure(
        settings: BenchSettings,
        inputs: Int,
        open: () -> S,
        invoke: (S, Int) -> Unit,
        close: (S) -> Unit,
        memory: MemoryProbe? = null,
        clock: () -> Long = System::nanoTime,
    ): Measurement {
        require(inputs >= 1) { "need at least one input" }
        val rssBefore = memory?.rssMb()
        var t = clock()
        val session = open()
        val initMs = (clock() - t) / 1e6
        try {
            t = clock()
            invoke(session, 0)
            val firstMs = (clock() - t) / 1e6
            for (i in 0 until settings.warmup) invoke(session, i % inputs)
            val times = ArrayList<Double>()
            val start = clock()
            val minNanos = (settings.minSeconds * 1e9).toLong()
            while (times.size < settings.maxRuns && !(times.size >= settings.runs && clock() - start >= minNanos)) {
                val input = times.size % inputs
                t = clock()
                invoke(session, input)
                times.add((clock() - t) / 1e6)
            }
            return Measurement(initMs, firstMs, times.toDoubleArray(), memory?.peakRssMb(), rssBefore, memory?.rssMb())
        } finally {
            close(session)
        }
    }
}

/** The mean of the last [window] values, for the live latency read-out. */
class RollingMean(private val window: Int = 30) {
    private val values = ArrayDeque<Double>()
    private var sum = 0.0

    fun add(value: Double): Double {
        values.addLast(value)
        sum += value
        if (values.size > window) sum -= values.removeFirst()
        return mean
    }

    val mean: Double get() = if (values.isEmpty()) Double.NaN else sum / values.size

    val count: Int get() = values.size

    fun clear() {
        values.clear()
        sum = 0.0
    }
}

/** Checks that what the runtime reports for a tensor is what the manifest promised. */
object TensorCheck {
    /**
     * Null when the runtime's view of a tensor ([shape], [dtype] as numpy names it, quantization [scale] and
     * [zeroPoint]; scale 0 for a float tensor) matches [spec]; otherwise one line saying what differs, which means the
     * .tflite in the assets is not the one the manifest describes.
     */
    fun mismatch(spec: TensorSpec, shape: IntArray, dtype: String, scale: Float, zeroPoint: Int): String? {
        val problems = ArrayList<String>()
        if (!shape.contentEquals(spec.shape)) problems.add("shape ${shape.joinToString("x")} (manifest ${spec.shape.joinToString("x")})")
        if (dtype != spec.dtype.key) problems.add("dtype $dtype (manifest ${spec.dtype.key})")
        if (spec.quantized) {
            if (scale != spec.scale!!.toFloat() || zeroPoint != spec.zeroPoint) {
                problems.add("quantization scale $scale, zero point $zeroPoint (manifest ${spec.scale}, ${spec.zeroPoint})")
            }
        }
        return if (problems.isEmpty()) null else "${spec.name}: ${problems.joinToString("; ")}"
    }
}

/** The inputs a benchmark feeds: random pixels through the model's normalization and input quantization. */
object BenchInputs {
    /**
     * [count] input tensors (bytes as the model takes them) of uniformly random 8-bit pixels, normalized by [pp] and
     * encoded for [input]: what `edgebb bench` feeds when it has no --data (random pixels through the preprocessing's
     * normalization; its numpy generator is not reproduced, the timing does not depend on the values).
     */
    fun random(pp: Preprocessing, input: TensorSpec, count: Int = 8, seed: Long = 0): List<ByteArray> {
        val rng = java.util.Random(seed)
        return List(count) {
            val pixels = ByteArray(pp.size * pp.size * 3).also { rng.nextBytes(it) }
            input.encode(pp.normalize(pixels))
        }
    }
}
