/* Python glue for the native kernels: argument parsing, buffer access, GIL release.
 *
 * Compiled once per instruction-set level (see kernels.h); the module's name comes from
 * -DCONV1D_MODULE. Arrays arrive through the buffer protocol (C-contiguous, validated by
 * conv1d.algorithms.native); the glue only checks that each buffer is large enough for the
 * sizes given, so that a wrong call is a ValueError rather than a stray write. Sizes are
 * Python ints parsed as Py_ssize_t (64-bit on every supported platform).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#ifndef CONV1D_MODULE
#define CONV1D_MODULE _native_base
#endif
#define STR_(a) #a
#define STR(a) STR_(a)
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

typedef struct {
    Py_buffer b[4];
    int n;
} Buffers;

static void release(Buffers *bufs)
{
    for (int i = 0; i < bufs->n; i++) PyBuffer_Release(&bufs->b[i]);
    bufs->n = 0;
}

/* Take obj's buffer (C-contiguous; writable if asked) holding at least `need` items of the
 * call's item size (taken from the first buffer). None gives NULL when `optional`. */
static int take(Buffers *bufs, PyObject *obj, const char *name, int writable, ptrdiff_t need,
                int optional, void **ptr)
{
    *ptr = NULL;
    if (optional && obj == Py_None) return 0;
    Py_buffer *v = &bufs->b[bufs->n];
    if (PyObject_GetBuffer(obj, v, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    bufs->n++;
    Py_ssize_t item = bufs->b[0].itemsize;
    if (v->itemsize != item || (item != 4 && item != 8)) {
        PyErr_Format(PyExc_ValueError, "%s: item size must be 4 or 8 and match, got %zd",
                     name, v->itemsize);
        return -1;
    }
    if (need < 0 || v->len / item < need) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd items, need %zd", name,
                     v->len / item, (Py_ssize_t)need);
        return -1;
    }
    *ptr = v->buf;
    return 0;
}

static int check_dims(ptrdiff_t C_in, ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t stride,
                      ptrdiff_t dilation, ptrdiff_t groups)
{
    if (groups < 1 || C_in % groups || C_out % groups || K < 1 || stride < 1 || dilation < 1) {
        PyErr_SetString(PyExc_ValueError, "native kernel: inconsistent sizes");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(forward_pack_doc,
             "forward_pack(wp, w, C_out, cg, K, groups, q0, q1)\n\nBlocks [q0, q1) of w "
             "(C_out, cg, K) packed into wp for forward_dense (kernels.h).");

static PyObject *py_forward_pack(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *owp, *ow;
    Py_ssize_t C_out, cg, K, g, q0, q1;
    if (!PyArg_ParseTuple(args, "OOnnnnnn", &owp, &ow, &C_out, &cg, &K, &g, &q0, &q1))
        return NULL;
    if (check_dims(cg * g, C_out, K, 1, 1, g) < 0) return NULL;
    const ptrdiff_t nob = (C_out / g + CONV1D_OUT_BLOCK - 1) / CONV1D_OUT_BLOCK;
    if (q0 < 0 || q1 > g * nob) {
        PyErr_SetString(PyExc_ValueError, "forward_pack: block range out of bounds");
        return NULL;
    }
    Buffers bufs = {.n = 0};
    void *wp, *w;
    if (take(&bufs, owp, "wp", 1, g * nob * CONV1D_OUT_BLOCK * cg * K, 0, &wp) < 0 ||
        take(&bufs, ow, "w", 0, C_out * cg * K, 0, &w) < 0) {
        release(&bufs);
        return NULL;
    }
    int item = (int)bufs.b[0].itemsize;
    Py_BEGIN_ALLOW_THREADS
    if (item == 4)
        forward_dense_pack_f32(wp, w, C_out, cg, K, g, q0, q1);
    else
        forward_dense_pack_f64(wp, w, C_out, cg, K, g, q0, q1);
    Py_END_ALLOW_THREADS
    release(&bufs);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(forward_dense_doc,
             "forward_dense(x, wp, bias, y, N, C_in, L, C_out, K, L_out, stride, dilation, "
             "groups, pad_left, n0, n1, t0, t1)\n\nDense/grouped forward into y (kernels.h).");

static PyObject *py_forward_dense(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ox, *ow, *ob, *oy;
    Py_ssize_t N, C_in, L, C_out, K, L_out, s, d, g, pl, n0, n1, t0, t1;
    if (!PyArg_ParseTuple(args, "OOOOnnnnnnnnnnnnnn", &ox, &ow, &ob, &oy, &N, &C_in, &L,
                          &C_out, &K, &L_out, &s, &d, &g, &pl, &n0, &n1, &t0, &t1))
        return NULL;
    if (check_dims(C_in, C_out, K, s, d, g) < 0) return NULL;
    Buffers bufs = {.n = 0};
    void *x, *w, *b, *y;
    ptrdiff_t og = C_out / g, nob = (og + CONV1D_OUT_BLOCK - 1) / CONV1D_OUT_BLOCK;
    if (take(&bufs, ox, "x", 0, N * C_in * L, 0, &x) < 0 ||
        take(&bufs, ow, "wp", 0, g * nob * CONV1D_OUT_BLOCK * (C_in / g) * K, 0, &w) < 0 ||
        take(&bufs, ob, "bias", 0, C_out, 1, &b) < 0 ||
        take(&bufs, oy, "y", 1, N * C_out * L_out, 0, &y) < 0) {
        release(&bufs);
        return NULL;
    }
    if (n0 < 0 || n1 > N || t0 < 0 || t1 > L_out) {
        release(&bufs);
        PyErr_SetString(PyExc_ValueError, "forward_dense: range out of bounds");
        return NULL;
    }
    int item = (int)bufs.b[0].itemsize;
    void *scratch = malloc(forward_dense_scratch(C_in, g, K, s, d, t1 - t0, item));
    if (!scratch) {
        release(&bufs);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    if (item == 4)
        forward_dense_f32(x, w, b, y, N, C_in, L, C_out, K, L_out, s, d, g, pl, n0, n1, t0, t1,
                          scratch);
    else
        forward_dense_f64(x, w, b, y, N, C_in, L, C_out, K, L_out, s, d, g, pl, n0, n1, t0, t1,
                          scratch);
    Py_END_ALLOW_THREADS
    free(scratch);
    release(&bufs);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(forward_rows_doc,
             "forward_rows(x, w, bias, y, N, C_in, L, C_out, K, L_out, stride, dilation, "
             "groups, pad_left, n0, n1, o0, o1, t0, t1)\n\nDepthwise-style forward (kernels.h).");

static PyObject *py_forward_rows(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ox, *ow, *ob, *oy;
    Py_ssize_t N, C_in, L, C_out, K, L_out, s, d, g, pl, n0, n1, o0, o1, t0, t1;
    if (!PyArg_ParseTuple(args, "OOOOnnnnnnnnnnnnnnnn", &ox, &ow, &ob, &oy, &N, &C_in, &L,
                          &C_out, &K, &L_out, &s, &d, &g, &pl, &n0, &n1, &o0, &o1, &t0, &t1))
        return NULL;
    if (check_dims(C_in, C_out, K, s, d, g) < 0) return NULL;
    Buffers bufs = {.n = 0};
    void *x, *w, *b, *y;
    if (take(&bufs, ox, "x", 0, N * C_in * L, 0, &x) < 0 ||
        take(&bufs, ow, "w", 0, C_out * (C_in / g) * K, 0, &w) < 0 ||
        take(&bufs, ob, "bias", 0, C_out, 1, &b) < 0 ||
        take(&bufs, oy, "y", 1, N * C_out * L_out, 0, &y) < 0) {
        release(&bufs);
        return NULL;
    }
    if (n0 < 0 || n1 > N || o0 < 0 || o1 > C_out || t0 < 0 || t1 > L_out) {
        release(&bufs);
        PyErr_SetString(PyExc_ValueError, "forward_rows: range out of bounds");
        return NULL;
    }
    int item = (int)bufs.b[0].itemsize;
    void *scratch = malloc((size_t)depthwise_scratch(L_out, s, K, d) * (size_t)item);
    if (!scratch) {
        release(&bufs);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    if (item == 4)
        forward_rows_f32(x, w, b, y, N, C_in, L, C_out, K, L_out, s, d, g, pl, n0, n1, o0, o1,
                         t0, t1, scratch);
    else
        forward_rows_f64(x, w, b, y, N, C_in, L, C_out, K, L_out, s, d, g, pl, n0, n1, o0, o1,
                         t0, t1, scratch);
    Py_END_ALLOW_THREADS
    free(scratch);
    release(&bufs);
    Py_RETURN_NONE;
}

/* Packed grad_input weight: groups * ncb * K * og * CB items (kernels.h). */
static ptrdiff_t grad_input_packed_items(ptrdiff_t C_out, ptrdiff_t cg, ptrdiff_t K,
                                         ptrdiff_t groups)
{
    const ptrdiff_t CB = cg < GRAD_INPUT_BLOCK ? cg : GRAD_INPUT_BLOCK;
    const ptrdiff_t ncb = CB ? (cg + CB - 1) / CB : 0;
    return groups * ncb * K * (C_out / groups) * CB;
}

PyDoc_STRVAR(grad_input_pack_doc,
             "grad_input_pack(wp, w, C_out, cg, K, groups, q0, q1)\n\nBlocks [q0, q1) of w "
             "(C_out, cg, K) packed into wp for grad_input (kernels.h).");

static PyObject *py_grad_input_pack(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *owp, *ow;
    Py_ssize_t C_out, cg, K, g, q0, q1;
    if (!PyArg_ParseTuple(args, "OOnnnnnn", &owp, &ow, &C_out, &cg, &K, &g, &q0, &q1))
        return NULL;
    if (check_dims(cg * g, C_out, K, 1, 1, g) < 0) return NULL;
    const ptrdiff_t CB = cg < GRAD_INPUT_BLOCK ? cg : GRAD_INPUT_BLOCK;
    if (q0 < 0 || q1 > (CB ? g * ((cg + CB - 1) / CB) : 0)) {
        PyErr_SetString(PyExc_ValueError, "grad_input_pack: block range out of bounds");
        return NULL;
    }
    Buffers bufs = {.n = 0};
    void *wp, *w;
    if (take(&bufs, owp, "wp", 1, grad_input_packed_items(C_out, cg, K, g), 0, &wp) < 0 ||
        take(&bufs, ow, "w", 0, C_out * cg * K, 0, &w) < 0) {
        release(&bufs);
        return NULL;
    }
    int item = (int)bufs.b[0].itemsize;
    Py_BEGIN_ALLOW_THREADS
    if (item == 4)
        grad_input_pack_f32(wp, w, C_out, cg, K, g, q0, q1);
    else
        grad_input_pack_f64(wp, w, C_out, cg, K, g, q0, q1);
    Py_END_ALLOW_THREADS
    release(&bufs);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(grad_input_doc,
             "grad_input(gx, gy, wp, bias, N, C_in, L, C_out, K, L_out, stride, dilation, "
             "groups, pad_left, cpi, u0, u1) -> bool\n\nwp from grad_input_pack; work items "
             "[u0, u1) of cpi channel blocks. False when the kernel is not built (kernels.h).");

static PyObject *py_grad_input(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ogx, *ogy, *ow, *ob;
    Py_ssize_t N, C_in, L, C_out, K, L_out, s, d, g, pl, cpi, u0, u1;
    if (!PyArg_ParseTuple(args, "OOOOnnnnnnnnnnnnn", &ogx, &ogy, &ow, &ob, &N, &C_in, &L, &C_out,
                          &K, &L_out, &s, &d, &g, &pl, &cpi, &u0, &u1))
        return NULL;
    if (check_dims(C_in, C_out, K, s, d, g) < 0) return NULL;
    if (cpi < 1) {
        PyErr_SetString(PyExc_ValueError, "grad_input: cpi must be >= 1");
        return NULL;
    }
    const ptrdiff_t cg = C_in / g, CB = cg < GRAD_INPUT_BLOCK ? cg : GRAD_INPUT_BLOCK;
    const ptrdiff_t items = CB ? N * g * (((cg + CB - 1) / CB + cpi - 1) / cpi) : 0;
    Buffers bufs = {.n = 0};
    void *gx, *gy, *w, *bias;
    if (take(&bufs, ogx, "gx", 1, N * C_in * L, 0, &gx) < 0 ||
        take(&bufs, ogy, "gy", 0, N * C_out * L_out, 0, &gy) < 0 ||
        take(&bufs, ow, "wp", 0, grad_input_packed_items(C_out, cg, K, g), 0, &w) < 0 ||
        take(&bufs, ob, "bias", 0, C_in, 1, &bias) < 0) {
        release(&bufs);
        return NULL;
    }
    if (u0 < 0 || u1 > items || pl < 0) {
        release(&bufs);
        PyErr_SetString(PyExc_ValueError, "grad_input: range out of bounds");
        return NULL;
    }
    int item = (int)bufs.b[0].itemsize, rc;
    Py_BEGIN_ALLOW_THREADS
    if (item == 4)
        rc = grad_input_f32(gx, gy, w, bias, N, C_in, L, C_out, K, L_out, s, d, g, pl, cpi, u0,
                            u1);
    else
        rc = grad_input_f64(gx, gy, w, bias, N, C_in, L, C_out, K, L_out, s, d, g, pl, cpi, u0,
                            u1);
    Py_END_ALLOW_THREADS
    release(&bufs);
    return PyBool_FromLong(rc == 0);
}

PyDoc_STRVAR(grad_weight_doc,
             "grad_weight(gw, gy, x, N, C_in, L, C_out, K, L_out, stride, dilation, groups, "
             "pad_left, pad_right, o0, o1) -> bool\n\nFalse when not built (kernels.h).");

static PyObject *py_grad_weight(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ogw, *ogy, *ox;
    Py_ssize_t N, C_in, L, C_out, K, L_out, s, d, g, pl, pr, o0, o1;
    if (!PyArg_ParseTuple(args, "OOOnnnnnnnnnnnnn", &ogw, &ogy, &ox, &N, &C_in, &L, &C_out,
                          &K, &L_out, &s, &d, &g, &pl, &pr, &o0, &o1))
        return NULL;
    if (check_dims(C_in, C_out, K, s, d, g) < 0) return NULL;
    Buffers bufs = {.n = 0};
    void *gw, *gy, *x;
    if (take(&bufs, ogw, "gw", 1, C_out * (C_in / g) * K, 0, &gw) < 0 ||
        take(&bufs, ogy, "gy", 0, N * C_out * L_out, 0, &gy) < 0 ||
        take(&bufs, ox, "x", 0, N * C_in * L, 0, &x) < 0) {
        release(&bufs);
        return NULL;
    }
    if (o0 < 0 || o1 > C_out) {
        release(&bufs);
        PyErr_SetString(PyExc_ValueError, "grad_weight: range out of bounds");
        return NULL;
    }
    int item = (int)bufs.b[0].itemsize, rc;
    Py_BEGIN_ALLOW_THREADS
    if (item == 4)
        rc = grad_weight_f32(gw, gy, x, N, C_in, L, C_out, K, L_out, s, d, g, pl, pr, o0, o1);
    else
        rc = grad_weight_f64(gw, gy, x, N, C_in, L, C_out, K, L_out, s, d, g, pl, pr, o0, o1);
    Py_END_ALLOW_THREADS
    release(&bufs);
    return PyBool_FromLong(rc == 0);
}

PyDoc_STRVAR(grad_weight_dense_doc,
             "grad_weight_dense(gw, gy, x, N, C_in, L, C_out, K, L_out, stride, dilation, "
             "groups, pad_left, o0, o1)\n\ngrad_weight vectorised over output channels "
             "(kernels.h).");

static PyObject *py_grad_weight_dense(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *ogw, *ogy, *ox;
    Py_ssize_t N, C_in, L, C_out, K, L_out, s, d, g, pl, o0, o1;
    if (!PyArg_ParseTuple(args, "OOOnnnnnnnnnnnn", &ogw, &ogy, &ox, &N, &C_in, &L, &C_out, &K,
                          &L_out, &s, &d, &g, &pl, &o0, &o1))
        return NULL;
    if (check_dims(C_in, C_out, K, s, d, g) < 0) return NULL;
    Buffers bufs = {.n = 0};
    void *gw, *gy, *x;
    if (take(&bufs, ogw, "gw", 1, C_out * (C_in / g) * K, 0, &gw) < 0 ||
        take(&bufs, ogy, "gy", 0, N * C_out * L_out, 0, &gy) < 0 ||
        take(&bufs, ox, "x", 0, N * C_in * L, 0, &x) < 0) {
        release(&bufs);
        return NULL;
    }
    if (o0 < 0 || o1 > C_out || o0 > o1 || pl < 0 || L_out < 0) {
        release(&bufs);
        PyErr_SetString(PyExc_ValueError, "grad_weight_dense: range out of bounds");
        return NULL;
    }
    int item = (int)bufs.b[0].itemsize;
    void *scratch = malloc(grad_weight_dense_scratch(C_in, C_out, K, s, d, g, o0, o1, item) + 64);
    if (!scratch) {
        release(&bufs);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    if (item == 4)
        grad_weight_dense_f32(gw, gy, x, N, C_in, L, C_out, K, L_out, s, d, g, pl, o0, o1,
                              scratch);
    else
        grad_weight_dense_f64(gw, gy, x, N, C_in, L, C_out, K, L_out, s, d, g, pl, o0, o1,
                              scratch);
    Py_END_ALLOW_THREADS
    free(scratch);
    release(&bufs);
    Py_RETURN_NONE;
}

/* See kernels.h. 12 chains of FMAs (16 with 32 vector registers) hide the FMA latency; without
 * -ffast-math the compiler may not reassociate or fold the chains, so every FMA runs. */
#if defined(__AVX512F__)
#define FMA_OPAQUE(v) __asm__ volatile("" : "+v"(v))
#elif defined(__x86_64__) || defined(__i386__)
#define FMA_OPAQUE(v) __asm__ volatile("" : "+x"(v))
#elif defined(__aarch64__)
#define FMA_OPAQUE(v) __asm__ volatile("" : "+w"(v))
#else
#define FMA_OPAQUE(v) ((void)0)
#endif

double fma_loop_f32(int64_t iterations)
{
#if CONV1D_VEC_BYTES >= 64 || defined(__aarch64__)
#define CHAINS 16
#else
#define CHAINS 12
#endif
    vf32 a[CHAINS];
    const vf32 m = (vf32){0} + 0.9999999f, c = (vf32){0} + 1e-7f;
    for (int j = 0; j < CHAINS; j++) a[j] = (vf32){0} + (float)j;
    /* Hide the start values: knowing them, GCC proved the chain starting at 1.0 a fixed point in
     * float32 (1 * m + c rounds to 1) and dropped its FMAs from the loop. */
    for (int j = 0; j < CHAINS; j++) FMA_OPAQUE(a[j]);
    for (int64_t i = 0; i < iterations; i++) {
#pragma GCC unroll 16
        for (int j = 0; j < CHAINS; j++) a[j] = a[j] * m + c;
    }
    volatile float sink = 0;
    for (int j = 0; j < CHAINS; j++) sink += a[j][0];
    (void)sink;
    return (double)iterations * CHAINS * LANES_F32 * 2.0;
}

PyDoc_STRVAR(fma_loop_doc,
             "fma_loop(iterations) -> float\n\nRun `iterations` rounds of independent float32 "
             "FMA chains in registers, GIL released;\nreturn the FLOPs done (kernels.h).");

static PyObject *py_fma_loop(PyObject *self, PyObject *arg)
{
    (void)self;
    long long it = PyLong_AsLongLong(arg);
    if (it == -1 && PyErr_Occurred()) return NULL;
    if (it < 0) {
        PyErr_Format(PyExc_ValueError, "iterations must be >= 0, got %lld", it);
        return NULL;
    }
    double flops;
    Py_BEGIN_ALLOW_THREADS
    flops = fma_loop_f32((int64_t)it);
    Py_END_ALLOW_THREADS
    return PyFloat_FromDouble(flops);
}

PyDoc_STRVAR(cpu_supports_doc,
             "cpu_supports(feature) -> bool\n\nWhether the CPU has 'avx512f', 'avx2' or 'fma' "
             "(always False off x86).");

static PyObject *py_cpu_supports(PyObject *self, PyObject *arg)
{
    (void)self;
    const char *f = PyUnicode_AsUTF8(arg);
    if (!f) return NULL;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!strcmp(f, "avx512f")) return PyBool_FromLong(__builtin_cpu_supports("avx512f"));
    if (!strcmp(f, "avx2")) return PyBool_FromLong(__builtin_cpu_supports("avx2"));
    if (!strcmp(f, "fma")) return PyBool_FromLong(__builtin_cpu_supports("fma"));
#endif
    Py_RETURN_FALSE;
}

static PyMethodDef methods[] = {
    {"forward_dense", py_forward_dense, METH_VARARGS, forward_dense_doc},
    {"forward_rows", py_forward_rows, METH_VARARGS, forward_rows_doc},
    {"forward_pack", py_forward_pack, METH_VARARGS, forward_pack_doc},
    {"grad_input_pack", py_grad_input_pack, METH_VARARGS, grad_input_pack_doc},
    {"grad_input", py_grad_input, METH_VARARGS, grad_input_doc},
    {"grad_weight", py_grad_weight, METH_VARARGS, grad_weight_doc},
    {"grad_weight_dense", py_grad_weight_dense, METH_VARARGS, grad_weight_dense_doc},
    {"fma_loop", py_fma_loop, METH_O, fma_loop_doc},
    {"cpu_supports", py_cpu_supports, METH_O, cpu_supports_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, STR(CONV1D_MODULE),
    "conv1d's native kernels at one instruction-set level (see conv1d.algorithms.native).", -1,
    methods,
};

PyMODINIT_FUNC CAT(PyInit_, CONV1D_MODULE)(void)
{
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    if (PyModule_AddIntConstant(m, "VEC_BYTES", CONV1D_VEC_BYTES) < 0 ||
        PyModule_AddIntConstant(m, "OUT_BLOCK", CONV1D_OUT_BLOCK) < 0 ||
        PyModule_AddIntConstant(m, "GRAD_INPUT_BLOCK", GRAD_INPUT_BLOCK) < 0 ||
        PyModule_AddIntConstant(m, "POS_VECS", CONV1D_POS_VECS) < 0 ||
        PyModule_AddIntConstant(m, "CHANNEL_BLOCK", CONV1D_CHANNEL_BLOCK) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
