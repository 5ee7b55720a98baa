/* vae-enc: BVH (or motion-feature frames) to motion latents through the causal VAE encoder
 * (docs/model-format.md 4.4); with --features, BVH to motion features only (docs/motion.md). */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "frameio.h"
#include "model.h"

static void on_opt(int key, const char *arg, void *ctx)
{
	*(int *)ctx = 1; /* --features */
}

static const lm_cli cli = {
	.usage = "usage: vae-enc [options] [FILE]\n"
		 "Encodes a BVH file on the model's skeleton (or a motion-feature stream) into a latent\n"
		 "stream: a begin-of-motion mark, one latent per 4 frames, an end-of-motion mark.\n"
		 "Reads FILE or stdin; the input kind is recognized from its first bytes.\n",
	.common = LM_OPT_MODEL | LM_OPT_DEVICE | LM_OPT_OUTPUT,
	.opts = (const lm_cli_opt[]){{"output", 'o', "FILE", "write the stream to FILE (default: stdout)"},
				     {"features", 256, NULL, "write motion-feature frames (30 fps, not normalized) instead"},
				     {0}},
	.footer = "Example: vae-enc < clip.bvh | llamo-m2t\n"
		  "Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input, 70 internal, 71 out of memory,\n"
		  "74 I/O error. See vae-enc(1).\n",
	.on_opt = on_opt,
};

/* Features of the input: a BVH file, or the FEATURES frames of a frame stream. */
static float *read_features(lm_model *m, const char *name, char *text, size_t len, int *nframes)
{
	lm_status st = {0};
	float *feat = NULL;
	if (len >= 6 && !memcmp(text, "LLAMO1", 6)) {
		FILE *f = fmemopen(text, len, "rb");
		lm_reader *r;
		if (!f || lm_reader_open(&r, f, name, &st))
			lm_die_status(&st);
		lm_frame fr = {0};
		int eof = 0, n = 0, F = m->cfg.feature_dim;
		while (!lm_reader_next(r, &fr, &eof, &st) && !eof) {
			if (fr.type != LM_FRAME_FEATURES)
				continue;
			if ((int)fr.cols != F)
				lm_die(LM_EDATA, "%s: features frame is %u wide, the model takes %d", name, fr.cols, F);
			feat = realloc(feat, (size_t)(n + fr.rows) * F * sizeof(float));
			if (!feat)
				lm_die(LM_ENOMEM, "out of memory");
			memcpy(feat + (size_t)n * F, fr.data, (size_t)fr.rows * F * sizeof(float));
			n += fr.rows;
		}
		if (st.code)
			lm_die_status(&st);
		lm_frame_free(&fr);
		lm_reader_free(r);
		fclose(f);
		*nframes = n;
		return feat;
	}
	lm_bvh b = {0};
	if (lm_bvh_parse(&b, text, len, name, &st))
		lm_die_status(&st);
	if (lm_motion_from_bvh(&m->sk, &b, &feat, nframes, &st))
		lm_die(st.code, "%s: %s", name, st.msg);
	lm_bvh_free(&b);
	return feat;
}

/* The clip's latents mu(n, L) through the encoder (normalizing feat in place), before anything
 * is written, so that a clip the encoder refuses leaves no output. */
static float *encode(lm_model *m, const char *inpath, float *feat, int T, int *n)
{
	lm_status st = {0};
	float *mu = NULL;
	if (T < m->cfg.downsample)
		lm_die(LM_EDATA, "%s: %d frames is shorter than one latent (%d frames)", inpath, T, m->cfg.downsample);
	lm_features_normalize(m, feat, T);
	if (lm_vae_encode(&m->vae, feat, T, &mu, n, &st))
		lm_die(st.code, "%s: %s", inpath, st.msg);
	return mu;
}

/* A BOM mark, one latent frame per row of mu(n, L), an EOM mark. */
static int put_latents(lm_writer *w, const float *mu, int n, int L, lm_status *st)
{
	int rc = lm_put_mark(w, 0, LM_MARK_BOM, 0, st);
	for (int i = 0; !rc && i < n; i++)
		rc = lm_put_rows(w, LM_FRAME_LATENT, 0, i, 0, 1, L, mu + (size_t)i * L, st);
	return rc ? rc : lm_put_mark(w, 0, LM_MARK_EOM, n, st);
}

int main(int argc, char **argv)
{
	int features = 0, n = 0;
	lm_cli_opts o;
	const char *inpath = lm_cli_input(argc, argv, lm_cli_parse(&cli, argc, argv, &o, &features));
	const char *outpath = o.output ? o.output : "-";
	lm_model *m = lm_cli_load(&o, LM_PART_SKELETON | (features ? 0 : LM_PART_VAE));
	lm_status st = {0};
	FILE *in = lm_in_open(inpath, &st);
	if (!in)
		lm_die_status(&st);
	size_t len;
	char *text = lm_slurp(in, inpath, &len);
	int T = 0, F = m->cfg.feature_dim, L = m->cfg.latent_dim;
	float *feat = read_features(m, inpath, text, len, &T), *mu = features ? NULL : encode(m, inpath, feat, T, &n);
	free(text);
	FILE *out = lm_out_open(outpath, &st);
	lm_writer *w;
	lm_stream_header h;
	if (features)
		lm_header_init(&h, "features", F, "f32", m->cfg.fps);
	else
		lm_header_init(&h, "latent", L, "f32", m->cfg.fps / m->cfg.downsample);
	if (!out || lm_writer_open(&w, out, strcmp(outpath, "-") ? outpath : "stdout", &h, &st) ||
	    (features ? lm_put_rows(w, LM_FRAME_FEATURES, 0, 0, 0, T, F, feat, &st) : put_latents(w, mu, n, L, &st)) ||
	    lm_put_mark(w, LM_STREAM_ALL, LM_MARK_EOS, -1, &st) || lm_writer_close(w, &st) || lm_out_commit(out, &st))
		lm_die_status(&st);
	free(mu);
	free(feat);
	lm_model_free(m);
	lm_cli_done();
	return 0;
}
