/* The run-time feature look-up of `sentiment.features.FeatureIndex.rows`, in C.
 *
 * Same definition as the Python code (which stays the reference, used in training and in the tests):
 * tokens are the matches of `[@#]?[\w']+|[^\w\s]` (Unicode \w and \s as Python's `re` defines them);
 * each distinct token is either a vocabulary word (one pre-summed row) or cut, space-padded, into its
 * distinct character n-grams; each distinct pair of adjacent tokens adds its row. Features are found
 * by a 64-bit FNV-1a hash of their code points in open-addressing tables built from the vocabulary;
 * two vocabulary features with one hash are refused when the index is built. Words are also compared
 * code point by code point; an n-gram or pair of a text taken for a different vocabulary feature with
 * the same hash has a chance of about 1e-14 per look-up, so those tables keep hashes only.
 *
 * Why C: in Python every look-up hashes a fresh string and touches three scattered objects (dict
 * slot, entry, key), which made this step about a third of the triage stage's time (triage/MODELS.md).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static inline uint64_t fnv_step(uint64_t h, Py_UCS4 ch) {
    /* Four bytes per code point, so that "ab" and a single code point never collide by layout. */
    for (int i = 0; i < 4; i++) {
        h ^= (uint64_t)((ch >> (8 * i)) & 0xff);
        h *= FNV_PRIME;
    }
    return h;
}

static inline uint64_t fixed(uint64_t h) { return h ? h : 1; } /* 0 marks an empty slot */

typedef struct {
    uint64_t key;
    Py_ssize_t row;
    PyObject *text; /* the feature (words table only: to tell a colliding token apart) */
} Slot;

typedef struct {
    Slot *slots;
    size_t mask;
} Table;

static int table_init(Table *t, Py_ssize_t n) {
    size_t size = 8;
    while (size < (size_t)n * 2 + 1) size <<= 1;
    t->slots = PyMem_Calloc(size, sizeof(Slot));
    if (t->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->mask = size - 1;
    return 0;
}

static void table_free(Table *t) {
    if (t->slots == NULL) return;
    for (size_t i = 0; i <= t->mask; i++) Py_XDECREF(t->slots[i].text);
    PyMem_Free(t->slots);
    t->slots = NULL;
}

static const Slot *table_get(const Table *t, uint64_t key) {
    size_t i = (size_t)key & t->mask;
    while (t->slots[i].key != 0) {
        if (t->slots[i].key == key) return &t->slots[i];
        i = (i + 1) & t->mask;
    }
    return NULL;
}

static uint64_t hash_str(PyObject *s) {
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    uint64_t h = FNV_OFFSET;
    for (Py_ssize_t i = 0; i < n; i++) h = fnv_step(h, PyUnicode_READ(kind, data, i));
    return fixed(h);
}

/* Fill `t` from a dict {feature: row}; `keep_text` keeps the keys to compare colliding tokens. */
static int table_fill(Table *t, PyObject *mapping, int keep_text, const char *what) {
    if (!PyDict_Check(mapping)) {
        PyErr_Format(PyExc_TypeError, "%s must be a dict of str to int", what);
        return -1;
    }
    if (table_init(t, PyDict_GET_SIZE(mapping)) < 0) return -1;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(mapping, &pos, &key, &value)) {
        if (!PyUnicode_Check(key)) {
            PyErr_Format(PyExc_TypeError, "%s keys must be str", what);
            return -1;
        }
        Py_ssize_t row = PyLong_AsSsize_t(value);
        if (row == -1 && PyErr_Occurred()) return -1;
        uint64_t h = hash_str(key);
        size_t i = (size_t)h & t->mask;
        while (t->slots[i].key != 0) {
            if (t->slots[i].key == h) {
                PyErr_Format(PyExc_ValueError, "two %s share a 64-bit hash: %R", what, key);
                return -1;
            }
            i = (i + 1) & t->mask;
        }
        t->slots[i].key = h;
        t->slots[i].row = row;
        if (keep_text) {
            Py_INCREF(key);
            t->slots[i].text = key;
        }
    }
    return 0;
}

typedef struct {
    PyObject_HEAD
    Table words, pairs, grams;
    int char_min, char_max, word_max, max_token;
} NgramIndex;

static void index_dealloc(NgramIndex *self) {
    table_free(&self->words);
    table_free(&self->pairs);
    table_free(&self->grams);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int index_init(NgramIndex *self, PyObject *args, PyObject *kwds) {
    static char *names[] = {"words", "pairs", "grams", "char_min", "char_max", "word_max", "max_token", NULL};
    PyObject *words, *pairs, *grams;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOiiii", names, &words, &pairs, &grams, &self->char_min,
                                     &self->char_max, &self->word_max, &self->max_token))
        return -1;
    if (self->max_token < 1 || self->max_token > 250 || self->char_min < 1 || self->char_max > 8) {
        PyErr_SetString(PyExc_ValueError, "max_token must be 1..250, char_min >= 1 and char_max <= 8");
        return -1;
    }
    table_free(&self->words);
    table_free(&self->pairs);
    table_free(&self->grams);
    if (table_fill(&self->words, words, 1, "words") < 0) return -1;
    if (table_fill(&self->pairs, pairs, 0, "word pairs") < 0) return -1;
    if (table_fill(&self->grams, grams, 0, "character n-grams") < 0) return -1;
    return 0;
}

static inline int is_word(Py_UCS4 c) { return Py_UNICODE_ISALNUM(c) || c == '_'; }
static inline int is_run(Py_UCS4 c) { return is_word(c) || c == '\''; }

typedef struct {
    Py_ssize_t start, end;
    uint64_t hash;
} Token;

typedef struct {
    Py_ssize_t *items;
    Py_ssize_t len, cap;
} Rows;

static int rows_push(Rows *r, Py_ssize_t row) {
    if (r->len == r->cap) {
        Py_ssize_t cap = r->cap ? r->cap * 2 : 64;
        Py_ssize_t *items = PyMem_Realloc(r->items, (size_t)cap * sizeof(Py_ssize_t));
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        r->items = items;
        r->cap = cap;
    }
    r->items[r->len++] = row;
    return 0;
}

/* Push `row` unless it is among items[from:]: a token's n-grams, and the text's pairs, count once. */
static int rows_push_distinct(Rows *r, Py_ssize_t from, Py_ssize_t row) {
    for (Py_ssize_t i = from; i < r->len; i++)
        if (r->items[i] == row) return 0;
    return rows_push(r, row);
}

static int same_text(PyObject *word, int kind, const void *data, const Token *tok) {
    Py_ssize_t n = tok->end - tok->start;
    if (PyUnicode_GET_LENGTH(word) != n) return 0;
    int wkind = PyUnicode_KIND(word);
    const void *wdata = PyUnicode_DATA(word);
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyUnicode_READ(wkind, wdata, i) != PyUnicode_READ(kind, data, tok->start + i)) return 0;
    return 1;
}

static int same_token(int kind, const void *data, const Token *a, const Token *b) {
    Py_ssize_t n = a->end - a->start;
    if (a->hash != b->hash || b->end - b->start != n) return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyUnicode_READ(kind, data, a->start + i) != PyUnicode_READ(kind, data, b->start + i)) return 0;
    return 1;
}

static int char_grams(const NgramIndex *self, int kind, const void *data, const Token *tok, Rows *out) {
    Py_ssize_t n = tok->end - tok->start;
    if (n > self->max_token) n = self->max_token;
    Py_ssize_t size = n + 2; /* " " + token + " " */
    Py_UCS4 padded[256];
    if (size > (Py_ssize_t)(sizeof(padded) / sizeof(padded[0]))) size = sizeof(padded) / sizeof(padded[0]);
    padded[0] = ' ';
    for (Py_ssize_t i = 0; i + 2 < size; i++) padded[i + 1] = PyUnicode_READ(kind, data, tok->start + i);
    padded[size - 1] = ' ';
    Py_ssize_t from = out->len;
    for (Py_ssize_t start = 0; start < size; start++) {
        uint64_t h = FNV_OFFSET;
        for (Py_ssize_t len = 1; len <= self->char_max && start + len <= size; len++) {
            h = fnv_step(h, padded[start + len - 1]);
            if (len < self->char_min) continue;
            const Slot *slot = table_get(&self->grams, fixed(h));
            if (slot != NULL && rows_push_distinct(out, from, slot->row) < 0) return -1;
        }
    }
    return 0;
}

/* The rows of `text` into `out` (see the module comment); -1 with an exception set on failure. */
static int collect_rows(NgramIndex *self, PyObject *text, Rows *out) {
    if (self->words.slots == NULL || self->pairs.slots == NULL || self->grams.slots == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "NgramIndex was not initialized");
        return -1;
    }
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "the text must be a str");
        return -1;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Token *tokens = PyMem_Malloc((size_t)(n + 1) * sizeof(Token));
    int status = -1;
    if (tokens == NULL) {
        PyErr_NoMemory();
        return -1;
    }

    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < n;) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        Py_ssize_t start = i;
        if ((c == '@' || c == '#') && i + 1 < n && is_run(PyUnicode_READ(kind, data, i + 1))) {
            i += 1;
            while (i < n && is_run(PyUnicode_READ(kind, data, i))) i++;
        } else if (is_run(c)) {
            while (i < n && is_run(PyUnicode_READ(kind, data, i))) i++;
        } else if (!Py_UNICODE_ISSPACE(c)) {
            i++;
        } else {
            i++;
            continue;
        }
        uint64_t h = FNV_OFFSET;
        for (Py_ssize_t j = start; j < i; j++) h = fnv_step(h, PyUnicode_READ(kind, data, j));
        tokens[count].start = start;
        tokens[count].end = i;
        tokens[count].hash = fixed(h);
        count++;
    }

    for (Py_ssize_t t = 0; t < count; t++) {
        int seen = 0;
        for (Py_ssize_t u = 0; u < t && !seen; u++) seen = same_token(kind, data, &tokens[u], &tokens[t]);
        if (seen) continue;
        const Slot *slot = table_get(&self->words, tokens[t].hash);
        if (slot != NULL && same_text(slot->text, kind, data, &tokens[t])) {
            if (rows_push(out, slot->row) < 0) goto done;
        } else if (char_grams(self, kind, data, &tokens[t], out) < 0) {
            goto done;
        }
    }

    if (self->word_max >= 2 && count > 1) {
        Py_ssize_t from = out->len;
        for (Py_ssize_t t = 0; t + 1 < count; t++) {
            uint64_t h = FNV_OFFSET;
            for (Py_ssize_t j = tokens[t].start; j < tokens[t].end; j++) h = fnv_step(h, PyUnicode_READ(kind, data, j));
            h = fnv_step(h, ' ');
            for (Py_ssize_t j = tokens[t + 1].start; j < tokens[t + 1].end; j++)
                h = fnv_step(h, PyUnicode_READ(kind, data, j));
            const Slot *slot = table_get(&self->pairs, fixed(h));
            if (slot != NULL && rows_push_distinct(out, from, slot->row) < 0) goto done;
        }
    }
    status = 0;
done:
    PyMem_Free(tokens);
    return status;
}

static PyObject *index_rows(NgramIndex *self, PyObject *text) {
    Rows rows = {NULL, 0, 0};
    PyObject *result = NULL;
    if (collect_rows(self, text, &rows) < 0) goto done;
    result = PyList_New(rows.len);
    if (result == NULL) goto done;
    for (Py_ssize_t i = 0; i < rows.len; i++) {
        PyObject *row = PyLong_FromSsize_t(rows.items[i]);
        if (row == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, i, row);
    }
done:
    PyMem_Free(rows.items);
    return result;
}

/* sum(text, matrix, out): out[:] = the sum of matrix's rows for `text` (float64, C order). */
static PyObject *index_sum(NgramIndex *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "sum(text, matrix, out) takes 3 arguments");
        return NULL;
    }
    Py_buffer matrix, out;
    Rows rows = {NULL, 0, 0};
    PyObject *result = NULL;
    if (PyObject_GetBuffer(args[1], &matrix, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    if (PyObject_GetBuffer(args[2], &out, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&matrix);
        return NULL;
    }
    if (matrix.ndim != 2 || out.ndim != 1 || strcmp(matrix.format, "d") != 0 || strcmp(out.format, "d") != 0 ||
        matrix.shape[1] != out.shape[0]) {
        PyErr_SetString(PyExc_ValueError, "matrix must be 2-D float64 and out 1-D float64 of its width");
        goto done;
    }
    if (collect_rows(self, args[0], &rows) < 0) goto done;
    Py_ssize_t width = matrix.shape[1];
    const double *base = matrix.buf;
    double *sums = out.buf;
    for (Py_ssize_t j = 0; j < width; j++) sums[j] = 0.0;
    for (Py_ssize_t i = 0; i < rows.len; i++) {
        Py_ssize_t row = rows.items[i];
        if (row < 0 || row >= matrix.shape[0]) {
            PyErr_Format(PyExc_IndexError, "row %zd outside the matrix", row);
            goto done;
        }
        const double *values = base + row * width;
        for (Py_ssize_t j = 0; j < width; j++) sums[j] += values[j];
    }
    result = Py_NewRef(Py_None);
done:
    PyMem_Free(rows.items);
    PyBuffer_Release(&matrix);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef index_methods[] = {
    {"rows", (PyCFunction)index_rows, METH_O, "The rows whose sum scores a normalized text (see FeatureIndex.rows)."},
    {"sum", (PyCFunction)(void (*)(void))index_sum, METH_FASTCALL, "sum(text, matrix, out): out = the sum of the text's rows of matrix."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject NgramIndexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sentiment._ngram_index.NgramIndex",
    .tp_basicsize = sizeof(NgramIndex),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "NgramIndex(words, pairs, grams, char_min, char_max, word_max, max_token): feature rows of a text.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)index_init,
    .tp_dealloc = (destructor)index_dealloc,
    .tp_methods = index_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_ngram_index",
    .m_doc = "The run-time feature look-up of FeatureIndex, in C.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__ngram_index(void) {
    if (PyType_Ready(&NgramIndexType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&NgramIndexType);
    if (PyModule_AddObject(m, "NgramIndex", (PyObject *)&NgramIndexType) < 0) {
        Py_DECREF(&NgramIndexType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
