/* nlpipe.readers.pdf._pdfium_calls: PDFium's per-character calls, made in a C loop.
 *
 * The PDF reader (nlpipe/readers/pdf/bindings.py) asks PDFium for every character's box, and for some characters'
 * matrix, font size or text object. Through ctypes each call costs about 0.6 us, mostly in Python; here about 20 ns.
 * Each function takes a PDFium function's address, two int64 arrays of one length (handles: FPDF_TEXTPAGE or
 * FPDF_PAGE; index: character or object index) and a writable output array, and calls the function once per
 * (handle, index) pair with the GIL released -- the caller holds PDFium's lock:
 *
 *   fill(fn, handles, index, out, stride)  int fn(void *, int, void *out_i): out_i = out + i * stride bytes;
 *                                          stride must be at least what fn writes (16 for a box, 24 for a matrix)
 *   doubles(fn, handles, index, out)       double fn(void *, int) into a float64 array
 *   pointers(fn, handles, index, out)      void *fn(void *, int) into a uint64 array (0 for NULL)
 *
 * Sizes are checked (ValueError); the addresses are trusted: this module is private to bindings.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

enum kind { FILL, DOUBLES, POINTERS };

typedef int (*fill_fn)(void *, int, void *);
typedef double (*double_fn)(void *, int);
typedef void *(*pointer_fn)(void *, int);

static PyObject *
run(PyObject *args, enum kind kind)
{
    unsigned long long fn;
    Py_ssize_t stride = kind == DOUBLES ? (Py_ssize_t)sizeof(double) : (Py_ssize_t)sizeof(uint64_t);
    Py_buffer h, x, o;
    int parsed = kind == FILL ? PyArg_ParseTuple(args, "Ky*y*w*n", &fn, &h, &x, &o, &stride)
                              : PyArg_ParseTuple(args, "Ky*y*w*", &fn, &h, &x, &o);
    if (!parsed)
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = h.len / 8, i;
    if (h.len % 8 || h.len != x.len) {
        PyErr_SetString(PyExc_ValueError, "handles and index must be int64 arrays of one length");
    } else if (stride <= 0 || o.len < n * stride) {
        PyErr_SetString(PyExc_ValueError, "out is too small");
    } else {
        void *const *hs = (void *const *)h.buf;
        const int64_t *xs = (const int64_t *)x.buf;
        char *os = (char *)o.buf;
        Py_BEGIN_ALLOW_THREADS
        switch (kind) {
        case FILL:
            for (i = 0; i < n; i++)
                ((fill_fn)(uintptr_t)fn)(hs[i], (int)xs[i], os + i * stride);
            break;
        case DOUBLES:
            for (i = 0; i < n; i++)
                ((double *)os)[i] = ((double_fn)(uintptr_t)fn)(hs[i], (int)xs[i]);
            break;
        case POINTERS:
            for (i = 0; i < n; i++)
                ((uint64_t *)os)[i] = (uint64_t)(uintptr_t)((pointer_fn)(uintptr_t)fn)(hs[i], (int)xs[i]);
            break;
        }
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&h);
    PyBuffer_Release(&x);
    PyBuffer_Release(&o);
    return result;
}

static PyObject *fill(PyObject *self, PyObject *args) { return run(args, FILL); }
static PyObject *doubles(PyObject *self, PyObject *args) { return run(args, DOUBLES); }
static PyObject *pointers(PyObject *self, PyObject *args) { return run(args, POINTERS); }

static PyMethodDef methods[] = {
    {"fill", fill, METH_VARARGS, "fill(fn, handles, index, out, stride): int fn(void *, int, void *) per pair"},
    {"doubles", doubles, METH_VARARGS, "doubles(fn, handles, index, out): double fn(void *, int) per pair"},
    {"pointers", pointers, METH_VARARGS, "pointers(fn, handles, index, out): void *fn(void *, int) per pair"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pdfium_calls", "PDFium's per-character calls in a C loop (see bindings.py).", -1, methods,
};

PyMODINIT_FUNC
PyInit__pdfium_calls(void)
{
    return PyModule_Create(&module);
}
