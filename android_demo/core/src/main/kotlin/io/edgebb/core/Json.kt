package io.edgebb.core

/**
 * A small JSON reader and writer: enough for edgebb's manifest.json and bench JSON, with no dependencies.
 *
 * Values are plain Kotlin: objects are `Map<String, Any?>` (insertion-ordered), arrays `List<Any?>`, strings
 * `String`, booleans `Boolean`, `null`, and numbers `Long` (integers that fit) or `Double` (everything else).
 * The writer takes the same types, plus any other [Number] and [Map]/[Iterable]/[Array] it meets, and writes
 * like Python's `json.dumps(value, indent=2)`: two-space indent, `": "` after keys, non-ASCII as `\uXXXX`.
 * Non-finite doubles have no JSON form and are written as `null`.
 */
object Json {
    /** Parses [text] as one JSON value. Throws [JsonException] naming the offset of the first problem. */
    fun parse(text: String): Any? {
        val reader = Reader(text)
        reader.skipSpace()
        val value = reader.value()
        reader.skipSpace()
        if (!reader.atEnd()) throw reader.error("trailing characters after the JSON value")
        return value
    }

    /** Parses [text] and requires a JSON object at the top. */
    fun parseObject(text: String): Map<String, Any?> =
        parse(text).asObject("the top-level JSON value")

    /** Writes [value] as JSON text; [indent] spaces per level, or a compact single line when [indent] is null. */
    fun write(value: Any?, indent: Int? = 2): String {
        val out = StringBuilder()
        Writer(out, indent).value(value, 0)
        return out.toString()
    }

    private class Reader(private val s: String) {
        private var i = 0

        fun atEnd() = i >= s.length

        fun error(message: String) = JsonException("$message at offset $i")

        fun skipSpace() {
            while (i < s.length && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++
        }

        fun value(): Any? {
            if (atEnd()) throw error("unexpected end of JSON")
            return when (val c = s[i]) {
                '{' -> obj()
                '[' -> array()
                '"' -> string()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                else -> if (c == '-' || c in '0'..'9') number() else throw error("unexpected character '$c'")
            }
        }

        private fun literal(word: String, result: Any?): Any? {
            if (!s.startsWith(word, i)) throw error("unexpected token")
            i += word.length
            return result
        }

        private fun obj(): Map<String, Any?> {
            val map = LinkedHashMap<String, Any?>()
            i++ // '{'
            skipSpace()
            if (i < s.length && s[i] == '}') {
                i++
                return map
            }
            while (true) {
                skipSpace()
                if (atEnd() || s[i] != '"') throw error("expected a string key")
                val key = string()
                skipSpace()
                if (atEnd() || s[i] != ':') throw error("expected ':' after key \"$key\"")
                i++
                skipSpace()
                map[key] = value()
                skipSpace()
                if (atEnd()) throw error("unterminated object")
                when (s[i++]) {
                    ',' -> continue
                    '}' -> return map
                    else -> {
                        i--
                        throw error("expected ',' or '}' in object")
                    }
                }
            }
        }

        private fun array(): List<Any?> {
            val list = ArrayList<Any?>()
            i++ // '['
            skipSpace()
            if (i < s.length && s[i] == ']') {
                i++
                return list
            }
            while (true) {
                skipSpace()
                list.add(value())
                skipSpace()
                if (atEnd()) throw error("unterminated array")
                when (s[i++]) {
                    ',' -> continue
                    ']' -> return list
                    else -> {
                        i--
                        throw error("expected ',' or ']' in array")
                    }
                }
            }
        }

        private fun string(): String {
            i++ // opening quote
            val out = StringBuilder()
            while (true) {
                if (atEnd()) throw error("unterminated string")
                val c = s[i++]
                when {
                    c == '"' -> return out.toString()
                    c == '\\' -> {
                        if (atEnd()) throw error("unterminated escape")
                        when (val e = s[i++]) {
                            '"' -> out.append('"')
                            '\\' -> out.append('\\')
                            '/' -> out.append('/')
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000C')
                            'n' -> out.append('\n')
                            'r' -> out.append('\r')
                            't' -> out.append('\t')
                            'u' -> {
                                if (i + 4 > s.length) throw error("short \\u escape")
                                val hex = s.substring(i, i + 4)
                                val code = hex.toIntOrNull(16) ?: throw error("bad \\u escape \"$hex\"")
                                out.append(code.toChar())
                                i += 4
                            }
                            else -> throw error("bad escape '\\$e'")
                        }
                    }
                    c < ' ' -> {
                        i--
                        throw error("control character in string")
                    }
                    else -> out.append(c)
                }
            }
        }

        private fun number(): Any {
            val start = i
            if (s[i] == '-') i++
            var integral = true
            while (i < s.length) {
                val c = s[i]
                if (c in '0'..'9') {
                    i++
                } else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
                    integral = false
                    i++
                } else {
                    break
                }
            }
            val text = s.substring(start, i)
            if (text == "-") throw error("bad number")
            if (integral) text.toLongOrNull()?.let { return it }
            // Python writes NaN/Infinity for non-finite floats (not JSON); they are rejected here.
            return text.toDoubleOrNull()?.takeIf { !text.endsWith('.') } ?: throw error("bad number \"$text\"")
        }
    }

    private class Writer(private val out: StringBuilder, private val indent: Int?) {
        fun value(v: Any?, depth: Int) {
            when (v) {
                null -> out.append("null")
                is String -> string(v)
                is Boolean -> out.append(if (v) "true" else "false")
                is Double -> number(v)
                is Float -> number(v.toDouble())
                is Number -> out.append(v.toLong())
                is Map<*, *> -> obj(v, depth)
                is Iterable<*> -> array(v.toList(), depth)
                is Array<*> -> array(v.toList(), depth)
                is FloatArray -> array(v.map { it.toDouble() }, depth)
                is DoubleArray -> array(v.toList(), depth)
                is IntArray -> array(v.toList(), depth)
                is LongArray -> array(v.toList(), depth)
                is Enum<*> -> string(v.name)
                else -> throw JsonException("cannot write a ${v::class.simpleName} as JSON")
            }
        }

        private fun number(d: Double) {
            if (d.isNaN() || d.isInfinite()) {
                out.append("null")
                return
            }
            // An integral double keeps a ".0" so it reads back as a float, as Python writes it.
            out.append(d.toString())
        }

        private fun newline(depth: Int) {
            if (indent == null) return
            out.append('\n')
            repeat(depth * indent) { out.append(' ') }
        }

        private fun obj(map: Map<*, *>, depth: Int) {
            if (map.isEmpty()) {
                out.append("{}")
                return
            }
            out.append('{')
            var first = true
            for ((k, v) in map) {
                if (!first) out.append(if (indent == null) ", " else ",")
                first = false
                newline(depth + 1)
                string(k.toString())
                out.append(": ")
                value(v, depth + 1)
            }
            newline(depth)
            out.append('}')
        }

        private fun array(list: List<Any?>, depth: Int) {
            if (list.isEmpty()) {
                out.append("[]")
                return
            }
            out.append('[')
            list.forEachIndexed { index, item ->
                if (index > 0) out.append(if (indent == null) ", " else ",")
                newline(depth + 1)
                value(item, depth + 1)
            }
            newline(depth)
            out.append(']')
        }

        private fun string(s: String) {
            out.append('"')
            for (c in s) {
                when {
                    c == '"' -> out.append("\\\"")
                    c == '\\' -> out.append("\\\\")
                    c == '\n' -> out.append("\\n")
                    c == '\r' -> out.append("\\r")
                    c == '\t' -> out.append("\\t")
                    c == '\b' -> out.append("\\b")
                    c == '\u000C' -> out.append("\\f")
                    c < ' ' || c.code > 126 -> out.append("\\u").append(String.format("%04x", c.code))
                    else -> out.append(c)
                }
            }
            out.append('"')
        }
    }
}

/** A JSON text that cannot be parsed, or a JSON value that is not what the reader expected. */
class JsonException(message: String) : IllegalArgumentException(message)

// Typed access to parsed JSON, failing with a message that names what was expected where.

/** This value as a JSON object, or a [JsonException] naming [what]. */
@Suppress("UNCHECKED_CAST")
fun Any?.asObject(what: String): Map<String, Any?> =
    this as? Map<String, Any?> ?: throw JsonException("$what: expected a JSON object, found ${kind(this)}")

/** This value as a JSON array, or a [JsonException] naming [what]. */
fun Any?.asList(what: String): List<Any?> =
    this as? List<Any?> ?: throw JsonException("$what: expected a JSON array, found ${kind(this)}")

/** `this[key]` as a string; [JsonException] when missing or not a string. */
fun Map<String, Any?>.string(key: String): String =
    this[key] as? String ?: throw JsonException("\"$key\": expected a string, found ${kind(this[key])}")

/** `this[key]` as a string, or null when the key is missing or null. */
fun Map<String, Any?>.stringOrNull(key: String): String? = when (val v = this[key]) {
    null -> null
    is String -> v
    else -> throw JsonException("\"$key\": expected a string or null, found ${kind(v)}")
}

/** `this[key]` as a double (any JSON number); [JsonException] when missing or not a number. */
fun Map<String, Any?>.double(key: String): Double =
    (this[key] as? Number)?.toDouble() ?: throw JsonException("\"$key\": expected a number, found ${kind(this[key])}")

/** `this[key]` as a double, or null when the key is missing or null. */
fun Map<String, Any?>.doubleOrNull(key: String): Double? = when (val v = this[key]) {
    null -> null
    is Number -> v.toDouble()
    else -> throw JsonException("\"$key\": expected a number or null, found ${kind(v)}")
}

/** `this[key]` as a long (a JSON integer); [JsonException] otherwise. */
fun Map<String, Any?>.long(key: String): Long =
    this[key] as? Long ?: throw JsonException("\"$key\": expected an integer, found ${kind(this[key])}")

/** `this[key]` as a long, or null when the key is missing or null. */
fun Map<String, Any?>.longOrNull(key: String): Long? = when (val v = this[key]) {
    null -> null
    is Long -> v
    else -> throw JsonException("\"$key\": expected an integer or null, found ${kind(v)}")
}

private fun kind(v: Any?): String = when (v) {
    null -> "null"
    is String -> "a string"
    is Boolean -> "a boolean"
    is Number -> "a number"
    is Map<*, *> -> "an object"
    is List<*> -> "an array"
    else -> v::class.simpleName ?: "a value"
}
