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
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from cpython.tuple cimport PyTuple_GET_SIZE


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

LOOP_VERSION = 4
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
