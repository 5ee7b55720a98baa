/* mrender: a motion preview without a GPU or a display: a PNG contact sheet, an animated GIF, or
 * PPM frames for ffmpeg, of a BVH file or a motion-feature stream (lib/render.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "frameio.h"
#include "motion.h"
#include "render.h"

/* The FEATURES frames of one stream of a frame stream, turned into BVH on the model skeleton. */
static void read_features(const char *name, char *text, size_t len, const char *model_arg, long want, lm_bvh *b)
{
	lm_status st = {0};
	FILE *f = fmemopen(text, len, "rb");
	lm_reader *r;
	if (!f || lm_reader_open(&r, f, name, &st))
		lm_die_status(&st);
	lm_skeleton sk;
	char path[4200];
	snprintf(path, sizeof path, "%s/skeleton.bvh", lm_model_dir(model_arg));
	if (lm_skeleton_load(&sk, path, &st))
		lm_die_status(&st);
	int F = lm_feature_dim(&sk), n = 0, latents = 0;
	float *feat = NULL;
	lm_frame fr = {0};
	int eof = 0;
	while (!lm_reader_next(r, &fr, &eof, &st) && !eof) {
		latents += fr.type == LM_FRAME_LATENT;
		if (fr.type != LM_FRAME_FEATURES)
			continue;
		if (want < 0)
			want = fr.stream;
		if (fr.stream != (uint32_t)want)
			continue;
		if ((int)fr.cols != F)
			lm_die(LM_EDATA, "%s: features frame is %u wide, the skeleton of %s takes %d", name, fr.cols, path, F);
		feat = realloc(feat, (size_t)(n + fr.rows) * F * sizeof(float));
		if (!feat)
			lm_die(LM_ENOMEM, "out of memory");
		memcpy(feat + (size_t)n * F, fr.data, (size_t)fr.rows * F * sizeof(float));
		n += fr.rows;
	}
	if (st.code)
		lm_die_status(&st);
	if (n == 0 && latents)
		lm_die(LM_EDATA, "%s: a latent stream; decode it first (vae-dec, or vae-dec --features)", name);
	if (n == 0)
		lm_die(LM_EDATA, "%s: no motion-feature frames%s", name, want >= 0 ? " in that stream" : "");
	if (lm_motion_to_bvh(&sk, feat, n, b, &st))
		lm_die(st.code, "%s: %s", name, st.msg);
	lm_frame_free(&fr);
	lm_reader_free(r);
	fclose(f);
	free(feat);
	lm_skeleton_free(&sk);
}

static void parse_size(const char *s, int *w, int *h)
{
	char *e;
	long a = strtol(s, &e, 10), b = *e == 'x' ? strtol(e + 1, &e, 10) : -1;
	if (*e || a < 16 || b < 16 || a > 16384 || b > 16384)
		lm_usage_error("--size %s: want WxH, each 16 to 16384", s);
	*w = (int)a, *h = (int)b;
}

enum { OUT_PNG, OUT_GIF, OUT_PPM };

typedef struct opts {
	const char *format, *size, *camera, *floor;
	double fps, azimuth, elevation;
	long poses, columns, stream;
	int frames, label;
} opts;

static void on_opt(int key, const char *arg, void *ctx)
{
	opts *o = ctx;
	switch (key) {
	case 0x100 + 'F': o->frames = 1; break;
	case 0x100 + 'f': o->format = arg; break;
	case 's': o->size = arg; break;
	case 'r': o->fps = lm_parse_double("--fps", arg, 0.1, 1000); break;
	case 0x100 + 'c': o->camera = arg; break;
	case 0x100 + 'p': o->poses = lm_parse_long("--poses", arg, 1, 1000); break;
	case 0x100 + 'C': o->columns = lm_parse_long("--columns", arg, 1, 1000); break;
	case 0x100 + 'a': o->azimuth = lm_parse_double("--azimuth", arg, -3600, 3600); break;
	case 0x100 + 'e': o->elevation = lm_parse_double("--elevation", arg, -89, 89); break;
	case 0x100 + 'l': o->floor = arg; break;
	case 0x100 + 'L': o->label = 0; break;
	case 0x100 + 'S': o->stream = lm_parse_long("--stream", arg, 0, 0xfffffffeL); break;
	}
}

static const lm_cli cli = {
	.usage = "usage: mrender [options] [FILE]\n"
		 "Draws a stick-figure preview of a BVH file or a motion-feature stream (FILE or stdin).\n",
	.common = LM_OPT_MODEL | LM_OPT_OUTPUT,
	.opts = (const lm_cli_opt[]){
		{"output", 'o', "FILE", "FILE.png: a contact sheet of evenly spaced poses;\nFILE.gif: an animation"},
		{"model", 'm', "DIR", "model directory whose skeleton.bvh the features use"},
		{"frames", 0x100 + 'F', NULL, "write the animation as binary PPM frames on stdout (for ffmpeg)"},
		{"format", 0x100 + 'f', "F", "png, gif or ppm: the output kind when the name does not say it"},
		{"size", 's', "WxH", "image size; a sheet's panel size (default 480x360, sheets 320x240)"},
		{"fps", 'r', "N", "frames per second of an animation (default 30, GIF 15; at most 50 for GIF)"},
		{"camera", 0x100 + 'c', "C", "follow (the root) or fixed (framing the whole clip)\n"
					     "(default: fixed for a sheet, follow for an animation)"},
		{"poses", 0x100 + 'p', "N", "poses in a contact sheet (default 8)"},
		{"columns", 0x100 + 'C', "N", "panels per row of a contact sheet (default 4)"},
		{"azimuth", 0x100 + 'a', "DEG", "camera direction about the vertical; 0 looks from +Z (default 30)"},
		{"elevation", 0x100 + 'e', "DEG", "camera height angle above the ground (default 15)"},
		{"floor", 0x100 + 'l', "Y", "ground height in file units, or 'auto' for the clip's lowest\npoint (default 0)"},
		{"no-label", 0x100 + 'L', NULL, "leave out the time in the corner"},
		{"stream", 0x100 + 'S', "N", "which stream of a feature stream to draw (default: the first)"},
		{0}},
	.footer = "Examples:\n"
		  "  echo \"a person walks\" | llamo-t2m | vae-dec | mrender -o walk.png\n"
		  "  mrender -o walk.gif walk.bvh\n"
		  "  mrender --frames walk.bvh | ffmpeg -f image2pipe -c:v ppm -framerate 30 -i - -pix_fmt yuv420p walk.mp4\n"
		  "Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input, 71 out of memory, 74 I/O error.\n"
		  "See mrender(1).\n",
	.on_opt = on_opt,
};

/* The output kind, from --frames, --format or the name; *outpath "-" when none is needed. */
static int output_kind(const opts *o, const char **outpath)
{
	int kind;
	if (o->frames) {
		if (o->format && strcmp(o->format, "ppm"))
			lm_usage_error("--frames writes PPM; --format %s does not go with it", o->format);
		kind = OUT_PPM;
	} else if (o->format) {
		if (!strcmp(o->format, "png"))
			kind = OUT_PNG;
		else if (!strcmp(o->format, "gif"))
			kind = OUT_GIF;
		else if (!strcmp(o->format, "ppm"))
			kind = OUT_PPM;
		else
			lm_usage_error("--format %s: want png, gif or ppm", o->format);
	} else {
		if (!*outpath)
			lm_usage_error("no output: give -o FILE.png, -o FILE.gif or --frames");
		const char *dot = strrchr(*outpath, '.');
		if (dot && !strcasecmp(dot, ".png"))
			kind = OUT_PNG;
		else if (dot && !strcasecmp(dot, ".gif"))
			kind = OUT_GIF;
		else if (dot && !strcasecmp(dot, ".ppm"))
			kind = OUT_PPM;
		else
			lm_usage_error("-o %s: the name ends in neither .png nor .gif; give --format", *outpath);
	}
	*outpath = *outpath ? *outpath : "-";
	if (!strcmp(*outpath, "-") && isatty(STDOUT_FILENO))
		lm_usage_error("refusing to write an image to a terminal; redirect it or give -o FILE");
	return kind;
}

/* The camera and image from the options (the figure is framed later). */
static lm_view make_view(opts *o, int kind)
{
	lm_view v = {0};
	v.width = kind == OUT_PNG ? 320 : 480, v.height = kind == OUT_PNG ? 240 : 360;
	if (o->size)
		parse_size(o->size, &v.width, &v.height);
	if (!o->fps)
		o->fps = kind == OUT_GIF ? 15 : 30;
	if (kind == OUT_GIF && o->fps > 50)
		lm_usage_error("--fps %g: a GIF shows at most 50 frames per second", o->fps);
	v.follow = kind != OUT_PNG;
	if (o->camera) {
		if (strcmp(o->camera, "follow") && strcmp(o->camera, "fixed"))
			lm_usage_error("--camera %s: want follow or fixed", o->camera);
		v.follow = !strcmp(o->camera, "follow");
	}
	v.azimuth = o->azimuth, v.elevation = o->elevation;
	if (o->floor && strcmp(o->floor, "auto"))
		v.floor = lm_parse_double("--floor", o->floor, -1e9, 1e9);
	return v;
}

/* The input, a BVH or the FEATURES frames of a frame stream, as a figure. */
static void read_figure(const char *inpath, const char *model_arg, const opts *o, lm_figure *fig)
{
	lm_status st = {0};
	FILE *in = lm_in_open(inpath, &st);
	if (!in)
		lm_die_status(&st);
	size_t len;
	char *text = lm_slurp(in, inpath, &len);
	if (in != stdin)
		fclose(in);
	lm_bvh b = {0};
	if (len >= 6 && !memcmp(text, "LLAMO1", 6))
		read_features(inpath, text, len, model_arg, o->stream, &b);
	else if (lm_bvh_parse(&b, text, len, inpath, &st))
		lm_die_status(&st);
	free(text);
	if (lm_figure_from_bvh(fig, &b, &st))
		lm_die(st.code, "%s: %s", inpath, st.msg);
	lm_bvh_free(&b);
}

/* An animation: frame k shows the clip at time k / fps (the nearest clip frame). */
static void render_animation(const lm_figure *fig, const lm_view *v, const opts *o, int kind, FILE *out,
			     const char *oname)
{
	lm_status st = {0};
	int n = (int)lround(fig->nframes / fig->fps * o->fps);
	n = n < 1 ? 1 : n;
	uint8_t *img = malloc((size_t)v->width * v->height * 3);
	lm_gif *g = NULL;
	if (!img)
		lm_die(LM_ENOMEM, "out of memory");
	if (kind == OUT_GIF && lm_gif_begin(&g, out, v->width, v->height, o->fps, &st))
		lm_die(st.code, "%s: %s", oname, st.msg);
	for (int k = 0; k < n; k++) {
		int t = (int)floor(k / o->fps * fig->fps + 0.5);
		lm_render_frame(fig, v, t < fig->nframes ? t : fig->nframes - 1, o->label, img);
		if (kind == OUT_GIF ? lm_gif_frame(g, img, &st) : lm_ppm_write(out, img, v->width, v->height, &st))
			lm_die(st.code, "%s: %s", oname, st.msg);
	}
	if (g && lm_gif_end(g, &st))
		lm_die(st.code, "%s: %s", oname, st.msg);
	free(img);
}

static void render_sheet(const lm_figure *fig, const lm_view *v, const opts *o, FILE *out, const char *oname)
{
	lm_status st = {0};
	uint8_t *img;
	int w, h;
	if (lm_render_sheet(fig, v, (int)o->poses, (int)o->columns, o->label, &img, &w, &h, &st) ||
	    lm_png_write(out, img, w, h, &st))
		lm_die(st.code, "%s: %s", oname, st.msg);
	free(img);
}

int main(int argc, char **argv)
{
	opts o = {.azimuth = 30, .elevation = 15, .poses = 8, .columns = 4, .stream = -1, .label = 1};
	lm_cli_opts co;
	const char *inpath = lm_cli_input(argc, argv, lm_cli_parse(&cli, argc, argv, &co, &o));
	const char *outpath = co.output;
	int kind = output_kind(&o, &outpath);
	lm_view v = make_view(&o, kind);
	lm_figure fig;
	read_figure(inpath, co.model, &o, &fig);
	lm_status st = {0};
	if (o.floor && !strcmp(o.floor, "auto"))
		v.floor = lm_figure_lowest(&fig);
	FILE *out;
	if (lm_view_fit(&v, &fig, &st) || !(out = lm_out_open(outpath, &st)))
		lm_die_status(&st);
	const char *oname = strcmp(outpath, "-") ? outpath : "stdout";
	if (kind == OUT_PNG)
		render_sheet(&fig, &v, &o, out, oname);
	else
		render_animation(&fig, &v, &o, kind, out, oname);
	if (lm_out_commit(out, &st))
		lm_die_status(&st);
	lm_view_free(&v);
	lm_figure_free(&fig);
	return 0;
}
