# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled fast path of `TemplateParser`: `findall` rows to records, without the interpreter.

`Assembler` is the loop that `TemplateParser._generate` writes in Python (`assemble`), for the
formats whose every record field is one of a few plain operations (a matched group, a constant,
a status, a byte count, a cached timestamp, the path and query split from the target). It does
statement for statement what that loop does: the Python loop stays the reference and the
fallback when this module is not built, and `tests/ingest/test_records_kernel.py` checks that
both give equal records and dead letters. A line the fast way does not take, or whose values do
not convert, goes to the same careful path.

What the interpreter cost per line goes away: the loop, the unpacking of the row, and building
each record twice (an argument tuple, then `tuple.__new__` copying it into the named tuple);
here the record is allocated once as the named tuple and filled in place.
"""

from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_SET_ITEM


cdef extern from "Python.h":
    PyObject* PyType_GenericAlloc(PyTypeObject* type, Py_ssize_t nitems) except NULL
    Py_ssize_t PyUnicode_FindChar(
        object text, unsigned int ch, Py_ssize_t start, Py_ssize_t end, int direction
    ) except -2


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
DEF MAX_FIELDS = 64

LOOP_VERSION = 1


cdef class Assembler:
    """`assemble(rows, lines, offsets, source, file_id, records, dead, slow, escapes)` for one
    format, given as one (operation, group, constant) per record field."""

    cdef object record_type
    cdef dict status_codes
    cdef object time_get
    cdef object time_miss
    cdef tuple constants
    cdef Py_ssize_t size
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
        self.time_get = time_get
        self.time_miss = time_miss
        self.size = len(plan)
        constants = []
        for index, (op, group, constant) in enumerate(plan):
            if not 0 <= op <= OP_SPLIT_QUERY:
                raise ValueError(f"unknown operation {op}")
            if op == OP_TIME and (time_get is None or time_miss is None):
                raise ValueError("a time field needs its cache")
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
        cdef Py_ssize_t i, j, cut
        cdef int op
        cdef tuple row
        cdef object line, value, text, off, record, last_time = None, time_value = None
        cdef object split_query = ""
        cdef PyObject* allocated
        cdef PyTypeObject* record_type = <PyTypeObject*>self.record_type
        for i in range(count):
            row = <tuple>rows[i]
            off = offsets[i]
            line = <object>PyTuple_GET_ITEM(row, 0)
            if not line or (escapes and "\\" in line):
                slow(source, file_id, lines[i], off, records, dead)
                continue
            try:
                allocated = PyType_GenericAlloc(record_type, self.size)
                record = <object>allocated
                Py_DECREF(record)
                for j in range(self.size):
                    op = self.ops[j]
                    if op == OP_GROUP:
                        value = <object>PyTuple_GET_ITEM(row, self.groups[j])
                    elif op == OP_CONSTANT:
                        value = <object>PyTuple_GET_ITEM(self.constants, j)
                    elif op == OP_SOURCE:
                        value = source
                    elif op == OP_FILE_ID:
                        value = file_id
                    elif op == OP_OFFSET:
                        value = off
                    elif op == OP_STATUS:
                        value = self.status_codes[<object>PyTuple_GET_ITEM(row, self.groups[j])]
                    elif op == OP_INT_OR_NONE or op == OP_INT_OR_ZERO:
                        text = <object>PyTuple_GET_ITEM(row, self.groups[j])
                        if text == "-":
                            value = None if op == OP_INT_OR_NONE else 0
                        else:
                            value = int(text)
                    elif op == OP_TIME:
                        text = <object>PyTuple_GET_ITEM(row, self.groups[j])
                        if text != last_time:
                            time_value = self.time_get(text) or self.time_miss(text)
                            last_time = text
                        value = time_value
                    elif op == OP_PATH:
                        # `target.partition('?')`: the path, and the query after the first `?`.
                        text = <object>PyTuple_GET_ITEM(row, self.groups[j])
                        cut = PyUnicode_FindChar(text, 63, 0, len(<str>text), 1)
                        if cut < 0:
                            value = text
                            split_query = ""
                        else:
                            value = (<str>text)[:cut]
                            split_query = (<str>text)[cut + 1 :]
                    else:  # OP_SPLIT_QUERY, always after OP_PATH
                        value = split_query
                    Py_INCREF(value)
                    PyTuple_SET_ITEM(record, j, value)
                records.append(record)
            except Exception:
                slow(source, file_id, lines[i], off, records, dead)
