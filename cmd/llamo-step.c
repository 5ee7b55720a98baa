/* llamo-step: one backbone step per input frame. Token frames prefill a stream's sequences
 * (lm_t2m_prefill); each latent frame is fed back through the adapter and the motion branch
 * (lm_t2m_feed), the generation step's third call. Every step writes the final-normed hidden
 * state that predicts the next latent (docs/model-format.md 4.1, 4.6). With guidance, a stream
 * has a second (unconditional) sequence and hidden frames carry two rows: conditional,
 * unconditional. */
#include <stdlib.h>
#include "cli.h"
#include "loop.h"
#include "model.h"

static const lm_cli cli = {
	.usage = "usage: llamo-step [options] [FILE]\n"
		 "Runs the LLaMo backbone one step per input frame (FILE or stdin):\n"
		 "  tokens (unconditional flag)  prefills the stream's unconditional sequence\n"
		 "  tokens                       prefills the conditional sequence; writes the hidden state\n"
		 "  latent                       feeds the latent back (motion branch); writes the hidden state\n"
		 "  end-of-motion mark           ends the stream (consumed)\n"
		 "  end-of-input mark            written on when every stream has ended\n"
		 "Other frames are passed on unchanged. This is the teaching form of llamo-t2m's loop:\n"
		 "  mtokenize | cat - fifo | llamo-step | exithead | flowsample | tee fifo | vae-dec\n",
	.common = LM_OPT_MODEL | LM_OPT_DEVICE,
	.footer = "Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input, 70 internal, 71 out of memory,\n"
		  "74 I/O error. See llamo-step(1).\n",
};

/* The hidden states of a stream's sequences, at the position of the conditional one's last. */
static int put_hidden(lm_loop *l, const lm_frame *fr, lm_t2m *g, uint16_t flags, lm_status *st)
{
	float h[2 * g->m->cfg.hidden_size];
	lm_t2m_hidden(g, h);
	return lm_put_rows(l->w, LM_FRAME_HIDDEN, fr->stream, g->kv[0].pos - 1, flags, g->rows,
			   g->m->cfg.hidden_size, h, st);
}

static int frame(lm_loop *l, void *state, lm_frame *fr, lm_status *st)
{
	const lm_model *m = l->ctx;
	lm_t2m **g = state;
	if (!*g) {
		lm_gen_opts o;
		lm_gen_opts_default(&o, &m->cfg);
		o.max_pos = m->cfg.max_position_embeddings > 4096 ? 4096 : m->cfg.max_position_embeddings;
		if (lm_t2m_init(g, m, &o, st))
			return st->code;
	}
	if (fr->type == LM_FRAME_TOKENS) {
		int b = (fr->flags & LM_FLAG_UNCOND) != 0;
		if (fr->cols < 1 || fr->rows != 1)
			return lm_fail(st, LM_EDATA, "%s: stream %u: a tokens frame needs one row of at least one token",
				       l->name, fr->stream);
		if (lm_t2m_prefill(*g, b, fr->data, fr->cols, st))
			return lm_prefix(st, "%s: stream %u", l->name, fr->stream);
		return b ? 0 : put_hidden(l, fr, *g, LM_FLAG_TEXT_BRANCH, st);
	}
	if ((*g)->kv[0].k && (int)fr->cols != m->cfg.latent_dim)
		return lm_fail(st, LM_EDATA, "%s: stream %u pos %d: latent frame is %u wide, the model takes %d",
			       l->name, fr->stream, fr->pos, fr->cols, m->cfg.latent_dim);
	if (lm_t2m_feed(*g, fr->data, st))
		return lm_prefix(st, "%s: stream %u pos %d", l->name, fr->stream, fr->pos);
	return put_hidden(l, fr, *g, 0, st);
}

static void release(lm_loop *l, void *state)
{
	lm_t2m_free(*(lm_t2m **)state);
}

static const lm_stage stage = {.takes = LM_TAKES(LM_FRAME_TOKENS) | LM_TAKES(LM_FRAME_LATENT),
			       .flags = LM_STAGE_EAT_EOM | LM_STAGE_HOLD_EOS, .state_size = sizeof(lm_t2m *),
			       .frame = frame, .release = release};

int main(int argc, char **argv)
{
	lm_cli_opts o;
	const char *in = lm_cli_input(argc, argv, lm_cli_parse(&cli, argc, argv, &o, NULL));
	lm_model *m = lm_cli_load(&o, LM_PART_BACKBONE | LM_PART_HEADS);
	lm_stage s = stage;
	s.kind = "hidden", s.width = m->cfg.hidden_size, s.elem = "f32";
	lm_cli_loop(&s, in, stdout, "stdout", m);
	lm_model_free(m);
	lm_cli_done();
	return 0;
}
