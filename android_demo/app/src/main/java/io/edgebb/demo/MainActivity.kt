package io.edgebb.demo

import android.Manifest
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Bundle
import android.util.Size
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.RadioGroup
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.core.resolutionselector.ResolutionSelector
import androidx.camera.core.resolutionselector.ResolutionStrategy
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import io.edgebb.core.ArtifactInfo
import io.edgebb.core.ClassifierPipeline
import io.edgebb.core.Prediction
import io.edgebb.core.RgbImage
import io.edgebb.core.RollingMean
import java.util.Locale
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Live classification: CameraX frames (RGBA) -> upright RGB -> the core's preprocessing and input quantization ->
 * LiteRT on the chosen accelerator -> the core's dequantization and top-5, shown with the per-frame latency.
 */
class MainActivity : ComponentActivity() {
    /** What the analyzer should run; replaced from the UI thread, read on the analysis thread. */
    private data class Selection(val artifact: ArtifactInfo, val accelerator: Accelerator, val threads: Int)

    private lateinit var preview: PreviewView
    private lateinit var message: TextView
    private lateinit var results: TextView
    private lateinit var latency: TextView
    private lateinit var modelSpinner: Spinner
    private lateinit var threadSpinner: Spinner
    private lateinit var acceleratorGroup: RadioGroup

    private var model: ModelAssets? = null
    private val analysis: ExecutorService = Executors.newSingleThreadExecutor()
    private val threadChoices = availableThreadCounts()

    @Volatile private var selection: Selection? = null

    // Touched only on the analysis thread.
    private var runner: LiteRtRunner? = null
    private var loaded: Selection? = null
    private var pipeline: ClassifierPipeline? = null
    private val inferenceMs = RollingMean()
    private val frameMs = RollingMean()

    private val cameraPermission = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else showMessage(getString(R.string.need_camera), keepPanel = true)
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        preview = findViewById(R.id.preview)
        message = findViewById(R.id.message)
        results = findViewById(R.id.results)
        latency = findViewById(R.id.latency)
        modelSpinner = findViewById(R.id.model)
        threadSpinner = findViewById(R.id.threads)
        acceleratorGroup = findViewById(R.id.accelerator)

        val found = try {
            ModelAssets.load(assets)
        } catch (e: NoModelException) {
            showMessage(getString(R.string.no_model, e.message), keepPanel = false)
            return
        }
        model = found
        setUpControls(found)
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            cameraPermission.launch(Manifest.permission.CAMERA)
        }
    }

    private fun setUpControls(assets: ModelAssets) {
        modelSpinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, assets.artifacts.map { it.describe() })
        threadSpinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_dropdown_item, threadChoices.map { it.toString() })
        threadSpinner.setSelection(threadChoices.indexOf(minOf(4, threadChoices.last())).coerceAtLeast(0))
        val changed = object : AdapterView.OnItemSelectedListener {
            override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) = select()
            override fun onNothingSelected(parent: AdapterView<*>?) = Unit
        }
        modelSpinner.onItemSelectedListener = changed
        threadSpinner.onItemSelectedListener = changed
        acceleratorGroup.setOnCheckedChangeListener { _, _ -> select() }
        findViewById<View>(R.id.nnapi).isEnabled = LiteRtRunner.nnapiAvailable
        findViewById<Button>(R.id.bench).setOnClickListener {
            val s = selection ?: return@setOnClickListener
            startActivity(
                Intent(this, BenchActivity::class.java)
                    .putExtra(BenchActivity.EXTRA_MODEL, assets.artifacts.indexOf(s.artifact))
                    .putExtra(BenchActivity.EXTRA_ACCELERATOR, s.accelerator.name)
                    .putExtra(BenchActivity.EXTRA_THREADS, s.threads),
            )
        }
        select()
    }

    private fun select() {
        val assets = model ?: return
        val artifact = assets.artifacts.getOrNull(modelSpinner.selectedItemPosition) ?: return
        val threads = threadChoices.getOrElse(threadSpinner.selectedItemPosition) { 1 }
        selection = Selection(artifact, acceleratorOf(acceleratorGroup.checkedRadioButtonId), threads)
    }

    private fun startCamera() {
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({
            val provider = future.get()
            val previewUseCase = Preview.Builder().build()
            previewUseCase.setSurfaceProvider(preview.surfaceProvider)
            val selector = ResolutionSelector.Builder()
                .setResolutionStrategy(ResolutionStrategy(Size(640, 480), ResolutionStrategy.FALLBACK_RULE_CLOSEST_HIGHER_THEN_LOWER))
                .build()
            val analysisUseCase = ImageAnalysis.Builder()
                .setResolutionSelector(selector)
                .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                .build()
            analysisUseCase.setAnalyzer(analysis) { image -> analyze(image) }
            provider.unbindAll()
            provider.bindToLifecycle(this, CameraSelector.DEFAULT_BACK_CAMERA, previewUseCase, analysisUseCase)
        }, ContextCompat.getMainExecutor(this))
    }

    // On the analysis thread.
    private fun analyze(image: ImageProxy) {
        try {
            val wanted = selection ?: return
            if (wanted != loaded) load(wanted)
            val r = runner ?: return
            val p = pipeline ?: return
            val start = System.nanoTime()
            val plane = image.planes[0]
            val frame = RgbImage.fromRgba(plane.buffer, image.width, image.height, plane.rowStride, plane.pixelStride)
                .rotate(image.imageInfo.rotationDegrees)
            val input = p.inputBytes(frame)
            val t0 = System.nanoTime()
            val raw = r.run(input)
            val t1 = System.nanoTime()
            val top = p.top(raw, 5)
            val inference = inferenceMs.add((t1 - t0) / 1e6)
            val total = frameMs.add((System.nanoTime() - start) / 1e6)
            val text = latencyText(wanted, (t1 - t0) / 1e6, inference, total, frame)
            runOnUiThread { show(top, text) }
        } catch (e: Exception) {
            val reason = "${e.javaClass.simpleName}: ${e.message}"
            runOnUiThread { results.text = reason }
        } finally {
            image.close()
        }
    }

    // On the analysis thread: swap the interpreter for the new selection; a failure is shown until it changes again.
    private fun load(wanted: Selection) {
        runner?.close()
        runner = null
        pipeline = null
        loaded = wanted
        inferenceMs.clear()
        frameMs.clear()
        val assets = model ?: return
        try {
            pipeline = assets.pipeline(wanted.artifact)
            runner = LiteRtRunner.open(assets.map(wanted.artifact), wanted.artifact, wanted.accelerator, wanted.threads)
        } catch (e: AcceleratorUnavailable) {
            runOnUiThread { results.text = "${wanted.accelerator.label}: ${e.message}" }
        } catch (e: Exception) {
            runOnUiThread { results.text = "${wanted.accelerator.label} failed to load ${wanted.artifact.path}:\n${e.message}" }
        }
    }

    private fun latencyText(s: Selection, lastMs: Double, meanMs: Double, frameMeanMs: Double, frame: RgbImage): String =
        String.format(
            Locale.ROOT, "%s · %s%s\ninference %.1f ms (mean %.1f) · frame %.1f ms · %dx%d",
            s.artifact.recipe, s.accelerator.label, if (s.accelerator == Accelerator.CPU) ", ${s.threads} threads" else "",
            lastMs, meanMs, frameMeanMs, frame.width, frame.height,
        )

    private fun show(top: List<Prediction>, latencyLine: String) {
        results.text = top.mapIndexed { i, p -> String.format(Locale.ROOT, "%d. %-24s %.3f", i + 1, p.label.take(24), p.score) }
            .joinToString("\n")
        latency.text = latencyLine
    }

    private fun showMessage(text: String, keepPanel: Boolean) {
        message.text = text
        message.visibility = View.VISIBLE
        if (!keepPanel) findViewById<View>(R.id.panel).visibility = View.GONE
    }

    override fun onStop() {
        super.onStop()
        // free the interpreter (and a GPU context) while the activity is not visible; reloaded on the next frame
        analysis.execute {
            runner?.close()
            runner = null
            loaded = null
        }
    }

    override fun onDestroy() {
        super.onDestroy()
        analysis.shutdown()
    }

    companion object {
        fun acceleratorOf(checkedId: Int): Accelerator = when (checkedId) {
            R.id.gpu -> Accelerator.GPU
            R.id.nnapi -> Accelerator.NNAPI
            else -> Accelerator.CPU
        }

        /** 1, 2, 4, ... up to the number of cores, and the number of cores itself. */
        fun availableThreadCounts(): List<Int> {
            val cores = Runtime.getRuntime().availableProcessors()
            return (generateSequence(1) { it * 2 }.takeWhile { it < cores } + cores).distinct().toList()
        }
    }
}
