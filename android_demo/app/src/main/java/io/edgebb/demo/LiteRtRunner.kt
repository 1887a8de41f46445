package io.edgebb.demo

import android.os.Build
import io.edgebb.core.ArtifactInfo
import io.edgebb.core.BenchSchema
import io.edgebb.core.TensorCheck
import io.edgebb.core.TensorSpec
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** Where the model runs; [runtime] is the name `edgebb bench` rows carry. */
enum class Accelerator(val runtime: String, val label: String) {
    CPU(BenchSchema.CPU, "CPU (XNNPACK)"),
    GPU(BenchSchema.GPU, "GPU delegate"),
    NNAPI(BenchSchema.NNAPI, "NNAPI"),
}

/** The accelerator cannot run on this phone (a `skipped` row in the bench JSON, with this reason). */
class AcceleratorUnavailable(message: String) : Exception(message)

/**
 * A LiteRT Interpreter on one accelerator, fed and read as raw bytes (the core does the conversions).
 * Not thread-safe; the GPU delegate must be created, used and closed on one thread.
 */
class LiteRtRunner private constructor(
    private val interpreter: Interpreter,
    private val delegate: Delegate?,
    input: TensorSpec,
    output: TensorSpec,
) : AutoCloseable {
    private val inputBuffer = ByteBuffer.allocateDirect(input.byteSize).order(ByteOrder.nativeOrder())
    private val outputBuffer = ByteBuffer.allocateDirect(output.byteSize).order(ByteOrder.nativeOrder())
    private val outputBytes = ByteArray(output.byteSize)

    /**
     * Runs one inference on [input] (the core's tensor bytes: float32 little-endian, which is every Android ABI's
     * native order, or int8/uint8) and returns the raw output bytes (the array is reused by the next call).
     */
    fun run(input: ByteArray): ByteArray {
        inputBuffer.clear()
        inputBuffer.put(input)
        inputBuffer.rewind()
        outputBuffer.clear()
        interpreter.run(inputBuffer, outputBuffer)
        outputBuffer.rewind()
        outputBuffer.get(outputBytes)
        return outputBytes
    }

    override fun close() {
        interpreter.close()
        (delegate as? AutoCloseable)?.close()
    }

    companion object {
        /** NNAPI exists from Android 8.1 (API 27). */
        val nnapiAvailable: Boolean get() = Build.VERSION.SDK_INT >= Build.VERSION_CODES.O_MR1

        /**
         * Loads [model] for [artifact] on [accelerator] with [threads] CPU threads (XNNPACK; also used by the ops a
         * delegate leaves on the CPU). Throws [AcceleratorUnavailable] when the accelerator cannot run here, and
         * IllegalStateException when the model's tensors are not what the manifest says.
         */
        fun open(model: ByteBuffer, artifact: ArtifactInfo, accelerator: Accelerator, threads: Int): LiteRtRunner {
            val options = Interpreter.Options()
            options.setNumThreads(threads)
            options.setUseXNNPACK(true)
            val delegate: Delegate? = when (accelerator) {
                Accelerator.CPU -> null
                Accelerator.GPU -> gpuDelegate()
                Accelerator.NNAPI -> {
                    if (!nnapiAvailable) {
                        throw AcceleratorUnavailable("NNAPI needs Android 8.1 (API 27); this phone runs API ${Build.VERSION.SDK_INT}")
                    }
                    NnApiDelegate()
                }
            }
            delegate?.let { options.addDelegate(it) }
            val interpreter = try {
                Interpreter(model, options)
            } catch (e: RuntimeException) {
                (delegate as? AutoCloseable)?.close()
                throw e
            }
            val problem = check(artifact.input, interpreter.getInputTensor(0)) ?: check(artifact.output, interpreter.getOutputTensor(0))
            if (problem != null) {
                interpreter.close()
                (delegate as? AutoCloseable)?.close()
                throw IllegalStateException("${artifact.path} is not the model manifest.json describes: $problem")
            }
            return LiteRtRunner(interpreter, delegate, artifact.input, artifact.output)
        }

        private fun gpuDelegate(): Delegate {
            val compatibility = CompatibilityList()
            try {
                if (!compatibility.isDelegateSupportedOnThisDevice) {
                    throw AcceleratorUnavailable("LiteRT's GPU compatibility list does not support this phone's GPU")
                }
                return GpuDelegate(compatibility.bestOptionsForThisDevice)
            } finally {
                compatibility.close()
            }
        }

        private fun check(spec: TensorSpec, tensor: Tensor): String? {
            val q = tensor.quantizationParams()
            return TensorCheck.mismatch(spec, tensor.shape(), dtypeName(tensor.dataType()), q.scale, q.zeroPoint)
        }

        private fun dtypeName(type: DataType): String = when (type) {
            DataType.FLOAT32 -> "float32"
            DataType.INT8 -> "int8"
            DataType.UINT8 -> "uint8"
            else -> type.name.lowercase()
        }
    }
}
