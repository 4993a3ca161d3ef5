"""The C source of the compiled sweeps (see :mod:`~qmnist_qiskit.engines.statevector.native`).

It ships as a Python string so that installing the package needs no package-data rule and
running it downloads nothing: :mod:`~qmnist_qiskit.engines.statevector.native` writes it out
and compiles it with the system's C compiler once per machine.

The states of ``LANES`` samples are swept together, one sample per SIMD lane: amplitude ``k``
of a block is one cache line (``LANES`` real parts, then ``LANES`` imaginary parts), so every
operation, on any qubit, is the same vector arithmetic, and all of a program's operations and
its Pauli expectations run on the block while it stays in the caches. The torch path makes
several passes over the whole batch's states per operation instead. The backward sweep
recomputes each block's final states (no state is kept between the passes), forms the seed
from the incoming gradient, then un-applies each operation, propagates the seed and contracts
the operation's gradient in one pass, with the gradient convention of
:mod:`~qmnist_qiskit.engines.statevector.kernels`. Lanes past the end of the batch get a zero
seed, so they add nothing to any gradient.
"""

LANES = 4
"""Samples swept together (SIMD lanes of doubles)."""

OP_FIELDS = 8
"""int64 fields per operation in the program table: kind, qubit, qubit, slot, index, and the
addresses of a permutation's source indices, phases and inverse indices (0: none)."""

KINDS = {"unitary1": 0, "diagonal2": 1, "monomial": 2}
"""Operation kinds of the program table."""

SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>

#define LANES 4
typedef double vd __attribute__((vector_size(LANES * sizeof(double))));
typedef struct { vd re, im; } cv;

enum { KIND, QUBIT0, QUBIT1, SLOT, INDEX, SOURCE, PHASE, INVERSE, FIELDS };
enum { UNITARY1 = 0, DIAGONAL2 = 1, MONOMIAL = 2 };

typedef struct {
    int64_t qubits;
    int64_t batch;          /* samples */
    int64_t num_ops;
    const int64_t *ops;     /* num_ops * FIELDS */
    const double *const *slots;   /* bound tensors, complex interleaved */
    double *const *grads;         /* their gradients (NULL: not wanted) */
    const int64_t *rows;    /* per slot: 1 (shared by the batch) or one row per sample */
    const int64_t *count;   /* per slot: matrices per row */
    const int64_t *stride;  /* per slot: complex entries per matrix */
    const int64_t *vectors; /* per wire: slot, index of its initial vector (slot -1: |0>) */
    int64_t num_paulis;
    const int64_t *paulis;  /* per Pauli string: X mask, Z mask, number of Ys, result column;
                               sorted by X mask */
    int64_t num_columns;    /* columns of the (batch, num_columns) results */
} program_t;

static inline cv cmul(cv a, cv b) {
    cv r = {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
    return r;
}

static inline cv cmadd(cv acc, cv a, cv b) {
    acc.re += a.re * b.re - a.im * b.im;
    acc.im += a.re * b.im + a.im * b.re;
    return acc;
}

/* acc + a * conj(b) */
static inline cv cmadd_conj(cv acc, cv a, cv b) {
    acc.re += a.re * b.re + a.im * b.im;
    acc.im += a.im * b.re - a.re * b.im;
    return acc;
}

static inline cv conj_cv(cv a) {
    cv r = {a.re, -a.im};
    return r;
}

static inline cv load(const vd *block, int64_t k) {
    cv r = {block[2 * k], block[2 * k + 1]};
    return r;
}

static inline void store(vd *block, int64_t k, cv value) {
    block[2 * k] = value.re;
    block[2 * k + 1] = value.im;
}

static inline cv broadcast(const double *entry) {
    cv r;
    for (int s = 0; s < LANES; s++) {
        r.re[s] = entry[0];
        r.im[s] = entry[1];
    }
    return r;
}

static inline int64_t sample_row(const program_t *p, int64_t slot, int64_t sample) {
    return p->rows[slot] == 1 ? 0 : sample;
}

/* Entry `entry` of matrix (slot, index), one sample per lane (lanes past the batch repeat
   its last sample). */
static cv entry_lanes(const program_t *p, int64_t slot, int64_t index, int64_t entry,
                      int64_t first) {
    cv r;
    for (int s = 0; s < LANES; s++) {
        int64_t sample = first + s < p->batch ? first + s : p->batch - 1;
        int64_t row = sample_row(p, slot, sample);
        const double *z = p->slots[slot]
            + 2 * ((row * p->count[slot] + index) * p->stride[slot] + entry);
        r.re[s] = z[0];
        r.im[s] = z[1];
    }
    return r;
}

/* Add one lane-vector per entry to the gradient of matrix (slot, index). */
static void accumulate(const program_t *p, int64_t slot, int64_t index, const int64_t *entries,
                       const cv *values, int num_entries, int64_t first) {
    double *grad = p->grads[slot];
    for (int s = 0; s < LANES && first + s < p->batch; s++) {
        int64_t row = sample_row(p, slot, first + s);
        double *z = grad + 2 * (row * p->count[slot] + index) * p->stride[slot];
        for (int e = 0; e < num_entries; e++) {
            z[2 * entries[e]] += values[e].re[s];
            z[2 * entries[e] + 1] += values[e].im[s];
        }
    }
}

static void product_state(const program_t *p, int64_t first, vd *state) {
    static const double one[2] = {1.0, 0.0}, zero[2] = {0.0, 0.0};
    for (int64_t wire = 0; wire < p->qubits; wire++) {
        int64_t slot = p->vectors[2 * wire], index = p->vectors[2 * wire + 1];
        cv f0 = slot < 0 ? broadcast(one) : entry_lanes(p, slot, index, 0, first);
        cv f1 = slot < 0 ? broadcast(zero) : entry_lanes(p, slot, index, 2, first);
        if (wire == 0) {
            store(state, 0, f0);
            store(state, 1, f1);
            continue;
        }
        int64_t size = (int64_t)1 << wire;
        for (int64_t k = 0; k < size; k++) {
            cv x = load(state, k);
            store(state, k + size, cmul(f1, x));
            store(state, k, cmul(f0, x));
        }
    }
}

static void matrix_lanes(const program_t *p, const int64_t *op, int64_t first, int entries,
                         cv *m) {
    for (int e = 0; e < entries; e++) m[e] = entry_lanes(p, op[SLOT], op[INDEX], e, first);
}

/* 2x2 (m0 m1; m2 m3) on one qubit of `size` amplitudes. */
static void unitary1(vd *state, int64_t size, int64_t qubit, const cv *m) {
    int64_t half = (int64_t)1 << qubit;
    for (int64_t high = 0; high < size; high += 2 * half) {
        for (int64_t k = high; k < high + half; k++) {
            cv x = load(state, k), y = load(state, k + half);
            store(state, k, cmadd(cmul(m[0], x), m[1], y));
            store(state, k + half, cmadd(cmul(m[2], x), m[3], y));
        }
    }
}

static inline int64_t diagonal_index(int64_t k, const int64_t *op) {
    return ((k >> op[QUBIT0]) & 1) + 2 * ((k >> op[QUBIT1]) & 1);
}

static void diagonal2(vd *state, int64_t size, const int64_t *op, const cv *d) {
    for (int64_t k = 0; k < size; k++)
        store(state, k, cmul(d[diagonal_index(k, op)], load(state, k)));
}

/* out[k] = phase[k] * in[source[k]]; forward, or (undo) out[j] = conj(phase[inv[j]]) *
   in[inv[j]]. Returns the block holding the result. */
static vd *monomial(vd *state, vd *spare, int64_t qubits, const int64_t *op, int undo) {
    int64_t size = (int64_t)1 << qubits;
    const int64_t *source = (const int64_t *)(intptr_t)op[SOURCE];
    const int64_t *inverse = (const int64_t *)(intptr_t)op[INVERSE];
    const double *phase = (const double *)(intptr_t)op[PHASE];
    const int64_t *from = undo ? inverse : source;
    if (from == NULL) {
        for (int64_t k = 0; k < size; k++) {
            cv f = broadcast(phase + 2 * k);
            store(state, k, cmul(undo ? conj_cv(f) : f, load(state, k)));
        }
        return state;
    }
    for (int64_t k = 0; k < size; k++) {
        cv x = load(state, from[k]);
        if (phase != NULL) {
            cv f = broadcast(phase + 2 * (undo ? from[k] : k));
            x = cmul(undo ? conj_cv(f) : f, x);
        }
        store(spare, k, x);
    }
    return spare;
}

static void adjoint2(const cv *m, cv *a) {
    a[0] = conj_cv(m[0]);
    a[1] = conj_cv(m[2]);
    a[2] = conj_cv(m[1]);
    a[3] = conj_cv(m[3]);
}

/* Operations on qubits below TILE_QUBITS run tile by tile: a run of them goes through one
   tile of 2**TILE_QUBITS amplitudes (128 KiB of state, and as much of seed, within L2) before
   the next, instead of sweeping the whole block once per operation (what matters from about
   14 qubits, where a block no longer fits in the caches). */
#define TILE_QUBITS 11

static int64_t tile_size(const program_t *p) {
    return (int64_t)1 << (p->qubits < TILE_QUBITS ? p->qubits : TILE_QUBITS);
}

static int in_tile(const int64_t *op, int64_t tile) {
    if (op[KIND] == UNITARY1) return ((int64_t)1 << op[QUBIT0]) < tile;
    if (op[KIND] == DIAGONAL2)
        return ((int64_t)1 << op[QUBIT0]) < tile && ((int64_t)1 << op[QUBIT1]) < tile;
    return 0;
}

static inline const int64_t *op_at(const program_t *p, int64_t position) {
    return p->ops + FIELDS * position;
}

/* `size` amplitudes from `state`: a tile, or the whole block. */
static void apply(const program_t *p, const int64_t *op, int64_t first, vd *state, int64_t size) {
    cv m[4];
    matrix_lanes(p, op, first, 4, m);
    if (op[KIND] == UNITARY1)
        unitary1(state, size, op[QUBIT0], m);
    else
        diagonal2(state, size, op, m);
}

/* Apply every operation to a block; returns the buffer holding the result. */
static vd *forward_block(const program_t *p, int64_t first, vd *state, vd *spare) {
    int64_t size = (int64_t)1 << p->qubits, tile = tile_size(p);
    product_state(p, first, state);
    for (int64_t position = 0; position < p->num_ops;) {
        const int64_t *op = op_at(p, position);
        if (op[KIND] == MONOMIAL) {
            vd *result = monomial(state, spare, p->qubits, op, 0);
            if (result == spare) {
                spare = state;
                state = result;
            }
            position++;
            continue;
        }
        int64_t end = position + 1;
        if (in_tile(op, tile))
            while (end < p->num_ops && in_tile(op_at(p, end), tile)) end++;
        int64_t step = in_tile(op, tile) ? tile : size;
        for (int64_t base = 0; base < size; base += step)
            for (int64_t i = position; i < end; i++)
                apply(p, op_at(p, i), first, state + 2 * base, step);
        position = end;
    }
    return state;
}

/* Un-apply a 2x2 operation on `size` amplitudes of state and seed, adding seed x state^H
   (the state entering it) to the accumulators g when wanted. */
static void unitary1_backward(const cv *a, int64_t qubit, vd *state, vd *seed, int64_t size,
                              int wanted, cv *g) {
    int64_t half = (int64_t)1 << qubit;
    for (int64_t high = 0; high < size; high += 2 * half) {
        for (int64_t k = high; k < high + half; k++) {
            cv x = load(state, k), y = load(state, k + half);
            cv before0 = cmadd(cmul(a[0], x), a[1], y), before1 = cmadd(cmul(a[2], x), a[3], y);
            store(state, k, before0);
            store(state, k + half, before1);
            cv l0 = load(seed, k), l1 = load(seed, k + half);
            if (wanted) {
                g[0] = cmadd_conj(g[0], l0, before0);
                g[1] = cmadd_conj(g[1], l0, before1);
                g[2] = cmadd_conj(g[2], l1, before0);
                g[3] = cmadd_conj(g[3], l1, before1);
            }
            store(seed, k, cmadd(cmul(a[0], l0), a[1], l1));
            store(seed, k + half, cmadd(cmul(a[2], l0), a[3], l1));
        }
    }
}

/* The same for a two-qubit diagonal; `d` holds its conjugated entries. */
static void diagonal2_backward(const cv *d, const int64_t *op, vd *state, vd *seed,
                               int64_t size, int wanted, cv *g) {
    for (int64_t k = 0; k < size; k++) {
        int64_t e = diagonal_index(k, op);
        cv before = cmul(d[e], load(state, k)), l = load(seed, k);
        store(state, k, before);
        if (wanted) g[e] = cmadd_conj(g[e], l, before);
        store(seed, k, cmul(d[e], l));
    }
}

/* The run [begin, end] of operations, backwards, tile by tile (`step` amplitudes), each
   operation's gradient accumulated over the tiles before it is added to p->grads. */
#define RUN 32
static void run_backward(const program_t *p, const uint8_t *wanted, int64_t first,
                         int64_t begin, int64_t end, int64_t step, vd *state, vd *seed) {
    cv inverse[RUN][4], g[RUN][4];
    vd zero = {0};
    for (int64_t i = begin; i <= end; i++) {
        const int64_t *op = op_at(p, i);
        cv m[4];
        matrix_lanes(p, op, first, 4, m);
        if (op[KIND] == UNITARY1) {
            adjoint2(m, inverse[i - begin]);
        } else {
            for (int e = 0; e < 4; e++) inverse[i - begin][e] = conj_cv(m[e]);
        }
        for (int e = 0; e < 4; e++) g[i - begin][e].re = g[i - begin][e].im = zero;
    }
    int64_t size = (int64_t)1 << p->qubits;
    for (int64_t base = 0; base < size; base += step) {
        for (int64_t i = end; i >= begin; i--) {
            const int64_t *op = op_at(p, i);
            int want = wanted[op[SLOT]];
            if (op[KIND] == UNITARY1)
                unitary1_backward(inverse[i - begin], op[QUBIT0], state + 2 * base,
                                  seed + 2 * base, step, want, g[i - begin]);
            else
                diagonal2_backward(inverse[i - begin], op, state + 2 * base, seed + 2 * base,
                                   step, want, g[i - begin]);
        }
    }
    static const int64_t entries[4] = {0, 1, 2, 3};
    for (int64_t i = begin; i <= end; i++) {
        const int64_t *op = op_at(p, i);
        if (wanted[op[SLOT]]) accumulate(p, op[SLOT], op[INDEX], entries, g[i - begin], 4, first);
    }
}

/* Gradients of the wires' initial vectors from the seed of the product state; `prefix` and
   `remaining` are blocks (remaining: overwritten with the seed). */
static void vector_gradients(const program_t *p, const uint8_t *wanted, int64_t first,
                             vd *seed, vd *prefix) {
    int64_t lowest = -1;
    for (int64_t wire = 0; wire < p->qubits; wire++) {
        int64_t slot = p->vectors[2 * wire];
        if (slot >= 0 && wanted[slot]) {
            lowest = wire;
            break;
        }
    }
    if (lowest < 0) return;
    static const double one[2] = {1.0, 0.0}, zero[2] = {0.0, 0.0};
    cv f0[64], f1[64];
    for (int64_t wire = 0; wire < p->qubits; wire++) {
        int64_t slot = p->vectors[2 * wire], index = p->vectors[2 * wire + 1];
        f0[wire] = slot < 0 ? broadcast(one) : entry_lanes(p, slot, index, 0, first);
        f1[wire] = slot < 0 ? broadcast(zero) : entry_lanes(p, slot, index, 2, first);
    }
    /* prefix + (2**w - 1): the product state of wires 0..w-1 (2**w amplitudes). */
    store(prefix, 0, broadcast(one));
    for (int64_t wire = 1; wire < p->qubits; wire++) {
        int64_t size = (int64_t)1 << (wire - 1);
        const vd *before = prefix + 2 * (size - 1);
        vd *here = prefix + 2 * (2 * size - 1);
        for (int64_t k = 0; k < size; k++) {
            cv x = load(before, k);
            store(here, k, cmul(f0[wire - 1], x));
            store(here, k + size, cmul(f1[wire - 1], x));
        }
    }
    for (int64_t wire = p->qubits - 1; wire >= lowest; wire--) {
        int64_t size = (int64_t)1 << wire, slot = p->vectors[2 * wire];
        if (slot >= 0 && wanted[slot]) {
            const vd *partial = prefix + 2 * (size - 1);
            cv g[2];
            vd none = {0};
            g[0].re = g[0].im = g[1].re = g[1].im = none;
            for (int64_t k = 0; k < size; k++) {
                cv x = load(partial, k);
                g[0] = cmadd_conj(g[0], load(seed, k), x);
                g[1] = cmadd_conj(g[1], load(seed, k + size), x);
            }
            static const int64_t entries[2] = {0, 2};
            accumulate(p, slot, p->vectors[2 * wire + 1], entries, g, 2, first);
        }
        if (wire > lowest) {
            cv c0 = conj_cv(f0[wire]), c1 = conj_cv(f1[wire]);
            for (int64_t k = 0; k < size; k++)
                store(seed, k, cmadd(cmul(load(seed, k), c0), load(seed, k + size), c1));
        }
    }
}

/* At most GROUP strings [first, last) at a time: strings of one X mask, or strings whose X
   masks all stay within a tile (then they are evaluated tile by tile). */
#define GROUP 16
static int64_t group_end(const program_t *p, int64_t first, int64_t tile) {
    int64_t last = first + 1, x = p->paulis[4 * first];
    while (last < p->num_paulis && last - first < GROUP
           && (p->paulis[4 * last] == x || (x < tile && p->paulis[4 * last] < tile)))
        last++;
    return last;
}

static inline int odd(int64_t bits) { return __builtin_parityll((unsigned long long)bits); }

/* <P> = Re sum_k conj(psi[k ^ x]) i^y (-1)^popcount(k & z) psi[k], into result rows. */
static void expectations(const program_t *p, const vd *state, int64_t first, double *result) {
    int64_t size = (int64_t)1 << p->qubits, tile = tile_size(p);
    vd zero = {0};
    for (int64_t begin = 0; begin < p->num_paulis;) {
        int64_t end = group_end(p, begin, tile);
        int64_t step = p->paulis[4 * begin] < tile ? tile : size;
        cv total[GROUP];
        for (int64_t i = 0; i < end - begin; i++) total[i].re = total[i].im = zero;
        for (int64_t base = 0; base < size; base += step) {
            for (int64_t same = begin; same < end;) {
                int64_t x = p->paulis[4 * same], last = same + 1;
                while (last < end && p->paulis[4 * last] == x) last++;
                for (int64_t k = base; k < base + step; k++) {
                    cv product =
                        cmadd_conj((cv){zero, zero}, load(state, k), load(state, k ^ x));
                    for (int64_t i = same - begin; i < last - begin; i++) {
                        if (odd(k & p->paulis[4 * (begin + i) + 1])) {
                            total[i].re -= product.re;
                            total[i].im -= product.im;
                        } else {
                            total[i].re += product.re;
                            total[i].im += product.im;
                        }
                    }
                }
                same = last;
            }
        }
        for (int64_t i = 0; i < end - begin; i++) {
            const int64_t *pauli = p->paulis + 4 * (begin + i);
            int64_t ys = pauli[2] & 3;
            vd value = ys == 0 ? total[i].re : ys == 1 ? -total[i].im
                     : ys == 2 ? -total[i].re : total[i].im;
            for (int s = 0; s < LANES && first + s < p->batch; s++)
                result[(first + s) * p->num_columns + pauli[3]] = value[s];
        }
        begin = end;
    }
}

/* The seed dL/d(state) = sum_P 2 g_P P psi (torch's convention for a real loss), where
   (P psi)[j] = i^y (-1)^popcount((j ^ x) & z) psi[j ^ x]. Lanes past the batch get zero,
   so they add nothing to any gradient. */
static void seed_of(const program_t *p, const vd *state, int64_t first, const double *grad,
                    vd *seed) {
    int64_t size = (int64_t)1 << p->qubits;
    vd zero = {0};
    for (int64_t k = 0; k < size; k++) store(seed, k, (cv){zero, zero});
    int64_t tile = tile_size(p);
    for (int64_t begin = 0; begin < p->num_paulis;) {
        int64_t end = group_end(p, begin, tile);
        int64_t step = p->paulis[4 * begin] < tile ? tile : size;
        cv weight[GROUP];
        for (int64_t i = 0; i < end - begin; i++) {
            const int64_t *pauli = p->paulis + 4 * (begin + i);
            vd g = zero;
            for (int s = 0; s < LANES && first + s < p->batch; s++)
                g[s] = 2.0 * grad[(first + s) * p->num_columns + pauli[3]];
            int64_t ys = pauli[2] & 3;
            weight[i].re = ys == 0 ? g : ys == 2 ? -g : zero;
            weight[i].im = ys == 1 ? g : ys == 3 ? -g : zero;
        }
        for (int64_t base = 0; base < size; base += step) {
            for (int64_t same = begin; same < end;) {
                int64_t x = p->paulis[4 * same], last = same + 1;
                while (last < end && p->paulis[4 * last] == x) last++;
                for (int64_t j = base; j < base + step; j++) {
                    cv coefficient = {zero, zero};
                    for (int64_t i = same - begin; i < last - begin; i++) {
                        if (odd((j ^ x) & p->paulis[4 * (begin + i) + 1])) {
                            coefficient.re -= weight[i].re;
                            coefficient.im -= weight[i].im;
                        } else {
                            coefficient.re += weight[i].re;
                            coefficient.im += weight[i].im;
                        }
                    }
                    store(seed, j, cmadd(load(seed, j), coefficient, load(state, j ^ x)));
                }
                same = last;
            }
        }
        begin = end;
    }
}

/* Angles that are polynomials of degree two in the parameters (the binding's angle table):
   angle[target[t]] += coefficient[t] * value[first[t]] * value[second[t]] over the terms t,
   for each row of `values` (rows, num_values); `angles` (rows, num_angles) starts at zero. */
int qmnist_angle_terms(int64_t rows, int64_t num_values, const double *values,
                       int64_t num_terms, const double *coefficients, const int64_t *first,
                       const int64_t *second, const int64_t *target, int64_t num_angles,
                       double *angles) {
    for (int64_t n = 0; n < rows; n++) {
        const double *v = values + n * num_values;
        double *a = angles + n * num_angles;
        for (int64_t t = 0; t < num_terms; t++)
            a[target[t]] += coefficients[t] * v[first[t]] * v[second[t]];
    }
    return 0;
}

/* Its backward pass: `grad` (rows, num_angles) is added into `grad_values`
   (rows, num_values). */
int qmnist_angle_terms_backward(int64_t rows, int64_t num_values, const double *values,
                                int64_t num_terms, const double *coefficients,
                                const int64_t *first, const int64_t *second,
                                const int64_t *target, int64_t num_angles, const double *grad,
                                double *grad_values) {
    for (int64_t n = 0; n < rows; n++) {
        const double *v = values + n * num_values, *g = grad + n * num_angles;
        double *out = grad_values + n * num_values;
        for (int64_t t = 0; t < num_terms; t++) {
            double scaled = g[target[t]] * coefficients[t];
            out[first[t]] += scaled * v[second[t]];
            out[second[t]] += scaled * v[first[t]];
        }
    }
    return 0;
}

/* Products of runs of Pauli rotations (the binding step before the sweeps). A rotation
   R_P(t) = cos(t/2) I - i sin(t/2) P is the unit quaternion (cos(t/2), sin(t/2) e_P) and
   U2 U1 is the Hamilton product q2 q1, so each run's product is a chain of quaternion
   products, written out as the 2x2 matrix w I - i (x X + y Y + z Z).
   angles: (rows, num_angles); run r's gates are gate_column[g], gate_axis[g] (0, 1, 2 for
   x, y, z) for g in [run_start[r], run_start[r + 1]), in the order they act;
   out: (rows, runs, 2, 2) complex, interleaved. */
typedef struct { double w, x, y, z; } quat;

static inline quat hamilton(quat a, quat b) {
    quat r = {a.w * b.w - a.x * b.x - a.y * b.y - a.z * b.z,
              a.w * b.x + a.x * b.w + a.y * b.z - a.z * b.y,
              a.w * b.y + a.y * b.w + a.z * b.x - a.x * b.z,
              a.w * b.z + a.z * b.w + a.x * b.y - a.y * b.x};
    return r;
}

static inline quat conj_quat(quat a) {
    quat r = {a.w, -a.x, -a.y, -a.z};
    return r;
}

static inline quat rotation(double c, double s, int64_t axis) {
    quat q = {c, 0.0, 0.0, 0.0};
    if (axis == 0) q.x = s;
    else if (axis == 1) q.y = s;
    else q.z = s;
    return q;
}

/* `trig` (rows, gates, 2), when not NULL, keeps each gate's cos and sin of the half angle
   for the backward pass. */
int qmnist_rotation_runs(int64_t rows, int64_t num_angles, const double *angles, int64_t runs,
                         const int64_t *run_start, const int64_t *gate_column,
                         const int64_t *gate_axis, double *out, double *trig) {
    int64_t gates = run_start[runs];
    for (int64_t n = 0; n < rows; n++) {
        const double *row = angles + n * num_angles;
        for (int64_t r = 0; r < runs; r++) {
            quat q = {1.0, 0.0, 0.0, 0.0};
            for (int64_t g = run_start[r]; g < run_start[r + 1]; g++) {
                double c = cos(0.5 * row[gate_column[g]]), s = sin(0.5 * row[gate_column[g]]);
                if (trig) {
                    trig[2 * (n * gates + g)] = c;
                    trig[2 * (n * gates + g) + 1] = s;
                }
                q = hamilton(rotation(c, s, gate_axis[g]), q);
            }
            double *m = out + (n * runs + r) * 8;
            m[0] = q.w;  m[1] = -q.z;   /* w - i z */
            m[2] = -q.y; m[3] = -q.x;   /* -y - i x */
            m[4] = q.y;  m[5] = -q.x;   /* y - i x */
            m[6] = q.w;  m[7] = q.z;    /* w + i z */
        }
    }
    return 0;
}

/* The backward pass of qmnist_rotation_runs, from the `trig` its forward pass kept: `grad`
   (rows, runs, 2, 2) complex, torch's convention (d/d re + i d/d im), is added into
   `grad_angles` (rows, num_angles). With Q = A_k q_k B_k (A_k the gates after gate k, B_k
   those before), dQ/dq_k contracted with G is conj(A_k) G conj(B_k); conj(A_k) is built
   from the last gate backwards and the B_k are kept from a first pass. `work`: 4 doubles
   per gate of the longest run. */
int qmnist_rotation_runs_backward(int64_t rows, int64_t num_angles, const double *trig,
                                  int64_t runs, const int64_t *run_start,
                                  const int64_t *gate_column, const int64_t *gate_axis,
                                  const double *grad, double *grad_angles, double *work) {
    quat *before = (quat *)work;
    int64_t gates = run_start[runs];
    for (int64_t n = 0; n < rows; n++) {
        const double *cs = trig + 2 * n * gates;
        double *grad_row = grad_angles + n * num_angles;
        for (int64_t r = 0; r < runs; r++) {
            int64_t first = run_start[r], length = run_start[r + 1] - first;
            if (length == 0) continue;
            const double *m = grad + (n * runs + r) * 8;
            quat h = {m[0] + m[6], -m[3] - m[5], -m[2] + m[4], -m[1] + m[7]};
            quat b = {1.0, 0.0, 0.0, 0.0};
            for (int64_t k = 0; k < length; k++) {
                int64_t g = first + k;
                before[k] = b;
                b = hamilton(rotation(cs[2 * g], cs[2 * g + 1], gate_axis[g]), b);
            }
            for (int64_t k = length - 1; k >= 0; k--) {
                int64_t g = first + k;
                double c = cs[2 * g], s = cs[2 * g + 1];
                quat d = hamilton(h, conj_quat(before[k]));
                int64_t axis = gate_axis[g];
                double along = axis == 0 ? d.x : axis == 1 ? d.y : d.z;
                grad_row[gate_column[g]] += 0.5 * (c * along - s * d.w);
                h = hamilton(conj_quat(rotation(c, s, axis)), h);
            }
        }
    }
    return 0;
}

/* Pauli expectations (batch, num_columns). `work`: 2 blocks of
   2**n * 2 * LANES doubles. */
int qmnist_expectations(const program_t *p, double *result, double *work) {
    int64_t block = (int64_t)2 << p->qubits;
    for (int64_t first = 0; first < p->batch; first += LANES) {
        vd *state = forward_block(p, first, (vd *)work, (vd *)work + block);
        expectations(p, state, first, result);
    }
    return 0;
}

/* Accumulate into p->grads the gradients of the samples for the incoming gradient
   `grad` (batch, num_columns) of their expectations: each block is recomputed, its seed
   formed, and the sweep runs backwards to `stop_at` (to the initial vectors when 0).
   `work`: 4 blocks. */
int qmnist_gradients(const program_t *p, const double *grad, const uint8_t *wanted,
                     int64_t stop_at, double *work) {
    int64_t block = (int64_t)2 << p->qubits;
    if (p->qubits > 64) return 1;
    for (int64_t first = 0; first < p->batch; first += LANES) {
        vd *state = (vd *)work, *seed = (vd *)work + block, *spare = (vd *)work + 2 * block;
        vd *prefix = (vd *)work + 3 * block;
        vd *result = forward_block(p, first, state, spare);
        if (result != state) {
            spare = state;
            state = result;
        }
        seed_of(p, state, first, grad, seed);
        int64_t size = (int64_t)1 << p->qubits, tile = tile_size(p);
        for (int64_t position = p->num_ops - 1; position >= stop_at;) {
            const int64_t *op = op_at(p, position);
            if (op[KIND] != MONOMIAL) {
                int64_t begin = position;
                if (in_tile(op, tile))
                    while (begin > stop_at && position - begin + 1 < RUN
                           && in_tile(op_at(p, begin - 1), tile))
                        begin--;
                run_backward(p, wanted, first, begin, position, in_tile(op, tile) ? tile : size,
                             state, seed);
                position = begin - 1;
            } else {
                result = monomial(state, spare, p->qubits, op, 1);
                if (result == spare) {
                    spare = state;
                    state = result;
                }
                result = monomial(seed, spare, p->qubits, op, 1);
                if (result == spare) {
                    spare = seed;
                    seed = result;
                }
                position--;
            }
        }
        if (stop_at == 0) vector_gradients(p, wanted, first, seed, prefix);
    }
    return 0;
}
"""
