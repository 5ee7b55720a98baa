/* vae-dec: motion latents to BVH through the causal VAE decoder, streaming 4 frames per latent
 * (docs/model-format.md 4.4), then features to BVH on the model's skeleton (docs/motion.md). */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "loop.h"
#include "model.h"

typedef struct run {
	lm_model *m;
	const char *outpath, *in; /* in: the input's name, for messages */
	int features, nwritten, pattern; /* pattern: outpath holds one %d conversion */
	char **written;                   /* (nwritten) files written, with a pattern */
	lm_bvh pending;                   /* without: the one BVH, written at the end */
} run;

static void on_opt(int key, const char *arg, void *ctx)
{
	((run *)ctx)->features = 1; /* --features */
}

static const lm_cli cli = {
	.usage = "usage: vae-dec [options] [FILE]\n"
		 "Decodes a latent stream (from llamo-t2m, flowsample or vae-enc) into BVH motion.\n"
		 "Reads FILE or stdin. Feature frames in the input are taken as they are.\n",
	.common = LM_OPT_MODEL | LM_OPT_DEVICE | LM_OPT_OUTPUT,
	.opts = (const lm_cli_opt[]){{"output", 'o', "PATH", "write to PATH; with several streams PATH must hold one %d\n"
							   "conversion for the stream id, e.g. 'out/%03d.bvh' (%% for a '%';\n"
							   "default: stdout)"},
				     {"features", 256, NULL, "write motion-feature frames instead of BVH (streamed)"},
				     {0}},
	.footer = "Example: echo \"a person walks\" | llamo-t2m | vae-dec > walk.bvh\n"
		  "Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input, 70 internal, 71 out of memory,\n"
		  "74 I/O error. See vae-dec(1).\n",
	.on_opt = on_opt,
};

typedef struct stream_state {
	lm_vae_stream *vs;
	float *feats; /* (nframes, F) de-normalized; only when writing BVH */
	int nframes, cap;
} stream_state;

/* Checks an -o value that holds a '%': exactly one integer conversion (%d or %i with flags from
 * "-+ 0#", a width and a precision of at most two digits each) and any number of "%%". Returns 1
 * for a pattern, 0 for a plain path (no '%'); dies with a usage error otherwise. */
static int check_pattern(const char *path)
{
	int conv = 0;
	for (const char *s = path; *s; s++) {
		if (*s != '%')
			continue;
		const char *start = s++;
		if (*s == '%')
			continue;
		while (*s && strchr("-+ 0#", *s))
			s++;
		for (int n = 0; *s >= '0' && *s <= '9'; s++)
			if (++n > 2)
				goto bad;
		if (*s == '.') {
			s++;
			for (int n = 0; *s >= '0' && *s <= '9'; s++)
				if (++n > 2)
					goto bad;
		}
		if (*s != 'd' && *s != 'i')
			goto bad;
		if (conv++) {
			lm_usage_error("-o %s: more than one %%d conversion; the pattern takes exactly one", path);
		}
		continue;
	bad:
		lm_usage_error("-o %s: '%.*s' at byte %d is not an integer conversion; the pattern takes exactly one "
			       "%%d (e.g. %%03d) and %%%% for a '%%'",
			       path, (int)(s - start + (*s != 0)), start, (int)(start - path));
	}
	if (strchr(path, '%') && !conv)
		lm_usage_error("-o %s: the pattern has no %%d conversion for the stream id", path);
	return conv;
}

/* The BVH of a finished stream: with a %d pattern, its own file, written now; else kept until the
 * whole input has been read without error (write_pending), so that nothing is left on a failure. */
static int write_bvh(run *r, uint32_t id, const stream_state *s, lm_status *st)
{
	char path[4096];
	if (r->nwritten > 0 && !r->pattern)
		return lm_fail(st, LM_EUSAGE, "%s: stream %u: several motions in the input; %s", r->in, id,
			       strcmp(r->outpath, "-") ? "-o needs a %d pattern" : "give -o PATTERN with %d");
	if (!r->pattern) {
		r->nwritten++;
		if (lm_motion_to_bvh(&r->m->sk, s->feats, s->nframes, &r->pending, st))
			return lm_prefix(st, "%s: stream %u", r->in, id);
		return 0;
	}
	if (snprintf(path, sizeof path, r->outpath, (int)id) >= (int)sizeof path)
		return lm_fail(st, LM_EUSAGE, "-o %s: the path of stream %u is too long", r->outpath, id);
	lm_bvh b = {0};
	FILE *f = NULL;
	int rc = lm_motion_to_bvh(&r->m->sk, s->feats, s->nframes, &b, st);
	if (rc)
		lm_prefix(st, "%s: stream %u", r->in, id);
	else if (!(f = lm_out_open(path, st)))
		rc = 1;
	else if (lm_bvh_write(&b, f, st))
		rc = lm_prefix(st, "%s", path);
	else
		rc = lm_out_commit(f, st);
	lm_bvh_free(&b);
	if (rc)
		return st->code;
	char **w = realloc(r->written, (size_t)(r->nwritten + 1) * sizeof *w);
	if (!w || !(w[r->nwritten] = strdup(path))) {
		r->written = w ? w : r->written;
		return lm_fail(st, LM_ENOMEM, "out of memory");
	}
	r->written = w;
	r->nwritten++;
	return 0;
}

/* The one BVH of a single-file run, once the input is through. */
static void write_pending(run *r)
{
	lm_status st = {0};
	FILE *f = lm_out_open(r->outpath, &st);
	if (!f)
		lm_die_status(&st);
	if (lm_bvh_write(&r->pending, f, &st))
		lm_die(st.code, "%s: %s", strcmp(r->outpath, "-") ? r->outpath : "stdout", st.msg);
	if (lm_out_commit(f, &st))
		lm_die_status(&st);
}

/* Dies with st; with a pattern, the message ends saying which files of completed streams stay. */
static void die_written(const run *r, const lm_status *st)
{
	if (!r->pattern || !r->nwritten)
		lm_die_status(st);
	char list[1024] = "";
	size_t n = 0;
	int shown = 0;
	for (; shown < r->nwritten; shown++) {
		int k = snprintf(list + n, sizeof list - n, "%s%s", shown ? ", " : "", r->written[shown]);
		if (k < 0 || (size_t)k >= sizeof list - n - 32)
			break;
		n += (size_t)k;
	}
	if (shown < r->nwritten)
		snprintf(list + n, sizeof list - n, " and %d more", r->nwritten - shown);
	lm_die(st->code ? st->code : LM_EINTERNAL, "%s (the %d completed stream%s written: %s)", st->msg,
	       r->nwritten, r->nwritten == 1 ? " is" : "s are", list);
}

static int append(stream_state *s, const float *x, int n, int F, lm_status *st)
{
	if (s->nframes + n > s->cap) {
		float *p = realloc(s->feats, (size_t)2 * (s->nframes + n) * F * sizeof(float));
		if (!p)
			return lm_fail(st, LM_ENOMEM, "out of memory");
		s->feats = p;
		s->cap = 2 * (s->nframes + n);
	}
	memcpy(s->feats + (size_t)s->nframes * F, x, (size_t)n * F * sizeof(float));
	s->nframes += n;
	return 0;
}

/* A latent frame (decoded, 4 frames a row) or a features frame (taken as it is). */
static int frame(lm_loop *l, void *state, lm_frame *fr, lm_status *st)
{
	run *r = l->ctx;
	stream_state *s = state;
	int F = r->m->cfg.feature_dim, D = r->m->cfg.downsample;
	int latent = fr->type == LM_FRAME_LATENT, want = latent ? r->m->cfg.latent_dim : F;
	if ((int)fr->cols != want)
		return lm_fail(st, LM_EDATA, "%s: stream %u pos %d: %s frame is %u wide, the model takes %d", l->name,
			       fr->stream, fr->pos, lm_frame_type_name(fr->type), fr->cols, want);
	if (!s->vs && lm_vae_stream_init(&s->vs, &r->m->vae, st))
		return st->code;
	float buf[D * F];
	for (uint32_t i = 0; i < fr->rows; i++) {
		const float *row = (const float *)fr->data + (size_t)i * fr->cols;
		int n = latent ? D : 1;
		if (latent && lm_vae_stream_step(s->vs, row, buf, st))
			return st->code;
		if (latent)
			lm_features_denormalize(r->m, buf, D);
		else
			memcpy(buf, row, F * sizeof(float));
		if (l->w ? lm_put_rows(l->w, LM_FRAME_FEATURES, fr->stream, s->nframes, 0, n, F, buf, st)
			 : append(s, buf, n, F, st))
			return st->code;
		if (l->w)
			s->nframes += n;
	}
	return 0;
}

static int finish(lm_loop *l, void *state, uint32_t stream, lm_status *st)
{
	run *r = l->ctx;
	return r->features ? 0 : write_bvh(r, stream, state, st);
}

static void release(lm_loop *l, void *state)
{
	stream_state *s = state;
	lm_vae_stream_free(s->vs);
	free(s->feats);
}

int main(int argc, char **argv)
{
	run r = {0};
	lm_cli_opts o;
	const char *in = lm_cli_input(argc, argv, lm_cli_parse(&cli, argc, argv, &o, &r));
	r.outpath = o.output ? o.output : "-";
	r.in = in;
	r.pattern = !r.features && check_pattern(r.outpath);
	r.m = lm_cli_load(&o, LM_PART_VAE | LM_PART_SKELETON);
	lm_stage s = {.kind = "features", .width = r.m->cfg.feature_dim, .elem = "f32", .rate = r.m->cfg.fps,
		      .takes = LM_TAKES(LM_FRAME_LATENT) | LM_TAKES(LM_FRAME_FEATURES),
		      .state_size = sizeof(stream_state), .frame = frame, .finish = finish, .release = release};
	lm_status st = {0};
	FILE *out = NULL;
	if (r.features && !(out = lm_out_open(r.outpath, &st)))
		lm_die_status(&st);
	FILE *f = lm_in_open(in, &st);
	if (!f || lm_loop_run(&s, f, in, out, r.outpath, &r, &st))
		die_written(&r, &st);
	if (f != stdin)
		fclose(f);
	if (out && lm_out_commit(out, &st))
		lm_die_status(&st);
	if (!r.features && r.nwritten == 0)
		lm_die(LM_EDATA, "%s: no motion in the input stream", in);
	if (!r.features && !r.pattern)
		write_pending(&r);
	lm_bvh_free(&r.pending);
	for (int i = 0; r.pattern && i < r.nwritten; i++)
		free(r.written[i]);
	free(r.written);
	lm_model_free(r.m);
	lm_cli_done();
	return 0;
}
