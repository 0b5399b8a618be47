/* nlpipe.tasks._ngrams: the prediction-time n-gram counting of nlpipe.tasks.features, in one C loop per batch.
 *
 * WordNgrams and CharNgrams (features.py) count a batch's n-grams with NumPy; what is left there is Python-level
 * work per token (regular expression matches, lists of strings, dict lookups through map) and sparse products.
 * These two functions walk each text once, look each token up in the vectorizer's own dict (so a term matches
 * exactly when the Python path would match it), and add the counts of each text into a dense scratch row:
 *
 *   string_table(dict) -> bytearray
 *       A dict of str -> column as an open-addressing table of the keys' hashes (FNV-1a over code points) and code
 *       points, so a token is found without making a str of it.
 *   word_counts(texts, unigrams, bigrams, n_cols, mult) -> (indptr, indices, data)
 *       Tokens are the maximal runs of two or more word characters of text.lower() (what "(?u)\b\w\w+\b" finds:
 *       a word character is one for which str.isalnum() is true, or "_"). Each token's column is its value in
 *       `unigrams` (what string_table built from the dict of unigram -> column); two consecutive tokens that both have a column form the bigram code
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
 * ValueError; a text that is not a str raises TypeError. Given a last argument score = (idf, W, sublinear), they
 * return instead one bytearray of n_texts x k float64 scores: each row's TF-IDF (tf = 1 + log(count) when
 * sublinear, else the count; times idf, a float64 array of n_cols), L2-normalised, times W (a C-contiguous
 * float32 or float64 array, n_cols x k), without building the matrix; a row without n-grams scores 0.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

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
    /* scoring instead of counting (set by scoring_init): each row's TF-IDF, L2-normalised, times W */
    Py_buffer idf_b, w_b;
    int scoring, sublinear;
    Py_ssize_t k, row;
    PyObject *out; /* bytearray of rows x k doubles, grown per row */
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
    if (c->scoring) {
        PyBuffer_Release(&c->idf_b);
        PyBuffer_Release(&c->w_b);
        Py_XDECREF(c->out);
    }
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

/* score = sum_j tf(c_j) idf_j W_j / sqrt(sum_j (tf(c_j) idf_j)^2) over the row's columns j; 0 for an empty row */
static int
score_row(counts *c)
{
    Py_ssize_t j, q, n = c->touched.len / (Py_ssize_t)sizeof(int32_t), k = c->k;
    const int32_t *t = (const int32_t *)c->touched.buf;
    const double *idf = (const double *)c->idf_b.buf;
    int dbl = c->w_b.itemsize == 8;
    if (PyByteArray_Resize(c->out, (c->row + 1) * k * (Py_ssize_t)sizeof(double)))
        return -1;
    double *s = (double *)PyByteArray_AS_STRING(c->out) + c->row * k, norm2 = 0.0;
    for (q = 0; q < k; q++)
        s[q] = 0.0;
    for (j = 0; j < n; j++) {
        double cnt = c->acc[t[j]], v = (c->sublinear && cnt != 1.0 ? log(cnt) + 1.0 : cnt) * idf[t[j]];
        c->acc[t[j]] = 0.0;
        norm2 += v * v;
        if (dbl) {
            const double *w = (const double *)c->w_b.buf + (Py_ssize_t)t[j] * k;
            for (q = 0; q < k; q++)
                s[q] += v * w[q];
        } else {
            const float *w = (const float *)c->w_b.buf + (Py_ssize_t)t[j] * k;
            for (q = 0; q < k; q++)
                s[q] += v * (double)w[q];
        }
    }
    if (norm2 > 0.0) {
        double inv = 1.0 / sqrt(norm2);
        for (q = 0; q < k; q++)
            s[q] *= inv;
    }
    c->touched.len = 0;
    c->row++;
    return 0;
}

static int
counts_end_row(counts *c)
{
    if (c->scoring)
        return score_row(c);
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

/* `score` is None (count) or a tuple (idf float64[n_cols], W float32 or float64 [n_cols x k] C-contiguous,
 * sublinear: bool): then each row is scored instead of stored */
static int
scoring_init(counts *c, PyObject *score)
{
    PyObject *idf, *w;
    int sublinear;
    if (score == Py_None)
        return 0;
    if (!PyArg_ParseTuple(score, "OOp", &idf, &w, &sublinear))
        return -1;
    if (PyObject_GetBuffer(idf, &c->idf_b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT))
        return -1;
    if (PyObject_GetBuffer(w, &c->w_b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND)) {
        PyBuffer_Release(&c->idf_b);
        return -1;
    }
    c->scoring = 1;
    c->sublinear = sublinear;
    const char *f = c->w_b.format ? c->w_b.format : "B";
    if (f[0] == '<' || f[0] == '=' || f[0] == '@')
        f++;
    const char *fi = c->idf_b.format ? c->idf_b.format : "B";
    if (fi[0] == '<' || fi[0] == '=' || fi[0] == '@')
        fi++;
    if (strcmp(fi, "d") || c->idf_b.len != c->n_cols * 8) {
        PyErr_SetString(PyExc_ValueError, "idf must be a float64 array of one value per column");
        return -1;
    }
    if ((strcmp(f, "d") && strcmp(f, "f")) || c->w_b.ndim != 2 || c->w_b.shape[0] != c->n_cols) {
        PyErr_SetString(PyExc_ValueError, "W must be a C-contiguous float32 or float64 array of one row per column");
        return -1;
    }
    c->k = c->w_b.shape[1];
    c->out = PyByteArray_FromStringAndSize(NULL, 0);
    return c->out ? 0 : -1;
}

static PyObject *
counts_result(counts *c)
{
    if (c->scoring) {
        Py_INCREF(c->out);
        return c->out;
    }
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

/* ------------------------------------------------------------------------- strings by hash and code points */

/* A string table (a bytearray): int64 cap; sslot[cap]; then the keys' code points (Py_UCS4) one after another. */
typedef struct {
    uint64_t h;
    int64_t col; /* -1: empty slot */
    int64_t off, len;
} sslot;

#define HSTART 0xCBF29CE484222325ULL

static inline uint64_t
hstep(uint64_t h, Py_UCS4 ch)
{
    return (h ^ (uint64_t)ch) * 0x100000001B3ULL; /* FNV-1a over code points */
}

static PyObject *
string_table(PyObject *self, PyObject *args)
{
    PyObject *dict, *key, *value;
    if (!PyArg_ParseTuple(args, "O!", &PyDict_Type, &dict))
        return NULL;
    Py_ssize_t pos = 0, chars = 0, cap = 16, k;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if (!PyUnicode_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "string_table: every key must be a str");
            return NULL;
        }
        chars += PyUnicode_GET_LENGTH(key);
    }
    while (cap < 2 * PyDict_GET_SIZE(dict) + 16)
        cap *= 2;
    Py_ssize_t head = 8 + cap * (Py_ssize_t)sizeof(sslot);
    PyObject *out = PyByteArray_FromStringAndSize(NULL, head + chars * (Py_ssize_t)sizeof(Py_UCS4));
    if (!out)
        return NULL;
    char *base = PyByteArray_AS_STRING(out);
    *(int64_t *)base = cap;
    sslot *sl = (sslot *)(base + 8);
    Py_UCS4 *pool = (Py_UCS4 *)(base + head);
    for (k = 0; k < cap; k++)
        sl[k].col = -1;
    Py_ssize_t off = 0;
    pos = 0;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(key), col = PyLong_AsSsize_t(value);
        if (col < 0) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "string_table: every value must be a column >= 0");
            Py_DECREF(out);
            return NULL;
        }
        uint64_t h = HSTART;
        for (k = 0; k < n; k++) {
            pool[off + k] = PyUnicode_READ_CHAR(key, k);
            h = hstep(h, pool[off + k]);
        }
        uint64_t at = mix(h, (uint64_t)n) & (uint64_t)(cap - 1);
        while (sl[at].col >= 0) /* dict keys are distinct: no key is stored twice */
            at = (at + 1) & (uint64_t)(cap - 1);
        sl[at].h = h;
        sl[at].col = col;
        sl[at].off = off;
        sl[at].len = n;
        off += n;
    }
    return out;
}

static int
check_strings(PyObject *table)
{
    Py_ssize_t size = PyByteArray_Check(table) ? PyByteArray_GET_SIZE(table) : 0;
    int64_t cap = size >= 8 ? *(const int64_t *)PyByteArray_AS_STRING(table) : 0;
    if (cap <= 0 || (cap & (cap - 1)) || size < 8 + cap * (Py_ssize_t)sizeof(sslot)) {
        PyErr_SetString(PyExc_ValueError, "expected what string_table returned");
        return -1;
    }
    return 0;
}

/* the column of s[a:b] (its code points hashed to h), -1 when absent */
static inline Py_ssize_t
string_find(const char *base, int kind, const void *data, Py_ssize_t a, Py_ssize_t b, uint64_t h)
{
    int64_t cap = *(const int64_t *)base, n = b - a, k;
    const sslot *sl = (const sslot *)(base + 8);
    const Py_UCS4 *pool = (const Py_UCS4 *)(base + 8 + cap * (int64_t)sizeof(sslot));
    uint64_t at = mix(h, (uint64_t)n) & (uint64_t)(cap - 1);
    while (sl[at].col >= 0) {
        if (sl[at].h == h && sl[at].len == n) {
            const Py_UCS4 *p = pool + sl[at].off;
            for (k = 0; k < n && p[k] == PyUnicode_READ(kind, data, a + k); k++)
                ;
            if (k == n)
                return (Py_ssize_t)sl[at].col;
        }
        at = (at + 1) & (uint64_t)(cap - 1);
    }
    return -1;
}

static PyObject *
word_counts(PyObject *self, PyObject *args)
{
    PyObject *texts, *uni, *table, *score = Py_None;
    Py_ssize_t n_cols, cap;
    long long mult;
    const slot *t;
    if (!PyArg_ParseTuple(args, "O!OOnL|O", &PyList_Type, &texts, &uni, &table, &n_cols, &mult, &score))
        return NULL;
    if (check_table(table, &t, &cap) || check_strings(uni))
        return NULL;
    const char *uni_base = PyByteArray_AS_STRING(uni);
    PyObject *result = NULL;
    counts c;
    if (counts_init(&c, n_cols) || scoring_init(&c, score))
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
            Py_UCS4 ch = PyUnicode_READ(kind, data, a);
            if (!is_word(ch)) {
                a++;
                continue;
            }
            uint64_t h = hstep(HSTART, ch);
            for (b = a + 1; b < len; b++) {
                ch = PyUnicode_READ(kind, data, b);
                if (!is_word(ch))
                    break;
                h = hstep(h, ch);
            }
            if (b - a >= 2) {
                Py_ssize_t col = string_find(uni_base, kind, data, a, b, h);
                if (col >= 0 && counts_add(&c, col, 1.0)) {
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
    PyObject *texts, *words, *grams, *table, *score = Py_None;
    Py_buffer ip_b, ix_b, d_b;
    Py_ssize_t lo, hi, n_cols;
    if (!PyArg_ParseTuple(args, "O!Oy*y*y*O!nnnO|O", &PyList_Type, &texts, &words, &ip_b, &ix_b, &d_b, &PyDict_Type,
                          &grams, &lo, &hi, &n_cols, &table, &score))
        return NULL;
    PyObject *result = NULL, *space = NULL;
    Py_UCS4 *buf = NULL;
    Py_ssize_t buf_len = 0, cap = 0;
    const slot *t = NULL;
    counts c;
    if (check_strings(words))
        goto done_buffers;
    const char *words_base = PyByteArray_AS_STRING(words);
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
    if (counts_init(&c, n_cols) || scoring_init(&c, score))
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
            Py_UCS4 ch = PyUnicode_READ(kind, data, a);
            if (Py_UNICODE_ISSPACE(ch)) {
                a++;
                continue;
            }
            uint64_t h = hstep(HSTART, ch);
            for (b = a + 1; b < len; b++) {
                ch = PyUnicode_READ(kind, data, b);
                if (Py_UNICODE_ISSPACE(ch))
                    break;
                h = hstep(h, ch);
            }
            PyObject *w = NULL;
            Py_ssize_t row = string_find(words_base, kind, data, a, b, h);
            int rc = 0;
            if (row >= n_rows) {
                PyErr_Format(PyExc_ValueError, "word row %zd outside the %zd rows of wg", row, n_rows);
                rc = -1;
            }
            if (rc == 0 && row >= 0) {
                for (p = ip[row]; p < ip[row + 1] && rc == 0; p++)
                    rc = counts_add(&c, (Py_ssize_t)ix[p], dat[p]);
            } else if (rc == 0 && t) {
                rc = unknown_word_coded(&c, kind, data, a, b, t, cap, lo, hi, &buf, &buf_len);
            } else if (rc == 0) {
                w = PyUnicode_Substring(s, a, b);
                rc = w ? unknown_word(&c, w, grams, lo, hi, space) : -1;
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
    {"string_table", string_table, METH_VARARGS, "A table of a dict's str keys and int values (see the module doc)."},
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
