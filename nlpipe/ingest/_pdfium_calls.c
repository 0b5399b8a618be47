#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

typedef int (*out_fn)(void *, int, void *);
typedef double (*double_fn)(void *, int);
typedef void *(*pointer_fn)(void *, int);

static int
check(Py_buffer *handles, Py_buffer *index, Py_buffer *out, Py_ssize_t out_item, Py_ssize_t *n)
{
    if (handles->len % 8 || index->len % 8 || handles->len != index->len) {
        PyErr_SetString(PyExc_ValueError, "handles and index must be int64 arrays of one length");
        return -1;
    }
    *n = handles->len / 8;
    if (out_item <= 0 || out->len < *n * out_item) {
        PyErr_SetString(PyExc_ValueError, "out is too small");
        return -1;
    }
    return 0;
}

static PyObject *
fill(PyObject *self, PyObject *args)
{
    unsigned long long fn;
    Py_ssize_t stride, n, i;
    Py_buffer h, x, o;
    if (!PyArg_ParseTuple(args, "Ky*y*w*n", &fn, &h, &x, &o, &stride))
        return NULL;
    PyObject *result = NULL;
    if (check(&h, &x, &o, stride, &n) == 0) {
        out_fn f = (out_fn)(uintptr_t)fn;
        void *const *hs = (void *const *)h.buf;
        const int64_t *xs = (const int64_t *)x.buf;
        char *os = (char *)o.buf;
        Py_BEGIN_ALLOW_THREADS
        for (i = 0; i < n; i++)
            f(hs[i], (int)xs[i], os + i * stride);
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&h);
    PyBuffer_Release(&x);
    PyBuffer_Release(&o);
    return result;
}

static PyObject *
doubles(PyObject *self, PyObject *args)
{
    unsigned long long fn;
    Py_ssize_t n, i;
    Py_buffer h, x, o;
    if (!PyArg_ParseTuple(args, "Ky*y*w*", &fn, &h, &x, &o))
        return NULL;
    PyObject *result = NULL;
    if (check(&h, &x, &o, sizeof(double), &n) == 0) {
        double_fn f = (double_fn)(uintptr_t)fn;
        void *const *hs = (void *const *)h.buf;
        const int64_t *xs = (const int64_t *)x.buf;
        double *os = (double *)o.buf;
        Py_BEGIN_ALLOW_THREADS
        for (i = 0; i < n; i++)
            os[i] = f(hs[i], (int)xs[i]);
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&h);
    PyBuffer_Release(&x);
    PyBuffer_Release(&o);
    return result;
}

static PyObject *
pointers(PyObject *self, PyObject *args)
{
    unsigned long long fn;
    Py_ssize_t n, i;
    Py_buffer h, x, o;
    if (!PyArg_ParseTuple(args, "Ky*y*w*", &fn, &h, &x, &o))
        return NULL;
    PyObject *result = NULL;
    if (check(&h, &x, &o, sizeof(uint64_t), &n) == 0) {
        pointer_fn f = (pointer_fn)(uintptr_t)fn;
        void *const *hs = (void *const *)h.buf;
        const int64_t *xs = (const int64_t *)x.buf;
        uint64_t *os = (uint64_t *)o.buf;
        Py_BEGIN_ALLOW_THREADS
        for (i = 0; i < n; i++)
            os[i] = (uint64_t)(uintptr_t)f(hs[i], (int)xs[i]);
        Py_END_ALLOW_THREADS
        result = Py_None;
        Py_INCREF(result);
    }
    PyBuffer_Release(&h);
    PyBuffer_Release(&x);
    PyBuffer_Release(&o);
    return result;
}

static PyMethodDef methods[] = {
    {"fill", fill, METH_VARARGS, NULL},
    {"doubles", doubles, METH_VARARGS, NULL},
    {"pointers", pointers, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pdfium_calls", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__pdfium_calls(void)
{
    return PyModule_Create(&module);
}
