# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled fast path of `TemplateParser`: `findall` rows to records, without the interpreter.

`Assembler` is the loop that `TemplateParser._generate` writes in Python (`assemble`), for the
formats whose every record field is one of a few plain operations (a matched group, a constant,
a status, a byte count, a request time, a cached timestamp, the path and query split from the
target, the fields kept under their names in `extra`). It does
statement for statement what that loop does: the Python loop stays the reference and the
fallback when this module is not built, and `tests/ingest/test_records_kernel.py` checks that
both give equal records and dead letters. A line the fast way does not take, or whose values do
not convert, goes to the same careful path.

What the interpreter cost per line goes away: the loop, the unpacking of the row, and building
each record twice (an argument tuple, then `tuple.__new__` copying it into the named tuple);
here the record is allocated once as the named tuple and filled in place.

`Splitter` reads combined and common lines without the regular expression at all; its
reference is the regular-expression path it leaves every other line to (see its docstring),
and the tests compare the two line for line.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from cpython.tuple cimport PyTuple_GET_SIZE
from libc.stdint cimport uint64_t


cdef extern from "string.h":
    const void* memchr(const void* s, int c, size_t n)


cdef extern from "Python.h":
    PyObject* PyType_GenericAlloc(PyTypeObject* type, Py_ssize_t nitems) except NULL
    bint PyTuple_CheckExact(object value)
    bint PyUnicode_CheckExact(object value)
    # Raw forms, so that no reference is counted that the loop does not need: GET_ITEM and
    # LIST_ITEM lend a reference, SET_ITEM takes one, the others give a new one.
    PyObject* GET_ITEM "PyTuple_GET_ITEM" (PyObject* items, Py_ssize_t index)
    void SET_ITEM "PyTuple_SET_ITEM" (PyObject* items, Py_ssize_t index, PyObject* item)
    PyObject* LIST_ITEM "PyList_GET_ITEM" (PyObject* items, Py_ssize_t index)
    void INCREF "Py_INCREF" (PyObject* item)
    Py_ssize_t TEXT_LENGTH "PyUnicode_GET_LENGTH" (PyObject* text)
    Py_UCS4 READ_CHAR "PyUnicode_READ_CHAR" (PyObject* text, Py_ssize_t index)
    Py_ssize_t FIND_CHAR "PyUnicode_FindChar" (
        PyObject* text, Py_UCS4 ch, Py_ssize_t start, Py_ssize_t end, int direction
    ) except -2
    PyObject* SUBSTRING "PyUnicode_Substring" (
        PyObject* text, Py_ssize_t start, Py_ssize_t end
    ) except NULL
    PyObject* TO_INT "PyNumber_Long" (PyObject* value) except NULL
    PyObject* TO_FLOAT "PyNumber_Float" (PyObject* value) except NULL
    PyObject* DIVIDE "PyNumber_TrueDivide" (PyObject* a, PyObject* b) except NULL
    PyObject* INT_FROM_LONG "PyLong_FromLong" (long value) except NULL
    PyObject* GET_KEY "PyObject_GetItem" (PyObject* mapping, PyObject* key) except NULL
    int COMPARE "PyObject_RichCompareBool" (PyObject* a, PyObject* b, int op) except -1
    int Py_NE


# Operations, one per record field; `template.py` checks this version before using the module.
OPERATIONS = {
    "source": 0,
    "file_id": 1,
    "offset": 2,
    "group": 3,
    "constant": 4,
    "status": 5,
    "int_or_none": 6,
    "int_or_zero": 7,
    "time": 8,
    "path": 9,
    "split_query": 10,
    "float_or_none": 11,
    "scaled_int": 12,
    "extra": 13,
}
DEF OP_SOURCE = 0
DEF OP_FILE_ID = 1
DEF OP_OFFSET = 2
DEF OP_GROUP = 3
DEF OP_CONSTANT = 4
DEF OP_STATUS = 5
DEF OP_INT_OR_NONE = 6
DEF OP_INT_OR_ZERO = 7
DEF OP_TIME = 8
DEF OP_PATH = 9
DEF OP_SPLIT_QUERY = 10
DEF OP_FLOAT_OR_NONE = 11
DEF OP_SCALED_INT = 12
DEF OP_EXTRA = 13
DEF OP_LAST = 13
DEF MAX_FIELDS = 64

LOOP_VERSION = 5
EMPTY = ""


def has_newline(list lines):
    """Whether a line (bytes) holds a newline: `max(map(bytes.find, lines, repeat(b"\\n"))) >= 0`
    without a method call, and its argument parsing, per line."""
    cdef object line
    for line in lines:
        if type(line) is not bytes:
            raise TypeError(f"a line must be bytes, not {type(line).__name__}")
        if memchr(PyBytes_AS_STRING(line), 10, PyBytes_GET_SIZE(line)) != NULL:
            return True
    return False


cdef class Assembler:
    """`assemble(rows, lines, offsets, source, file_id, records, dead, slow, escapes)` for one
    format, given as one (operation, group, constant) per record field."""

    cdef object record_type
    cdef dict status_codes
    cdef bint digit_status
    cdef object time_get
    cdef object time_miss
    cdef tuple constants
    cdef Py_ssize_t size
    cdef Py_ssize_t width
    cdef int ops[MAX_FIELDS]
    cdef Py_ssize_t groups[MAX_FIELDS]

    def __init__(
        self,
        record_type,
        plan,
        dict status_codes,
        time_get=None,
        time_miss=None,
    ):
        cdef Py_ssize_t index
        if len(plan) > MAX_FIELDS or len(plan) != len(record_type._fields):
            raise ValueError("the plan does not fit the record type")
        self.record_type = record_type
        self.status_codes = status_codes
        # Three ASCII digits are then their number, with no hashing or lookup.
        self.digit_status = status_codes == {f"{code:03d}": code for code in range(1000)}
        self.time_get = time_get
        self.time_miss = time_miss
        self.size = len(plan)
        constants = []
        self.width = 1
        for index, (op, group, constant) in enumerate(plan):
            if not 0 <= op <= OP_LAST:
                raise ValueError(f"unknown operation {op}")
            if op == OP_TIME and (time_get is None or time_miss is None):
                raise ValueError("a time field needs its cache")
            if op == OP_INT_OR_NONE or op == OP_INT_OR_ZERO or op == OP_FLOAT_OR_NONE:
                # The value of `-`, kept where the constant of the field would be.
                constant = 0 if op == OP_INT_OR_ZERO else None
            elif op == OP_SCALED_INT:
                constant = float(constant)  # the divisor
            elif op == OP_EXTRA:
                # (name, group) pairs, kept under the names in a new dictionary per record.
                constant = tuple((str(name), int(number)) for name, number in constant)
                for _, number in constant:
                    if number < 1:
                        raise ValueError("an extra field is a matched group")
                    self.width = max(self.width, number + 1)
            self.width = max(self.width, group + 1)
            self.ops[index] = op
            self.groups[index] = group
            constants.append(constant)
        self.constants = tuple(constants)

    def __call__(
        self,
        list rows,
        list lines,
        list offsets,
        str source,
        str file_id,
        list records,
        list dead,
        slow,
        bint escapes,
    ):
        cdef Py_ssize_t count = min(len(rows), len(lines), len(offsets))
        cdef Py_ssize_t i, j, k, cut, length
        cdef int op
        cdef long d0, d1, d2
        cdef PyObject* row
        cdef PyObject* line
        cdef PyObject* off
        cdef PyObject* text
        cdef PyObject* value
        cdef PyObject* allocated
        cdef object record, whole, extra, name, number, last_time = None, time_value = None
        cdef PyTypeObject* record_type = <PyTypeObject*>self.record_type
        cdef PyObject* constants = <PyObject*>self.constants
        cdef PyObject* status_codes = <PyObject*>self.status_codes
        for i in range(count):
            row = LIST_ITEM(<PyObject*>rows, i)
            if not PyTuple_CheckExact(<object>row) or PyTuple_GET_SIZE(<object>row) < self.width:
                raise TypeError("a row must be the tuple of texts that findall gives")
            for k in range(self.width):
                if not PyUnicode_CheckExact(<object>GET_ITEM(row, k)):
                    raise TypeError("a row must be the tuple of texts that findall gives")
            off = LIST_ITEM(<PyObject*>offsets, i)
            line = GET_ITEM(row, 0)
            if TEXT_LENGTH(line) == 0 or (
                escapes and FIND_CHAR(line, 92, 0, TEXT_LENGTH(line), 1) >= 0
            ):
                slow(source, file_id, lines[i], <object>off, records, dead)
                continue
            try:
                allocated = PyType_GenericAlloc(record_type, self.size)
                record = <object>allocated
                Py_DECREF(record)
                for j in range(self.size):
                    op = self.ops[j]
                    # Every branch leaves a new reference in `value`, which the record takes.
                    if op == OP_GROUP:
                        value = GET_ITEM(row, self.groups[j])
                        INCREF(value)
                    elif op == OP_CONSTANT:
                        value = GET_ITEM(constants, j)
                        INCREF(value)
                    elif op == OP_SOURCE:
                        value = <PyObject*>source
                        INCREF(value)
                    elif op == OP_FILE_ID:
                        value = <PyObject*>file_id
                        INCREF(value)
                    elif op == OP_OFFSET:
                        value = off
                        INCREF(value)
                    elif op == OP_STATUS:
                        # `STATUS_CODES[text]`: three ASCII digits are their number.
                        text = GET_ITEM(row, self.groups[j])
                        value = NULL
                        if self.digit_status and TEXT_LENGTH(text) == 3:
                            d0 = <long>READ_CHAR(text, 0) - 48
                            d1 = <long>READ_CHAR(text, 1) - 48
                            d2 = <long>READ_CHAR(text, 2) - 48
                            if 0 <= d0 <= 9 and 0 <= d1 <= 9 and 0 <= d2 <= 9:
                                value = INT_FROM_LONG(d0 * 100 + d1 * 10 + d2)
                        if value == NULL:
                            value = GET_KEY(status_codes, text)
                    elif op == OP_INT_OR_NONE or op == OP_INT_OR_ZERO or op == OP_FLOAT_OR_NONE:
                        # `None if text == '-' else int(text)` (0 for the byte count; float()
                        # for seconds).
                        text = GET_ITEM(row, self.groups[j])
                        if TEXT_LENGTH(text) == 1 and READ_CHAR(text, 0) == 45:
                            value = GET_ITEM(constants, j)
                            INCREF(value)
                        elif op == OP_FLOAT_OR_NONE:
                            value = TO_FLOAT(text)
                        else:
                            value = TO_INT(text)
                    elif op == OP_SCALED_INT:
                        # `None if text == '-' else int(text) / divisor` (milli-, microseconds).
                        text = GET_ITEM(row, self.groups[j])
                        if TEXT_LENGTH(text) == 1 and READ_CHAR(text, 0) == 45:
                            value = <PyObject*>None
                            INCREF(value)
                        else:
                            whole = <object>TO_INT(text)
                            Py_DECREF(whole)
                            value = DIVIDE(<PyObject*>whole, GET_ITEM(constants, j))
                    elif op == OP_EXTRA:
                        # `{name: text, ...}` of the fields kept under their names.
                        extra = {}
                        for name, number in <tuple>GET_ITEM(constants, j):
                            extra[name] = <object>GET_ITEM(row, <Py_ssize_t>number)
                        value = <PyObject*>extra
                        INCREF(value)
                    elif op == OP_TIME:
                        text = GET_ITEM(row, self.groups[j])
                        if last_time is None or COMPARE(text, <PyObject*>last_time, Py_NE):
                            time_value = self.time_get(<object>text) or self.time_miss(
                                <object>text
                            )
                            last_time = <object>text
                        value = <PyObject*>time_value
                        INCREF(value)
                    else:
                        # `target.partition('?')`: the path before the first `?` (OP_PATH),
                        # the query after it (OP_SPLIT_QUERY).
                        text = GET_ITEM(row, self.groups[j])
                        length = TEXT_LENGTH(text)
                        cut = FIND_CHAR(text, 63, 0, length, 1)
                        if op == OP_PATH:
                            if cut < 0:
                                value = text
                                INCREF(value)
                            else:
                                value = SUBSTRING(text, 0, cut)
                        elif cut < 0:
                            value = <PyObject*>EMPTY
                            INCREF(value)
                        else:
                            value = SUBSTRING(text, cut + 1, length)
                    SET_ITEM(allocated, j, value)
                records.append(record)
            except Exception:
                slow(source, file_id, lines[i], <object>off, records, dead)


cdef extern from "Python.h":
    object NEW_TEXT "PyUnicode_New" (Py_ssize_t size, Py_UCS4 maxchar)
    unsigned char* TEXT_BYTES "PyUnicode_1BYTE_DATA" (object text)
    object NEW_INT "PyLong_FromLong" (long value)
    object NEW_LONG_INT "PyLong_FromLongLong" (long long value)


cdef extern from "string.h":
    void* memcpy(void* target, const void* source, size_t n)
    int memcmp(const void* a, const void* b, size_t n)


SPLIT_FIELDS = (
    "source",
    "file_id",
    "offset",
    "client_ip",
    "observed_at",
    "method",
    "target",
    "path",
    "query",
    "protocol",
    "status",
    "bytes_sent",
    "referer",
    "user_agent",
    "remote_user",
    "host",
    "request_time",
    "forwarded_for",
    "malformed",
    "raw",
    "extra",
)
"""The record fields, in order, that `Splitter` fills by position."""

DEF MAX_DIGITS = 18  # a byte count of more digits goes the regular expression's way
DEF F_CLIENT_IP = 3
DEF F_OBSERVED_AT = 4
DEF F_METHOD = 5
DEF F_TARGET = 6
DEF F_PATH = 7
DEF F_QUERY = 8
DEF F_PROTOCOL = 9
DEF F_STATUS = 10
DEF F_BYTES = 11
DEF F_REFERER = 12
DEF F_USER_AGENT = 13
DEF F_REMOTE_USER = 14
DEF F_RAW = 19

# Values most lines share, so that no string is made for them.
cdef str GET = "GET"
cdef str POST = "POST"
cdef str HEAD = "HEAD"
cdef str HTTP_11 = "HTTP/1.1"
cdef str HTTP_10 = "HTTP/1.0"
cdef str HTTP_20 = "HTTP/2.0"


cdef inline object ascii_text(const unsigned char* start, Py_ssize_t size):
    """The ASCII bytes `start[:size]` as a string (the caller checked they are ASCII)."""
    if size == 0:
        return EMPTY
    text = NEW_TEXT(size, 127)
    memcpy(TEXT_BYTES(text), start, size)
    return text


cdef inline object dash_or_text(const unsigned char* start, Py_ssize_t size):
    """`'' if text == '-' else text`, as the expression's `(?:-|(...))` groups give it."""
    if size == 1 and start[0] == 45:
        return EMPTY
    return ascii_text(start, size)


cdef inline void put(PyObject* record, Py_ssize_t index, object value):
    """Give the new record's empty slot `index` a reference of its own to `value`."""
    INCREF(<PyObject*>value)
    SET_ITEM(record, index, <PyObject*>value)


cdef inline bint plain_text(const unsigned char* p, Py_ssize_t n):
    """Whether `p[:n]` is printable ASCII (space to `~`) with no backslash.

    Eight bytes at a time (the tests of "Bit Twiddling Hacks": a byte below 0x20, above 0x7e,
    or equal to 0x5c), since this reads every byte of every line."""
    cdef uint64_t x
    cdef uint64_t ones = 0x0101010101010101ULL
    cdef uint64_t highs = 0x8080808080808080ULL
    cdef Py_ssize_t i = 0
    cdef unsigned char c
    while i + 8 <= n:
        memcpy(&x, p + i, 8)
        if ((x - ones * 0x20) & ~x & highs) or (((x + ones) | x) & highs) or (
            ((x ^ (ones * 0x5C)) - ones) & ~(x ^ (ones * 0x5C)) & highs
        ):
            return False
        i += 8
    while i < n:
        c = p[i]
        if c < 32 or c > 126 or c == 92:
            return False
        i += 1
    return True


cdef inline Py_ssize_t find(const unsigned char* p, Py_ssize_t at, Py_ssize_t n, int c):
    cdef const void* found
    if at >= n:
        return -1
    found = memchr(p + at, c, n - at)
    if found == NULL:
        return -1
    return <const unsigned char*>found - p


cdef class Splitter:
    """The combined and common formats (`IP - user [time] "METHOD target PROTO" status bytes`,
    then `"referer" "agent"` for combined) read by scanning each line once, without the
    regular expression, and built straight into records.

    `split(lines, offsets, source, file_id, records, match)` takes every line that is plainly
    of that shape: printable ASCII with no backslash, every part where the fast expression
    (`TemplateParser._fast`) would find it, a byte count of at most 18 digits, a time the
    cache knows or parses. For those it gives what the expression and `Assembler` give. Every
    other line (an empty one too: the parser blanks the lines it must not match) is left to
    `match(start, end)`, the regular-expression path, called for each run of such lines in
    order, so that records and dead letters keep the order of the lines.
    """

    cdef object record_type
    cdef object time_get
    cdef object time_miss
    cdef bint identd
    cdef bint quoted
    cdef object dash_bytes
    cdef tuple constants
    cdef bytes last_time
    cdef object last_stamp

    def __init__(
        self, record_type, tuple constants, time_get, time_miss, bint identd, bint quoted,
        dash_bytes,
    ):
        if tuple(record_type._fields) != SPLIT_FIELDS or len(constants) != len(SPLIT_FIELDS):
            raise ValueError("the record type is not the one the splitter fills")
        self.record_type = record_type
        self.constants = constants
        self.time_get = time_get
        self.time_miss = time_miss
        self.identd = identd  # Apache `%l`: a word of its own, not the literal `-`
        self.quoted = quoted  # the referer and user agent follow the byte count
        self.dash_bytes = dash_bytes  # the byte count of `-`: None (nginx) or 0 (Apache)
        self.last_time = None
        self.last_stamp = None

    cdef object stamp(self, const unsigned char* start, Py_ssize_t size):
        """The cached time of `start[:size]`; raises where the careful path would reject it."""
        cdef bytes last = self.last_time
        if last is not None and PyBytes_GET_SIZE(last) == size and memcmp(
            PyBytes_AS_STRING(last), start, size
        ) == 0:
            return self.last_stamp
        text = ascii_text(start, size)
        value = self.time_get(text) or self.time_miss(text)
        self.last_time = (<char*>start)[:size]
        self.last_stamp = value
        return value

    cdef object build(self, bytes line, object offset, str source, str file_id):
        """The record of `line`, or None where it is not plainly of the shape."""
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(line)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(line)
        cdef Py_ssize_t i, ip_end, user_at, user_end, time_at, time_end, method_at, method_end
        cdef Py_ssize_t target_at, target_end, proto_at, proto_end, bytes_at, bytes_end
        cdef Py_ssize_t ref_at = 0, ref_end = 0, ua_at = 0, ua_end = 0, cut
        cdef long status
        cdef long long count = 0
        cdef PyObject* record
        if n == 0 or not plain_text(p, n):
            return None
        # IP, then ` - ` (nginx) or ` identd ` (Apache), then the user, each up to a space.
        ip_end = find(p, 0, n, 32)
        if ip_end < 0:
            return None
        if self.identd:
            user_at = find(p, ip_end + 1, n, 32) + 1
            if user_at == 0:
                return None
        else:
            if ip_end + 3 > n or p[ip_end + 1] != 45 or p[ip_end + 2] != 32:
                return None
            user_at = ip_end + 3
        user_end = find(p, user_at, n, 32)
        if user_end < 0 or user_end + 1 >= n or p[user_end + 1] != 91:  # ` [`
            return None
        time_at = user_end + 2
        time_end = find(p, time_at, n, 93)  # `]`
        if time_end < 0 or time_end + 3 > n or p[time_end + 1] != 32 or p[time_end + 2] != 34:
            return None
        # "METHOD target HTTP/x.y": letters, non-spaces, `HTTP/` and digits or dots.
        method_at = i = time_end + 3
        while i < n and (65 <= p[i] <= 90 or 97 <= p[i] <= 122):
            i += 1
        method_end = i
        if method_end == method_at or i >= n or p[i] != 32:
            return None
        target_at = i + 1
        target_end = find(p, target_at, n, 32)
        if target_end <= target_at:
            return None
        proto_at = target_end + 1
        if proto_at + 5 > n or memcmp(p + proto_at, b"HTTP/", 5) != 0:
            return None
        i = proto_at + 5
        while i < n and (48 <= p[i] <= 57 or p[i] == 46):
            i += 1
        proto_end = i
        if proto_end == proto_at + 5:
            return None
        # `" ` three digits ` ` then the byte count: digits or `-`.
        if i + 6 > n or p[i] != 34 or p[i + 1] != 32 or p[i + 5] != 32:
            return None
        if not (48 <= p[i + 2] <= 57 and 48 <= p[i + 3] <= 57 and 48 <= p[i + 4] <= 57):
            return None
        status = (p[i + 2] - 48) * 100 + (p[i + 3] - 48) * 10 + (p[i + 4] - 48)
        bytes_at = i = i + 6
        if i < n and p[i] == 45:
            i += 1
        else:
            while i < n and 48 <= p[i] <= 57:
                count = count * 10 + (p[i] - 48)
                i += 1
            if i == bytes_at or i - bytes_at > MAX_DIGITS:
                return None
        bytes_end = i
        if self.quoted:
            # ` "referer" "agent"` and the end of the line; neither holds a quote.
            if i + 2 > n or p[i] != 32 or p[i + 1] != 34:
                return None
            ref_at = i + 2
            ref_end = find(p, ref_at, n, 34)
            if ref_end < 0 or ref_end + 3 > n or p[ref_end + 1] != 32 or p[ref_end + 2] != 34:
                return None
            ua_at = ref_end + 3
            ua_end = find(p, ua_at, n, 34)
            if ua_end != n - 1:
                return None
        elif bytes_end != n:
            return None
        try:
            stamp = self.stamp(p + time_at, time_end - time_at)
        except Exception:
            return None
        record = PyType_GenericAlloc(<PyTypeObject*>self.record_type, len(SPLIT_FIELDS))
        result = <object>record
        Py_DECREF(result)
        # The fields no line of the shape holds (host, request time, ... extra) are constants.
        for i in range(F_REMOTE_USER + 1, len(SPLIT_FIELDS)):
            if i != F_RAW:
                put(record, i, self.constants[i])
        put(record, 0, source)
        put(record, 1, file_id)
        put(record, 2, offset)
        put(record, F_CLIENT_IP, dash_or_text(p, ip_end))
        put(record, F_OBSERVED_AT, stamp)
        if method_end - method_at == 3 and memcmp(p + method_at, b"GET", 3) == 0:
            method = GET
        elif method_end - method_at == 4 and memcmp(p + method_at, b"POST", 4) == 0:
            method = POST
        elif method_end - method_at == 4 and memcmp(p + method_at, b"HEAD", 4) == 0:
            method = HEAD
        else:
            method = ascii_text(p + method_at, method_end - method_at)
        put(record, F_METHOD, method)
        target = ascii_text(p + target_at, target_end - target_at)
        put(record, F_TARGET, target)
        cut = find(p, target_at, target_end, 63)  # `?`: `target.partition('?')`
        if cut < 0:
            put(record, F_PATH, target)
            put(record, F_QUERY, EMPTY)
        else:
            put(record, F_PATH, ascii_text(p + target_at, cut - target_at))
            put(record, F_QUERY, ascii_text(p + cut + 1, target_end - cut - 1))
        if proto_end - proto_at == 8 and memcmp(p + proto_at, b"HTTP/1.1", 8) == 0:
            protocol = HTTP_11
        elif proto_end - proto_at == 8 and memcmp(p + proto_at, b"HTTP/1.0", 8) == 0:
            protocol = HTTP_10
        elif proto_end - proto_at == 8 and memcmp(p + proto_at, b"HTTP/2.0", 8) == 0:
            protocol = HTTP_20
        else:
            protocol = ascii_text(p + proto_at, proto_end - proto_at)
        put(record, F_PROTOCOL, protocol)
        put(record, F_STATUS, NEW_INT(status))
        if bytes_end - bytes_at == 1 and p[bytes_at] == 45:
            put(record, F_BYTES, self.dash_bytes)
        else:
            put(record, F_BYTES, NEW_LONG_INT(count))
        if self.quoted:
            put(record, F_REFERER, dash_or_text(p + ref_at, ref_end - ref_at))
            put(record, F_USER_AGENT, dash_or_text(p + ua_at, ua_end - ua_at))
        else:
            put(record, F_REFERER, self.constants[F_REFERER])
            put(record, F_USER_AGENT, self.constants[F_USER_AGENT])
        put(record, F_REMOTE_USER, dash_or_text(p + user_at, user_end - user_at))
        put(record, F_RAW, ascii_text(p, n))
        return result

    def split(
        self, list lines, list offsets, str source, str file_id, list records, match
    ):
        cdef Py_ssize_t count = min(len(lines), len(offsets))
        cdef Py_ssize_t i, run = 0
        cdef object line, record
        for i in range(count):
            line = <object>LIST_ITEM(<PyObject*>lines, i)
            if type(line) is not bytes:
                raise TypeError(f"a line must be bytes, not {type(line).__name__}")
            record = self.build(line, <object>LIST_ITEM(<PyObject*>offsets, i), source, file_id)
            if record is None:
                continue
            if run < i:
                match(run, i)
            records.append(record)
            run = i + 1
        if run < count:
            match(run, count)

