package io.edgebb.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

class BenchmarkTest {
    /** A clock that advances only when the fake model runs (3 ms per run) or loads (40 ms). */
    private class Fake {
        var now = 0L
        val ran = ArrayList<Int>()
        var closed = false
    }

    @Test
    fun followsEdgebbBenchsMethod() {
        val fake = Fake()
        val memory = object : MemoryProbe {
            var calls = 0
            override fun rssMb(): Double = 100.0 + 10 * calls++
            override fun peakRssMb(): Double = 180.0
        }
        val m = Benchmark.measure(
            BenchSettings(runs = 10, minSeconds = 0.05, warmup = 3), inputs = 4,
            open = { fake.now += 40_000_000; fake },
            invoke = { f, i -> f.ran.add(i); f.now += 3_000_000 },
            close = { it.closed = true },
            memory = memory,
            clock = { fake.now },
        )
        assertEquals(40.0, m.initMs, 0.0)
        assertEquals(3.0, m.firstMs, 0.0)
        // 10 runs take 30 ms < 50 ms, so the steady state goes on to 17 runs (51 ms)
        assertEquals(17, m.latenciesMs.size)
        assertTrue(m.latenciesMs.all { it == 3.0 })
        assertEquals(listOf(0) + listOf(0, 1, 2) + (0 until 17).map { it % 4 }, fake.ran)
        assertTrue(fake.closed)
        assertEquals(100.0, m.rssBeforeMb)
        assertEquals(110.0, m.rssAfterMb)
        assertEquals(180.0, m.peakRssMb)
    }

    @Test
    fun closesWhenARunFails() {
        val fake = Fake()
        assertThrows {
            Benchmark.measure(
                BenchSettings(runs = 1, minSeconds = 0.0, warmup = 0), 1,
                open = { fake }, invoke = { _, _ -> error("delegate failed") }, close = { it.closed = true },
            )
        }
        assertTrue(fake.closed)
    }

    @Test
    fun stopsAtMaxRuns() {
        var now = 0L
        val m = Benchmark.measure(
            BenchSettings(runs = 5, minSeconds = 1e9, warmup = 0, maxRuns = 20), 2,
            open = { Unit }, invoke = { _, _ -> now += 1 }, close = {}, clock = { now },
        )
        assertEquals(20, m.latenciesMs.size)
    }

    @Test
    fun rollingMean() {
        val r = RollingMean(3)
        assertTrue(r.mean.isNaN())
        r.add(1.0)
        r.add(2.0)
        r.add(3.0)
        assertEquals(2.0, r.mean, 0.0)
        assertEquals(3.0, r.add(4.0), 0.0)
        assertEquals(3, r.count)
    }

    @Test
    fun tensorCheck() {
        val spec = TensorSpec("input", intArrayOf(1, 32, 32, 3), DType.INT8, 0.007351018954068422, 7)
        assertNull(TensorCheck.mismatch(spec, intArrayOf(1, 32, 32, 3), "int8", 0.007351018954068422f, 7))
        val msg = TensorCheck.mismatch(spec, intArrayOf(1, 224, 224, 3), "uint8", 0.5f, 128)!!
        assertTrue(msg, "shape 1x224x224x3" in msg && "dtype uint8" in msg && "zero point 128" in msg)
        val float = TensorSpec("input", intArrayOf(1, 32, 32, 3), DType.FLOAT32, null, null)
        assertNull(TensorCheck.mismatch(float, intArrayOf(1, 32, 32, 3), "float32", 0f, 0))
    }
}

class BenchInputsTest {
    @Test
    fun randomInputsFitTheModel() {
        val m = ModelManifest.parse(Vectors.text("models/uint8io/manifest.json"))
        val spec = m.tflite.single().input
        val inputs = BenchInputs.random(m.preprocessing, spec, count = 3)
        assertEquals(3, inputs.size)
        assertTrue(inputs.all { it.size == spec.byteSize })
        assertTrue(!inputs[0].contentEquals(inputs[1]))
        assertTrue(inputs[0].contentEquals(BenchInputs.random(m.preprocessing, spec, count = 1)[0]))
    }
}
