/* test_render.c: the stick-figure renderer and its image files (lib/render.c).
 *
 * - the figure of a small BVH: a zero-channel leading joint is dropped, non-zero End Sites become
 *   tips, sides come from the names;
 * - a frame seen from +Z: the figure's left (+X, blue) is on the image's right, the head above the
 *   legs, everything inside the image, both ground tiles in the bottom row, the path drawn;
 * - a fixed camera sees the figure move across the image, a following one keeps it in place;
 * - PNG written and read back with libpng is the same image; a GIF read back with giflib has the
 *   frames, delays summing to the clip's length in 1/100 s, colours within one palette step
 *   (6x7x6 levels: 51 per channel at most) and mean error under 8, and an unchanged frame is
 *   stored as one pixel; a contact sheet has the size of its panels and gaps.
 */
#include <gif_lib.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include "render.h"
#include "tap.h"

/* A walker: joint_Root (all zero) > Hips > Head (tip), Leg_L > Foot_L (zero End Site), RightLeg
 * (tip); the hips move from x = 0 to x = dx over the frames. */
static void make_bvh(lm_bvh *b, int frames, double dx)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	fputs("HIERARCHY\nROOT joint_Root\n{\nOFFSET 0 0 0\n"
	      "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
	      "JOINT Hips\n{\nOFFSET 0 0 0\nCHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n"
	      "JOINT Head\n{\nOFFSET 0 70 0\nCHANNELS 3 Zrotation Xrotation Yrotation\nEnd Site\n{\nOFFSET 0 10 0\n}\n}\n"
	      "JOINT Leg_L\n{\nOFFSET 10 0 0\nCHANNELS 3 Zrotation Xrotation Yrotation\n"
	      "JOINT Foot_L\n{\nOFFSET 0 -90 0\nCHANNELS 3 Zrotation Xrotation Yrotation\nEnd Site\n{\nOFFSET 0 0 0\n}\n}\n}\n"
	      "JOINT RightLeg\n{\nOFFSET -10 0 0\nCHANNELS 3 Zrotation Xrotation Yrotation\nEnd Site\n{\nOFFSET 0 -90 0\n}\n}\n"
	      "}\n}\nMOTION\n", f);
	fprintf(f, "Frames: %d\nFrame Time: 0.033333\n", frames);
	for (int t = 0; t < frames; t++) {
		fprintf(f, "0 0 0 0 0 0 %.3f 90 0 0 0 0", frames > 1 ? dx * t / (frames - 1) : 0);
		for (int i = 0; i < 12; i++)
			fputs(" 0", f);
		fputc('\n', f);
	}
	fclose(f);
	lm_status st = {0};
	if (lm_bvh_parse(b, text, len, "walker.bvh", &st))
		printf("# parse: %s\n", st.msg);
	free(text);
}

static int is_blue(const uint8_t *p) { return p[2] > 150 && p[0] < 120 && p[2] - p[1] > 60; }
static int is_red(const uint8_t *p) { return p[0] > 150 && p[1] < 110 && p[2] < 110; }
static int is_dark(const uint8_t *p) { return p[0] < 90 && p[1] < 90 && p[2] < 100; }
static int is_orange(const uint8_t *p) { return p[0] > 200 && p[1] > 100 && p[1] < 160 && p[2] < 70; }

typedef struct stats {
	long n;
	double cx, cy;
	int x0, y0, x1, y1;
} stats;

static stats measure(const uint8_t *img, int W, int H, int (*is)(const uint8_t *))
{
	stats s = {0, 0, 0, W, H, -1, -1};
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			if (is(img + 3 * ((size_t)y * W + x))) {
				s.n++, s.cx += x, s.cy += y;
				s.x0 = x < s.x0 ? x : s.x0, s.x1 = x > s.x1 ? x : s.x1;
				s.y0 = y < s.y0 ? y : s.y0, s.y1 = y > s.y1 ? y : s.y1;
			}
	if (s.n)
		s.cx /= s.n, s.cy /= s.n;
	return s;
}

static int is_figure(const uint8_t *p) { return is_blue(p) || is_red(p) || is_dark(p); }

static void test_figure(void)
{
	lm_bvh b = {0};
	lm_figure fig;
	lm_status st = {0};
	make_bvh(&b, 3, 0);
	ok(lm_figure_from_bvh(&fig, &b, &st) == 0, "figure of the walker");
	ok(fig.npoints == 7 && fig.nbones == 6 && fig.nframes == 3,
	   "5 joints (joint_Root dropped) + 2 tips = %d points (want 7), %d bones (want 6)", fig.npoints, fig.nbones);
	int sides[3] = {0, 0, 0};
	for (int i = 0; i < fig.nbones; i++)
		sides[fig.side[i] + 1]++;
	ok(sides[0] == 2 && sides[1] == 2 && sides[2] == 2, "sides by name: %d left (Leg_L, Foot_L), %d centre, %d right (RightLeg)",
	   sides[0], sides[1], sides[2]);
	const double *head_tip = NULL;
	for (int i = 0; i < fig.nbones; i++)
		if (fig.bone[i][1] >= 5 && fig.side[i] == 0)
			head_tip = fig.pos + 3 * fig.bone[i][1];
	ok(head_tip && fabs(head_tip[1] - 170) < 1e-9 && fabs(lm_figure_lowest(&fig) - 0) < 1e-9,
	   "head tip at y = %.3f (want 170), lowest point %.3f (want 0)", head_tip ? head_tip[1] : NAN,
	   lm_figure_lowest(&fig));
	ok(fabs(fig.height - 170) < 1e-9 && fabs(fig.fps - 30) < 1e-3, "height %.3f (want 170), fps %.4f", fig.height, fig.fps);
	lm_figure_free(&fig);
	lm_bvh_free(&b);
	lm_bvh empty = {0};
	make_bvh(&empty, 0, 0);
	ok(lm_figure_from_bvh(&fig, &empty, &st) == LM_EDATA, "no frames: LM_EDATA (%s)", st.msg);
	lm_bvh_free(&empty);
}

static void test_frame(void)
{
	lm_bvh b = {0};
	lm_figure fig;
	lm_status st = {0};
	make_bvh(&b, 60, 200);
	lm_figure_from_bvh(&fig, &b, &st);
	int W = 200, H = 150;
	uint8_t *img = malloc((size_t)W * H * 3), *img2 = malloc((size_t)W * H * 3);
	lm_view v = {.width = W, .height = H, .follow = 0, .azimuth = 0, .elevation = 10};
	ok(lm_view_fit(&v, &fig, &st) == 0, "fixed view fits");
	lm_render_frame(&fig, &v, 0, 0, img);
	stats blue = measure(img, W, H, is_blue), red = measure(img, W, H, is_red), dark = measure(img, W, H, is_dark);
	stats all = measure(img, W, H, is_figure);
	ok(blue.n > 20 && red.n > 20 && dark.n > 20, "left, right and centre bones drawn (%ld, %ld, %ld pixels)", blue.n,
	   red.n, dark.n);
	ok(blue.cx > red.cx + 3, "seen from +Z the figure's left (+X) is on the image's right: blue x %.1f, red x %.1f",
	   blue.cx, red.cx);
	ok(dark.cy < blue.cy - 10 && dark.cy < red.cy - 10, "upright: head at y %.1f above the legs (%.1f, %.1f)", dark.cy,
	   blue.cy, red.cy);
	ok(all.x0 > 0 && all.y0 > 0 && all.x1 < W - 1 && all.y1 < H - 1, "inside the image: x %d..%d, y %d..%d of %dx%d",
	   all.x0, all.x1, all.y0, all.y1, W, H);
	int a = 0, c = 0;
	for (int x = 0; x < W; x++) {
		const uint8_t *p = img + 3 * ((size_t)(H - 1) * W + x);
		a += abs(p[0] - 226) < 8 && abs(p[1] - 226) < 8, c += abs(p[0] - 204) < 8 && abs(p[1] - 206) < 8;
	}
	ok(a > 10 && c > 10, "both ground tiles in the bottom row (%d and %d pixels)", a, c);
	lm_render_frame(&fig, &v, 59, 0, img2);
	stats last = measure(img2, W, H, is_figure), path = measure(img2, W, H, is_orange);
	ok(last.cx - all.cx > 0.2 * W, "fixed camera: the figure moves right by %.1f px (> %.0f)", last.cx - all.cx, 0.2 * W);
	ok(path.n > 10 && path.x1 - path.x0 > 0.2 * W, "the walked path is drawn (%ld pixels, %d px wide)", path.n,
	   path.x1 - path.x0);
	lm_view_free(&v);

	lm_view f = {.width = W, .height = H, .follow = 1, .azimuth = 0, .elevation = 10};
	ok(lm_view_fit(&f, &fig, &st) == 0, "follow view fits");
	lm_render_frame(&fig, &f, 30, 0, img);
	lm_render_frame(&fig, &f, 31, 0, img2);
	stats s0 = measure(img, W, H, is_figure), s1 = measure(img2, W, H, is_figure);
	ok(fabs(s1.cx - s0.cx) < 0.02 * W && s0.n > 50, "follow camera: the figure stays in place (moves %.2f px)", s1.cx - s0.cx);
	lm_view_free(&f);

	lm_view bad = {.width = 8, .height = H};
	ok(lm_view_fit(&bad, &fig, &st) == LM_EUSAGE, "8 pixels wide: LM_EUSAGE (%s)", st.msg);
	free(img);
	free(img2);
	lm_figure_free(&fig);
	lm_bvh_free(&b);
}

typedef struct membuf {
	const uint8_t *p;
	size_t n, at;
} membuf;

static int gif_read(GifFileType *g, GifByteType *buf, int n)
{
	membuf *m = g->UserData;
	size_t k = m->n - m->at < (size_t)n ? m->n - m->at : (size_t)n;
	memcpy(buf, m->p + m->at, k);
	m->at += k;
	return (int)k;
}

static void test_files(void)
{
	int W = 64, H = 48;
	uint8_t *img = malloc((size_t)W * H * 3);
	for (int y = 0; y < H; y++) /* a smooth gradient and a hard edge */
		for (int x = 0; x < W; x++) {
			uint8_t *p = img + 3 * ((size_t)y * W + x);
			p[0] = (uint8_t)(x * 4), p[1] = (uint8_t)(y * 5), p[2] = x > 40 ? 230 : 20;
		}
	lm_status st = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ok(lm_png_write(f, img, W, H, &st) == 0, "PNG written");
	fclose(f);
	png_image pi;
	memset(&pi, 0, sizeof pi);
	pi.version = PNG_IMAGE_VERSION;
	uint8_t *back = malloc((size_t)W * H * 3);
	int rd = png_image_begin_read_from_memory(&pi, buf, len);
	pi.format = PNG_FORMAT_RGB;
	rd = rd && png_image_finish_read(&pi, NULL, back, 0, NULL);
	ok(rd && pi.width == (unsigned)W && pi.height == (unsigned)H && !memcmp(back, img, (size_t)W * H * 3),
	   "PNG read back by libpng: %ux%u, same pixels", pi.width, pi.height);
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	lm_gif *g;
	int rc = lm_gif_begin(&g, f, W, H, 15, &st);
	for (int k = 0; k < 3 && !rc; k++) /* frames 1 and 2 are the same */
		rc = lm_gif_frame(g, img, &st);
	rc = rc || lm_gif_end(g, &st);
	fclose(f);
	ok(rc == 0, "GIF of 3 frames at 15 fps written (%zu bytes)", len);
	membuf m = {(uint8_t *)buf, len, 0};
	int err = 0;
	GifFileType *gf = DGifOpen(&m, gif_read, &err);
	if (!ok(gf && DGifSlurp(gf) == GIF_OK, "giflib reads it back") || !ok(gf->ImageCount == 3, "3 images (%d)", gf->ImageCount)) {
		free(buf), free(img), free(back);
		return;
	}
	int delay = 0;
	for (int k = 0; k < gf->ImageCount; k++) {
		GraphicsControlBlock gcb;
		DGifSavedExtensionToGCB(gf, k, &gcb);
		delay += gcb.DelayTime;
	}
	ok(delay == 20, "delays sum to %d/100 s (3 frames at 15 fps: 20)", delay);
	SavedImage *s0 = &gf->SavedImages[0], *s1 = &gf->SavedImages[1];
	ColorMapObject *map = s0->ImageDesc.ColorMap ? s0->ImageDesc.ColorMap : gf->SColorMap;
	int maxd = 0;
	double blockd = 0; /* ordered dithering keeps the mean of each 4x4 block */
	for (int by = 0; by < H; by += 4)
		for (int bx = 0; bx < W; bx += 4) {
			double sg[3] = {0, 0, 0}, sw[3] = {0, 0, 0};
			for (int y = by; y < by + 4; y++)
				for (int x = bx; x < bx + 4; x++) {
					int i = y * W + x;
					GifColorType c = map->Colors[s0->RasterBits[i]];
					int got[3] = {c.Red, c.Green, c.Blue};
					for (int k = 0; k < 3; k++) {
						int d = abs(got[k] - img[3 * i + k]);
						maxd = d > maxd ? d : maxd;
						sg[k] += got[k], sw[k] += img[3 * i + k];
					}
				}
			for (int k = 0; k < 3; k++)
				blockd = fmax(blockd, fabs(sg[k] - sw[k]) / 16);
		}
	ok(s0->ImageDesc.Width == W && s0->ImageDesc.Height == H && maxd <= 51 && blockd < 8,
	   "first frame %dx%d, colours within one palette step (max %d <= 51), 4x4 block means within %.2f (< 8)",
	   s0->ImageDesc.Width, s0->ImageDesc.Height, maxd, blockd);
	ok(s1->ImageDesc.Width == 1 && s1->ImageDesc.Height == 1, "an unchanged frame is stored as %dx%d pixel(s)",
	   s1->ImageDesc.Width, s1->ImageDesc.Height);
	DGifCloseFile(gf, &err);
	free(buf);
	free(back);
	free(img);

	lm_bvh b = {0};
	lm_figure fig;
	make_bvh(&b, 10, 50);
	lm_figure_from_bvh(&fig, &b, &st);
	lm_view v = {.width = 40, .height = 30, .azimuth = 30, .elevation = 15};
	lm_view_fit(&v, &fig, &st);
	uint8_t *sheet;
	int sw, sh;
	rc = lm_render_sheet(&fig, &v, 5, 3, 1, &sheet, &sw, &sh, &st);
	ok(rc == 0 && sw == 3 * 40 + 2 * 2 && sh == 2 * 30 + 2,
	   "5 poses, 3 columns of 40x30: %dx%d (want 124x62)", sw, sh);
	free(sheet);
	lm_view_free(&v);
	lm_figure_free(&fig);
	lm_bvh_free(&b);
}

int main(void)
{
	test_figure();
	test_frame();
	test_files();
	return done_testing();
}
