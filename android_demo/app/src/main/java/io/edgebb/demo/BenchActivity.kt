package io.edgebb.demo

import android.os.Bundle
import android.util.Log
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.EditText
import android.widget.RadioGroup
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.ComponentActivity
import io.edgebb.core.ArtifactInfo
import io.edgebb.core.BenchEnvironment
import io.edgebb.core.BenchInputs
import io.edgebb.core.BenchReport
import io.edgebb.core.BenchSettings
import io.edgebb.core.Benchmark
import io.edgebb.core.DeviceState
import java.io.File
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * The benchmark screen: `edgebb bench`'s method (init, first run, warm-up, steady state until N runs and T seconds)
 * for each chosen (model, accelerator, threads), rows in its JSON schema with target "android", and the whole
 * session saved as one `edgebb bench --json` file in the app's external files folder.
 */
class BenchActivity : ComponentActivity() {
    private lateinit var log: TextView
    private lateinit var buttons: List<Button>
    private lateinit var model: ModelAssets
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private val threadChoices = MainActivity.availableThreadCounts()

    // The session: rows in the order they ran, and the phone's state before the first and after the last.
    private val results = ArrayList<Map<String, Any?>>()
    private var before: DeviceState? = null
    private var after: DeviceState? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_bench)
        log = findViewById(R.id.log)
        model = try {
            ModelAssets.load(assets)
        } catch (e: NoModelException) {
            log.text = getString(R.string.no_model, e.message)
            return
        }
        val modelSpinner = findViewById<Spinner>(R.id.model)
        val threadSpinner = findViewById<Spinner>(R.id.threads)
        val acceleratorGroup = findViewById<RadioGroup>(R.id.accelerator)
        modelSpinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, model.artifacts.map { it.describe() })
        threadSpinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, threadChoices.map { it.toString() })
        modelSpinner.setSelection(intent.getIntExtra(EXTRA_MODEL, 0).coerceIn(0, model.artifacts.size - 1))
        threadSpinner.setSelection(threadChoices.indexOf(intent.getIntExtra(EXTRA_THREADS, 1)).coerceAtLeast(0))
        acceleratorGroup.check(
            when (intent.getStringExtra(EXTRA_ACCELERATOR)) {
                Accelerator.GPU.name -> R.id.gpu
                Accelerator.NNAPI.name -> R.id.nnapi
                else -> R.id.cpu
            },
        )
        findViewById<android.view.View>(R.id.nnapi).isEnabled = LiteRtRunner.nnapiAvailable
        buttons = listOf(findViewById(R.id.run), findViewById(R.id.run_all), findViewById(R.id.save))
        buttons[0].setOnClickListener {
            val artifact = model.artifacts[modelSpinner.selectedItemPosition]
            val accelerator = MainActivity.acceleratorOf(acceleratorGroup.checkedRadioButtonId)
            start(listOf(Job(artifact, accelerator, threadChoices[threadSpinner.selectedItemPosition])))
        }
        buttons[1].setOnClickListener {
            // every model on the CPU with 1 thread and all cores, then on the GPU and NNAPI: the matrix edgebb bench
            // runs, so the report can compare int8 with fp32 per runtime
            val all = threadChoices.last()
            start(
                model.artifacts.flatMap { a ->
                    listOf(
                        Job(a, Accelerator.CPU, 1), Job(a, Accelerator.CPU, all),
                        Job(a, Accelerator.GPU, all), Job(a, Accelerator.NNAPI, all),
                    )
                }.distinct(),
            )
        }
        buttons[2].setOnClickListener { save() }
        say("${model.manifest.model}: ${model.artifacts.size} model(s) in the assets; ${threadChoices.last()} cores")
    }

    private data class Job(val artifact: ArtifactInfo, val accelerator: Accelerator, val threads: Int)

    private fun settings(): BenchSettings {
        fun number(id: Int, default: Double) = findViewById<EditText>(id).text.toString().toDoubleOrNull() ?: default
        return BenchSettings(
            runs = number(R.id.runs, 50.0).toInt().coerceAtLeast(1),
            warmup = number(R.id.warmup, 5.0).toInt().coerceAtLeast(0),
            minSeconds = number(R.id.min_seconds, 2.0).coerceAtLeast(0.0),
        )
    }

    private fun start(jobs: List<Job>) {
        val settings = settings()
        buttons.forEach { it.isEnabled = false }
        worker.execute {
            if (before == null) before = Device.state(this)
            for ((i, job) in jobs.withIndex()) {
                say("[${i + 1}/${jobs.size}] ${ModelAssets.fileName(job.artifact)} on ${job.accelerator.runtime}, ${job.threads} thread(s)")
                val row = measure(job, settings)
                results.add(row)
                say(summary(row))
            }
            after = Device.state(this)
            runOnUiThread { buttons.forEach { it.isEnabled = true } }
        }
    }

    // On the worker thread: one row, as edgebb bench makes one per (artifact, runtime, threads).
    private fun measure(job: Job, settings: BenchSettings): Map<String, Any?> {
        val a = job.artifact
        fun row(status: String, error: String?, m: io.edgebb.core.Measurement?) = BenchReport.result(
            model = model.manifest.model, artifactPath = "assets/${ModelAssets.fileName(a)}", recipe = a.recipe,
            runtime = job.accelerator.runtime, threads = job.threads, sizeBytes = a.sizeBytes, macs = a.macs,
            status = status, error = error, measurement = m, emulated = Device.facts().emulation != null,
        )
        return try {
            val inputs = BenchInputs.random(model.manifest.preprocessing, a.input)
            val m = Benchmark.measure(
                settings, inputs.size,
                open = { LiteRtRunner.open(model.map(a), a, job.accelerator, job.threads) },
                invoke = { runner, i -> runner.run(inputs[i]) },
                close = { it.close() },
                memory = Device.memory,
            )
            row("ok", null, m)
        } catch (e: AcceleratorUnavailable) {
            row("skipped", e.message, null)
        } catch (e: Exception) {
            row("failed", "${e.javaClass.simpleName}: ${e.message?.lineSequence()?.firstOrNull().orEmpty()}".take(300), null)
        }
    }

    private fun summary(row: Map<String, Any?>): String {
        if (row["status"] != "ok") return "    ${row["status"]}: ${row["error"]}"
        val l = row["latency_ms"] as Map<*, *>
        return String.format(
            Locale.ROOT, "    p50 %.2f ms  p90 %.2f  p99 %.2f  mean %.2f±%.2f  (%d runs)  init %.0f ms  first %.1f ms  peak RSS %s MB",
            l["p50"], l["p90"], l["p99"], l["mean"], l["std"], row["runs"], row["init_ms"], row["first_ms"],
            (row["peak_rss_mb"] as? Double)?.let { String.format(Locale.ROOT, "%.0f", it) } ?: "?",
        )
    }

    private fun save() {
        worker.execute {
            if (results.isEmpty()) {
                say("nothing measured yet")
                return@execute
            }
            val state = Device.state(this)
            val env = BenchEnvironment.of(Device.facts(), before ?: state, after ?: state)
            val report = BenchReport.report(env, results.toList())
            val dir = File(getExternalFilesDir(null), "bench").apply { mkdirs() }
            val file = File(dir, "edgebb-bench-${SimpleDateFormat("yyyyMMdd-HHmmss", Locale.ROOT).format(Date())}.json")
            file.writeText(BenchReport.toJson(report))
            Log.i(TAG, "wrote ${file.absolutePath}")
            (report["notes"] as List<*>).forEach { say("note: $it") }
            (report["warnings"] as List<*>).forEach { say("warning: $it") }
            say("wrote ${file.absolutePath} (${results.size} rows)\n  adb pull ${file.absolutePath}")
        }
    }

    private fun say(line: String) {
        Log.i(TAG, line)
        runOnUiThread { log.append(line + "\n") }
    }

    override fun onDestroy() {
        super.onDestroy()
        worker.shutdown()
    }

    companion object {
        const val EXTRA_MODEL = "model"
        const val EXTRA_ACCELERATOR = "accelerator"
        const val EXTRA_THREADS = "threads"
        private const val TAG = "edgebb-bench"
    }
}
