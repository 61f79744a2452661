/*
 * Winograd F(6x6, 3x3), F(4x4, 3x3) and F(2x2, 3x3) transforms for fp32 channels-last
 * tensors.
 *
 * Built by setup.py as the optional extension ``yolov4.ops._winograd_native`` and called
 * through ctypes by ``yolov4/ops/winograd_native.py`` (plain C + OpenMP, no Python headers).
 *
 * An m x m output tile of a 3x3, stride-1, padding-1 convolution is Y = A^T [U . (B^T d B)] A
 * over the (m+2) x (m+2) input tile d whose top-left pixel is (m*ty - 1, m*tx - 1), with
 * U = G g G^T; the matrices are those of yolov4/ops/winograd.py. P = (m+2)^2 products.
 *
 * Layouts (fp32):
 *   x   input pixels x[b*sxb + y*sxy + x*sxx + c], c < C: channel stride 1 (channels-last
 *       memory, or a channel slice of it);
 *   y   output pixels like x (strides syb, syy, syx), O channels, bias added and the
 *       activation applied: act 0 linear, 1 leaky (y < 0 -> slope * y; slope 0 is relu);
 *   tiles t = (b, ty, tx) in row-major order, T = B * ceil(H/m) * ceil(W/m).
 *
 * A convolution is wino_input, torch.bmm of the P planes with U (PyTorch's BLAS), wino_output.
 * (Measured here and dropped: one OpenMP region per layer calling sgemm_ per thread, and
 * tiles split per thread to keep data on one core -- both faster for a layer alone, both
 * slower inside the network.)
 *
 * The channel loops are contiguous, so the compiler vectorises them. GCC on x86-64 builds an
 * AVX-512, an AVX2 and a baseline copy of each entry point and picks one at load time.
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

#define CHUNK 64  /* channels per inner block */
#define MAXN 8    /* largest input tile side (F(6x6)) */

static const float zeros[CHUNK]; /* the padding ring outside the image */

WINO_EXPORT int wino_abi_version(void) { return 6; }

TILE_FN void tile_position(long t, int m, int H, int W, int *b, int *ty, int *tx)
{
    const long th = (H + m - 1) / m, tw = (W + m - 1) / m;
    const long r = t % (th * tw);
    *b = (int)(t / (th * tw));
    *ty = (int)(r / tw);
    *tx = (int)(r % tw);
}

/* True when the tile's (m+2)^2 input pixels are all inside the image (no padding). */
TILE_FN int tile_inside(int m, int H, int W, int ty, int tx)
{
    return ty * m - 1 >= 0 && ty * m + m + 1 <= H && tx * m - 1 >= 0 && tx * m + m + 1 <= W;
}

/*
 * The 1-D transforms, each on n channels: inputs at d[k * ds], results at o[i * os].
 * bt*: B^T (m+2 values -> m+2), at*: A^T (m+2 values -> m). Rows of B^T that pair up as
 * a + b / a - b share a and b.
 */
TILE_FN void bt2(const float *d, size_t ds, float *o, size_t os, int n)
{
    int c; /* B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] */
    for (c = 0; c < n; ++c) {
        const float d0 = d[c], d1 = d[ds + c], d2 = d[2 * ds + c], d3 = d[3 * ds + c];
        o[c] = d0 - d2;
        o[os + c] = d1 + d2;
        o[2 * os + c] = d2 - d1;
        o[3 * os + c] = d1 - d3;
    }
}

TILE_FN void at2(const float *d, size_t ds, float *o, size_t os, int n)
{
    int c; /* A^T = [1 1 1 0; 0 1 -1 -1] */
    for (c = 0; c < n; ++c) {
        const float m0 = d[c], m1 = d[ds + c], m2 = d[2 * ds + c], m3 = d[3 * ds + c];
        o[c] = m0 + m1 + m2;
        o[os + c] = m1 - m2 - m3;
    }
}

TILE_FN void bt4(const float *d, size_t ds, float *o, size_t os, int n)
{
    int c;
    for (c = 0; c < n; ++c) {
        const float d0 = d[c], d1 = d[ds + c], d2 = d[2 * ds + c], d3 = d[3 * ds + c],
                    d4 = d[4 * ds + c], d5 = d[5 * ds + c];
        o[c] = 4.f * d0 - 5.f * d2 + d4;
        o[os + c] = -4.f * (d1 + d2) + d3 + d4;
        o[2 * os + c] = 4.f * (d1 - d2) - d3 + d4;
        o[3 * os + c] = 2.f * (d3 - d1) - d2 + d4;
        o[4 * os + c] = 2.f * (d1 - d3) - d2 + d4;
        o[5 * os + c] = 4.f * d1 - 5.f * d3 + d5;
    }
}

TILE_FN void at4(const float *d, size_t ds, float *o, size_t os, int n)
{
    int c;
    for (c = 0; c < n; ++c) {
        const float m0 = d[c], m1 = d[ds + c], m2 = d[2 * ds + c], m3 = d[3 * ds + c],
                    m4 = d[4 * ds + c], m5 = d[5 * ds + c];
        const float a = m1 + m2, s = m1 - m2, q = m3 + m4, r = m3 - m4;
        o[c] = m0 + a + q;
        o[os + c] = s + 2.f * r;
        o[2 * os + c] = a + 4.f * q;
        o[3 * os + c] = s + 8.f * r + m5;
    }
}

/* F(6x6, 3x3): points 0, +-1, +-2, +-1/2, inf; 1.78 products per output instead of 2.25 for
   F(4x4), for larger rounding (~1e-5 relative here, like OpenCV's own F(6x6)). */
TILE_FN void bt6(const float *d, size_t ds, float *o, size_t os, int n)
{
    int c;
    for (c = 0; c < n; ++c) {
        const float d0 = d[c], d1 = d[ds + c], d2 = d[2 * ds + c], d3 = d[3 * ds + c],
                    d4 = d[4 * ds + c], d5 = d[5 * ds + c], d6 = d[6 * ds + c],
                    d7 = d[7 * ds + c];
        float a, b;
        o[c] = (d6 - d0) + 5.25f * (d2 - d4);
        o[7 * os + c] = (d7 - d1) + 5.25f * (d3 - d5);
        a = d2 + d6 - 4.25f * d4;
        b = d1 + d5 - 4.25f * d3;
        o[os + c] = a + b;
        o[2 * os + c] = a - b;
        a = 0.25f * d2 - 1.25f * d4 + d6;
        b = 0.5f * d1 - 2.5f * d3 + 2.f * d5;
        o[3 * os + c] = a + b;
        o[4 * os + c] = a - b;
        a = 4.f * d2 - 5.f * d4 + d6;
        b = 2.f * d1 - 2.5f * d3 + 0.5f * d5;
        o[5 * os + c] = a + b;
        o[6 * os + c] = a - b;
    }
}

TILE_FN void at6(const float *d, size_t ds, float *o, size_t os, int n)
{
    int c;
    for (c = 0; c < n; ++c) {
        const float m0 = d[c], m1 = d[ds + c], m2 = d[2 * ds + c], m3 = d[3 * ds + c],
                    m4 = d[4 * ds + c], m5 = d[5 * ds + c], m6 = d[6 * ds + c],
                    m7 = d[7 * ds + c];
        const float a1 = m1 + m2, s1 = m1 - m2, a2 = m3 + m4, s2 = m3 - m4, a3 = m5 + m6,
                    s3 = m5 - m6;
        o[c] = m0 + a1 + a2 + a3;
        o[os + c] = s1 + 2.f * s2 + 0.5f * s3;
        o[2 * os + c] = a1 + 4.f * a2 + 0.25f * a3;
        o[3 * os + c] = s1 + 8.f * s2 + 0.125f * s3;
        o[4 * os + c] = a1 + 16.f * a2 + 0.0625f * a3;
        o[5 * os + c] = s1 + 32.f * s2 + 0.03125f * s3 + m7;
    }
}

TILE_FN void bt(int m, const float *d, size_t ds, float *o, size_t os, int n)
{
    if (m == 4)
        bt4(d, ds, o, os, n);
    else if (m == 6)
        bt6(d, ds, o, os, n);
    else
        bt2(d, ds, o, os, n);
}

TILE_FN void at(int m, const float *d, size_t ds, float *o, size_t os, int n)
{
    if (m == 4)
        at4(d, ds, o, os, n);
    else if (m == 6)
        at6(d, ds, o, os, n);
    else
        at2(d, ds, o, os, n);
}

/*
 * Input transform of one tile: (m+2)^2 planes at out + k*plane, k = i*(m+2) + j (C channels
 * each). Inside the image the columns are read straight from x; at its border through a
 * zero-padded copy. F(6x6) works on 32 channels at a time, so that d and e stay in L1.
 */
TILE_FN void tile_in(int m, const float *x, long sxb, long sxy, long sxx, int H, int W, int C,
                     long t, float *out, size_t plane)
{
    /* d, e: [n][n][chunk] for this tile size (flat, so that the layout is tight per m) */
    const int n = m + 2, chunk = m == 6 ? CHUNK / 2 : CHUNK;
    float d[6 * 6 * CHUNK], e[6 * 6 * CHUNK]; /* the largest n*n*chunk: F(4x4) 36 x 64 */
    int b, ty, tx, i, j, c0, inside;
    const float *base;
    tile_position(t, m, H, W, &b, &ty, &tx);
    inside = tile_inside(m, H, W, ty, tx);
    base = x + b * sxb + (ty * m - 1) * sxy + (tx * m - 1) * sxx;
    for (c0 = 0; c0 < C; c0 += chunk) {
        const int nc = C - c0 < chunk ? C - c0 : chunk;
        if (inside) {
            for (j = 0; j < n; ++j) /* columns: e = B^T d */
                bt(m, base + j * sxx + c0, (size_t)sxy, e + j * chunk, (size_t)n * chunk, nc);
        } else {
            for (i = 0; i < n; ++i) {
                const int yy = ty * m - 1 + i;
                for (j = 0; j < n; ++j) {
                    const int xx = tx * m - 1 + j;
                    const int in = yy >= 0 && yy < H && xx >= 0 && xx < W;
                    memcpy(d + (i * n + j) * chunk,
                           in ? x + b * sxb + yy * sxy + xx * sxx + c0 : zeros,
                           (size_t)nc * sizeof(float));
                }
            }
            for (j = 0; j < n; ++j)
                bt(m, d + j * chunk, (size_t)n * chunk, e + j * chunk, (size_t)n * chunk, nc);
        }
        for (i = 0; i < n; ++i) /* rows: (B^T d) B */
            bt(m, e + i * n * chunk, chunk, out + (size_t)(i * n) * plane + c0, plane, nc);
    }
}

/*
 * Output transform of one tile from its (m+2)^2 planes at in + k*plane (O channels): A^T on
 * the columns, then on each row, + bias, activation (leaky(v) = v > 0 ? v : k v; k = 1 is
 * linear), written for the pixels inside the image.
 */
TILE_FN void tile_out(int m, const float *in, size_t plane, const float *bias, int act,
                      float slope, float *y, long syb, long syy, long syx, int H, int W, int O,
                      long t)
{
    const int n = m + 2;
    const float k = act == 1 ? slope : 1.f;
    float e[(MAXN - 2) * MAXN * CHUNK], res[(MAXN - 2) * CHUNK], bb[CHUNK]; /* e: [m][n][CHUNK] */
    int b, ty, tx, i, j, c, c0;
    tile_position(t, m, H, W, &b, &ty, &tx);
    for (c0 = 0; c0 < O; c0 += CHUNK) {
        const int nc = O - c0 < CHUNK ? O - c0 : CHUNK;
        for (c = 0; c < nc; ++c) /* no NULL test inside the vectorised loops */
            bb[c] = bias ? bias[c0 + c] : 0.f;
        for (j = 0; j < n; ++j) /* columns: e = A^T p */
            at(m, in + c0 + (size_t)j * plane, n * plane, e + j * CHUNK, (size_t)n * CHUNK, nc);
        for (i = 0; i < m && ty * m + i < H; ++i) {
            const int yy = ty * m + i;
            at(m, e + i * n * CHUNK, CHUNK, res, CHUNK, nc); /* rows: (A^T p) A */
            for (j = 0; j < m && tx * m + j < W; ++j) {
                float *o = y + b * syb + yy * syy + (tx * m + j) * syx + c0;
                for (c = 0; c < nc; ++c) {
                    const float v = res[j * CHUNK + c] + bb[c];
                    o[c] = v > 0.f ? v : k * v;
                }
            }
        }
    }
}

static long tile_count(int m, int B, int H, int W)
{
    return (long)B * ((H + m - 1) / m) * ((W + m - 1) / m);
}

/* Input transform of every tile into v: plane k of tile t at v + (k * T + t) * C. */
WINO_CLONES WINO_EXPORT void wino_input(int m, const float *x, long sxb, long sxy, long sxx,
                                        float *v, int B, int H, int W, int C, int nthreads)
{
    const long T = tile_count(m, B, H, W);
    const size_t plane = (size_t)T * C;
    long t;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (t = 0; t < T; ++t) {
        float *out = v + (size_t)t * C;
        if (m == 4) /* constant m: each call is specialised when inlined */
            tile_in(4, x, sxb, sxy, sxx, H, W, C, t, out, plane);
        else if (m == 6)
            tile_in(6, x, sxb, sxy, sxx, H, W, C, t, out, plane);
        else
            tile_in(2, x, sxb, sxy, sxx, H, W, C, t, out, plane);
    }
}

/* Output transform from the products p (layout of v, O channels) into y. */
WINO_CLONES WINO_EXPORT void wino_output(int m, const float *p, const float *bias, int act,
                                         float slope, float *y, long syb, long syy, long syx,
                                         int B, int H, int W, int O, int nthreads)
{
    const long T = tile_count(m, B, H, W);
    const size_t plane = (size_t)T * O;
    long t;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (t = 0; t < T; ++t) {
        const float *in = p + (size_t)t * O;
        if (m == 4)
            tile_out(4, in, plane, bias, act, slope, y, syb, syy, syx, H, W, O, t);
        else if (m == 6)
            tile_out(6, in, plane, bias, act, slope, y, syb, syy, syx, H, W, O, t);
        else
            tile_out(2, in, plane, bias, act, slope, y, syb, syy, syx, H, W, O, t);
    }
}
