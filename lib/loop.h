/* loop.h: the stage programs' frame loop, in the spirit of mblaze's blaze822_loop: the program
 * gives a callback and the size of its per-stream state; the loop reads the frames, hands over
 * the ones the stage takes with that stream's state, passes every other frame on unchanged,
 * creates a stream's state at its first taken frame and ends it at the stream's end
 * (llamo-frame(5): an end-of-motion or end-of-stream mark, the end-of-input mark, or the end of
 * the input). exithead, flowsample, llamo-step and vae-dec are each one lm_stage. */
#ifndef LLAMO_LOOP_H
#define LLAMO_LOOP_H
#include <stddef.h>
#include <stdio.h>
#include "frame.h"
#include "frameio.h"
#include "status.h"

#define LM_TAKES(type) (1u << (type)) /* lm_stage.takes bit of a frame type */

enum {
	/* an end-of-motion mark of a stream with state ends it and is not passed on (llamo-step:
	 * the mark closes the sequence the loop fed back) */
	LM_STAGE_EAT_EOM = 1 << 0,
	/* the end-of-input mark does not end the streams: it is held back, the loop returns as soon as
	 * every stream has ended (the input of a FIFO loop never reaches end of file), and an
	 * end-of-input mark is always written last (llamo-step) */
	LM_STAGE_HOLD_EOS = 1 << 1,
};

typedef struct lm_loop lm_loop;

typedef struct lm_stage {
	/* the output header: kind NULL writes the input's header unchanged; else kind, width, elem
	 * and rate (lm_header_init) with the input's X- tags */
	const char *kind;
	uint32_t width;
	const char *elem;
	double rate;
	unsigned takes;    /* LM_TAKES(type) bits: the frames handed to frame() */
	unsigned flags;    /* LM_STAGE_* */
	size_t state_size; /* bytes of per-stream state, zeroed at a stream's first taken frame */
	/* One taken frame of a stream (fr->data may be kept: set it to NULL to take ownership).
	 * 0, or an error code with st set: the loop stops and returns it. */
	int (*frame)(lm_loop *l, void *state, lm_frame *fr, lm_status *st);
	/* A stream with state ends normally: the stage's last work for it, which may write frames
	 * (after the end mark, which the loop has passed on). NULL: nothing to do. */
	int (*finish)(lm_loop *l, void *state, uint32_t stream, lm_status *st);
	/* Frees what a state holds (the loop frees the state itself), after finish() and after an
	 * error alike. NULL: the state holds nothing. */
	void (*release)(lm_loop *l, void *state);
} lm_stage;

struct lm_loop {
	const char *name;  /* the input's name, for messages ("-" for stdin) */
	lm_writer *w;      /* the output; NULL when the stage writes no frames (other frames are dropped) */
	void *ctx;         /* the program's */
	const lm_stage *stage;
	lm_reader *r;
	lm_streams streams; /* stream id -> state */
};

/* Runs stage s over the frames of in (named name, not closed) until the end of the input (or,
 * with LM_STAGE_HOLD_EOS, until every stream has ended after the end-of-input mark), writing a
 * frame stream to out (named outname; NULL: no frame output). The writer is closed on success;
 * out itself stays open (commit it with lm_out_commit). Every stream still open at the end is
 * ended (finish() in turn). Returns 0, or the first error: the reader's (LM_EDATA with the frame and
 * byte, LM_EIO), the writer's, a callback's, or LM_ENOMEM. */
int lm_loop_run(const lm_stage *s, FILE *in, const char *name, FILE *out, const char *outname, void *ctx,
		lm_status *st);

/* From inside a callback: ends a stream now (finish(), release(), then its state is freed; a
 * later frame of the stream starts with a fresh state). No-op for a stream without state. */
int lm_loop_end(lm_loop *l, uint32_t stream, lm_status *st);
#endif
