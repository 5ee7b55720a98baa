/* mrender: a motion preview without a GPU or a display: a PNG contact sheet, an animated GIF, or
 * PPM frames for ffmpeg, of a BVH file or a motion-feature stream (lib/render.h). */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "frameio.h"
#include "motion.h"
#include "render.h"

static const char usage[] =
	"usage: mrender [options] [FILE]\n"
	"Draws a stick-figure preview of a BVH file or a motion-feature stream (FILE or stdin).\n"
	"\n"
	"  -o, --output FILE    FILE.png: a contact sheet of evenly spaced poses;\n"
	"                       FILE.gif: an animation\n"
	"      --frames         write the animation as binary PPM frames on stdout (for ffmpeg)\n"
	"      --format F       png, gif or ppm: the output kind when the name does not say it\n"
	"  -s, --size WxH       image size; a sheet's panel size (default 480x360, sheets 320x240)\n"
	"  -r, --fps N          frames per second of an animation (default 30, GIF 15; at most 50 for GIF)\n"
	"      --camera C       follow (the root) or fixed (framing the whole clip)\n"
	"                       (default: fixed for a sheet, follow for an animation)\n"
	"      --poses N        poses in a contact sheet (default 8)\n"
	"      --columns N      panels per row of a contact sheet (default 4)\n"
	"      --azimuth DEG    camera direction about the vertical; 0 looks from +Z (default 30)\n"
	"      --elevation DEG  camera height angle above the ground (default 15)\n"
	"      --floor Y        ground height in file units, or 'auto' for the clip's lowest\n"
	"                       point (default 0)\n"
	"      --no-label       leave out the time in the corner\n"
	"      --stream N       which stream of a feature stream to draw (default: the first)\n"
	"  -m, --model DIR      model directory whose skeleton.bvh the features use\n"
	"  -h, --help           show this help\n"
	"\n"
	"Examples:\n"
	"  echo \"a person walks\" | llamo-t2m | vae-dec | mrender -o walk.png\n"
	"  mrender -o walk.gif walk.bvh\n"
	"  mrender --frames walk.bvh | ffmpeg -f image2pipe -c:v ppm -framerate 30 -i - -pix_fmt yuv420p walk.mp4\n"
	"Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input, 71 out of memory, 74 I/O error.\n"
	"See mrender(1).\n";

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

int main(int argc, char **argv)
{
	lm_cli_init(argv[0]);
	lm_cli_help(argc, argv, usage);
	static const struct option opts[] = {
		{"output", required_argument, 0, 'o'}, {"frames", no_argument, 0, 'F'},
		{"format", required_argument, 0, 'f'}, {"size", required_argument, 0, 's'},
		{"fps", required_argument, 0, 'r'}, {"camera", required_argument, 0, 'c'},
		{"poses", required_argument, 0, 'p'}, {"columns", required_argument, 0, 'C'},
		{"azimuth", required_argument, 0, 'a'}, {"elevation", required_argument, 0, 'e'},
		{"floor", required_argument, 0, 'l'}, {"no-label", no_argument, 0, 'L'},
		{"stream", required_argument, 0, 'S'}, {"model", required_argument, 0, 'm'}, {0, 0, 0, 0}};
	const char *outpath = NULL, *format = NULL, *size_s = NULL, *camera = NULL, *floor_s = NULL, *model_arg = NULL;
	double fps = 0, azimuth = 30, elevation = 15;
	long poses = 8, columns = 4, stream = -1;
	int frames = 0, label = 1, c;
	while ((c = getopt_long(argc, argv, "o:s:r:m:", opts, NULL)) != -1) {
		switch (c) {
		case 'o': outpath = optarg; break;
		case 'F': frames = 1; break;
		case 'f': format = optarg; break;
		case 's': size_s = optarg; break;
		case 'r': fps = lm_parse_double("--fps", optarg, 0.1, 1000); break;
		case 'c': camera = optarg; break;
		case 'p': poses = lm_parse_long("--poses", optarg, 1, 1000); break;
		case 'C': columns = lm_parse_long("--columns", optarg, 1, 1000); break;
		case 'a': azimuth = lm_parse_double("--azimuth", optarg, -3600, 3600); break;
		case 'e': elevation = lm_parse_double("--elevation", optarg, -89, 89); break;
		case 'l': floor_s = optarg; break;
		case 'L': label = 0; break;
		case 'S': stream = lm_parse_long("--stream", optarg, 0, 0xfffffffeL); break;
		case 'm': model_arg = optarg; break;
		default: lm_usage_error("unknown option");
		}
	}
	if (argc - optind > 1)
		lm_usage_error("at most one input file");
	int kind;
	if (frames) {
		if (format && strcmp(format, "ppm"))
			lm_usage_error("--frames writes PPM; --format %s does not go with it", format);
		kind = OUT_PPM;
		outpath = outpath ? outpath : "-";
	} else if (format) {
		if (!strcmp(format, "png"))
			kind = OUT_PNG;
		else if (!strcmp(format, "gif"))
			kind = OUT_GIF;
		else if (!strcmp(format, "ppm"))
			kind = OUT_PPM;
		else
			lm_usage_error("--format %s: want png, gif or ppm", format);
		outpath = outpath ? outpath : "-";
	} else {
		if (!outpath)
			lm_usage_error("no output: give -o FILE.png, -o FILE.gif or --frames");
		const char *dot = strrchr(outpath, '.');
		if (dot && !strcasecmp(dot, ".png"))
			kind = OUT_PNG;
		else if (dot && !strcasecmp(dot, ".gif"))
			kind = OUT_GIF;
		else if (dot && !strcasecmp(dot, ".ppm"))
			kind = OUT_PPM;
		else
			lm_usage_error("-o %s: the name ends in neither .png nor .gif; give --format", outpath);
	}
	if (!strcmp(outpath, "-") && isatty(STDOUT_FILENO))
		lm_usage_error("refusing to write an image to a terminal; redirect it or give -o FILE");
	lm_view v = {0};
	v.width = kind == OUT_PNG ? 320 : 480, v.height = kind == OUT_PNG ? 240 : 360;
	if (size_s)
		parse_size(size_s, &v.width, &v.height);
	if (!fps)
		fps = kind == OUT_GIF ? 15 : 30;
	if (kind == OUT_GIF && fps > 50)
		lm_usage_error("--fps %g: a GIF shows at most 50 frames per second", fps);
	v.follow = kind != OUT_PNG;
	if (camera) {
		if (strcmp(camera, "follow") && strcmp(camera, "fixed"))
			lm_usage_error("--camera %s: want follow or fixed", camera);
		v.follow = !strcmp(camera, "follow");
	}
	v.azimuth = azimuth, v.elevation = elevation;
	if (floor_s && strcmp(floor_s, "auto"))
		v.floor = lm_parse_double("--floor", floor_s, -1e9, 1e9);

	/* the input: a BVH, or the FEATURES frames of a frame stream */
	const char *inpath = optind < argc ? argv[optind] : "-";
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
		read_features(inpath, text, len, model_arg, stream, &b);
	else if (lm_bvh_parse(&b, text, len, inpath, &st))
		lm_die_status(&st);
	free(text);
	lm_figure fig;
	if (lm_figure_from_bvh(&fig, &b, &st))
		lm_die(st.code, "%s: %s", inpath, st.msg);
	lm_bvh_free(&b);
	if (floor_s && !strcmp(floor_s, "auto"))
		v.floor = lm_figure_lowest(&fig);
	if (lm_view_fit(&v, &fig, &st))
		lm_die_status(&st);

	FILE *out = lm_out_open(outpath, &st);
	if (!out)
		lm_die_status(&st);
	const char *oname = strcmp(outpath, "-") ? outpath : "stdout";
	if (kind == OUT_PNG) {
		uint8_t *img;
		int w, h;
		if (lm_render_sheet(&fig, &v, (int)poses, (int)columns, label, &img, &w, &h, &st) ||
		    lm_png_write(out, img, w, h, &st))
			lm_die(st.code, "%s: %s", oname, st.msg);
		free(img);
	} else {
		/* frame k shows the clip at time k / fps (the nearest clip frame) */
		double seconds = fig.nframes / fig.fps;
		int n = (int)lround(seconds * fps);
		n = n < 1 ? 1 : n;
		uint8_t *img = malloc((size_t)v.width * v.height * 3);
		lm_gif *g = NULL;
		if (!img)
			lm_die(LM_ENOMEM, "out of memory");
		if (kind == OUT_GIF && lm_gif_begin(&g, out, v.width, v.height, fps, &st))
			lm_die(st.code, "%s: %s", oname, st.msg);
		for (int k = 0; k < n; k++) {
			int t = (int)floor(k / fps * fig.fps + 0.5);
			lm_render_frame(&fig, &v, t < fig.nframes ? t : fig.nframes - 1, label, img);
			if (kind == OUT_GIF ? lm_gif_frame(g, img, &st) : lm_ppm_write(out, img, v.width, v.height, &st))
				lm_die(st.code, "%s: %s", oname, st.msg);
		}
		if (g && lm_gif_end(g, &st))
			lm_die(st.code, "%s: %s", oname, st.msg);
		free(img);
	}
	if (lm_out_commit(out, &st))
		lm_die_status(&st);
	lm_view_free(&v);
	lm_figure_free(&fig);
	return 0;
}
