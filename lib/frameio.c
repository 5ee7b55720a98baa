/* frameio.c: see frameio.h */
#include <stdlib.h>
#include <string.h>
#include "frameio.h"

static int elem_of(int type)
{
	switch (type) {
	case LM_FRAME_TOKENS:
		return LM_ELEM_I32;
	case LM_FRAME_TEXT:
		return LM_ELEM_U8;
	case LM_FRAME_MARK:
		return LM_ELEM_NONE;
	default:
		return LM_ELEM_F32;
	}
}

int lm_put_rows(lm_writer *w, int type, uint32_t stream, int32_t pos, uint16_t flags, uint32_t rows,
		uint32_t cols, const void *data, lm_status *st)
{
	lm_frame fr = {.type = type, .elem = elem_of(type), .flags = flags, .rows = rows, .cols = cols,
		       .stream = stream, .pos = pos, .data = (void *)data};
	return lm_writer_put(w, &fr, st);
}

int lm_put_mark(lm_writer *w, uint32_t stream, int mark, int32_t pos, lm_status *st)
{
	lm_frame fr = {.type = LM_FRAME_MARK, .elem = LM_ELEM_NONE, .stream = stream, .pos = pos, .mark = mark};
	return lm_writer_put(w, &fr, st);
}

void **lm_streams_get(lm_streams *s, uint32_t id)
{
	for (int i = 0; i < s->n; i++)
		if (s->id[i] == id)
			return &s->state[i];
	return NULL;
}

void **lm_streams_add(lm_streams *s, uint32_t id)
{
	void **p = lm_streams_get(s, id);
	if (p)
		return p;
	if (s->n == s->cap) {
		int cap = s->cap ? 2 * s->cap : 8;
		uint32_t *ids = realloc(s->id, cap * sizeof *ids);
		if (!ids)
			return NULL;
		s->id = ids;
		void **st = realloc(s->state, cap * sizeof *st);
		if (!st)
			return NULL;
		s->state = st;
		s->cap = cap;
	}
	s->id[s->n] = id;
	s->state[s->n] = NULL;
	return &s->state[s->n++];
}

void lm_streams_del(lm_streams *s, uint32_t id)
{
	for (int i = 0; i < s->n; i++)
		if (s->id[i] == id) { /* keeps the order of the others (the order they began in) */
			memmove(s->id + i, s->id + i + 1, (s->n - i - 1) * sizeof *s->id);
			memmove(s->state + i, s->state + i + 1, (s->n - i - 1) * sizeof *s->state);
			s->n--;
			return;
		}
}

void lm_streams_free(lm_streams *s)
{
	free(s->id);
	free(s->state);
	s->id = NULL;
	s->state = NULL;
	s->n = s->cap = 0;
}
