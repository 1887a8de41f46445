package io.edgebb.core

import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.Result
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener
import java.io.File
import kotlin.system.exitProcess

/**
 * Runs the core's JUnit 4 tests without Gradle (`make android-test`): every class under the compiled test folder
 * given as the first argument (or the class names given) with a `@Test` method. Prints one line per test, JUnit's
 * own summary ("OK (N tests)"), and a closing `N passed, N failed` line; exits 1 when a test failed or none ran.
 */
fun main(args: Array<String>) {
    val names = if (args.size == 1 && File(args[0]).isDirectory) discover(File(args[0])) else args.toList()
    val classes = names.map { Class.forName(it) }.filter { c -> c.methods.any { it.isAnnotationPresent(org.junit.Test::class.java) } }
    val core = JUnitCore()
    core.addListener(Progress())
    val result: Result = core.run(*classes.toTypedArray())
    val failed = result.failureCount
    val skipped = result.ignoreCount + result.assumptionFailureCount
    val passed = result.runCount - failed - result.assumptionFailureCount
    println()
    println(if (result.wasSuccessful()) "OK (${result.runCount} tests)" else "FAILURES!!! Tests run: ${result.runCount}, Failures: $failed")
    println("android-test: $passed passed, $failed failed" + if (skipped > 0) ", $skipped skipped" else "")
    exitProcess(if (failed == 0 && result.runCount > 0) 0 else 1)
}

private fun discover(root: File): List<String> = root.walkTopDown()
    .filter { it.isFile && it.name.endsWith("Test.class") && '$' !in it.name }
    .map { it.relativeTo(root).path.removeSuffix(".class").replace(File.separatorChar, '.') }
    .sorted()
    .toList()

private class Progress : RunListener() {
    private val failed = HashSet<Description>()
    private var started = 0L

    override fun testStarted(description: Description) {
        started = System.nanoTime()
    }

    override fun testFailure(failure: Failure) {
        failed.add(failure.description)
        println("FAIL ${name(failure.description)}")
        println(failure.trace.lines().take(12).joinToString("\n") { "     $it" })
    }

    override fun testFinished(description: Description) {
        if (description !in failed) println("  ok ${name(description)} (${(System.nanoTime() - started) / 1_000_000} ms)")
    }

    override fun testIgnored(description: Description) {
        println("skip ${name(description)}")
    }

    private fun name(d: Description) = "${d.testClass?.simpleName ?: d.className}.${d.methodName}"
}
