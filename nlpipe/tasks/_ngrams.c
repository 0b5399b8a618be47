/* nlpipe.tasks._ngrams: the prediction-time n-gram counting of nlpipe.tasks.features, in one C loop per batch.
 *
 * WordNgrams and CharNgrams (features.py) count a batch's n-grams with NumPy; what is left there is Python-level
 * work per token (regular expression matches, lists of strings, dict lookups through map) and sparse products.
 * These two functions walk each text once, look each token up in the vectorizer's own dict (so a term matches
 * exactly when the Python path would match it), and add the counts of each text into a dense scratch row:
 *
 *   word_counts(texts, unigrams, bigrams, n_cols, mult) -> (indptr, indices, data)
 *       Tokens are the maximal runs of two or more word characters of text.lower() (what "(?u)\b\w\w+\b" finds:
 *       a word character is one for which str.isalnum() is true, or "_"). Each token's column is unigrams[token]
 *       (a dict: str -> int); two consecutive tokens that both have a column form the bigram code
 *       col(a) * mult + col(b), looked up in `bigrams`, what code_table built.
 *   code_table(codes, cols) -> bytearray
 *       An open-addressing table of int64 codes (an int64 array) and their columns (an int64 array, same length).
 *   char_counts(texts, words, wg_indptr, wg_indices, wg_data, grams, lo, hi, n_cols, table) -> (indptr, indices, data)
 *       Words are the whitespace-separated parts of text.lower() (str.split()). A word in `words` (dict: str ->
 *       row) adds its row of the CSR matrix (wg_indptr int64, wg_indices int64, wg_data float64): its n-gram
 *       counts. Any other word is padded with one space each side and cut as analyzer="char_wb" cuts it (every
 *       n-gram of each length n in lo..hi shorter than the padded word; once n reaches its length, the whole
 *       padded word once), and each n-gram found in `grams` (dict: str -> int) counts. `table` (None, or what
 *       gram_table built from `grams`) finds n-grams of up to 5 characters without making a str of each.
 *   gram_table(grams) -> bytearray
 *       An open-addressing table of the dict's keys of 1 to 5 characters: each key's code points and length
 *       packed exactly into 128 bits (21 bits a character), beside its column.
 *
 * Both return one CSR matrix of counts (n_texts x n_cols) as three bytearrays: indptr int64, indices int32 (each
 * column once per row, in first-seen order, not sorted) and data float64. Columns outside [0, n_cols) raise
 * ValueError; a text that is not a str raises TypeError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *buf;
    Py_ssize_t len, cap; /* bytes */
} vec;

static int
vec_reserve(vec *v, Py_ssize_t extra)
{
    if (v->len + extra <= v->cap)
        return 0;
    Py_ssize_t cap = v->cap ? v->cap : 4096;
    while (cap < v->len + extra)
        cap *= 2;
    char *buf = PyMem_Realloc(v->buf, (size_t)cap);
    if (!buf) {
        PyErr_NoMemory();
        return -1;
    }
    v->buf = buf;
    v->cap = cap;
    return 0;
}

#define VEC_PUSH(v, type, x)                                                                                      \
    (vec_reserve((v), (Py_ssize_t)sizeof(type)) ? -1                                                             \
                                                 : (*(type *)((v)->buf + (v)->len) = (x),                        \
                                                    (v)->len += (Py_ssize_t)sizeof(type), 0))

/* Counts of one batch: a dense scratch row of n_cols doubles, the columns touched in the current text, and the
 * CSR arrays being built. */
typedef struct {
    double *acc;
    vec touched; /* int32 */
    vec indptr;  /* int64 */
    vec indices; /* int32 */
    vec data;    /* float64 */
    Py_ssize_t n_cols;
} counts;

static int
counts_init(counts *c, Py_ssize_t n_cols)
{
    memset(c, 0, sizeof(*c));
    c->n_cols = n_cols;
    c->acc = PyMem_Calloc((size_t)(n_cols > 0 ? n_cols : 1), sizeof(double));
    if (!c->acc) {
        PyErr_NoMemory();
        return -1;
    }
    return VEC_PUSH(&c->indptr, int64_t, 0);
}

static void
counts_free(counts *c)
{
    PyMem_Free(c->acc);
    PyMem_Free(c->touched.buf);
    PyMem_Free(c->indptr.buf);
    PyMem_Free(c->indices.buf);
    PyMem_Free(c->data.buf);
}

static int
counts_add(counts *c, Py_ssize_t col, double w)
{
    if (col < 0 || col >= c->n_cols) {
        PyErr_Format(PyExc_ValueError, "column %zd outside [0, %zd)", col, c->n_cols);
        return -1;
    }
    if (c->acc[col] == 0.0 && VEC_PUSH(&c->touched, int32_t, (int32_t)col))
        return -1;
    c->acc[col] += w;
    return 0;
}

static int
counts_end_row(counts *c)
{
    Py_ssize_t k, n = c->touched.len / (Py_ssize_t)sizeof(int32_t);
    const int32_t *t = (const int32_t *)c->touched.buf;
    if (vec_reserve(&c->indices, n * (Py_ssize_t)sizeof(int32_t)) ||
        vec_reserve(&c->data, n * (Py_ssize_t)sizeof(double)))
        return -1;
    int32_t *ind = (int32_t *)(c->indices.buf + c->indices.len);
    double *dat = (double *)(c->data.buf + c->data.len);
    for (k = 0; k < n; k++) {
        ind[k] = t[k];
        dat[k] = c->acc[t[k]];
        c->acc[t[k]] = 0.0;
    }
    c->indices.len += n * (Py_ssize_t)sizeof(int32_t);
    c->data.len += n * (Py_ssize_t)sizeof(double);
    c->touched.len = 0;
    return VEC_PUSH(&c->indptr, int64_t, (int64_t)(c->indices.len / (Py_ssize_t)sizeof(int32_t)));
}

static PyObject *
counts_result(counts *c)
{
    return Py_BuildValue("(NNN)", PyByteArray_FromStringAndSize(c->indptr.buf, c->indptr.len),
                         PyByteArray_FromStringAndSize(c->indices.buf, c->indices.len),
                         PyByteArray_FromStringAndSize(c->data.buf, c->data.len));
}

/* text.lower(), checked to be a str */
static PyObject *
lowered(PyObject *texts, Py_ssize_t i)
{
    PyObject *t = PyList_GET_ITEM(texts, i);
    if (!PyUnicode_Check(t)) {
        PyErr_Format(PyExc_TypeError, "texts[%zd] is not a str", i);
        return NULL;
    }
    static PyObject *name = NULL;
    if (!name && !(name = PyUnicode_InternFromString("lower")))
        return NULL;
    return PyObject_CallMethodNoArgs(t, name);
}

/* dict[key] as a column, -1 when absent, -2 on error */
static Py_ssize_t
column_of(PyObject *dict, PyObject *key)
{
    PyObject *v = PyDict_GetItemWithError(dict, key);
    if (!v)
        return PyErr_Occurred() ? -2 : -1;
    Py_ssize_t col = PyLong_AsSsize_t(v);
    if (col == -1 && PyErr_Occurred())
        return -2;
    return col;
}

static inline int
is_word(Py_UCS4 ch)
{
    return Py_UNICODE_ISALNUM(ch) || ch == '_';
}

/* ------------------------------------------------------------------ n-grams of up to 5 characters by code */

#define MAX_CODED 5

typedef struct {
    uint64_t k1, k2;
    int64_t col; /* -1: empty slot */
} slot;

static inline void
pack(const Py_UCS4 *cp, Py_ssize_t n, uint64_t *k1, uint64_t *k2)
{
    uint64_t a = 0, b = (uint64_t)n << 42;
    Py_ssize_t k;
    for (k = 0; k < n && k < 3; k++)
        a |= (uint64_t)cp[k] << (21 * k);
    for (k = 3; k < n; k++)
        b |= (uint64_t)cp[k] << (21 * (k - 3));
    *k1 = a;
    *k2 = b;
}

static inline uint64_t
mix(uint64_t k1, uint64_t k2)
{
    uint64_t h = (k1 ^ (k2 * 0x9E3779B97F4A7C15ULL)) * 0xBF58476D1CE4E5B9ULL;
    return h ^ (h >> 31);
}

static PyObject *
code_table(PyObject *self, PyObject *args)
{
    Py_buffer codes_b, cols_b;
    if (!PyArg_ParseTuple(args, "y*y*", &codes_b, &cols_b))
        return NULL;
    PyObject *out = NULL;
    if (codes_b.len % 8 || codes_b.len != cols_b.len) {
        PyErr_SetString(PyExc_ValueError, "codes and cols must be int64 arrays of one length");
        goto done;
    }
    Py_ssize_t n = codes_b.len / 8, cap = 16, k;
    while (cap < 2 * n + 16)
        cap *= 2;
    out = PyByteArray_FromStringAndSize(NULL, cap * (Py_ssize_t)sizeof(slot));
    if (!out)
        goto done;
    slot *t = (slot *)PyByteArray_AS_STRING(out);
    for (k = 0; k < cap; k++)
        t[k].col = -1;
    const int64_t *codes = (const int64_t *)codes_b.buf, *cols = (const int64_t *)cols_b.buf;
    for (k = 0; k < n; k++) {
        uint64_t k1 = (uint64_t)codes[k], at = mix(k1, 0) & (uint64_t)(cap - 1);
        while (t[at].col >= 0 && t[at].k1 != k1)
            at = (at + 1) & (uint64_t)(cap - 1);
        t[at].k1 = k1;
        t[at].k2 = 0;
        t[at].col = cols[k];
    }
done:
    PyBuffer_Release(&codes_b);
    PyBuffer_Release(&cols_b);
    return out;
}

static int
check_table(PyObject *table, const slot **t, Py_ssize_t *cap)
{
    Py_ssize_t size = PyByteArray_Check(table) ? PyByteArray_GET_SIZE(table) : 0;
    *cap = size / (Py_ssize_t)sizeof(slot);
    if (size == 0 || size % (Py_ssize_t)sizeof(slot) || (*cap & (*cap - 1))) {
        PyErr_SetString(PyExc_ValueError, "table must be what code_table or gram_table returned");
        return -1;
    }
    *t = (const slot *)PyByteArray_AS_STRING(table);
    return 0;
}

static PyObject *
word_counts(PyObject *self, PyObject *args)
{
    PyObject *texts, *uni, *table;
    Py_ssize_t n_cols, cap;
    long long mult;
    const slot *t;
    if (!PyArg_ParseTuple(args, "O!O!OnL", &PyList_Type, &texts, &PyDict_Type, &uni, &table, &n_cols, &mult))
        return NULL;
    if (check_table(table, &t, &cap))
        return NULL;
    PyObject *result = NULL;
    counts c;
    if (counts_init(&c, n_cols))
        goto done;
    Py_ssize_t n_texts = PyList_GET_SIZE(texts), i;
    for (i = 0; i < n_texts; i++) {
        PyObject *s = lowered(texts, i);
        if (!s)
            goto done;
        int kind = PyUnicode_KIND(s);
        const void *data = PyUnicode_DATA(s);
        Py_ssize_t len = PyUnicode_GET_LENGTH(s), a = 0, b, prev = -1;
        while (a < len) {
            if (!is_word(PyUnicode_READ(kind, data, a))) {
                a++;
                continue;
            }
            for (b = a + 1; b < len && is_word(PyUnicode_READ(kind, data, b)); b++)
                ;
            if (b - a >= 2) {
                PyObject *tok = PyUnicode_Substring(s, a, b);
                Py_ssize_t col = tok ? column_of(uni, tok) : -2;
                Py_XDECREF(tok);
                if (col == -2 || (col >= 0 && counts_add(&c, col, 1.0))) {
                    Py_DECREF(s);
                    goto done;
                }
                if (prev >= 0 && col >= 0) {
                    uint64_t code = (uint64_t)((int64_t)prev * mult + col), at = mix(code, 0) & (uint64_t)(cap - 1);
                    while (t[at].col >= 0 && t[at].k1 != code)
                        at = (at + 1) & (uint64_t)(cap - 1);
                    if (t[at].col >= 0 && counts_add(&c, (Py_ssize_t)t[at].col, 1.0)) {
                        Py_DECREF(s);
                        goto done;
                    }
                }
                prev = col;
            }
            a = b;
        }
        Py_DECREF(s);
        if (counts_end_row(&c))
            goto done;
    }
    result = counts_result(&c);
done:
    counts_free(&c);
    return result;
}

static PyObject *
gram_table(PyObject *self, PyObject *args)
{
    PyObject *grams, *key, *value;
    if (!PyArg_ParseTuple(args, "O!", &PyDict_Type, &grams))
        return NULL;
    Py_ssize_t cap = 16, pos = 0;
    while (cap < 2 * PyDict_GET_SIZE(grams) + 16)
        cap *= 2;
    PyObject *out = PyByteArray_FromStringAndSize(NULL, cap * (Py_ssize_t)sizeof(slot));
    if (!out)
        return NULL;
    slot *t = (slot *)PyByteArray_AS_STRING(out);
    Py_ssize_t k;
    for (k = 0; k < cap; k++)
        t[k].col = -1;
    while (PyDict_Next(grams, &pos, &key, &value)) {
        if (!PyUnicode_Check(key))
            continue;
        Py_ssize_t n = PyUnicode_GET_LENGTH(key);
        if (n < 1 || n > MAX_CODED)
            continue;
        Py_UCS4 cp[MAX_CODED];
        for (k = 0; k < n; k++)
            cp[k] = PyUnicode_READ_CHAR(key, k);
        Py_ssize_t col = PyLong_AsSsize_t(value);
        if (col == -1 && PyErr_Occurred()) {
            Py_DECREF(out);
            return NULL;
        }
        uint64_t k1, k2;
        pack(cp, n, &k1, &k2);
        uint64_t at = mix(k1, k2) & (uint64_t)(cap - 1);
        while (t[at].col >= 0 && !(t[at].k1 == k1 && t[at].k2 == k2))
            at = (at + 1) & (uint64_t)(cap - 1);
        t[at].k1 = k1;
        t[at].k2 = k2;
        t[at].col = col;
    }
    return out;
}

static inline int64_t
table_find(const slot *t, Py_ssize_t cap, const Py_UCS4 *cp, Py_ssize_t n)
{
    uint64_t k1, k2;
    pack(cp, n, &k1, &k2);
    uint64_t at = mix(k1, k2) & (uint64_t)(cap - 1);
    while (t[at].col >= 0) {
        if (t[at].k1 == k1 && t[at].k2 == k2)
            return t[at].col;
        at = (at + 1) & (uint64_t)(cap - 1);
    }
    return -1;
}

/* the n-grams of one word that is not in `words`, by code: the word is s[a:b] */
static int
unknown_word_coded(counts *c, int kind, const void *data, Py_ssize_t a, Py_ssize_t b, const slot *t, Py_ssize_t cap,
                   Py_ssize_t lo, Py_ssize_t hi, Py_UCS4 **buf, Py_ssize_t *buf_len)
{
    Py_ssize_t size = b - a + 2, n, k;
    if (size > *buf_len) {
        Py_UCS4 *nb = PyMem_Realloc(*buf, (size_t)size * sizeof(Py_UCS4));
        if (!nb) {
            PyErr_NoMemory();
            return -1;
        }
        *buf = nb;
        *buf_len = size;
    }
    Py_UCS4 *w = *buf;
    w[0] = w[size - 1] = ' ';
    for (k = a; k < b; k++)
        w[k - a + 1] = PyUnicode_READ(kind, data, k);
    for (n = lo; n <= hi; n++) {
        if (n >= size) {
            int64_t col = table_find(t, cap, w, size);
            return col >= 0 ? counts_add(c, (Py_ssize_t)col, 1.0) : 0;
        }
        for (k = 0; k + n <= size; k++) {
            int64_t col = table_find(t, cap, w + k, n);
            if (col >= 0 && counts_add(c, (Py_ssize_t)col, 1.0))
                return -1;
        }
    }
    return 0;
}

/* the n-grams of one word that is not in `words`: " word " cut as char_wb cuts it, looked up in `grams` */
static int
unknown_word(counts *c, PyObject *word, PyObject *grams, Py_ssize_t lo, Py_ssize_t hi, PyObject *space)
{
    PyObject *left = PyUnicode_Concat(space, word);
    PyObject *padded = left ? PyUnicode_Concat(left, space) : NULL;
    Py_XDECREF(left);
    if (!padded)
        return -1;
    Py_ssize_t size = PyUnicode_GET_LENGTH(padded), n, k;
    int rc = 0;
    for (n = lo; n <= hi && rc == 0; n++) {
        if (n >= size) {
            Py_ssize_t col = column_of(grams, padded);
            rc = col == -2 ? -1 : (col >= 0 ? counts_add(c, col, 1.0) : 0);
            break;
        }
        for (k = 0; k + n <= size && rc == 0; k++) {
            PyObject *g = PyUnicode_Substring(padded, k, k + n);
            Py_ssize_t col = g ? column_of(grams, g) : -2;
            Py_XDECREF(g);
            rc = col == -2 ? -1 : (col >= 0 ? counts_add(c, col, 1.0) : 0);
        }
    }
    Py_DECREF(padded);
    return rc;
}

static PyObject *
char_counts(PyObject *self, PyObject *args)
{
    PyObject *texts, *words, *grams, *table;
    Py_buffer ip_b, ix_b, d_b;
    Py_ssize_t lo, hi, n_cols;
    if (!PyArg_ParseTuple(args, "O!O!y*y*y*O!nnnO", &PyList_Type, &texts, &PyDict_Type, &words, &ip_b, &ix_b, &d_b,
                          &PyDict_Type, &grams, &lo, &hi, &n_cols, &table))
        return NULL;
    PyObject *result = NULL, *space = NULL;
    Py_UCS4 *buf = NULL;
    Py_ssize_t buf_len = 0, cap = 0;
    const slot *t = NULL;
    counts c;
    if (table != Py_None && hi > MAX_CODED) {
        PyErr_SetString(PyExc_ValueError, "n-grams are coded up to 5 characters: pass table=None");
        goto done_buffers;
    }
    if (table != Py_None && check_table(table, &t, &cap))
        goto done_buffers;
    Py_ssize_t n_rows = ip_b.len / 8 - 1;
    if (ip_b.len % 8 || ix_b.len % 8 || d_b.len != ix_b.len || n_rows < 0 ||
        ((const int64_t *)ip_b.buf)[n_rows] != ix_b.len / 8) {
        PyErr_SetString(PyExc_ValueError, "wg_indptr, wg_indices and wg_data must be one CSR matrix's int64, "
                                          "int64 and float64 arrays");
        goto done_buffers;
    }
    if (lo < 1 || hi < lo) {
        PyErr_SetString(PyExc_ValueError, "need 1 <= lo <= hi");
        goto done_buffers;
    }
    if (counts_init(&c, n_cols))
        goto done;
    space = PyUnicode_FromString(" ");
    if (!space)
        goto done;
    const int64_t *ip = (const int64_t *)ip_b.buf, *ix = (const int64_t *)ix_b.buf;
    const double *dat = (const double *)d_b.buf;
    Py_ssize_t n_texts = PyList_GET_SIZE(texts), i;
    for (i = 0; i < n_texts; i++) {
        PyObject *s = lowered(texts, i);
        if (!s)
            goto done;
        int kind = PyUnicode_KIND(s);
        const void *data = PyUnicode_DATA(s);
        Py_ssize_t len = PyUnicode_GET_LENGTH(s), a = 0, b, p;
        while (a < len) {
            if (Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, a))) {
                a++;
                continue;
            }
            for (b = a + 1; b < len && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, b)); b++)
                ;
            PyObject *w = PyUnicode_Substring(s, a, b);
            Py_ssize_t row = w ? column_of(words, w) : -2;
            int rc = row == -2 ? -1 : 0;
            if (rc == 0 && row >= n_rows) {
                PyErr_Format(PyExc_ValueError, "word row %zd outside the %zd rows of wg", row, n_rows);
                rc = -1;
            }
            if (rc == 0 && row >= 0) {
                for (p = ip[row]; p < ip[row + 1] && rc == 0; p++)
                    rc = counts_add(&c, (Py_ssize_t)ix[p], dat[p]);
            } else if (rc == 0 && t) {
                rc = unknown_word_coded(&c, kind, data, a, b, t, cap, lo, hi, &buf, &buf_len);
            } else if (rc == 0) {
                rc = unknown_word(&c, w, grams, lo, hi, space);
            }
            Py_XDECREF(w);
            if (rc) {
                Py_DECREF(s);
                goto done;
            }
            a = b;
        }
        Py_DECREF(s);
        if (counts_end_row(&c))
            goto done;
    }
    result = counts_result(&c);
done:
    Py_XDECREF(space);
    PyMem_Free(buf);
    counts_free(&c);
done_buffers:
    PyBuffer_Release(&ip_b);
    PyBuffer_Release(&ix_b);
    PyBuffer_Release(&d_b);
    return result;
}

static PyMethodDef methods[] = {
    {"word_counts", word_counts, METH_VARARGS, "Word 1-2 gram counts of a batch of texts (see the module doc)."},
    {"char_counts", char_counts, METH_VARARGS, "char_wb n-gram counts of a batch of texts (see the module doc)."},
    {"code_table", code_table, METH_VARARGS, "A table of int64 codes and their columns (see the module doc)."},
    {"gram_table", gram_table, METH_VARARGS, "A table of a dict's keys of 1 to 5 characters (see the module doc)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "nlpipe.tasks._ngrams",
                                    "Prediction-time n-gram counting for nlpipe.tasks.features.", -1, methods};

PyMODINIT_FUNC
PyInit__ngrams(void)
{
    return PyModule_Create(&module);
}
