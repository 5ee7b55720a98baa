/* vae-dec: motion latents to BVH through the causal VAE decoder, streaming 4 frames per latent
 * (docs/model-format.md 4.4), then features to BVH on the model's skeleton (docs/motion.md). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "frameio.h"
#include "model.h"

static const char usage[] =
	"usage: vae-dec [options] [FILE]\n"
	"Decodes a latent stream (from llamo-t2m, flowsample or vae-enc) into BVH motion.\n"
	"Reads FILE or stdin. Feature frames in the input are taken as they are.\n"
	"\n"
	"  -m, --model DIR      model directory (default: $LLAMO_MODEL or the bundled model)\n"
	"  -o, --output PATH    write to PATH; with several streams PATH must hold a printf\n"
	"                       pattern for the stream id, e.g. 'out/%03d.bvh' (default: stdout)\n"
	"      --features       write motion-feature frames instead of BVH (streamed)\n"
	"      --device D       cpu, cuda or auto\n"
	"  -h, --help           show this help\n"
	"\n"
	"Example: echo \"a person walks\" | llamo-t2m | vae-dec > walk.bvh\n"
	"Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input, 70 internal, 71 out of memory,\n"
	"74 I/O error. See vae-dec(1).\n";

typedef struct stream_state {
	lm_vae_stream *vs;
	float *feats; /* (nframes, F) de-normalized */
	int nframes, cap;
} stream_state;

static const char *outpath = "-";
static int nwritten;
static lm_model *m;

static void write_bvh(uint32_t id, stream_state *s)
{
	lm_status st = {0};
	char path[4096];
	if (!strcmp(outpath, "-")) {
		if (nwritten > 0)
			lm_die(LM_EUSAGE, "stream %u: several motions in the input; give -o PATTERN with %%d", id);
		snprintf(path, sizeof path, "-");
	} else if (strchr(outpath, '%')) {
		snprintf(path, sizeof path, outpath, (int)id);
	} else {
		if (nwritten > 0)
			lm_die(LM_EUSAGE, "stream %u: several motions in the input; -o needs a %%d pattern", id);
		snprintf(path, sizeof path, "%s", outpath);
	}
	lm_bvh b = {0};
	if (lm_motion_to_bvh(&m->sk, s->feats, s->nframes, &b, &st))
		lm_die_status(&st);
	FILE *f = lm_out_open(path, &st);
	if (!f || lm_bvh_write(&b, f, &st) || lm_out_commit(f, &st))
		lm_die_status(&st);
	lm_bvh_free(&b);
	nwritten++;
}

static stream_state *get_state(lm_streams *ss, uint32_t id)
{
	void **p = lm_streams_get(ss, id);
	if (p)
		return *p;
	p = lm_streams_add(ss, id);
	stream_state *s = calloc(1, sizeof *s);
	lm_status st = {0};
	if (!p || !s)
		lm_die(LM_ENOMEM, "out of memory");
	if (lm_vae_stream_init(&s->vs, &m->vae, &st))
		lm_die_status(&st);
	*p = s;
	return s;
}

static void append(stream_state *s, const float *x, int n, int F)
{
	if (s->nframes + n > s->cap) {
		s->cap = 2 * (s->nframes + n);
		s->feats = realloc(s->feats, (size_t)s->cap * F * sizeof(float));
		if (!s->feats)
			lm_die(LM_ENOMEM, "out of memory");
	}
	memcpy(s->feats + (size_t)s->nframes * F, x, (size_t)n * F * sizeof(float));
	s->nframes += n;
}

static void finish(lm_streams *ss, uint32_t id, lm_writer *fw)
{
	void **p = lm_streams_get(ss, id);
	if (!p)
		return;
	stream_state *s = *p;
	if (!fw)
		write_bvh(id, s);
	lm_vae_stream_free(s->vs);
	free(s->feats);
	free(s);
	lm_streams_del(ss, id);
}

int main(int argc, char **argv)
{
	lm_cli_init(argv[0]);
	lm_cli_help(argc, argv, usage);
	static const struct option opts[] = {{"model", required_argument, 0, 'm'},
					     {"output", required_argument, 0, 'o'},
					     {"features", no_argument, 0, 'f'},
					     {"device", required_argument, 0, 'd'},
					     {0, 0, 0, 0}};
	const char *model_arg = NULL, *device = NULL;
	int features = 0, c;
	while ((c = getopt_long(argc, argv, "m:o:", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_arg = optarg; break;
		case 'o': outpath = optarg; break;
		case 'f': features = 1; break;
		case 'd': device = optarg; break;
		default: lm_usage_error("unknown option");
		}
	}
	if (argc - optind > 1)
		lm_usage_error("at most one input file");
	const char *inpath = optind < argc ? argv[optind] : "-";
	lm_status st = {0};
	const lm_backend *be;
	be = lm_cli_backend(device);
	if (lm_model_load(&m, lm_model_dir(model_arg), be, LM_PART_VAE | LM_PART_SKELETON, &st))
		lm_die_status(&st);
	int F = m->cfg.feature_dim, L = m->cfg.latent_dim, D = m->cfg.downsample;

	FILE *in = lm_in_open(inpath, &st);
	lm_reader *r;
	if (!in || lm_reader_open(&r, in, inpath, &st))
		lm_die_status(&st);
	lm_writer *fw = NULL;
	FILE *fout = NULL;
	if (features) {
		lm_stream_header h;
		lm_header_init(&h, "features", F, "f32", m->cfg.fps);
		lm_header_copy_tags(&h, lm_reader_header(r));
		fout = lm_out_open(outpath, &st);
		if (!fout || lm_writer_open(&fw, fout, outpath, &h, &st))
			lm_die_status(&st);
	}
	lm_streams ss = {0};
	float *buf = malloc((size_t)D * F * sizeof(float));
	lm_frame fr = {0};
	int eof = 0;
	while (!lm_reader_next(r, &fr, &eof, &st) && !eof) {
		if (fr.type == LM_FRAME_LATENT || fr.type == LM_FRAME_FEATURES) {
			int want = fr.type == LM_FRAME_LATENT ? L : F;
			if ((int)fr.cols != want)
				lm_die(LM_EDATA, "%s: stream %u pos %d: %s frame is %u wide, the model takes %d",
				       inpath, fr.stream, fr.pos, lm_frame_type_name(fr.type), fr.cols, want);
			stream_state *s = get_state(&ss, fr.stream);
			for (uint32_t i = 0; i < fr.rows; i++) {
				const float *row = (const float *)fr.data + (size_t)i * fr.cols;
				int n = 1;
				if (fr.type == LM_FRAME_LATENT) {
					if (lm_vae_stream_step(s->vs, row, buf, &st))
						lm_die_status(&st);
					lm_features_denormalize(m, buf, D);
					n = D;
				} else {
					memcpy(buf, row, F * sizeof(float));
				}
				if (fw) {
					if (lm_put_rows(fw, LM_FRAME_FEATURES, fr.stream, s->nframes, 0, n, F, buf, &st))
						lm_die_status(&st);
					s->nframes += n;
				} else {
					append(s, buf, n, F);
				}
			}
		} else if (fr.type == LM_FRAME_MARK && (fr.mark == LM_MARK_EOM || fr.mark == LM_MARK_EOS)) {
			if (fw && lm_writer_put(fw, &fr, &st))
				lm_die_status(&st);
			if (fr.stream == LM_STREAM_ALL) {
				while (ss.n)
					finish(&ss, ss.id[0], fw);
			} else {
				finish(&ss, fr.stream, fw);
			}
		} else if (fw && lm_writer_put(fw, &fr, &st)) {
			lm_die_status(&st);
		}
	}
	if (st.code)
		lm_die_status(&st);
	while (ss.n)
		finish(&ss, ss.id[0], fw);
	if (!fw && nwritten == 0)
		lm_die(LM_EDATA, "%s: no motion in the input stream", inpath);
	if (fw && (lm_writer_close(fw, &st) || lm_out_commit(fout, &st)))
		lm_die_status(&st);
	lm_frame_free(&fr);
	lm_reader_free(r);
	lm_streams_free(&ss);
	free(buf);
	lm_model_free(m);
	lm_cli_done();
	return 0;
}
