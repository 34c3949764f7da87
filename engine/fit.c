/* The small fits of the scaling analysis: least-squares polynomials of degree 1 and 2, and
 * Spearman's rank correlation. Closed forms over a handful of points; no library. */
#include "config.h"
#include "internal.h"
#include "scaling.h"

#include <stdlib.h>

/* Solves the 3x3 system A x = b by Gaussian elimination with partial pivoting. */
static int solve3(double A[3][3], double b[3], double x[3])
{
    for (int c = 0; c < 3; c++) {
        int p = c;
        for (int r = c + 1; r < 3; r++)
            if (fabs(A[r][c]) > fabs(A[p][c])) p = r;
        if (fabs(A[p][c]) < 1e-300) return -1;
        for (int k = 0; k < 3; k++) {
            double t = A[c][k];
            A[c][k] = A[p][k];
            A[p][k] = t;
        }
        double t = b[c];
        b[c] = b[p];
        b[p] = t;
        for (int r = c + 1; r < 3; r++) {
            double f = A[r][c] / A[c][c];
            for (int k = c; k < 3; k++) A[r][k] -= f * A[c][k];
            b[r] -= f * b[c];
        }
    }
    for (int r = 2; r >= 0; r--) {
        double s = b[r];
        for (int k = r + 1; k < 3; k++) s -= A[r][k] * x[k];
        x[r] = s / A[r][r];
    }
    return 0;
}

int fit_parabola(const double *x, const double *y, int n, double coef[3])
{
    if (n < 3) return -1;
    /* centred x keeps the normal equations well conditioned */
    double mx = 0;
    for (int i = 0; i < n; i++) mx += x[i];
    mx /= n;
    double S[5] = {0}, T[3] = {0};
    for (int i = 0; i < n; i++) {
        double u = x[i] - mx, p = 1;
        for (int k = 0; k < 5; k++) {
            S[k] += p;
            if (k < 3) T[k] += p * y[i];
            p *= u;
        }
    }
    double A[3][3] = {{S[0], S[1], S[2]}, {S[1], S[2], S[3]}, {S[2], S[3], S[4]}}, c[3];
    if (solve3(A, T, c) != 0) return -1;
    /* back to powers of x: c0 + c1 (x - m) + c2 (x - m)^2 */
    coef[0] = c[0] - c[1] * mx + c[2] * mx * mx;
    coef[1] = c[1] - 2 * c[2] * mx;
    coef[2] = c[2];
    return 0;
}

int fit_line(const double *x, const double *y, int n, double *slope, double *icept)
{
    if (n < 2) return -1;
    double mx = 0, my = 0;
    for (int i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= n, my /= n;
    double sxx = 0, sxy = 0;
    for (int i = 0; i < n; i++) sxx += (x[i] - mx) * (x[i] - mx), sxy += (x[i] - mx) * (y[i] - my);
    if (!(sxx > 0)) return -1;
    *slope = sxy / sxx;
    *icept = my - *slope * mx;
    return 0;
}

/* Ranks from 1, ties sharing their mean rank. */
static void ranks(const double *v, int n, double *r)
{
    for (int i = 0; i < n; i++) {
        int less = 0, equal = 0;
        for (int j = 0; j < n; j++) less += v[j] < v[i], equal += v[j] == v[i];
        r[i] = less + (equal + 1) / 2.0;
    }
}

double spearman(const double *x, const double *y, int n)
{
    if (n < 2) return NAN;
    double *rx = malloc(sizeof(double) * 2 * (size_t)n);
    if (!rx) return NAN;
    double *ry = rx + n;
    ranks(x, n, rx);
    ranks(y, n, ry);
    /* Pearson correlation of the ranks (exact with ties) */
    double mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0;
    for (int i = 0; i < n; i++) mx += rx[i], my += ry[i];
    mx /= n, my /= n;
    for (int i = 0; i < n; i++) {
        sxx += (rx[i] - mx) * (rx[i] - mx);
        syy += (ry[i] - my) * (ry[i] - my);
        sxy += (rx[i] - mx) * (ry[i] - my);
    }
    free(rx);
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}
