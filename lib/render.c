/* render.c: the stick-figure renderer and its image files (see render.h).
 *
 * The camera is a pinhole with a 30-degree vertical field of view. Everything is drawn in image
 * space with coverage-based antialiasing: a bone is a capsule whose radius follows the depth of
 * its ends, a joint a disc; the ground is ray-cast per pixel with 2x2 samples. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <gif_lib.h>
#include <png.h>
#include "render.h"

#define PI 3.14159265358979323846
#define FOVY (30 * PI / 180)
#define MARGIN 0.86 /* the figure fills at most this fraction of the half-image */

static const uint8_t SKY[3] = {246, 246, 242}, TILE_A[3] = {226, 226, 220}, TILE_B[3] = {204, 206, 200};
static const uint8_t PATH_DONE[3] = {232, 128, 20}, PATH_TODO[3] = {240, 200, 150};
static const uint8_t BONE[3][3] = {{46, 110, 230}, {60, 60, 68}, {220, 60, 50}}; /* left, centre, right */
static const uint8_t LABEL[3] = {80, 80, 80}, SEPARATOR[3] = {170, 170, 170};

/* ---- the figure ---- */

static int name_side(const char *name)
{
	char s[LM_BVH_NAME];
	size_t n = strlen(name);
	for (size_t i = 0; i <= n; i++)
		s[i] = (char)tolower((unsigned char)name[i]);
	if (strstr(s, "left"))
		return -1;
	if (strstr(s, "right"))
		return 1;
	if (n >= 2 && (s[n - 2] == '_' || s[n - 2] == '.') && (s[n - 1] == 'l' || s[n - 1] == 'r'))
		return s[n - 1] == 'l' ? -1 : 1;
	if (n >= 2 && (s[0] == 'l' || s[0] == 'r') && (s[1] == '_' || s[1] == '.'))
		return s[0] == 'l' ? -1 : 1;
	if (n >= 2 && (name[0] == 'L' || name[0] == 'R') && isupper((unsigned char)name[1])) /* CMU's LHipJoint */
		return name[0] == 'L' ? -1 : 1;
	return 0;
}

/* Number of leading joints not drawn: a chain from the root of joints with one child and all
 * channels zero in every frame. */
static int leading_dropped(const lm_bvh *b)
{
	int r = 0, c = 0;
	while (r < b->njoints - 1) {
		int kids = 0;
		for (int k = r + 1; k < b->njoints; k++)
			kids += b->joints[k].parent == r;
		if (kids != 1 || b->joints[r + 1].parent != r)
			break;
		for (int t = 0; t < b->nframes; t++)
			for (int i = 0; i < b->joints[r].nchan; i++)
				if (b->motion[(size_t)t * b->nchannels + c + i] != 0)
					return r;
		c += b->joints[r].nchan;
		r++;
	}
	return r;
}

int lm_figure_from_bvh(lm_figure *fig, const lm_bvh *b, lm_status *st)
{
	memset(fig, 0, sizeof *fig);
	if (b->nframes < 1)
		return lm_fail(st, LM_EDATA, "the BVH has no frames");
	if (!(b->frame_time > 0))
		return lm_fail(st, LM_EDATA, "the BVH's frame time is not positive");
	int r = leading_dropped(b), pt[LM_BVH_MAX_JOINTS], tip[LM_BVH_MAX_JOINTS], np = 0;
	for (int j = 0; j < b->njoints; j++)
		pt[j] = j < r ? -1 : np++;
	for (int j = r; j < b->njoints; j++) {
		const double *e = b->joints[j].end;
		tip[j] = b->joints[j].has_end && (e[0] != 0 || e[1] != 0 || e[2] != 0) ? np++ : -1;
	}
	fig->nframes = b->nframes;
	fig->fps = 1 / b->frame_time;
	fig->npoints = np;
	fig->root = pt[r];
	fig->pos = malloc(sizeof(double) * 3 * np * (size_t)b->nframes);
	fig->bone = malloc(sizeof *fig->bone * 2 * LM_BVH_MAX_JOINTS);
	fig->side = malloc(sizeof(int) * 2 * LM_BVH_MAX_JOINTS);
	double *G = malloc(sizeof(double) * 9 * b->njoints), *P = malloc(sizeof(double) * 3 * b->njoints);
	if (!fig->pos || !fig->bone || !fig->side || !G || !P) {
		free(G), free(P);
		lm_figure_free(fig);
		return lm_fail(st, LM_ENOMEM, "out of memory");
	}
	for (int j = r; j < b->njoints; j++) {
		int p = b->joints[j].parent, s = name_side(b->joints[j].name);
		if (p >= r)
			fig->side[fig->nbones] = s, fig->bone[fig->nbones][0] = pt[p], fig->bone[fig->nbones++][1] = pt[j];
		if (tip[j] >= 0)
			fig->side[fig->nbones] = s, fig->bone[fig->nbones][0] = pt[j], fig->bone[fig->nbones++][1] = tip[j];
	}
	for (int t = 0; t < b->nframes; t++) {
		lm_bvh_fk(b, t, G, P);
		double *out = fig->pos + (size_t)t * 3 * np, lo[3], hi[3];
		for (int j = r; j < b->njoints; j++) {
			memcpy(out + 3 * pt[j], P + 3 * j, 3 * sizeof(double));
			if (tip[j] >= 0)
				for (int i = 0; i < 3; i++)
					out[3 * tip[j] + i] = P[3 * j + i] + G[9 * j + 3 * i] * b->joints[j].end[0] +
							      G[9 * j + 3 * i + 1] * b->joints[j].end[1] +
							      G[9 * j + 3 * i + 2] * b->joints[j].end[2];
		}
		for (int i = 0; i < 3; i++)
			lo[i] = hi[i] = out[i];
		for (int k = 1; k < np; k++)
			for (int i = 0; i < 3; i++)
				lo[i] = fmin(lo[i], out[3 * k + i]), hi[i] = fmax(hi[i], out[3 * k + i]);
		for (int i = 0; i < 3; i++)
			fig->height = fmax(fig->height, hi[i] - lo[i]);
	}
	free(G);
	free(P);
	return 0;
}

void lm_figure_free(lm_figure *fig)
{
	free(fig->pos);
	free(fig->bone);
	free(fig->side);
	memset(fig, 0, sizeof *fig);
}

double lm_figure_lowest(const lm_figure *fig)
{
	double lo = INFINITY;
	for (size_t i = 0; i < (size_t)fig->nframes * fig->npoints; i++)
		lo = fmin(lo, fig->pos[3 * i + 1]);
	return lo;
}

/* ---- the camera ---- */

static double dot3(const double *a, const double *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

static const double *point(const lm_figure *fig, int t, int k) { return fig->pos + ((size_t)t * fig->npoints + k) * 3; }

/* The camera position for a frame. */
static void cam_pos(const lm_view *v, int frame, double C[3])
{
	for (int i = 0; i < 3; i++)
		C[i] = v->target[i] + v->dist * v->back[i];
	if (v->track)
		C[0] += v->track[2 * frame], C[2] += v->track[2 * frame + 1];
}

/* Camera coordinates of p: x right, y up, z depth (positive in front). */
static void to_cam(const lm_view *v, const double C[3], const double *p, double q[3])
{
	double d[3] = {p[0] - C[0], p[1] - C[1], p[2] - C[2]};
	q[0] = dot3(d, v->right), q[1] = dot3(d, v->up), q[2] = -dot3(d, v->back);
}

/* A 1-2-5 number near x (x > 0). */
static double nice(double x)
{
	double e = pow(10, floor(log10(x))), m = x / e;
	return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * e;
}

/* The points the view must show at frame t (the joints and the root's ground point), relative
 * to the followed root, into rel; *n of them. */
static void fit_points(const lm_view *v, const lm_figure *fig, int t, double *rel, int *n)
{
	double ox = v->track ? v->track[2 * t] : 0, oz = v->track ? v->track[2 * t + 1] : 0;
	*n = 0;
	for (int k = 0; k < fig->npoints; k++) {
		const double *p = point(fig, t, k);
		double *q = rel + 3 * (*n)++;
		q[0] = p[0] - ox, q[1] = p[1], q[2] = p[2] - oz;
	}
	const double *r = point(fig, t, fig->root); /* the path on the ground */
	double *q = rel + 3 * (*n)++;
	q[0] = r[0] - ox, q[1] = v->floor, q[2] = r[2] - oz;
}

/* The distance at which all points (relative to target) fit, and the image-plane offset of
 * their projected centre (in units of the distance). */
static double fit_distance(const lm_view *v, const double *pts, size_t n, const double target[3], double *cx, double *cy)
{
	double tv = tan(FOVY / 2) * MARGIN, th = tv * v->width / v->height, D = 0;
	for (size_t i = 0; i < n; i++) {
		double d[3] = {pts[3 * i] - target[0], pts[3 * i + 1] - target[1], pts[3 * i + 2] - target[2]};
		D = fmax(D, dot3(d, v->back) + fmax(fabs(dot3(d, v->right)) / th, fabs(dot3(d, v->up)) / tv));
	}
	if (!(D > 0))
		D = 1;
	double lx = INFINITY, hx = -INFINITY, ly = INFINITY, hy = -INFINITY;
	for (size_t i = 0; i < n; i++) {
		double d[3] = {pts[3 * i] - target[0], pts[3 * i + 1] - target[1], pts[3 * i + 2] - target[2]};
		double z = D - dot3(d, v->back), x = dot3(d, v->right) / z, y = dot3(d, v->up) / z;
		lx = fmin(lx, x), hx = fmax(hx, x), ly = fmin(ly, y), hy = fmax(hy, y);
	}
	*cx = (lx + hx) / 2, *cy = (ly + hy) / 2;
	return D;
}

static void draw_ground(const lm_view *v, const double C[3], uint8_t *rgb);

int lm_view_fit(lm_view *v, const lm_figure *fig, lm_status *st)
{
	v->track = NULL;
	v->ground = NULL;
	if (v->width < 16 || v->height < 16 || v->width > 16384 || v->height > 16384)
		return lm_fail(st, LM_EUSAGE, "image size %dx%d is outside 16x16 to 16384x16384", v->width, v->height);
	if (!(fabs(v->elevation) < 89.5) || !isfinite(v->azimuth))
		return lm_fail(st, LM_EUSAGE, "elevation %g is not between -89.5 and 89.5 degrees", v->elevation);
	double az = v->azimuth * PI / 180, el = v->elevation * PI / 180;
	v->back[0] = sin(az) * cos(el), v->back[1] = sin(el), v->back[2] = cos(az) * cos(el);
	double rn = hypot(v->back[0], v->back[2]);
	v->right[0] = v->back[2] / rn, v->right[1] = 0, v->right[2] = -v->back[0] / rn;
	v->up[0] = v->back[1] * v->right[2] - v->back[2] * v->right[1];
	v->up[1] = v->back[2] * v->right[0] - v->back[0] * v->right[2];
	v->up[2] = v->back[0] * v->right[1] - v->back[1] * v->right[0];
	v->focal = v->height / 2.0 / tan(FOVY / 2);
	v->tile = fig->height > 0 ? nice(fig->height / 4) : 1;

	int T = fig->nframes, per = fig->npoints + 1;
	double *pts = malloc(sizeof(double) * 3 * per * (size_t)T);
	if (v->follow)
		v->track = malloc(sizeof(double) * 2 * T);
	if (!pts || (v->follow && !v->track)) {
		free(pts);
		lm_view_free(v);
		return lm_fail(st, LM_ENOMEM, "out of memory");
	}
	if (v->follow) { /* the root's ground position, a centred moving average over 0.5 s */
		int h = (int)lround(0.25 * fig->fps);
		for (int t = 0; t < T; t++) {
			double sx = 0, sz = 0;
			int n = 0;
			for (int u = t - h; u <= t + h; u++)
				if (u >= 0 && u < T)
					sx += point(fig, u, fig->root)[0], sz += point(fig, u, fig->root)[2], n++;
			v->track[2 * t] = sx / n, v->track[2 * t + 1] = sz / n;
		}
	}
	size_t n = 0;
	for (int t = 0; t < T; t++) {
		int m;
		fit_points(v, fig, t, pts + 3 * n, &m);
		n += m;
	}
	double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 3; k++)
			lo[k] = fmin(lo[k], pts[3 * i + k]), hi[k] = fmax(hi[k], pts[3 * i + k]);
	for (int k = 0; k < 3; k++)
		v->target[k] = (lo[k] + hi[k]) / 2;
	for (int pass = 0; pass < 2; pass++) { /* centre the projection, then fit again */
		double cx, cy, D = fit_distance(v, pts, n, v->target, &cx, &cy);
		v->dist = D;
		for (int k = 0; k < 3; k++)
			v->target[k] += D * (cx * v->right[k] + cy * v->up[k]);
	}
	double cx, cy;
	v->dist = fit_distance(v, pts, n, v->target, &cx, &cy);
	free(pts);
	if (!v->follow) {
		v->ground = malloc((size_t)v->width * v->height * 3);
		if (!v->ground) {
			lm_view_free(v);
			return lm_fail(st, LM_ENOMEM, "out of memory");
		}
		double C[3];
		cam_pos(v, 0, C);
		draw_ground(v, C, v->ground);
	}
	return 0;
}

void lm_view_free(lm_view *v)
{
	free(v->track);
	free(v->ground);
	v->track = NULL;
	v->ground = NULL;
}

/* ---- drawing ---- */

static void blend(uint8_t *px, const uint8_t c[3], double a)
{
	for (int i = 0; i < 3; i++)
		px[i] = (uint8_t)lround(px[i] + (c[i] - px[i]) * a);
}

/* The ground plane, ray-cast with 2x2 samples per pixel, fading into the sky with distance. */
static void draw_ground(const lm_view *v, const double C[3], uint8_t *rgb)
{
	int W = v->width, H = v->height;
	double f = v->focal, fade0 = 1.5 * v->dist, fade1 = 5 * v->dist;
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			double acc[3] = {0, 0, 0};
			for (int s = 0; s < 4; s++) {
				double u = (x + 0.25 + 0.5 * (s & 1) - W / 2.0) / f, w = (H / 2.0 - y - 0.25 - 0.5 * (s >> 1)) / f;
				double d[3];
				for (int i = 0; i < 3; i++)
					d[i] = u * v->right[i] + w * v->up[i] - v->back[i];
				double t = fabs(d[1]) > 1e-12 ? (v->floor - C[1]) / d[1] : -1;
				const uint8_t *c = SKY;
				double fog = 1;
				uint8_t tile[3];
				if (t > 0) {
					double hx = C[0] + t * d[0], hz = C[2] + t * d[2];
					long k = (long)floor(hx / v->tile) + (long)floor(hz / v->tile);
					memcpy(tile, k & 1 ? TILE_B : TILE_A, 3);
					double dist = t * sqrt(dot3(d, d));
					fog = fmin(1, fmax(0, (dist - fade0) / (fade1 - fade0)));
					fog = fog * fog * (3 - 2 * fog);
					c = tile;
				}
				for (int i = 0; i < 3; i++)
					acc[i] += c[i] + (SKY[i] - c[i]) * fog;
			}
			uint8_t *px = rgb + 3 * ((size_t)y * W + x);
			for (int i = 0; i < 3; i++)
				px[i] = (uint8_t)lround(acc[i] / 4);
		}
}

/* A capsule from (x0,y0) radius r0 to (x1,y1) radius r1 (pixels), by coverage: blended into an
 * RGB image (mask NULL) with colour c and opacity a, or into a coverage mask (the maximum). */
static void capsule(uint8_t *rgb, uint8_t *mask, int W, int H, double x0, double y0, double r0, double x1,
		    double y1, double r1, const uint8_t c[3], double a)
{
	double rm = fmax(r0, r1) + 1;
	int xa = (int)floor(fmin(x0, x1) - rm), xb = (int)ceil(fmax(x0, x1) + rm);
	int ya = (int)floor(fmin(y0, y1) - rm), yb = (int)ceil(fmax(y0, y1) + rm);
	xa = xa < 0 ? 0 : xa, ya = ya < 0 ? 0 : ya;
	xb = xb > W - 1 ? W - 1 : xb, yb = yb > H - 1 ? H - 1 : yb;
	double dx = x1 - x0, dy = y1 - y0, L2 = dx * dx + dy * dy;
	for (int y = ya; y <= yb; y++)
		for (int x = xa; x <= xb; x++) {
			double px = x + 0.5 - x0, py = y + 0.5 - y0;
			double t = L2 > 0 ? (px * dx + py * dy) / L2 : 0;
			t = t < 0 ? 0 : t > 1 ? 1 : t;
			double ex = px - t * dx, ey = py - t * dy, r = r0 + (r1 - r0) * t;
			double cov = r + 0.5 - sqrt(ex * ex + ey * ey);
			if (cov <= 0)
				continue;
			cov = cov > 1 ? 1 : cov;
			if (mask) {
				uint8_t m = (uint8_t)lround(255 * cov);
				if (m > mask[(size_t)y * W + x])
					mask[(size_t)y * W + x] = m;
			} else
				blend(rgb + 3 * ((size_t)y * W + x), c, a * cov);
		}
}

/* A world segment a-b with world radius rw, clipped to the near plane and drawn as a capsule. */
static void segment(const lm_view *v, const double C[3], const double *a, const double *b, double rw, uint8_t *rgb,
		    uint8_t *mask, const uint8_t c[3], double alpha)
{
	double qa[3], qb[3], near = 0.05 * v->dist;
	to_cam(v, C, a, qa);
	to_cam(v, C, b, qb);
	if (qa[2] < near && qb[2] < near)
		return;
	if (qa[2] < near || qb[2] < near) {
		double *q = qa[2] < near ? qa : qb, *o = q == qa ? qb : qa, s = (near - o[2]) / (q[2] - o[2]);
		for (int i = 0; i < 3; i++)
			q[i] = o[i] + s * (q[i] - o[i]);
	}
	double f = v->focal, W2 = v->width / 2.0, H2 = v->height / 2.0;
	capsule(rgb, mask, v->width, v->height, W2 + f * qa[0] / qa[2], H2 - f * qa[1] / qa[2], fmax(0.6, f * rw / qa[2]),
		W2 + f * qb[0] / qb[2], H2 - f * qb[1] / qb[2], fmax(0.6, f * rw / qb[2]), c, alpha);
}

/* 3x5 glyphs for the time label: one row per 3 bits, top row first. */
static const char GLYPHS[] = "0123456789.s";
static const uint16_t GLYPH[] = {
	075557, 026227, 071747, 071717, 055711, 074717, 074757, 071111, 075757, 075717, 000002, 034216,
};

static void draw_label(uint8_t *rgb, int W, int H, const char *s)
{
	int scale = H >= 200 ? H / 120 + 1 : 1, x0 = 3 * scale, y0 = 3 * scale;
	for (; *s; s++, x0 += 4 * scale) {
		const char *g = strchr(GLYPHS, *s);
		if (!g || !*s)
			continue;
		uint16_t bits = GLYPH[g - GLYPHS];
		for (int r = 0; r < 5; r++)
			for (int c = 0; c < 3; c++)
				if (bits >> ((4 - r) * 3 + (2 - c)) & 1)
					for (int y = y0 + r * scale; y < y0 + (r + 1) * scale && y < H; y++)
						for (int x = x0 + c * scale; x < x0 + (c + 1) * scale && x < W; x++)
							memcpy(rgb + 3 * ((size_t)y * W + x), LABEL, 3);
	}
}

typedef struct prim {
	double depth;
	int kind, a; /* 0: bone a; 1: the dot at bone a's end */
} prim;

static int by_depth(const void *x, const void *y)
{
	double a = ((const prim *)x)->depth, b = ((const prim *)y)->depth;
	return a > b ? -1 : a < b;
}

void lm_render_frame(const lm_figure *fig, const lm_view *v, int frame, int label, uint8_t *rgb)
{
	int W = v->width, H = v->height, T = fig->nframes;
	double C[3], hgt = fig->height > 0 ? fig->height : 1;
	frame = frame < 0 ? 0 : frame >= T ? T - 1 : frame;
	cam_pos(v, frame, C);
	if (v->ground)
		memcpy(rgb, v->ground, (size_t)W * H * 3);
	else
		draw_ground(v, C, rgb);

	/* the root path on the ground: the rest of it light, the part walked so far strong */
	for (int pass = 0; pass < 2; pass++)
		for (int t = pass ? 0 : frame; t + 1 < (pass ? frame + 1 : T); t++) {
			double a[3], b[3];
			memcpy(a, point(fig, t, fig->root), sizeof a);
			memcpy(b, point(fig, t + 1, fig->root), sizeof b);
			a[1] = b[1] = v->floor;
			segment(v, C, a, b, hgt * (pass ? 0.006 : 0.004), rgb, NULL, pass ? PATH_DONE : PATH_TODO, 1);
		}

	/* shadows: the bones flattened onto the ground, one coverage mask so overlaps do not darken */
	uint8_t *mask = calloc((size_t)W * H, 1);
	prim *pr = malloc(sizeof(prim) * 2 * fig->nbones);
	if (mask) {
		for (int i = 0; i < fig->nbones; i++) {
			double a[3], b[3];
			memcpy(a, point(fig, frame, fig->bone[i][0]), sizeof a);
			memcpy(b, point(fig, frame, fig->bone[i][1]), sizeof b);
			a[1] = b[1] = v->floor;
			segment(v, C, a, b, hgt * 0.02, NULL, mask, NULL, 1);
		}
		static const uint8_t SHADOW[3] = {90, 90, 90};
		for (size_t i = 0; i < (size_t)W * H; i++)
			if (mask[i])
				blend(rgb + 3 * i, SHADOW, 0.22 * mask[i] / 255.0);
		free(mask);
	}
	if (!pr)
		return;

	/* the figure, far to near: bones and joint dots */
	int n = 0;
	for (int i = 0; i < fig->nbones; i++) {
		double m[3], q[3];
		const double *a = point(fig, frame, fig->bone[i][0]), *b = point(fig, frame, fig->bone[i][1]);
		for (int k = 0; k < 3; k++)
			m[k] = (a[k] + b[k]) / 2;
		to_cam(v, C, m, q);
		pr[n++] = (prim){q[2], 0, i};
		double qb[3];
		to_cam(v, C, b, qb);
		pr[n++] = (prim){qb[2] - 1e-9, 1, i}; /* the dot at the bone's end, just in front of it */
	}
	qsort(pr, n, sizeof *pr, by_depth);
	for (int i = 0; i < n; i++) {
		int bi = pr[i].a, side = fig->side[bi] + 1;
		const double *a = point(fig, frame, fig->bone[bi][0]), *b = point(fig, frame, fig->bone[bi][1]);
		if (pr[i].kind == 0) {
			segment(v, C, a, b, hgt * 0.014, rgb, NULL, BONE[side], 1);
		} else {
			uint8_t dark[3];
			for (int k = 0; k < 3; k++)
				dark[k] = (uint8_t)(BONE[side][k] * 0.6);
			int end = side == 1; /* a centre line's last point is the head: a bigger dot */
			for (int j = 0; end && j < fig->nbones; j++)
				end = fig->bone[j][0] != fig->bone[bi][1];
			segment(v, C, b, b, hgt * (end ? 0.045 : 0.02), rgb, NULL, end ? BONE[1] : dark, 1);
		}
	}
	free(pr);
	if (label) {
		char s[32];
		snprintf(s, sizeof s, "%.2f s", frame / fig->fps);
		draw_label(rgb, W, H, s);
	}
}

int lm_render_sheet(const lm_figure *fig, const lm_view *v, int npose, int columns, int label, uint8_t **rgb,
		    int *w, int *h, lm_status *st)
{
	int T = fig->nframes, n = npose < T ? npose : T;
	n = n < 1 ? 1 : n;
	int cols = columns < 1 ? 1 : columns > n ? n : columns, rows = (n + cols - 1) / cols, gap = 2;
	int pw = v->width, ph = v->height, W = cols * pw + (cols - 1) * gap, H = rows * ph + (rows - 1) * gap;
	uint8_t *img = malloc((size_t)W * H * 3), *panel = malloc((size_t)pw * ph * 3);
	if (!img || !panel) {
		free(img), free(panel);
		return lm_fail(st, LM_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < (size_t)W * H; i++)
		memcpy(img + 3 * i, SEPARATOR, 3);
	for (int k = 0; k < rows * cols; k++) {
		int x0 = (k % cols) * (pw + gap), y0 = (k / cols) * (ph + gap);
		if (k < n) {
			int frame = n > 1 ? (int)lround((double)k * (T - 1) / (n - 1)) : 0;
			lm_render_frame(fig, v, frame, label, panel);
		} else {
			for (size_t i = 0; i < (size_t)pw * ph; i++)
				memcpy(panel + 3 * i, SKY, 3);
		}
		for (int y = 0; y < ph; y++)
			memcpy(img + 3 * ((size_t)(y0 + y) * W + x0), panel + 3 * (size_t)y * pw, 3 * (size_t)pw);
	}
	free(panel);
	*rgb = img, *w = W, *h = H;
	return 0;
}

/* ---- files ---- */

int lm_png_write(FILE *f, const uint8_t *rgb, int w, int h, lm_status *st)
{
	png_image img;
	memset(&img, 0, sizeof img);
	img.version = PNG_IMAGE_VERSION;
	img.width = (png_uint_32)w;
	img.height = (png_uint_32)h;
	img.format = PNG_FORMAT_RGB;
	if (!png_image_write_to_stdio(&img, f, 0, rgb, 0, NULL)) {
		lm_fail(st, LM_EIO, "png: %s", img.message);
		png_image_free(&img);
		return LM_EIO;
	}
	if (fflush(f) || ferror(f))
		return lm_fail(st, LM_EIO, "write error");
	return 0;
}

int lm_ppm_write(FILE *f, const uint8_t *rgb, int w, int h, lm_status *st)
{
	fprintf(f, "P6\n%d %d\n255\n", w, h);
	if (fwrite(rgb, 3, (size_t)w * h, f) != (size_t)w * h || fflush(f))
		return lm_fail(st, LM_EIO, "write error");
	return 0;
}

struct lm_gif {
	GifFileType *gif;
	int w, h, k, cs; /* frames written, centiseconds shown so far */
	double fps;
	uint8_t *cur, *prev;
	ColorMapObject *map;
};

static int gif_out(GifFileType *g, const GifByteType *buf, int n)
{
	return (int)fwrite(buf, 1, (size_t)n, (FILE *)g->UserData);
}

static int gif_fail(lm_gif *g, int err, lm_status *st)
{
	lm_fail(st, LM_EIO, "gif: %s", GifErrorString(err ? err : g->gif->Error));
	return LM_EIO;
}

enum { RL = 6, GL = 7, BL = 6 }; /* palette levels per channel */

int lm_gif_begin(lm_gif **out, FILE *f, int w, int h, double fps, lm_status *st)
{
	lm_gif *g = calloc(1, sizeof *g);
	*out = NULL;
	if (!g || !(g->cur = malloc((size_t)w * h)) || !(g->prev = malloc((size_t)w * h)) ||
	    !(g->map = GifMakeMapObject(256, NULL))) {
		if (g)
			free(g->cur), free(g->prev), free(g);
		return lm_fail(st, LM_ENOMEM, "out of memory");
	}
	g->w = w, g->h = h, g->fps = fps;
	for (int i = 0; i < 256; i++) {
		int r = i / (GL * BL), gg = i / BL % GL, b = i % BL;
		GifColorType c = {0, 0, 0};
		if (i < RL * GL * BL)
			c = (GifColorType){(GifByteType)lround(r * 255.0 / (RL - 1)), (GifByteType)lround(gg * 255.0 / (GL - 1)),
					   (GifByteType)lround(b * 255.0 / (BL - 1))};
		g->map->Colors[i] = c;
	}
	int err = 0;
	g->gif = EGifOpen(f, gif_out, &err);
	if (!g->gif) {
		GifFreeMapObject(g->map);
		free(g->cur), free(g->prev), free(g);
		return lm_fail(st, LM_EIO, "gif: %s", GifErrorString(err));
	}
	*out = g;
	EGifSetGifVersion(g->gif, true);
	static const GifByteType loop[3] = {1, 0, 0}; /* NETSCAPE2.0: loop forever */
	if (EGifPutScreenDesc(g->gif, w, h, 8, 0, g->map) == GIF_ERROR ||
	    EGifPutExtensionLeader(g->gif, APPLICATION_EXT_FUNC_CODE) == GIF_ERROR ||
	    EGifPutExtensionBlock(g->gif, 11, "NETSCAPE2.0") == GIF_ERROR ||
	    EGifPutExtensionBlock(g->gif, 3, loop) == GIF_ERROR || EGifPutExtensionTrailer(g->gif) == GIF_ERROR)
		return gif_fail(g, 0, st);
	return 0;
}

int lm_gif_frame(lm_gif *g, const uint8_t *rgb, lm_status *st)
{
	static const int bayer[16] = {0, 8, 2, 10, 12, 4, 14, 6, 3, 11, 1, 9, 15, 7, 13, 5};
	int W = g->w, H = g->h;
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			const uint8_t *p = rgb + 3 * ((size_t)y * W + x);
			double th = (bayer[(y & 3) * 4 + (x & 3)] + 0.5) / 16;
			int r = (int)(p[0] * (RL - 1) / 255.0 + th), gg = (int)(p[1] * (GL - 1) / 255.0 + th),
			    b = (int)(p[2] * (BL - 1) / 255.0 + th);
			g->cur[(size_t)y * W + x] = (uint8_t)((r * GL + gg) * BL + b);
		}
	/* the rectangle that changed since the last frame (the whole image for the first) */
	int x0 = 0, y0 = 0, x1 = W - 1, y1 = H - 1;
	if (g->k > 0) {
		x0 = W, y0 = H, x1 = -1, y1 = -1;
		for (int y = 0; y < H; y++)
			for (int x = 0; x < W; x++)
				if (g->cur[(size_t)y * W + x] != g->prev[(size_t)y * W + x]) {
					x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
					y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
				}
		if (x1 < 0)
			x0 = y0 = x1 = y1 = 0; /* nothing changed: one pixel keeps the frame's time */
	}
	int cs = (int)lround((g->k + 1) * 100.0 / g->fps);
	GraphicsControlBlock gcb = {DISPOSE_DO_NOT, false, cs - g->cs, NO_TRANSPARENT_COLOR};
	GifByteType ext[4];
	EGifGCBToExtension(&gcb, ext);
	if (EGifPutExtension(g->gif, GRAPHICS_EXT_FUNC_CODE, 4, ext) == GIF_ERROR ||
	    EGifPutImageDesc(g->gif, x0, y0, x1 - x0 + 1, y1 - y0 + 1, false, NULL) == GIF_ERROR)
		return gif_fail(g, 0, st);
	for (int y = y0; y <= y1; y++)
		if (EGifPutLine(g->gif, g->cur + (size_t)y * W + x0, x1 - x0 + 1) == GIF_ERROR)
			return gif_fail(g, 0, st);
	uint8_t *t = g->prev;
	g->prev = g->cur, g->cur = t;
	g->cs = cs;
	g->k++;
	return 0;
}

int lm_gif_end(lm_gif *g, lm_status *st)
{
	int err = 0, rc = 0;
	if (EGifCloseFile(g->gif, &err) == GIF_ERROR)
		rc = lm_fail(st, LM_EIO, "gif: %s", GifErrorString(err));
	GifFreeMapObject(g->map);
	free(g->cur);
	free(g->prev);
	free(g);
	return rc;
}
