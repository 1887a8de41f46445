package io.edgebb.core

import kotlin.math.floor
import kotlin.math.sqrt

/**
 * The latency summary of `edgebb bench` (`latency_ms` in its JSON), computed with the same definitions as the
 * Python side's numpy calls, to the bit: `mean` and `std` (population, ddof 0) with numpy's pairwise summation,
 * percentiles with numpy's default "linear" method (Hyndman & Fan type 7) and its interpolation formula.
 */
data class LatencyStats(
    val mean: Double,
    val std: Double,
    val min: Double,
    val p50: Double,
    val p90: Double,
    val p99: Double,
    val max: Double,
) {
    /** `{"mean": ..., "std": ..., "min": ..., "p50": ..., "p90": ..., "p99": ..., "max": ...}` in that order. */
    fun toJson(): Map<String, Any?> = linkedMapOf(
        "mean" to mean, "std" to std, "min" to min, "p50" to p50, "p90" to p90, "p99" to p99, "max" to max,
    )

    companion object {
        /** The summary of [timesMs] (at least one value). */
        fun of(timesMs: DoubleArray): LatencyStats {
            require(timesMs.isNotEmpty()) { "no latencies to summarize" }
            val sorted = timesMs.copyOf().also { it.sort() }
            val n = timesMs.size
            val mean = pairwiseSum(timesMs, 0, n) / n
            val squares = DoubleArray(n) { val d = timesMs[it] - mean; d * d }
            val std = sqrt(pairwiseSum(squares, 0, n) / n)
            return LatencyStats(
                mean = mean, std = std, min = sorted[0],
                p50 = percentile(sorted, 50.0), p90 = percentile(sorted, 90.0), p99 = percentile(sorted, 99.0),
                max = sorted[n - 1],
            )
        }

        fun of(timesMs: List<Double>): LatencyStats = of(timesMs.toDoubleArray())

        /** The interquartile range of a normal distribution, in standard deviations. */
        const val IQR_SIGMAS = 1.349

        /**
         * `edgebb.benchmark.rows.spread_of`: how much the runs typically varied, a share of their p50 (interquartile
         * range / 1.349 / p50); unlike std / mean, the few runs the OS preempts do not move it. Null when p50 is 0.
         */
        fun spread(timesMs: DoubleArray): Double? {
            require(timesMs.isNotEmpty()) { "no latencies to summarize" }
            val sorted = timesMs.copyOf().also { it.sort() }
            val p25 = percentile(sorted, 25.0)
            val p50 = percentile(sorted, 50.0)
            val p75 = percentile(sorted, 75.0)
            return if (p50 != 0.0) (p75 - p25) / IQR_SIGMAS / p50 else null
        }

        /**
         * numpy's `percentile(a, q)` (method "linear") of the ascending array [sorted]: the value at virtual index
         * `(n - 1) * q / 100`, interpolated between its neighbours as numpy's `_lerp` does (from the upper neighbour
         * when the fraction is 0.5 or more, which keeps the result inside the interval).
         */
        fun percentile(sorted: DoubleArray, q: Double): Double {
            val n = sorted.size
            require(n > 0) { "percentile of nothing" }
            val virtual = (n - 1) * (q / 100.0)
            if (virtual >= n - 1) return sorted[n - 1]
            if (virtual < 0) return sorted[0]
            val previous = floor(virtual)
            val i = previous.toInt()
            val a = sorted[i]
            val b = sorted[i + 1]
            val gamma = virtual - previous
            val diff = b - a
            return if (gamma >= 0.5) b - diff * (1 - gamma) else a + diff * gamma
        }

        /**
         * numpy's pairwise summation of `a[from until from + n]` (what `np.sum` / `np.mean` do on a contiguous float64
         * array): plain sums below 8 values, eight interleaved partial sums up to 128, halves (rounded down to a
         * multiple of 8) above. Same order of additions, so the same double.
         */
        fun pairwiseSum(a: DoubleArray, from: Int, n: Int): Double {
            if (n < 8) {
                var res = 0.0
                for (i in 0 until n) res += a[from + i]
                return res
            }
            if (n <= 128) {
                val r = DoubleArray(8) { a[from + it] }
                var i = 8
                while (i < n - (n % 8)) {
                    for (j in 0 until 8) r[j] += a[from + i + j]
                    i += 8
                }
                var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
                while (i < n) {
                    res += a[from + i]
                    i++
                }
                return res
            }
            var half = n / 2
            half -= half % 8
            return pairwiseSum(a, from, half) + pairwiseSum(a, from + half, n - half)
        }
    }
}
