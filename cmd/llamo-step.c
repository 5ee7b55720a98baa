/* llamo-step: one backbone step per input frame. Token frames prefill a stream's sequence;
 * each latent frame is fed back through the motion adapter and the motion branch. Every step
 * writes the final-normed hidden state that predicts the next latent (docs/model-format.md 4.1,
 * 4.6). With guidance, a stream has a second (unconditional) sequence and hidden frames carry
 * two rows: conditional, unconditional. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "frameio.h"
#include "model.h"

static const char usage[] =
	"usage: llamo-step [options] [FILE]\n"
	"Runs the LLaMo backbone one step per input frame (FILE or stdin):\n"
	"  tokens (unconditional flag)  prefills the stream's unconditional sequence\n"
	"  tokens                       prefills the conditional sequence; writes the hidden state\n"
	"  latent                       feeds the latent back (motion branch); writes the hidden state\n"
	"  end-of-motion mark           ends the stream (consumed)\n"
	"  end-of-input mark            written on when every stream has ended\n"
	"Other frames are passed on unchanged. This is the teaching form of llamo-t2m's loop:\n"
	"  mtokenize | cat - fifo | llamo-step | exithead | flowsample | tee fifo | vae-dec\n"
	"\n"
	"  -m, --model DIR      model directory (default: $LLAMO_MODEL or the bundled model)\n"
	"      --device D       cpu, cuda or auto\n"
	"  -h, --help           show this help\n"
	"\n"
	"Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input, 70 internal, 71 out of memory,\n"
	"74 I/O error. See llamo-step(1).\n";

typedef struct seq {
	lm_kv_cache kv[2]; /* conditional, unconditional */
	int guided;        /* the unconditional sequence exists */
	float *h;          /* (2, H) */
} seq;

static lm_model *m;
static const char *inpath = "-";

static void seq_free(seq *s)
{
	for (int b = 0; b < 2; b++)
		if (s->kv[b].k)
			lm_kv_free(&s->kv[b], &m->bb);
	free(s->h);
	free(s);
}

static seq *seq_get(lm_streams *ss, uint32_t id)
{
	void **p = lm_streams_add(ss, id);
	if (!p)
		lm_die(LM_ENOMEM, "out of memory");
	if (!*p) {
		seq *s = calloc(1, sizeof *s);
		if (!s || !(s->h = calloc(2 * (size_t)m->cfg.hidden_size, sizeof(float))))
			lm_die(LM_ENOMEM, "out of memory");
		*p = s;
	}
	return *p;
}

static int capacity(void)
{
	int c = m->cfg.max_position_embeddings;
	return c > 4096 ? 4096 : c;
}

/* Prefills sequence b of s with the frame's tokens; the last state lands in s->h row b. */
static void prefill(seq *s, int b, const lm_frame *fr)
{
	lm_status st = {0};
	int H = m->cfg.hidden_size, n = fr->cols;
	if (n < 1 || fr->rows != 1)
		lm_die(LM_EDATA, "%s: stream %u: a tokens frame needs one row of at least one token", inpath,
		       fr->stream);
	if (s->kv[b].k)
		lm_die(LM_EDATA, "%s: stream %u: %s prompt given twice", inpath, fr->stream,
		       b ? "unconditional" : "conditional");
	if (lm_kv_init(&s->kv[b], &m->bb, capacity(), &st))
		lm_die_status(&st);
	float *emb = malloc((size_t)n * H * sizeof(float)), *out = malloc((size_t)n * H * sizeof(float));
	if (!emb || !out)
		lm_die(LM_ENOMEM, "out of memory");
	if (lm_embed_text(&m->bb, fr->data, n, emb, &st) ||
	    lm_backbone_forward(&m->bb, &s->kv[b], emb, n, LM_TEXT, out, &st))
		lm_die(st.code, "%s: stream %u: %s", inpath, fr->stream, st.msg);
	memcpy(s->h + (size_t)b * H, out + (size_t)(n - 1) * H, H * sizeof(float));
	free(emb);
	free(out);
}

int main(int argc, char **argv)
{
	lm_cli_init(argv[0]);
	lm_cli_help(argc, argv, usage);
	static const struct option opts[] = {{"model", required_argument, 0, 'm'},
					     {"device", required_argument, 0, 'd'},
					     {0, 0, 0, 0}};
	const char *model_arg = NULL, *device = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "m:", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_arg = optarg; break;
		case 'd': device = optarg; break;
		default: lm_usage_error("unknown option");
		}
	}
	if (argc - optind > 1)
		lm_usage_error("at most one input file");
	if (optind < argc)
		inpath = argv[optind];
	lm_status st = {0};
	const lm_backend *be;
	be = lm_cli_backend(device);
	if (lm_model_load(&m, lm_model_dir(model_arg), be, LM_PART_BACKBONE | LM_PART_HEADS, &st))
		lm_die_status(&st);
	int H = m->cfg.hidden_size, L = m->cfg.latent_dim;
	FILE *in = lm_in_open(inpath, &st);
	lm_reader *r;
	if (!in || lm_reader_open(&r, in, inpath, &st))
		lm_die_status(&st);
	lm_stream_header h;
	lm_header_init(&h, "hidden", H, "f32", 0);
	lm_header_copy_tags(&h, lm_reader_header(r));
	lm_writer *w;
	if (lm_writer_open(&w, stdout, "stdout", &h, &st))
		lm_die_status(&st);

	lm_streams ss = {0};
	lm_frame fr = {0};
	float *emb = malloc(2 * (size_t)H * sizeof(float)); /* (2, H) */
	int eof = 0, input_done = 0;
	while (!(input_done && ss.n == 0) && !lm_reader_next(r, &fr, &eof, &st) && !eof) {
		if (fr.type == LM_FRAME_TOKENS) {
			seq *s = seq_get(&ss, fr.stream);
			if (fr.flags & LM_FLAG_UNCOND) {
				prefill(s, 1, &fr);
				s->guided = 1;
				continue;
			}
			prefill(s, 0, &fr);
			if (lm_put_rows(w, LM_FRAME_HIDDEN, fr.stream, s->kv[0].pos - 1, LM_FLAG_TEXT_BRANCH,
					1 + s->guided, H, s->h, &st))
				lm_die_status(&st);
		} else if (fr.type == LM_FRAME_LATENT) {
			void **p = lm_streams_get(&ss, fr.stream);
			if (!p || !((seq *)*p)->kv[0].k)
				lm_die(LM_EDATA, "%s: stream %u pos %d: a latent before the stream's prompt",
				       inpath, fr.stream, fr.pos);
			if ((int)fr.cols != L)
				lm_die(LM_EDATA, "%s: stream %u pos %d: latent frame is %u wide, the model takes %d",
				       inpath, fr.stream, fr.pos, fr.cols, L);
			seq *s = *p;
			lm_adapter(&m->heads, fr.data, 1, emb);
			memcpy(emb + H, emb, H * sizeof(float)); /* the same latent in both sequences */
			lm_kv_cache *kv[2] = {&s->kv[0], &s->kv[1]};
			if (lm_backbone_step(&m->bb, kv, 1 + s->guided, emb, LM_MOTION, s->h, &st))
				lm_die(st.code, "%s: stream %u: %s", inpath, fr.stream, st.msg);
			if (lm_put_rows(w, LM_FRAME_HIDDEN, fr.stream, s->kv[0].pos - 1, 0, 1 + s->guided, H, s->h,
					&st))
				lm_die_status(&st);
		} else if (fr.type == LM_FRAME_MARK && fr.mark == LM_MARK_EOM && lm_streams_get(&ss, fr.stream)) {
			seq_free(*lm_streams_get(&ss, fr.stream));
			lm_streams_del(&ss, fr.stream);
		} else if (fr.type == LM_FRAME_MARK && fr.mark == LM_MARK_EOS && fr.stream == LM_STREAM_ALL) {
			input_done = 1;
		} else if (lm_writer_put(w, &fr, &st)) {
			lm_die_status(&st);
		}
	}
	if (st.code)
		lm_die_status(&st);
	if (lm_put_mark(w, LM_STREAM_ALL, LM_MARK_EOS, -1, &st) || lm_writer_close(w, &st))
		lm_die_status(&st);
	for (int i = 0; i < ss.n; i++)
		seq_free(ss.state[i]);
	lm_streams_free(&ss);
	lm_frame_free(&fr);
	lm_reader_free(r);
	free(emb);
	lm_model_free(m);
	lm_cli_done();
	return 0;
}
