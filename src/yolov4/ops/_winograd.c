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

#define CHUNK 64 /* channels per inner block: (m+2)^2 x 64 floats stay in L1 */

WINO_EXPORT int wino_abi_version(void) { return 6; }

TILE_FN void tile_position(long t, int m, int H, int W, int *b, int *ty, int *tx)
{
    const long th = (H + m - 1) / m, tw = (W + m - 1) / m;
    const long r = t % (th * tw);
    *b = (int)(t / (th * tw));
    *ty = (int)(r / tw);
    *tx = (int)(r % tw);
}

/* Gathers the (m+2)^2 input pixels of a tile (NULL outside the image = zero padding). */
TILE_FN void tile_sources(const float *x, long sxb, long sxy, long sxx, int H, int W,
                                int m, int b, int ty, int tx, const float **src)
{
    const int n = m + 2;
    int i, j;
    for (i = 0; i < n; ++i) {
        const int yy = ty * m - 1 + i;
        for (j = 0; j < n; ++j) {
            const int xx = tx * m - 1 + j;
            src[i * n + j] = (yy < 0 || yy >= H || xx < 0 || xx >= W) ? NULL
                             : x + b * sxb + yy * sxy + xx * sxx;
        }
    }
}

TILE_FN void load_chunk(const float *const *src, int count, int c0, int n, float *d)
{
    int k;
    for (k = 0; k < count; ++k) {
        if (src[k])
            memcpy(d + k * CHUNK, src[k] + c0, (size_t)n * sizeof(float));
        else
            memset(d + k * CHUNK, 0, (size_t)n * sizeof(float));
    }
}

/* B^T of F(4x4, 3x3) on 6 values at d[k * ds], 6 results at o[i * os], for n channels. */
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

/* True when the tile's (m+2)^2 input pixels are all inside the image (no padding). */
TILE_FN int tile_inside(int m, int H, int W, int ty, int tx)
{
    return ty * m - 1 >= 0 && ty * m + m + 1 <= H && tx * m - 1 >= 0 && tx * m + m + 1 <= W;
}

/* F(4x4, 3x3) input transform of one tile: 36 planes at out + k*plane (C channels each).
   Inside the image the columns are read straight from x; at the border through a zero-padded
   copy. */
TILE_FN void tile_in4(const float *x, long sxb, long sxy, long sxx, int H, int W, int C,
                      long t, float *out, size_t plane)
{
    const float *src[36];
    float d[6][6][CHUNK], e[6][6][CHUNK];
    int b, ty, tx, i, j, c0, inside;
    const float *base;
    tile_position(t, 4, H, W, &b, &ty, &tx);
    inside = tile_inside(4, H, W, ty, tx);
    base = x + b * sxb + (ty * 4 - 1) * sxy + (tx * 4 - 1) * sxx;
    if (!inside)
        tile_sources(x, sxb, sxy, sxx, H, W, 4, b, ty, tx, src);
    for (c0 = 0; c0 < C; c0 += CHUNK) {
        const int n = C - c0 < CHUNK ? C - c0 : CHUNK;
        if (inside) {
            for (j = 0; j < 6; ++j) /* columns: e = B^T d */
                bt4(base + j * sxx + c0, (size_t)sxy, &e[0][j][0], 6 * CHUNK, n);
        } else {
            load_chunk(src, 36, c0, n, &d[0][0][0]);
            for (j = 0; j < 6; ++j)
                bt4(&d[0][j][0], 6 * CHUNK, &e[0][j][0], 6 * CHUNK, n);
        }
        for (i = 0; i < 6; ++i) /* rows: (B^T d) B */
            bt4(&e[i][0][0], CHUNK, out + (size_t)(i * 6) * plane + c0, plane, n);
    }
}

/* F(4x4, 3x3) output transform of one tile from 36 planes at in + k*plane (O channels). */
TILE_FN void tile_out4(const float *in, size_t plane, const float *bias, int act,
                             float slope, float *y, long syb, long syy, long syx, int H, int W,
                             int O, long t)
{
    float e[4][6][CHUNK], res[4][CHUNK], bb[CHUNK];
    const float k = act == 1 ? slope : 1.f; /* leaky(v) = v > 0 ? v : k v; k = 1: linear */
    int b, ty, tx, i, j, c, c0;
    tile_position(t, 4, H, W, &b, &ty, &tx);
    for (c0 = 0; c0 < O; c0 += CHUNK) {
        const int n = O - c0 < CHUNK ? O - c0 : CHUNK;
        const float *p = in + c0;
        for (c = 0; c < n; ++c) /* no NULL test inside the vectorised loops */
            bb[c] = bias ? bias[c0 + c] : 0.f;
        for (j = 0; j < 6; ++j) /* columns: e = A^T m */
            for (c = 0; c < n; ++c) {
                const float m0 = p[(size_t)j * plane + c], m1 = p[(size_t)(6 + j) * plane + c],
                            m2 = p[(size_t)(12 + j) * plane + c],
                            m3 = p[(size_t)(18 + j) * plane + c],
                            m4 = p[(size_t)(24 + j) * plane + c],
                            m5 = p[(size_t)(30 + j) * plane + c];
                const float a = m1 + m2, s = m1 - m2, q = m3 + m4, r = m3 - m4;
                e[0][j][c] = m0 + a + q;
                e[1][j][c] = s + 2.f * r;
                e[2][j][c] = a + 4.f * q;
                e[3][j][c] = s + 8.f * r + m5;
            }
        for (i = 0; i < 4; ++i) { /* rows: (A^T m) A, + bias, activation */
            const int yy = ty * 4 + i;
            if (yy >= H)
                break;
            for (c = 0; c < n; ++c) {
                const float m0 = e[i][0][c], m1 = e[i][1][c], m2 = e[i][2][c],
                            m3 = e[i][3][c], m4 = e[i][4][c], m5 = e[i][5][c];
                const float a = m1 + m2, s = m1 - m2, q = m3 + m4, r = m3 - m4;
                const float v0 = m0 + a + q + bb[c], v1 = s + 2.f * r + bb[c];
                const float v2 = a + 4.f * q + bb[c], v3 = s + 8.f * r + m5 + bb[c];
                res[0][c] = v0 > 0.f ? v0 : k * v0;
                res[1][c] = v1 > 0.f ? v1 : k * v1;
                res[2][c] = v2 > 0.f ? v2 : k * v2;
                res[3][c] = v3 > 0.f ? v3 : k * v3;
            }
            for (j = 0; j < 4 && tx * 4 + j < W; ++j)
                memcpy(y + b * syb + yy * syy + (tx * 4 + j) * syx + c0, res[j],
                       (size_t)n * sizeof(float));
        }
    }
}

/* F(2x2, 3x3): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1]. */
TILE_FN void tile_in2(const float *x, long sxb, long sxy, long sxx, int H, int W, int C,
                            long t, float *out, size_t plane)
{
    const float *src[16];
    float d[4][4][CHUNK], e[4][4][CHUNK];
    int b, ty, tx, i, j, c, c0;
    tile_position(t, 2, H, W, &b, &ty, &tx);
    tile_sources(x, sxb, sxy, sxx, H, W, 2, b, ty, tx, src);
    for (c0 = 0; c0 < C; c0 += CHUNK) {
        const int n = C - c0 < CHUNK ? C - c0 : CHUNK;
        load_chunk(src, 16, c0, n, &d[0][0][0]);
        for (j = 0; j < 4; ++j)
            for (c = 0; c < n; ++c) {
                const float d0 = d[0][j][c], d1 = d[1][j][c], d2 = d[2][j][c], d3 = d[3][j][c];
                e[0][j][c] = d0 - d2;
                e[1][j][c] = d1 + d2;
                e[2][j][c] = d2 - d1;
                e[3][j][c] = d1 - d3;
            }
        for (i = 0; i < 4; ++i) {
            float *o = out + (size_t)(i * 4) * plane + c0;
            for (c = 0; c < n; ++c) {
                const float d0 = e[i][0][c], d1 = e[i][1][c], d2 = e[i][2][c], d3 = e[i][3][c];
                o[c] = d0 - d2;
                o[plane + c] = d1 + d2;
                o[2 * plane + c] = d2 - d1;
                o[3 * plane + c] = d1 - d3;
            }
        }
    }
}

TILE_FN void tile_out2(const float *in, size_t plane, const float *bias, int act,
                             float slope, float *y, long syb, long syy, long syx, int H, int W,
                             int O, long t)
{
    float e[2][4][CHUNK], res[2][CHUNK], bb[CHUNK];
    const float k = act == 1 ? slope : 1.f;
    int b, ty, tx, i, j, c, c0;
    tile_position(t, 2, H, W, &b, &ty, &tx);
    for (c0 = 0; c0 < O; c0 += CHUNK) {
        const int n = O - c0 < CHUNK ? O - c0 : CHUNK;
        const float *p = in + c0;
        for (c = 0; c < n; ++c)
            bb[c] = bias ? bias[c0 + c] : 0.f;
        for (j = 0; j < 4; ++j)
            for (c = 0; c < n; ++c) {
                const float m0 = p[(size_t)j * plane + c], m1 = p[(size_t)(4 + j) * plane + c],
                            m2 = p[(size_t)(8 + j) * plane + c],
                            m3 = p[(size_t)(12 + j) * plane + c];
                e[0][j][c] = m0 + m1 + m2;
                e[1][j][c] = m1 - m2 - m3;
            }
        for (i = 0; i < 2; ++i) {
            const int yy = ty * 2 + i;
            if (yy >= H)
                break;
            for (c = 0; c < n; ++c) {
                const float m0 = e[i][0][c], m1 = e[i][1][c], m2 = e[i][2][c], m3 = e[i][3][c];
                const float v0 = m0 + m1 + m2 + bb[c], v1 = m1 - m2 - m3 + bb[c];
                res[0][c] = v0 > 0.f ? v0 : k * v0;
                res[1][c] = v1 > 0.f ? v1 : k * v1;
            }
            for (j = 0; j < 2 && tx * 2 + j < W; ++j)
                memcpy(y + b * syb + yy * syy + (tx * 2 + j) * syx + c0, res[j],
                       (size_t)n * sizeof(float));
        }
    }
}

/*
 * F(6x6, 3x3): 8x8 input tiles, 64 products, points 0, +-1, +-2, +-1/2, inf. B^T rows pair up
 * (r1, r2), (r3, r4), (r5, r6) as a +- b; A^T works on the sums and differences of the same
 * pairs. 1.78 products per output instead of 2.25 for F(4x4), for larger rounding (~1e-5
 * relative here, like OpenCV's own F(6x6)).
 */
#define CHUNK6 32 /* 2 x 8x8x32 floats = 16 KB of L1 */

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

TILE_FN void tile_in6(const float *x, long sxb, long sxy, long sxx, int H, int W, int C,
                      long t, float *out, size_t plane)
{
    const float *src[64];
    float d[8][8][CHUNK6], e[8][8][CHUNK6];
    int b, ty, tx, i, j, k, c0, inside;
    const float *base;
    tile_position(t, 6, H, W, &b, &ty, &tx);
    inside = tile_inside(6, H, W, ty, tx);
    base = x + b * sxb + (ty * 6 - 1) * sxy + (tx * 6 - 1) * sxx;
    if (!inside)
        tile_sources(x, sxb, sxy, sxx, H, W, 6, b, ty, tx, src);
    for (c0 = 0; c0 < C; c0 += CHUNK6) {
        const int n = C - c0 < CHUNK6 ? C - c0 : CHUNK6;
        if (inside) {
            for (j = 0; j < 8; ++j) /* columns: e[.][j] = B^T d[.][j] */
                bt6(base + j * sxx + c0, (size_t)sxy, &e[0][j][0], 8 * CHUNK6, n);
        } else {
            for (k = 0; k < 64; ++k) {
                if (src[k])
                    memcpy(d[k / 8][k % 8], src[k] + c0, (size_t)n * sizeof(float));
                else
                    memset(d[k / 8][k % 8], 0, (size_t)n * sizeof(float));
            }
            for (j = 0; j < 8; ++j)
                bt6(&d[0][j][0], 8 * CHUNK6, &e[0][j][0], 8 * CHUNK6, n);
        }
        for (i = 0; i < 8; ++i) /* rows: plane i*8 + j = (B^T d B)[i][j] */
            bt6(&e[i][0][0], CHUNK6, out + (size_t)(i * 8) * plane + c0, plane, n);
    }
}

/* A^T of 8 values at d[k * ds], 6 results at o[i * os], for n channels. */
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

TILE_FN void tile_out6(const float *in, size_t plane, const float *bias, int act,
                       float slope, float *y, long syb, long syy, long syx, int H, int W,
                       int O, long t)
{
    float e[6][8][CHUNK6], res[6][CHUNK6], bb[CHUNK6];
    const float k = act == 1 ? slope : 1.f; /* leaky(v) = v > 0 ? v : k v; k = 1: linear */
    int b, ty, tx, i, j, c, c0;
    tile_position(t, 6, H, W, &b, &ty, &tx);
    for (c0 = 0; c0 < O; c0 += CHUNK6) {
        const int n = O - c0 < CHUNK6 ? O - c0 : CHUNK6;
        for (c = 0; c < n; ++c) /* no NULL test inside the vectorised loops */
            bb[c] = bias ? bias[c0 + c] : 0.f;
        for (j = 0; j < 8; ++j) /* columns: e[.][j] = A^T m[.][j] */
            at6(in + c0 + (size_t)j * plane, 8 * plane, &e[0][j][0], 8 * CHUNK6, n);
        for (i = 0; i < 6; ++i) { /* rows: (A^T m) A, + bias, activation */
            const int yy = ty * 6 + i;
            if (yy >= H)
                break;
            at6(&e[i][0][0], CHUNK6, &res[0][0], CHUNK6, n);
            for (j = 0; j < 6 && tx * 6 + j < W; ++j) {
                float *o = y + b * syb + yy * syy + (tx * 6 + j) * syx + c0;
                for (c = 0; c < n; ++c) {
                    const float v = res[j][c] + bb[c];
                    o[c] = v > 0.f ? v : k * v;
                }
            }
        }
    }
}

TILE_FN void tile_in(int m, const float *x, long sxb, long sxy, long sxx, int H, int W, int C,
                     long t, float *out, size_t plane)
{
    if (m == 4)
        tile_in4(x, sxb, sxy, sxx, H, W, C, t, out, plane);
    else if (m == 6)
        tile_in6(x, sxb, sxy, sxx, H, W, C, t, out, plane);
    else
        tile_in2(x, sxb, sxy, sxx, H, W, C, t, out, plane);
}

TILE_FN void tile_out(int m, const float *in, size_t plane, const float *bias, int act,
                      float slope, float *y, long syb, long syy, long syx, int H, int W, int O,
                      long t)
{
    if (m == 4)
        tile_out4(in, plane, bias, act, slope, y, syb, syy, syx, H, W, O, t);
    else if (m == 6)
        tile_out6(in, plane, bias, act, slope, y, syb, syy, syx, H, W, O, t);
    else
        tile_out2(in, plane, bias, act, slope, y, syb, syy, syx, H, W, O, t);
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
        tile_in(m, x, sxb, sxy, sxx, H, W, C, t, out, plane);
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
        tile_out(m, in, plane, bias, act, slope, y, syb, syy, syx, H, W, O, t);
    }
}
