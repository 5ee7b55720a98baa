/* llamo-m2t: motion to text. Reads a latent stream (or a BVH with --bvh) and prints one caption
 * line per motion (docs/model-format.md 4.7). */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "loop.h"
#include "model.h"

typedef struct run {
	lm_model *m;
	const char *bvh;
	const char *prompt; /* --prompt, or NULL: the model's m2t_prompt */
	int max_new, ncaptions;
} run;

static void on_opt(int key, const char *arg, void *ctx)
{
	run *r = ctx;
	if (key == 256)
		r->bvh = arg;
	else if (key == 258)
		r->prompt = arg;
	else
		r->max_new = lm_parse_long("--max-tokens", arg, 1, 4096);
}

static const lm_cli cli = {
	.usage = "usage: llamo-m2t [options] [FILE]\n"
		 "Captions motion: reads a latent stream (from vae-enc or llamo-t2m) from FILE or stdin and\n"
		 "prints one caption line per motion (per stream, when its end-of-motion mark arrives).\n",
	.common = LM_OPT_MODEL | LM_OPT_DEVICE,
	.opts = (const lm_cli_opt[]){{"bvh", 256, "FILE", "caption a BVH file (encoded with the model's VAE first)"},
				     {"max-tokens", 257, "N", "at most N caption tokens (default 64)"},
				     {"prompt", 258, "TEXT", "the instruction put in the model's m2t_template for {prompt}\n"
							     "(default: its m2t_prompt; only for a template that has one)"},
				     {0}},
	.footer = "Example: vae-enc < clip.bvh | llamo-m2t\n"
		  "Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input, 70 internal, 71 out of memory,\n"
		  "74 I/O error. See llamo-m2t(1).\n",
	.on_opt = on_opt,
};

/* Prints the caption of n latents z(n, L). */
static int caption(run *r, const float *z, int n, lm_status *st)
{
	char *text;
	if (n == 0)
		return lm_fail(st, LM_EDATA, "a motion with no latents");
	if (lm_m2t_caption_prompt(r->m, z, n, r->prompt, r->max_new, &text, NULL, NULL, st))
		return st->code;
	printf("%s\n", text);
	fflush(stdout);
	free(text);
	r->ncaptions++;
	return 0;
}

/* --bvh: the clip's features through the VAE encoder, then captioned. */
static void caption_bvh(run *r)
{
	lm_status st = {0};
	FILE *f = lm_in_open(r->bvh, &st);
	lm_bvh b = {0};
	float *feat = NULL, *mu = NULL;
	int T, n;
	if (!f || lm_bvh_read(&b, f, r->bvh, &st))
		lm_die_status(&st);
	if (lm_motion_from_bvh(&r->m->sk, &b, &feat, &T, &st))
		lm_die(st.code, "%s: %s", r->bvh, st.msg);
	if (f != stdin)
		fclose(f);
	lm_features_normalize(r->m, feat, T);
	if (lm_vae_encode(&r->m->vae, feat, T, &mu, &n, &st))
		lm_die(st.code, "%s: %s", r->bvh, st.msg);
	if (caption(r, mu, n, &st))
		lm_die_status(&st);
	free(mu);
	free(feat);
	lm_bvh_free(&b);
}

typedef struct latents {
	float *z; /* (n, L): row 0 of each latent frame */
	int n;
} latents;

static int frame(lm_loop *l, void *state, lm_frame *fr, lm_status *st)
{
	run *r = l->ctx;
	latents *s = state;
	int L = r->m->cfg.latent_dim;
	if ((int)fr->cols != L)
		return lm_fail(st, LM_EDATA, "%s: stream %u pos %d: latent frame is %u wide, the model takes %d",
			       l->name, fr->stream, fr->pos, fr->cols, L);
	float *z = realloc(s->z, (size_t)(s->n + 1) * L * sizeof(float));
	if (!z)
		return lm_fail(st, LM_ENOMEM, "out of memory");
	s->z = z;
	memcpy(s->z + (size_t)s->n++ * L, fr->data, L * sizeof(float));
	return 0;
}

/* A motion ends (its end mark, or the end of the input): its caption. */
static int finish(lm_loop *l, void *state, uint32_t stream, lm_status *st)
{
	latents *s = state;
	return caption(l->ctx, s->z, s->n, st);
}

static void release(lm_loop *l, void *state)
{
	free(((latents *)state)->z);
}

static const lm_stage stage = {.takes = LM_TAKES(LM_FRAME_LATENT), .state_size = sizeof(latents),
			       .frame = frame, .finish = finish, .release = release};

int main(int argc, char **argv)
{
	run r = {.max_new = 64};
	lm_cli_opts o;
	int first = lm_cli_parse(&cli, argc, argv, &o, &r);
	if (argc - first > (r.bvh ? 0 : 1))
		lm_usage_error(r.bvh ? "--bvh takes the input; no other file" : "at most one input file");
	const char *in = first < argc ? argv[first] : "-";
	r.m = lm_cli_load(&o, LM_PART_BACKBONE | LM_PART_HEADS | LM_PART_TOKENIZER |
				      (r.bvh ? LM_PART_VAE | LM_PART_SKELETON : 0));
	if (r.prompt && !strstr(r.m->cfg.m2t_template, "{prompt}"))
		lm_usage_error("--prompt: the model's m2t_template has no {prompt} (it takes no instruction)");
	if (r.bvh)
		caption_bvh(&r);
	else
		lm_cli_loop(&stage, in, NULL, NULL, &r);
	if (r.ncaptions == 0)
		lm_die(LM_EDATA, "%s: no motion latents in the input", in);
	lm_model_free(r.m);
	lm_cli_done();
	return 0;
}
