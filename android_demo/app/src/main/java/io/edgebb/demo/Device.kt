package io.edgebb.demo

import android.content.Context
import android.os.Build
import android.os.PowerManager
import io.edgebb.core.DeviceFacts
import io.edgebb.core.DeviceState
import io.edgebb.core.MemoryProbe
import io.edgebb.core.ProcInfo
import java.io.File

/** The phone's facts and state for the bench JSON, from android.os.Build and the files Linux exposes to apps. */
object Device {
    fun facts(): DeviceFacts = DeviceFacts(
        manufacturer = Build.MANUFACTURER,
        model = Build.MODEL,
        device = Build.DEVICE,
        androidRelease = Build.VERSION.RELEASE,
        sdkInt = Build.VERSION.SDK_INT,
        abis = Build.SUPPORTED_ABIS.toList(),
        cores = Runtime.getRuntime().availableProcessors(),
        machine = System.getProperty("os.arch") ?: Build.SUPPORTED_ABIS.first(),
        soc = soc(),
        cpuinfo = read("/proc/cpuinfo") ?: "",
        appVersion = BuildConfig.VERSION_NAME,
        litertVersion = BuildConfig.LITERT_VERSION,
        emulation = if (isEmulator()) "Android emulator (${Build.HARDWARE})" else null,
    )

    fun state(context: Context): DeviceState = DeviceState(
        temperatureC = ProcInfo.temperatureC(read("/sys/class/thermal/thermal_zone0/temp")),
        cpuFreqMhz = read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")?.trim()?.toLongOrNull()?.let { it / 1000.0 },
        thermalStatus = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) {
            context.getSystemService(PowerManager::class.java)?.currentThermalStatus
        } else {
            null
        },
    )

    /** VmRSS and VmHWM of this process, as edgebb's bench worker reads them. */
    val memory = object : MemoryProbe {
        override fun rssMb(): Double? = read("/proc/self/status")?.let { ProcInfo.statusMb(it, "VmRSS") }
        override fun peakRssMb(): Double? = read("/proc/self/status")?.let { ProcInfo.statusMb(it, "VmHWM") }
    }

    private fun soc(): String? {
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
            val name = listOf(Build.SOC_MANUFACTURER, Build.SOC_MODEL).filter { it.isNotBlank() && it != Build.UNKNOWN }
            if (name.isNotEmpty()) return name.joinToString(" ")
        }
        return Build.HARDWARE.takeIf { it.isNotBlank() && it != Build.UNKNOWN }
    }

    private fun isEmulator(): Boolean =
        Build.HARDWARE in setOf("goldfish", "ranchu") || Build.FINGERPRINT.startsWith("generic") || Build.PRODUCT.startsWith("sdk_")

    // Files SELinux may deny to apps (thermal zones, cpufreq on some phones) are simply unknown.
    private fun read(path: String): String? = try {
        File(path).readText()
    } catch (e: Exception) {
        null
    }
}
