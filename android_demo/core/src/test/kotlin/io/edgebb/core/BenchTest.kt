package io.edgebb.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** The bench screen's numbers and JSON are `edgebb bench`'s: same statistics to the bit, same schema, same notes. */
class BenchTest {
    private val schema = Vectors.obj("bench_schema")

    private fun strings(key: String) = schema[key].asList(key).map { it as String }

    // Through JSON text and back, so rows built in Kotlin compare with rows read from Python's JSON.
    private fun viaJson(value: Any?): Any? = Json.parse(Json.write(value))

    @Test
    fun latencyStatisticsAreNumpys() {
        val cases = Vectors.list("latency_cases")
        for (case in cases) {
            val measured = case["measured"].asObject("measured")
            val times = measured["latencies_ms"].asList("latencies").map { (it as Number).toDouble() }
            val want = case["row"].asObject("row")
            val stats = LatencyStats.of(times)
            val label = "${times.size} latencies"
            assertEquals(label, want["latency_ms"], viaJson(stats.toJson()))
        }
        println("    latency statistics: ${cases.size} lists (1..1000 values) equal to numpy's, bit for bit")
    }

    @Test
    fun resultRowsAreEdgebbRows() {
        for (case in Vectors.list("latency_cases")) {
            val measured = case["measured"].asObject("measured")
            val times = measured["latencies_ms"].asList("latencies").map { (it as Number).toDouble() }.toDoubleArray()
            val want = case["row"].asObject("row")
            val row = BenchReport.result(
                model = want.string("model"),
                artifactPath = case.string("path"),
                recipe = case.string("recipe"),
                runtime = case.string("runtime"),
                threads = case.int("threads"),
                sizeBytes = null,
                macs = case.longOrNull("macs"),
                status = "ok",
                error = null,
                measurement = Measurement(
                    measured.double("init_ms"), measured.double("first_ms"), times, measured.double("peak_rss_mb"),
                    measured.double("rss_before_mb"), measured.double("rss_after_mb"),
                ),
            )
            val got = viaJson(row).asObject("row")
            for ((key, value) in want) assertEquals("${times.size} latencies: $key", value, got[key])
        }
    }

    @Test
    fun rowKeysAreBenchKeysInOrder() {
        assertEquals(strings("result_keys"), BenchSchema.RESULT_KEYS)
        val row = BenchReport.result("m", "assets/m_fp32.tflite", "fp32", BenchSchema.CPU, 1, 1000L, null, "skipped", "no GPU", null)
        assertEquals(strings("result_keys"), row.keys.toList())
        assertEquals("skipped", row["status"])
        assertEquals("android", row["target"])
        assertEquals(0.001, row["size_mb"])
    }

    @Test
    fun reportAndEnvironmentKeys() {
        val facts = DeviceFacts(
            manufacturer = "Google", model = "Pixel 8", device = "shiba", androidRelease = "15", sdkInt = 35,
            abis = listOf("arm64-v8a"), cores = 9, machine = "aarch64", soc = "Google Tensor G3",
            cpuinfo = Vectors.list("cpuinfo_cases").first().string("text"), appVersion = "0.1.0", litertVersion = "1.4.2",
        )
        val env = BenchEnvironment.of(facts, DeviceState(31.5, null, 0), DeviceState(35.0, 1800.0, 2))
        val missing = strings("env_keys").filter { it !in env && it != "python" }
        assertTrue("env lacks edgebb bench's keys $missing", missing.isEmpty())
        assertEquals(false, env["emulated"])
        assertEquals(listOf("asimd", "asimddp", "asimdhp", "fphp", "i8mm", "sve"), env["cpu_flags"])
        val report = BenchReport.report(env, emptyList())
        assertEquals(strings("report_keys"), report.keys.toList())
        assertEquals(schema.string("schema"), report["schema"])
        assertEquals(1, (report["warnings"] as List<*>).size) // thermal status "moderate" after the run
        val text = BenchReport.toJson(report)
        assertTrue(text.endsWith("}\n"))
        assertEquals(viaJson(report), Json.parse(text))
    }

    @Test
    fun cpuTablesAreEdgebbs() {
        assertEquals(strings("relevant_flags"), BenchSchema.RELEVANT_FLAGS)
        assertEquals(schema["arm_cores"], BenchSchema.ARM_CORES)
    }

    @Test
    fun cpuinfoIsReadAsEdgebbReadsIt() {
        for (case in Vectors.list("cpuinfo_cases")) {
            val (model, flags) = ProcInfo.cpuInfo(case.string("text"))
            assertEquals(case.string("name"), case["cpu_model"], model)
            assertEquals(case.string("name"), case["cpu_flags"], flags)
        }
    }

    @Test
    fun int8DiagnosisNotesAreEdgebbs() {
        for (case in Vectors.list("diagnose_cases")) {
            val env = case["env"].asObject("env")
            val results = case["results"].asList("results").map { it.asObject("row") }
            assertEquals(env.toString(), case["notes"], BenchReport.diagnose(results, env))
        }
    }

    @Test
    fun procStatusMemory() {
        val status = "Name:\tedgebb\nVmPeak:\t 9000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n"
        assertEquals(204800 * 1024 / 1e6, ProcInfo.statusMb(status, "VmHWM")!!, 0.0)
        assertEquals(102400 * 1024 / 1e6, ProcInfo.statusMb(status, "VmRSS")!!, 0.0)
        assertEquals(null, ProcInfo.statusMb(status, "VmSwap"))
        assertEquals(42.5, ProcInfo.temperatureC("42500\n")!!, 0.0)
    }

    @Test
    fun percentileIsNumpyLinear() {
        val a = doubleArrayOf(1.0, 2.0, 3.0, 4.0)
        assertEquals(2.5, LatencyStats.percentile(a, 50.0), 0.0)
        assertEquals(3.7, LatencyStats.percentile(a, 90.0), 0.0) // numpy: 3.7 (from the upper neighbour)
        assertEquals(4.0, LatencyStats.percentile(doubleArrayOf(4.0), 99.0), 0.0)
    }
}
