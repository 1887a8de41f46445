package io.edgebb.core

import org.junit.Assert.assertEquals
import org.junit.Test

class JsonTest {
    @Test
    fun parsesValues() {
        val v = Json.parseObject("""{"a": [1, -2.5e3, true, false, null], "b": {"c": "x\"y\u00e9\n"}, "d": 9007199254740993}""")
        assertEquals(listOf(1L, -2500.0, true, false, null), v["a"])
        assertEquals("x\"y\u00e9\n", v["b"].asObject("b")["c"])
        assertEquals(9007199254740993L, v["d"])
    }

    @Test
    fun writesLikePythonIndent2() {
        val text = Json.write(linkedMapOf("a" to listOf(1, 2.5), "b" to emptyMap<String, Any>(), "c" to emptyList<Any>(), "é" to null))
        assertEquals("{\n  \"a\": [\n    1,\n    2.5\n  ],\n  \"b\": {},\n  \"c\": [],\n  \"\\u00e9\": null\n}", text)
        assertEquals("[1, \"x\"]", Json.write(listOf(1, "x"), indent = null))
    }

    @Test
    fun doublesRoundTrip() {
        for (d in listOf(0.1, 1.0 / 3, 1e-7, 123456789.123, 5e-324, 1.7976931348623157e308, -0.0)) {
            assertEquals(d, Json.parse(Json.write(d)))
        }
        assertEquals("null", Json.write(Double.NaN))
    }

    @Test
    fun rejectsBadJson() {
        for (bad in listOf("{", "[1,]", "{\"a\" 1}", "nul", "1 2", "\"abc", "-", "01.", "NaN", "{'a': 1}")) {
            assertThrows { Json.parse(bad) }
        }
    }
}
