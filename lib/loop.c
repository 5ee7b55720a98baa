/* loop.c: the stage programs' frame loop, see loop.h */
#include <stdlib.h>
#include "loop.h"

int lm_loop_end(lm_loop *l, uint32_t stream, lm_status *st)
{
	void **p = lm_streams_get(&l->streams, stream);
	if (!p)
		return 0;
	void *state = *p;
	lm_streams_del(&l->streams, stream);
	int rc = l->stage->finish ? l->stage->finish(l, state, stream, st) : 0;
	if (l->stage->release)
		l->stage->release(l, state);
	free(state);
	return rc;
}

static int end_all(lm_loop *l, lm_status *st)
{
	int rc = 0;
	while (!rc && l->streams.n)
		rc = lm_loop_end(l, l->streams.id[0], st);
	return rc;
}

static int take(lm_loop *l, lm_frame *fr, lm_status *st)
{
	void **p = lm_streams_add(&l->streams, fr->stream);
	if (p && !*p && !(*p = calloc(1, l->stage->state_size ? l->stage->state_size : 1)))
		lm_streams_del(&l->streams, fr->stream);
	if (!p || !*p)
		return lm_fail(st, LM_ENOMEM, "out of memory");
	return l->stage->frame(l, *p, fr, st);
}

/* A mark: passed on (unless eaten), then the streams it closes are ended. */
static int mark(lm_loop *l, lm_frame *fr, int *input_done, lm_status *st)
{
	const lm_stage *s = l->stage;
	int known = lm_streams_get(&l->streams, fr->stream) != NULL;
	int all = fr->mark == LM_MARK_EOS && fr->stream == LM_STREAM_ALL;
	if (all && (s->flags & LM_STAGE_HOLD_EOS)) {
		*input_done = 1;
		return 0;
	}
	int eaten = fr->mark == LM_MARK_EOM && known && (s->flags & LM_STAGE_EAT_EOM);
	if (!eaten && l->w && lm_writer_put(l->w, fr, st))
		return st->code;
	if (all)
		return end_all(l, st);
	if (fr->mark == LM_MARK_EOM || fr->mark == LM_MARK_EOS)
		return lm_loop_end(l, fr->stream, st);
	return 0;
}

static int run(lm_loop *l, FILE *out, const char *outname, lm_status *st)
{
	const lm_stage *s = l->stage;
	if (out) {
		lm_stream_header h = *lm_reader_header(l->r);
		if (s->kind) {
			lm_header_init(&h, s->kind, s->width, s->elem, s->rate);
			lm_header_copy_tags(&h, lm_reader_header(l->r));
		}
		if (lm_writer_open(&l->w, out, outname, &h, st))
			return st->code;
	}
	lm_frame fr = {0};
	int eof = 0, input_done = 0, rc = 0;
	while (!rc && !(input_done && l->streams.n == 0)) {
		if ((rc = lm_reader_next(l->r, &fr, &eof, st)) || eof)
			break;
		if (s->takes & LM_TAKES(fr.type))
			rc = take(l, &fr, st);
		else if (fr.type == LM_FRAME_MARK)
			rc = mark(l, &fr, &input_done, st);
		else if (l->w)
			rc = lm_writer_put(l->w, &fr, st);
	}
	lm_frame_free(&fr);
	if (!rc)
		rc = end_all(l, st);
	if (!rc && l->w && (s->flags & LM_STAGE_HOLD_EOS))
		rc = lm_put_mark(l->w, LM_STREAM_ALL, LM_MARK_EOS, -1, st);
	if (!rc && l->w) {
		rc = lm_writer_close(l->w, st);
		l->w = NULL;
	}
	return rc;
}

int lm_loop_run(const lm_stage *s, FILE *in, const char *name, FILE *out, const char *outname, void *ctx,
		lm_status *st)
{
	lm_loop l = {.name = name, .ctx = ctx, .stage = s};
	if (lm_reader_open(&l.r, in, name, st))
		return st->code;
	int rc = run(&l, out, outname, st);
	for (int i = 0; i < l.streams.n; i++) { /* after an error: released, not finished */
		if (s->release)
			s->release(&l, l.streams.state[i]);
		free(l.streams.state[i]);
	}
	lm_streams_free(&l.streams);
	if (l.w) {
		lm_status ignore = {0};
		lm_writer_close(l.w, &ignore);
	}
	lm_reader_free(l.r);
	return rc;
}
