/* Line charts as pure functions of arrays: scale, then rasterise onto sub-cell dots (braille has
 * 2x4 dots per cell; the ASCII fallback 1x2), joining consecutive points with vertical runs so a
 * steep drop stays a connected line. The caller colours each cell by the series that owns it. */
#include "config.h"
#include "ui.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void chart_scale(const Series *s, int ns, int zero_floor, ChartScale *o)
{
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < s[i].n; j++) {
            double x = s[i].x[j], y = s[i].y[j];
            if (!isfinite(x) || !isfinite(y)) continue;
            if (x < xmin) xmin = x;
            if (x > xmax) xmax = x;
            if (y < ymin) ymin = y;
            if (y > ymax) ymax = y;
        }
    if (!(xmin <= xmax)) xmin = 0, xmax = 1;
    if (!(ymin <= ymax)) ymin = 0, ymax = 1;
    if (xmax == xmin) xmax = xmin + 1;
    if (zero_floor && ymin >= 0) ymin = 0;
    double pad = (ymax - ymin) * 0.05;
    if (pad == 0) pad = fabs(ymax) > 0 ? fabs(ymax) * 0.05 : 0.5;
    ymax += pad;
    if (!(zero_floor && ymin == 0)) ymin -= pad;
    o->xmin = xmin;
    o->xmax = xmax;
    o->ymin = ymin;
    o->ymax = ymax;
}

uint32_t braille_char(unsigned bits) { return 0x2800u + (bits & 0xffu); }

/* Dots 1-3 and 7 are the left column top to bottom, 4-6 and 8 the right. */
unsigned braille_bit(int dx, int dy)
{
    static const unsigned bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};
    if (dx < 0 || dx > 1 || dy < 0 || dy > 3) return 0;
    return bit[dy][dx];
}

char ascii_dot_char(unsigned bits)
{
    static const char c[4] = {' ', '\'', '.', ':'};
    return c[bits & 3];
}

void chart_render(const Series *s, int ns, const ChartScale *sc, int cols, int rows, int utf8,
                  ChartCell *cells)
{
    int sx = utf8 ? 2 : 1, sy = utf8 ? 4 : 2;
    int W = cols * sx, H = rows * sy;
    unsigned *bits = calloc((size_t)cols * rows, sizeof *bits);
    for (int i = 0; i < cols * rows; i++) cells[i] = (ChartCell){' ', -1};
    if (!bits || W <= 0 || H <= 0) {
        free(bits);
        return;
    }
    double xr = sc->xmax - sc->xmin, yr = sc->ymax - sc->ymin;
    for (int k = 0; k < ns; k++) {
        int px = -1, py = -1;
        for (int j = 0; j < s[k].n; j++) {
            double x = s[k].x[j], y = s[k].y[j];
            if (!isfinite(x) || !isfinite(y)) { /* a gap */
                px = -1;
                continue;
            }
            int gx = (int)lround((x - sc->xmin) / xr * (W - 1));
            int gy = (int)lround((sc->ymax - y) / yr * (H - 1)); /* 0 at the top */
            if (gx < 0) gx = 0;
            if (gx >= W) gx = W - 1;
            if (gy < 0) gy = 0;
            if (gy >= H) gy = H - 1;
            /* Join from the previous point: at each column in between, a vertical run from the
             * line's height there to its height one column on. */
            if (px < 0) {
                px = gx;
                py = gy;
            }
            int dxs = gx - px, step = dxs >= 0 ? 1 : -1;
            for (int cx = px;; cx += step) {
                int nx = cx == gx ? gx : cx + step;
                int ya = dxs ? py + (gy - py) * (cx - px) / dxs : py;
                int yb = dxs ? py + (gy - py) * (nx - px) / dxs : gy;
                int lo = ya < yb ? ya : yb, hi = ya < yb ? yb : ya;
                for (int cy = lo; cy <= hi && !(s[k].dashed && (cx / (2 * sx)) % 2); cy++) {
                    int c = cx / sx, r = cy / sy;
                    unsigned b = utf8 ? braille_bit(cx % sx, cy % sy) : (cy % sy ? 2u : 1u);
                    bits[r * cols + c] |= b;
                    cells[r * cols + c].series = k;
                }
                if (cx == gx) break;
            }
            px = gx;
            py = gy;
        }
    }
    for (int i = 0; i < cols * rows; i++)
        if (bits[i]) cells[i].ch = utf8 ? braille_char(bits[i]) : (uint32_t)ascii_dot_char(bits[i]);
    /* marks over the lines: one glyph in the cell of each point */
    for (int k = 0; k < ns; k++)
        for (int j = 0; s[k].mark && j < s[k].n; j++) {
            double x = s[k].x[j], y = s[k].y[j];
            if (!isfinite(x) || !isfinite(y)) continue;
            int c = (int)lround((x - sc->xmin) / xr * (W - 1)) / sx;
            int r = (int)lround((sc->ymax - y) / yr * (H - 1)) / sy;
            if (c < 0 || c >= cols || r < 0 || r >= rows) continue;
            cells[r * cols + c] = (ChartCell){s[k].mark, k};
        }
    free(bits);
}

void chart_label(double v, char *buf, size_t n)
{
    double a = fabs(v);
    if (a >= 1e6) snprintf(buf, n, "%.1fM", v / 1e6);
    else if (a >= 1e4) snprintf(buf, n, "%.0fk", v / 1e3);
    else if (a >= 1e3) snprintf(buf, n, "%.1fk", v / 1e3);
    else if (a >= 100) snprintf(buf, n, "%.0f", v);
    else if (a >= 10) snprintf(buf, n, "%.1f", v);
    else snprintf(buf, n, "%.2f", v);
}
