package io.edgebb.core

import java.math.BigDecimal
import java.math.RoundingMode

/**
 * The `edgebb bench --json` file, written by the app: `{"schema": "edgebb.bench/1", "env": {...}, "results": [...],
 * "notes": [...]}`, with every result row in the Python rows' key order and computed by the same formulas
 * (`edgebb.benchmark.harness.new_row` and `finish`), so `edgebb` tooling and reports read phone results like any other.
 */
object BenchSchema {
    const val SCHEMA = "edgebb.bench/1"

    /** The target every row of the app carries. */
    const val TARGET = "android"

    /** Runtimes the app measures, named as edgebb names its runtimes. */
    const val CPU = "litert"
    const val GPU = "litert-gpu"
    const val NNAPI = "nnapi"

    /** The keys of one result row, in `edgebb.benchmark.rows.BenchRow`'s order. */
    val RESULT_KEYS = listOf(
        "model", "artifact", "path", "format", "recipe", "runtime", "input_size", "target", "threads", "status", "error",
        "init_ms", "first_ms", "latency_ms", "runs", "cv", "spread", "throughput_ips", "peak_rss_mb",
        "rss_delta_mb", "size_mb", "macs", "gmacs_per_s", "speedup_vs_baseline", "memory_ratio_vs_baseline", "baseline", "emulated",
    )

    /** CPU flags that decide int8 and float speed, as `edgebb.benchmark.environment.RELEVANT_FLAGS`. */
    val RELEVANT_FLAGS = listOf(
        "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8",
        "neon", "asimd", "asimddp", "i8mm", "fphp", "asimdhp", "sve",
    )

    /** Arm Ltd. cores by their /proc/cpuinfo "CPU part", as `edgebb.benchmark.environment.ARM_CORES`. */
    val ARM_CORES = mapOf(
        "0xb76" to "ARM1176", "0xc07" to "Cortex-A7", "0xd03" to "Cortex-A53", "0xd04" to "Cortex-A35",
        "0xd05" to "Cortex-A55", "0xd07" to "Cortex-A57", "0xd08" to "Cortex-A72", "0xd09" to "Cortex-A73",
        "0xd0a" to "Cortex-A75", "0xd0b" to "Cortex-A76", "0xd0c" to "Neoverse-N1", "0xd0d" to "Cortex-A77",
        "0xd41" to "Cortex-A78", "0xd44" to "Cortex-X1", "0xd46" to "Cortex-A510", "0xd47" to "Cortex-A710",
    )
}

/** What one measurement produced (the app's counterpart of `edgebb.bench_worker.measure`'s result). */
class Measurement(
    val initMs: Double,
    val firstMs: Double,
    val latenciesMs: DoubleArray,
    val peakRssMb: Double?,
    val rssBeforeMb: Double?,
    val rssAfterMb: Double?,
)

/** Builds result rows and the report. */
object BenchReport {
    /**
     * One result row as `edgebb bench` writes it. [measurement] is null for a row that did not run ([status]
     * "skipped" or "failed", with [error] saying why).
     */
    fun result(
        model: String,
        artifactPath: String,
        recipe: String,
        runtime: String,
        threads: Int,
        sizeBytes: Long?,
        macs: Long?,
        status: String,
        error: String?,
        measurement: Measurement?,
        emulated: Boolean = false,
        inputSize: Int? = null,
    ): LinkedHashMap<String, Any?> {
        val row = LinkedHashMap<String, Any?>()
        row["model"] = model
        row["artifact"] = artifactPath.substringAfterLast('/')
        row["path"] = artifactPath
        row["format"] = "tflite"
        row["recipe"] = recipe
        row["runtime"] = runtime
        row["input_size"] = inputSize
        row["target"] = BenchSchema.TARGET
        row["threads"] = threads
        row["status"] = if (measurement == null && status == "ok") "failed" else status
        row["error"] = error
        for (key in listOf("init_ms", "first_ms", "latency_ms", "runs", "cv", "spread", "throughput_ips", "peak_rss_mb", "rss_delta_mb")) {
            row[key] = null
        }
        row["size_mb"] = sizeBytes?.let { it.toDouble() / 1e6 }
        row["macs"] = macs
        row["gmacs_per_s"] = null
        row["speedup_vs_baseline"] = null
        row["memory_ratio_vs_baseline"] = null
        row["baseline"] = false
        row["emulated"] = emulated
        if (row["status"] == "ok" && measurement != null) finish(row, measurement, macs)
        return row
    }

    // edgebb.benchmark.harness.finish: the same fields from the same numbers, by the same formulas.
    private fun finish(row: LinkedHashMap<String, Any?>, m: Measurement, macs: Long?) {
        val stats = LatencyStats.of(m.latenciesMs)
        row["init_ms"] = m.initMs
        row["first_ms"] = m.firstMs
        row["latency_ms"] = stats.toJson()
        row["runs"] = m.latenciesMs.size
        row["cv"] = if (stats.mean != 0.0) stats.std / stats.mean else null
        row["spread"] = LatencyStats.spread(m.latenciesMs)
        row["throughput_ips"] = 1e3 / stats.mean
        row["peak_rss_mb"] = m.peakRssMb
        row["rss_delta_mb"] = if (m.rssAfterMb != null && m.rssBeforeMb != null) m.rssAfterMb - m.rssBeforeMb else null
        if (macs != null && macs != 0L) row["gmacs_per_s"] = macs.toDouble() / (stats.p50 / 1e3) / 1e9
    }

    /**
     * The whole report: [notes] are what [diagnose] finds in [results] plus, on an emulator, the same note edgebb
     * bench writes under emulation; [warnings] are conditions that make the figures not comparable to a clean run
     * (see [thermalWarnings]).
     */
    fun report(
        env: Map<String, Any?>,
        results: List<Map<String, Any?>>,
        notes: List<String> = defaultNotes(results, env),
        warnings: List<String> = thermalWarnings(env),
    ): Map<String, Any?> = linkedMapOf(
        "schema" to BenchSchema.SCHEMA, "env" to env, "results" to results, "notes" to notes, "warnings" to warnings,
    )

    /** [diagnose], then the emulation note of `edgebb bench`. */
    fun defaultNotes(results: List<Map<String, Any?>>, env: Map<String, Any?>): List<String> {
        val notes = diagnose(results, env).toMutableList()
        if (env["emulated"] == true) {
            notes.add(
                "emulated (${env["emulation"]}): these figures measure an emulator on another CPU, not the " +
                    "target's speed; they prove the device path runs, nothing more",
            )
        }
        return notes
    }

    /**
     * The phone's counterpart of edgebb bench's throttling warning: Android's thermal status (PowerManager, API 29+)
     * read before and after the run, in `env.thermal_status_before/after`; MODERATE (2) or worse means the system
     * was already limiting performance.
     */
    fun thermalWarnings(env: Map<String, Any?>): List<String> {
        val before = (env["thermal_status_before"] as? Number)?.toInt()
        val after = (env["thermal_status_after"] as? Number)?.toInt()
        val worst = listOfNotNull(before, after).maxOrNull() ?: return emptyList()
        if (worst < THERMAL_MODERATE) return emptyList()
        return listOf(
            "the phone reported thermal status ${thermalName(worst)} during this run (before: ${thermalName(before)}, " +
                "after: ${thermalName(after)}): it was limiting performance, so these figures are not comparable to a " +
                "run on a cool phone; let it cool down (screen off, unplugged from the charger) and run again",
        )
    }

    private const val THERMAL_MODERATE = 2
    private val THERMAL_NAMES = listOf("none", "light", "moderate", "severe", "critical", "emergency", "shutdown")

    /** Android's thermal status constant as its name ("moderate"), or "unknown". */
    fun thermalName(status: Int?): String = status?.let { THERMAL_NAMES.getOrNull(it) } ?: "unknown"

    /** The report as JSON text (two-space indent and a final newline, as `edgebb.core.serialize.to_json`). */
    fun toJson(report: Map<String, Any?>): String = Json.write(report) + "\n"

    /**
     * `edgebb.benchmark.analysis.diagnose`: where an int8 recipe (int8, int8-qat: the note names it) is slower than
     * fp32 on the same model, runtime and threads by more than the run's noise ([MIN_DIFFERENCE], or twice the larger
     * coefficient of variation of the two rows), one note with the likely cause (none for a pair that ran on a
     * software adapter or an emulator); and one note per software adapter, naming the rows that ran on it.
     */
    fun diagnose(results: List<Map<String, Any?>>, env: Map<String, Any?>): List<String> {
        data class Key(val model: Any?, val runtime: Any?, val threads: Any?, val recipe: Any?)
        val ok = LinkedHashMap<Key, Map<String, Any?>>()
        for (r in results) if (r["status"] == "ok") ok[Key(r["model"], r["runtime"], r["threads"], r["recipe"])] = r
        val notes = ArrayList<String>()
        for ((key, r) in ok) {
            val fp32 = ok[key.copy(recipe = "fp32")]
            if (key.recipe !in INT8_RECIPES || fp32 == null) continue
            // a software GPU's or an emulator's latencies are not the target's: no cause to name
            if (listOf(r, fp32).any { it["software"] == true || it["emulated"] == true }) continue
            val ratio = p50(r) / p50(fp32)
            val noise = maxOf(MIN_DIFFERENCE, 2 * maxOf(noise(r), noise(fp32)))
            if (ratio - 1.0 > noise) {
                var cause = int8SpeedHint(env)
                if (key.runtime == BenchSchema.GPU) {
                    cause = if (r["fully_accelerated"] == false) {
                        "the GPU delegate did not take the whole int8 model and fell back to CPU for part of it"
                    } else {
                        "LiteRT's GPU accelerator computes int8 models in float (it dequantizes them), so int8 " +
                            "saves size there, not time"
                    }
                }
                notes.add("${key.model} ${key.recipe} is ${format2(ratio)}x slower than fp32 on ${key.runtime} (${key.threads} thread(s)): $cause")
            }
        }
        val software = LinkedHashMap<Pair<Any?, Any?>, LinkedHashSet<Any?>>() // one note per runtime and adapter
        for (r in results) {
            if (r["software"] == true) software.getOrPut(Pair(r["runtime"], r["adapter"])) { LinkedHashSet() }.add(r["artifact"])
        }
        for ((key, artifacts) in software) {
            notes.add(
                "${artifacts.joinToString(", ")} on ${key.first} ran on a software adapter (${key.second}): latency " +
                    "there is emulation, not GPU speed",
            )
        }
        return notes
    }

    private fun p50(row: Map<String, Any?>): Double = ((row["latency_ms"] as Map<*, *>)["p50"] as Number).toDouble()

    /** `edgebb.benchmark.rows.noise`: the row's `spread`, or `cv` in a row written before there was one. */
    private fun noise(row: Map<String, Any?>): Double =
        ((row["spread"] ?: row["cv"]) as? Number)?.toDouble() ?: 0.0

    /** The recipes of int8 weights and activations (`edgebb.conversion.recipes`): [diagnose] compares them with fp32. */
    private val INT8_RECIPES = setOf<Any?>("int8", "int8-qat")

    /** int8 must be this much slower than fp32 (and more than the noise) before a cause is named. */
    const val MIN_DIFFERENCE = 0.05

    // Python's f"{x:.2f}": the exact binary value rounded half-to-even (Java's %.2f rounds a decimal string instead).
    private fun format2(x: Double): String = BigDecimal(x).setScale(2, RoundingMode.HALF_EVEN).toPlainString()

    /** `edgebb.benchmark.environment.int8_speed_hint`: the likely reason int8 is no faster than float on this CPU. */
    fun int8SpeedHint(env: Map<String, Any?>): String {
        val flags = (env["cpu_flags"] as? List<*>)?.map { it.toString() }?.toSet() ?: emptySet()
        val machine = (env["machine"] as? String ?: "").lowercase()
        if (machine in setOf("x86_64", "amd64", "i686")) {
            if (flags.intersect(setOf("avx512_vnni", "avx_vnni", "amx_int8")).isEmpty()) {
                return "this x86 CPU has no VNNI (AVX512-VNNI / AVX-VNNI): int8 dot products take several instructions"
            }
            return "this CPU has VNNI, so int8 dot products are not the bottleneck; likely causes: quantize / requantize " +
                "steps, ops without fast int8 kernels, or a small model where float kernels use AVX-512 well"
        }
        if (machine in setOf("aarch64", "arm64", "armv7l", "armv8l")) {
            if ("asimddp" !in flags) return "this ARM CPU has no dotprod (asimddp): int8 dot products cannot use SDOT"
            return "this ARM CPU has dotprod; look for ops without int8 kernels or quantize/dequantize at the edges"
        }
        return "no known int8 acceleration on this CPU"
    }
}

/** Readers for the Linux files the app's environment and memory figures come from (their text is passed in). */
object ProcInfo {
    /** `cpu_model` and `cpu_flags` from /proc/cpuinfo text, as `edgebb.benchmark.environment.cpu_info` reads them. */
    fun cpuInfo(text: String): Pair<String?, List<String>> {
        var model: String? = null
        val flags = HashSet<String>()
        val fields = HashMap<String, String>() // the first value of every key
        for (line in text.lines()) {
            val colon = line.indexOf(':')
            val key = (if (colon < 0) line else line.substring(0, colon)).trim().lowercase()
            val value = if (colon < 0) "" else line.substring(colon + 1)
            fields.putIfAbsent(key, value.trim())
            if (key in setOf("model name", "hardware", "cpu model") && model.isNullOrEmpty()) {
                model = value.trim()
            } else if (key == "flags" || key == "features") {
                flags.addAll(value.split(Regex("\\s+")).filter { it.isNotEmpty() })
            }
        }
        // an arm64 /proc/cpuinfo names no model: Arm Ltd. cores (implementer 0x41) are named by their part number
        val core = if (fields["cpu implementer"] == "0x41") BenchSchema.ARM_CORES[(fields["cpu part"] ?: "").lowercase()] else null
        if (core != null) {
            model = if (!model.isNullOrEmpty()) "$core ($model)" else core
        } else if (model.isNullOrEmpty() && "cpu part" in fields) {
            model = "ARM part ${fields["cpu part"]}"
        }
        return model?.takeIf { it.isNotEmpty() } to flags.filter { it in BenchSchema.RELEVANT_FLAGS }.sorted()
    }

    /** A `Vm...:` figure of /proc/self/status in MB (kB * 1024 / 1e6, as edgebb's bench worker), or null. */
    fun statusMb(statusText: String, field: String): Double? {
        for (line in statusText.lines()) {
            if (line.startsWith("$field:")) {
                val kb = line.substringAfter(':').trim().split(Regex("\\s+")).firstOrNull()?.toLongOrNull() ?: return null
                return (kb * 1024).toDouble() / 1e6
            }
        }
        return null
    }

    /** The first thermal zone reading in degrees C from its `temp` file text (millidegrees), or null. */
    fun temperatureC(zoneText: String?): Double? {
        val t = zoneText?.trim() ?: return null
        val v = t.toLongOrNull() ?: return null
        return v / 1000.0
    }
}

/** The facts about the phone that a benchmark figure depends on; the app fills them from `android.os.Build`. */
class DeviceFacts(
    val manufacturer: String,
    val model: String,
    val device: String,
    val androidRelease: String,
    val sdkInt: Int,
    val abis: List<String>,
    val cores: Int,
    val machine: String,
    val soc: String?,
    val cpuinfo: String,
    val appVersion: String,
    val litertVersion: String,
    /** How the app is emulated (an Android emulator image), or null on a real phone. */
    val emulation: String? = null,
)

/** What changes on the phone during a run, read before and after it (null where Android does not let the app read it). */
class DeviceState(val temperatureC: Double?, val cpuFreqMhz: Double?, val thermalStatus: Int?)

/**
 * The `env` object of the app's bench JSON: every key `edgebb bench` writes (except `python`: there is none on the
 * phone), meaning the same where the phone has it and null where it does not (`throttled_*` is Raspberry Pi
 * firmware's), then Android's own facts.
 */
object BenchEnvironment {
    fun of(facts: DeviceFacts, before: DeviceState, after: DeviceState): Map<String, Any?> {
        val (cpuModel, flags) = ProcInfo.cpuInfo(facts.cpuinfo)
        val env = linkedMapOf<String, Any?>(
            "edgebb" to facts.appVersion,
            "cpu_model" to (cpuModel ?: facts.soc),
            "cpu_flags" to flags,
            "cores" to facts.cores,
            "machine" to facts.machine,
            "os" to "Android ${facts.androidRelease} (API ${facts.sdkInt})",
            "board" to (facts.soc ?: facts.device),
            "emulated" to (facts.emulation != null),
        )
        if (facts.emulation != null) env["emulation"] = facts.emulation
        env["versions"] = linkedMapOf("litert" to facts.litertVersion, "edgebb-android" to facts.appVersion)
        env["temperature_before_c"] = before.temperatureC
        env["throttled_before"] = null
        // Android keeps /proc/loadavg and /proc/stat from apps (SELinux, API 26+): how busy the phone was is unknown.
        env["load_average_before"] = null
        env["cpu_busy_before"] = null
        env["temperature_after_c"] = after.temperatureC
        env["throttled_after"] = null
        env["cpu_freq_after_mhz"] = after.cpuFreqMhz
        env["load_average_after"] = null
        env["cpu_busy_after"] = null
        env["device"] = "${facts.manufacturer} ${facts.model}"
        env["android_version"] = facts.androidRelease
        env["sdk_int"] = facts.sdkInt
        env["abi"] = facts.abis.firstOrNull()
        env["abis"] = facts.abis
        env["thermal_status_before"] = before.thermalStatus
        env["thermal_status_after"] = after.thermalStatus
        return env
    }
}
