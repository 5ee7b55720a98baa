/* flowsample: hidden states to latents. Draws one latent per hidden-state frame with the
 * generation step's lm_t2m_draw: the projector, Gaussian noise, and the rectified-flow ODE with
 * Euler steps and classifier-free guidance (docs/model-format.md 4.2, 4.3, 4.5). */
#include <stdlib.h>
#include "cli.h"
#include "loop.h"
#include "model.h"

static const lm_cli cli = {
	.usage = "usage: flowsample [options] [FILE]\n"
		 "Samples one latent per hidden-state frame with the flow head. A frame with two rows\n"
		 "(conditional, unconditional) is sampled with guidance. Stream s draws its noise from a\n"
		 "PyTorch-compatible generator seeded with SEED + s, as llamo-t2m does.\n"
		 "Other frames are passed on unchanged.\n",
	.common = LM_OPT_MODEL | LM_OPT_DEVICE | LM_OPT_SEED | LM_OPT_CFG | LM_OPT_STEPS,
	.footer = "Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input, 70 internal, 71 out of memory,\n"
		  "74 I/O error. See flowsample(1).\n",
};

typedef struct run {
	lm_model *m;
	lm_gen_opts o;
} run;

static int frame(lm_loop *l, void *state, lm_frame *fr, lm_status *st)
{
	run *r = l->ctx;
	lm_t2m **g = state;
	int H = r->m->cfg.hidden_size, L = r->m->cfg.latent_dim;
	if ((int)fr->cols != H || fr->rows < 1 || fr->rows > 2)
		return lm_fail(st, LM_EDATA, "%s: stream %u pos %d: hidden frame is %ux%u, the model takes 1 or 2 rows of %d",
			       l->name, fr->stream, fr->pos, fr->rows, fr->cols, H);
	if (!*g) {
		lm_gen_opts o = r->o;
		o.seed += fr->stream;
		if (lm_t2m_init(g, r->m, &o, st))
			return st->code;
	}
	float z[L];
	lm_t2m_set_hidden(*g, fr->data, fr->rows, (*g)->i);
	if (lm_t2m_draw(*g, z, st))
		return st->code;
	return lm_put_rows(l->w, LM_FRAME_LATENT, fr->stream, (*g)->i - 1, 0, 1, L, z, st);
}

static void release(lm_loop *l, void *state)
{
	lm_t2m_free(*(lm_t2m **)state);
}

int main(int argc, char **argv)
{
	run r = {0};
	lm_cli_opts o;
	const char *in = lm_cli_input(argc, argv, lm_cli_parse(&cli, argc, argv, &o, &r));
	r.m = lm_cli_load(&o, LM_PART_HEADS);
	lm_cli_gen_opts(&o, &r.m->cfg, &r.o);
	lm_stage stage = {.kind = "latent", .width = r.m->cfg.latent_dim, .elem = "f32",
			  .rate = r.m->cfg.fps / r.m->cfg.downsample, .takes = LM_TAKES(LM_FRAME_HIDDEN),
			  .state_size = sizeof(lm_t2m *), .frame = frame, .release = release};
	lm_cli_loop(&stage, in, stdout, "stdout", &r);
	lm_model_free(r.m);
	lm_cli_done();
	return 0;
}
