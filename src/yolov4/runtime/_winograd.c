/*
 * Winograd F(6x6, 3x3), F(4x4, 3x3) and F(2x2, 3x3) transforms for fp32 channels-last
 * tensors.
 *
 * Built by setup.py as the optional extension ``yolov4.runtime._winograd_native`` and called
 * through ctypes by ``yolov4/runtime/winograd_native.py`` (plain C + OpenMP, no Python headers).
 *
 * An m x m output tile of a 3x3, stride-1, padding-1 convolution is Y = A^T [U . (B^T d B)] A
 * over the (m+2) x (m+2) input tile d whose top-left pixel is (m*ty - 1, m*tx - 1), with
 * U = G g G^T; the matrices are those of yolov4/runtime/winograd.py. P = (m+2)^2 products.
 *
 * Layouts (fp32):
 *   x   input pixels x[b*sxb + y*sxy + x*sxx + c], c < C: channel stride 1 (channels-last
 *       memory, or a channel slice of it);
 *   y   output pixels like x (strides syb, syy, syx), O channels, bias added and the
 *       activation applied: act 0 linear, 1 leaky (y < 0 -> slope * y; slope 0 is relu);
 *   tiles t = (b, ty, tx) in row-major order, T = B * ceil(H/m) * ceil(W/m);
 *   v, p  the transformed input (C channels) and the products (O channels): plane k of tile
 *       t at t * (tile stride) + k * (plane stride), channels contiguous -- plane-major
 *       [P][T][C] for torch.bmm, tile-major [T][P][C] for a oneDNN grouped 1x1 convolution.
 *
 * A convolution is wino_input, the P products [T, C] @ [C, O] (in PyTorch), wino_output.
 * (Measured here and dropped: one OpenMP region per layer calling sgemm_ per thread, and
 * tiles split per thread to keep data on one core -- both faster for a layer alone, both
 * slower inside the network.)
 *
 * Channels go 16 at a time as one GCC/Clang vector value (so the transforms need GCC or
 * Clang; elsewhere the build fails and the package uses its torch fallback). GCC on x86-64
 * builds an AVX-512, an AVX2 and a baseline copy of each entry point and picks one at load
 * time. Vector values instead of loops over a channel chunk: input transform 2.5x faster
 * (0.26 -> 0.10 ms on 104x104 x 64, F(6x6)), as every tile stays in registers and L1.
 */
#include <stddef.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define WINO_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WINO_CLONES
#endif

#if defined(_MSC_VER)
#define WINO_EXPORT __declspec(dllexport)
#else
#define WINO_EXPORT __attribute__((visibility("default")))
#endif

/* the per-tile helpers are inlined into every clone, so each is compiled for its target */
#if defined(__GNUC__)
#define TILE_FN static inline __attribute__((always_inline))
#else
#define TILE_FN static inline
#endif

/* 16 fp32 channels as one value: GCC/Clang vector extensions (one AVX-512 register, two AVX2
   registers, four SSE registers). The 1-D transforms below work on such vectors. */
typedef float vf __attribute__((vector_size(64)));
typedef int vi __attribute__((vector_size(64)));
#define VL 16
#define MAXN 8 /* largest input tile side (F(6x6)) */

/* n <= VL channels from p (zeros beyond n) / to p */
TILE_FN vf load(const float *p, int n)
{
    vf v = {0};
    if (n == VL)
        memcpy(&v, p, sizeof v);
    else
        memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}

TILE_FN void store(float *p, vf v, int n)
{
    if (n == VL)
        memcpy(p, &v, sizeof v);
    else
        memcpy(p, &v, (size_t)n * sizeof(float));
}

WINO_EXPORT int wino_abi_version(void) { return 7; }

TILE_FN void tile_position(long t, int m, int H, int W, int *b, int *ty, int *tx)
{
    const long th = (H + m - 1) / m, tw = (W + m - 1) / m;
    const long r = t % (th * tw);
    *b = (int)(t / (th * tw));
    *ty = (int)(r / tw);
    *tx = (int)(r % tw);
}

/*
 * The 1-D transforms on vectors: inputs d[k * ds], results o[i * os].
 * bt*: B^T (m+2 values -> m+2), at*: A^T (m+2 values -> m). Rows of B^T that pair up as
 * a + b / a - b share a and b.
 */
TILE_FN void bt2(const vf *d, int ds, vf *o, int os)
{ /* B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] */
    const vf d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds];
    o[0] = d0 - d2;
    o[os] = d1 + d2;
    o[2 * os] = d2 - d1;
    o[3 * os] = d1 - d3;
}

TILE_FN void at2(const vf *d, int ds, vf *o, int os)
{ /* A^T = [1 1 1 0; 0 1 -1 -1] */
    const vf m0 = d[0], m1 = d[ds], m2 = d[2 * ds], m3 = d[3 * ds];
    o[0] = m0 + m1 + m2;
    o[os] = m1 - m2 - m3;
}

TILE_FN void bt4(const vf *d, int ds, vf *o, int os)
{
    const vf d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds],
             d5 = d[5 * ds];
    o[0] = 4.f * d0 - 5.f * d2 + d4;
    o[os] = -4.f * (d1 + d2) + d3 + d4;
    o[2 * os] = 4.f * (d1 - d2) - d3 + d4;
    o[3 * os] = 2.f * (d3 - d1) - d2 + d4;
    o[4 * os] = 2.f * (d1 - d3) - d2 + d4;
    o[5 * os] = 4.f * d1 - 5.f * d3 + d5;
}

TILE_FN void at4(const vf *d, int ds, vf *o, int os)
{
    const vf m0 = d[0], m1 = d[ds], m2 = d[2 * ds], m3 = d[3 * ds], m4 = d[4 * ds],
             m5 = d[5 * ds];
    const vf a = m1 + m2, s = m1 - m2, q = m3 + m4, r = m3 - m4;
    o[0] = m0 + a + q;
    o[os] = s + 2.f * r;
    o[2 * os] = a + 4.f * q;
    o[3 * os] = s + 8.f * r + m5;
}

/* F(6x6, 3x3): points 0, +-1, +-2, +-1/2, inf; 1.78 products per output instead of 2.25 for
   F(4x4), for larger rounding (~1e-5 relative here, like OpenCV's own F(6x6)). */
TILE_FN void bt6(const vf *d, int ds, vf *o, int os)
{
    const vf d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds],
             d5 = d[5 * ds], d6 = d[6 * ds], d7 = d[7 * ds];
    vf a, b;
    o[0] = (d6 - d0) + 5.25f * (d2 - d4);
    o[7 * os] = (d7 - d1) + 5.25f * (d3 - d5);
    a = d2 + d6 - 4.25f * d4;
    b = d1 + d5 - 4.25f * d3;
    o[os] = a + b;
    o[2 * os] = a - b;
    a = 0.25f * d2 - 1.25f * d4 + d6;
    b = 0.5f * d1 - 2.5f * d3 + 2.f * d5;
    o[3 * os] = a + b;
    o[4 * os] = a - b;
    a = 4.f * d2 - 5.f * d4 + d6;
    b = 2.f * d1 - 2.5f * d3 + 0.5f * d5;
    o[5 * os] = a + b;
    o[6 * os] = a - b;
}

TILE_FN void at6(const vf *d, int ds, vf *o, int os)
{
    const vf m0 = d[0], m1 = d[ds], m2 = d[2 * ds], m3 = d[3 * ds], m4 = d[4 * ds],
             m5 = d[5 * ds], m6 = d[6 * ds], m7 = d[7 * ds];
    const vf a1 = m1 + m2, s1 = m1 - m2, a2 = m3 + m4, s2 = m3 - m4, a3 = m5 + m6,
             s3 = m5 - m6;
    o[0] = m0 + a1 + a2 + a3;
    o[os] = s1 + 2.f * s2 + 0.5f * s3;
    o[2 * os] = a1 + 4.f * a2 + 0.25f * a3;
    o[3 * os] = s1 + 8.f * s2 + 0.125f * s3;
    o[4 * os] = a1 + 16.f * a2 + 0.0625f * a3;
    o[5 * os] = s1 + 32.f * s2 + 0.03125f * s3 + m7;
}

TILE_FN void bt(int m, const vf *d, int ds, vf *o, int os)
{
    if (m == 4)
        bt4(d, ds, o, os);
    else if (m == 6)
        bt6(d, ds, o, os);
    else
        bt2(d, ds, o, os);
}

TILE_FN void at(int m, const vf *d, int ds, vf *o, int os)
{
    if (m == 4)
        at4(d, ds, o, os);
    else if (m == 6)
        at6(d, ds, o, os);
    else
        at2(d, ds, o, os);
}

/*
 * Input transform of one tile: (m+2)^2 planes at out + k*plane, k = i*(m+2) + j (C channels
 * each), 16 channels at a time; pixels outside the image read as zeros.
 */
TILE_FN void tile_in(int m, const float *x, long sxb, long sxy, long sxx, int H, int W, int C,
                     long t, float *out, size_t plane)
{
    const int n = m + 2;
    vf d[MAXN], e[MAXN * MAXN], r[MAXN]; /* e[i * n + j]: B^T applied to column j */
    const vf zero = {0};
    int b, ty, tx, i, j, c0;
    tile_position(t, m, H, W, &b, &ty, &tx);
    for (c0 = 0; c0 < C; c0 += VL) {
        const int nc = C - c0 < VL ? C - c0 : VL;
        for (j = 0; j < n; ++j) { /* columns: e = B^T d */
            const int xx = tx * m - 1 + j;
            for (i = 0; i < n; ++i) {
                const int yy = ty * m - 1 + i;
                d[i] = yy >= 0 && yy < H && xx >= 0 && xx < W
                    ? load(x + b * sxb + yy * sxy + xx * sxx + c0, nc) : zero;
            }
            bt(m, d, 1, e + j, n);
        }
        for (i = 0; i < n; ++i) { /* rows: (B^T d) B */
            bt(m, e + i * n, 1, r, 1);
            for (j = 0; j < n; ++j)
                store(out + (size_t)(i * n + j) * plane + c0, r[j], nc);
        }
    }
}

/*
 * Output transform of one tile from its (m+2)^2 planes at in + k*plane (O channels), 16
 * channels at a time: A^T on the columns, then on each row, + bias, activation
 * (leaky(v) = v > 0 ? v : k v; k = 1 is linear), written for the pixels inside the image.
 */
TILE_FN void tile_out(int m, const float *in, size_t plane, const float *bias, int act,
                      float slope, float *y, long syb, long syy, long syx, int H, int W, int O,
                      long t)
{
    const int n = m + 2;
    const float k = act == 1 ? slope : 1.f;
    const vf zero = {0};
    vf p[MAXN], e[(MAXN - 2) * MAXN], r[MAXN - 2]; /* e[i * n + j]: A^T applied to column j */
    int b, ty, tx, i, j, c0;
    tile_position(t, m, H, W, &b, &ty, &tx);
    for (c0 = 0; c0 < O; c0 += VL) {
        const int nc = O - c0 < VL ? O - c0 : VL;
        const vf bb = bias ? load(bias + c0, nc) : zero;
        for (j = 0; j < n; ++j) { /* columns: e = A^T p */
            for (i = 0; i < n; ++i)
                p[i] = load(in + (size_t)(i * n + j) * plane + c0, nc);
            at(m, p, 1, e + j, n);
        }
        for (i = 0; i < m && ty * m + i < H; ++i) {
            const int yy = ty * m + i;
            at(m, e + i * n, 1, r, 1); /* rows: (A^T p) A */
            for (j = 0; j < m && tx * m + j < W; ++j) {
                const vf v = r[j] + bb, kv = k * v;
                const vi pos = v > zero;
                store(y + b * syb + yy * syy + (tx * m + j) * syx + c0,
                      (vf)((pos & (vi)v) | (~pos & (vi)kv)), nc);
            }
        }
    }
}

static long tile_count(int m, int B, int H, int W)
{
    return (long)B * ((H + m - 1) / m) * ((W + m - 1) / m);
}

/* Input transform of every tile into v: plane k of tile t at v + t * vt + k * vp (C channels
   contiguous): vt = C, vp = T * C for plane-major [P][T][C]; vt = P * C, vp = C for
   tile-major [T][P][C]. */
WINO_CLONES WINO_EXPORT void wino_input(int m, const float *x, long sxb, long sxy, long sxx,
                                        float *v, long vt, long vp, int B, int H, int W, int C,
                                        int nthreads)
{
    const long T = tile_count(m, B, H, W);
    const size_t plane = (size_t)vp;
    long t;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (t = 0; t < T; ++t) {
        float *out = v + (size_t)t * vt;
        if (m == 4) /* constant m: each call is specialised when inlined */
            tile_in(4, x, sxb, sxy, sxx, H, W, C, t, out, plane);
        else if (m == 6)
            tile_in(6, x, sxb, sxy, sxx, H, W, C, t, out, plane);
        else
            tile_in(2, x, sxb, sxy, sxx, H, W, C, t, out, plane);
    }
}

/* Output transform from the products p (plane k of tile t at p + t * pt + k * pp, O channels
   contiguous) into y. */
WINO_CLONES WINO_EXPORT void wino_output(int m, const float *p, long pt, long pp,
                                         const float *bias, int act, float slope, float *y,
                                         long syb, long syy, long syx, int B, int H, int W, int O,
                                         int nthreads)
{
    const long T = tile_count(m, B, H, W);
    const size_t plane = (size_t)pp;
    long t;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (t = 0; t < T; ++t) {
        const float *in = p + (size_t)t * pt;
        if (m == 4)
            tile_out(4, in, plane, bias, act, slope, y, syb, syy, syx, H, W, O, t);
        else if (m == 6)
            tile_out(6, in, plane, bias, act, slope, y, syb, syy, syx, H, W, O, t);
        else
            tile_out(2, in, plane, bias, act, slope, y, syb, syy, syx, H, W, O, t);
    }
}
