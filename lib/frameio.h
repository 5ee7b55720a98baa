/* frameio.h: small conveniences over frame.h that the programs share. */
#ifndef LLAMO_FRAMEIO_H
#define LLAMO_FRAMEIO_H
#include "frame.h"

/* Writes a payload frame without copying: type, stream, pos, flags, rows x cols of data. */
int lm_put_rows(lm_writer *w, int type, uint32_t stream, int32_t pos, uint16_t flags, uint32_t rows,
		uint32_t cols, const void *data, lm_status *st);
/* Writes a mark frame (LM_MARK_BOM/EOM/EOS) for a stream (LM_STREAM_ALL: end of input). */
int lm_put_mark(lm_writer *w, uint32_t stream, int mark, int32_t pos, lm_status *st);

/* A small map from stream id to a pointer, for programs that keep per-stream state; the ids stay
 * in the order they were added. */
typedef struct lm_streams {
	int n, cap;
	uint32_t *id;
	void **state;
} lm_streams;
void **lm_streams_get(lm_streams *s, uint32_t id); /* NULL if absent */
void **lm_streams_add(lm_streams *s, uint32_t id); /* NULL when out of memory */
void lm_streams_del(lm_streams *s, uint32_t id);
void lm_streams_free(lm_streams *s);
#endif
