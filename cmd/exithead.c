/* exithead: decides where a motion ends. For each hidden-state frame that follows a latent
 * (motion branch), runs the exit check of the generation step (lm_t2m_exit) on the conditional
 * row; when it stops, an end-of-motion mark takes the frame's place (docs/model-format.md 4.2,
 * 4.6). The [BOM] state (text branch) always passes. */
#include <stdlib.h>
#include "cli.h"
#include "loop.h"
#include "model.h"

typedef struct run {
	lm_model *m;
	lm_gen_opts o;
	int verbose;
} run;

static void on_opt(int key, const char *arg, void *ctx)
{
	((run *)ctx)->verbose = 1; /* -v, the only option of its own */
}

static const lm_cli cli = {
	.usage = "usage: exithead [options] [FILE]\n"
		 "Passes hidden-state frames on, or replaces one with an end-of-motion mark when the exit\n"
		 "head's probability exceeds the threshold (never on a stream's first state, so every motion\n"
		 "has at least one latent). Other frames are passed on unchanged.\n",
	.common = LM_OPT_MODEL | LM_OPT_DEVICE | LM_OPT_SECONDS | LM_OPT_THRESHOLD,
	.opts = (const lm_cli_opt[]){{"seconds", 't', "S", "also stop after S seconds of motion"},
				     {"verbose", 'v', NULL, "print each decision (stream, latents so far, p) on stderr"},
				     {0}},
	.footer = "Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input, 70 internal, 71 out of memory,\n"
		  "74 I/O error. See exithead(1).\n",
	.on_opt = on_opt,
};

/* A hidden-state frame: passed on, or an end-of-motion mark in its place. */
static int frame(lm_loop *l, void *state, lm_frame *fr, lm_status *st)
{
	run *r = l->ctx;
	lm_t2m **g = state;
	if ((int)fr->cols != r->m->cfg.hidden_size)
		return lm_fail(st, LM_EDATA, "%s: stream %u pos %d: hidden frame is %u wide, the model takes %d",
			       l->name, fr->stream, fr->pos, fr->cols, r->m->cfg.hidden_size);
	if (!*g && lm_t2m_init(g, r->m, &r->o, st))
		return st->code;
	int i = (fr->flags & LM_FLAG_TEXT_BRANCH) ? 0 : (*g)->i + 1, stop;
	float p;
	lm_t2m_set_hidden(*g, fr->data, 1, i);
	if (lm_t2m_exit(*g, &stop, &p, st))
		return st->code;
	if (r->verbose)
		fprintf(stderr, "%s: stream %u: %d latents, p = %.4f%s\n", lm_prog, fr->stream, i, p,
			stop ? ", stop" : "");
	if (!stop)
		return lm_writer_put(l->w, fr, st);
	if (lm_put_mark(l->w, fr->stream, LM_MARK_EOM, fr->pos, st))
		return st->code;
	return lm_loop_end(l, fr->stream, st);
}

static void release(lm_loop *l, void *state)
{
	lm_t2m_free(*(lm_t2m **)state);
}

static const lm_stage stage = {.takes = LM_TAKES(LM_FRAME_HIDDEN), .state_size = sizeof(lm_t2m *),
			       .frame = frame, .release = release};

int main(int argc, char **argv)
{
	run r = {0};
	lm_cli_opts o;
	const char *in = lm_cli_input(argc, argv, lm_cli_parse(&cli, argc, argv, &o, &r));
	r.m = lm_cli_load(&o, LM_PART_HEADS);
	lm_cli_gen_opts(&o, &r.m->cfg, &r.o);
	lm_cli_loop(&stage, in, stdout, "stdout", &r);
	lm_model_free(r.m);
	lm_cli_done();
	return 0;
}
