/* fuzz_frame.c: feeds bytes to lm_reader (lib/frame.c) through fmemopen and reads every frame.
 * Whatever the bytes, the reader must return 0 or an LM_E* code with a message, never crash,
 * leak or read out of bounds. A frame it accepts must write back and read back the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "frame.h"

/* Writes fr through a fresh writer into memory and checks that it reads back equal. */
static void rewrite(const lm_stream_header *h, const lm_frame *fr)
{
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	lm_writer *w;
	lm_status st;
	if (!f)
		return;
	if (lm_writer_open(&w, f, "mem", h, &st)) {
		/* A header the reader took must write, unless its canonical form (say rate=.5 as
		 * rate=0.5) no longer fits in the line. */
		if (!strstr(st.msg, "longer than"))
			abort();
		fclose(f);
		free(mem);
		return;
	}
	if (lm_writer_put(w, fr, &st) || lm_writer_close(w, &st))
		abort();
	fclose(f);
	FILE *g = fmemopen(mem, len, "rb");
	lm_reader *r;
	lm_frame back = { 0 };
	int eof = 1;
	if (!g || lm_reader_open(&r, g, "mem", &st) || lm_reader_next(r, &back, &eof, &st) || eof)
		abort();
	size_t n = (size_t)fr->rows * fr->cols * lm_elem_size(fr->elem);
	if (back.type != fr->type || back.rows != fr->rows || back.cols != fr->cols ||
	    back.stream != fr->stream || back.pos != fr->pos || back.mark != fr->mark ||
	    back.flags != fr->flags || (n && memcmp(back.data, fr->data, n)))
		abort();
	lm_frame_free(&back);
	lm_reader_free(r);
	fclose(g);
	free(mem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0; /* fmemopen wants a size > 0 */
	FILE *f = fmemopen((void *)data, size, "rb");
	if (!f)
		return 0;
	lm_status st = { 0 };
	lm_reader *r;
	if (lm_reader_open(&r, f, "fuzz", &st) == 0) {
		lm_frame fr = { 0 };
		int eof = 0, rc, i = 0;
		while ((rc = lm_reader_next(r, &fr, &eof, &st)) == 0 && !eof)
			if (i++ < 4)
				rewrite(lm_reader_header(r), &fr);
		if (rc && (!st.msg[0] || !strstr(st.msg, "fuzz: frame ")))
			abort(); /* every frame error names the stream and the place */
		lm_frame_free(&fr);
		lm_reader_free(r);
	} else if (!st.msg[0] || strncmp(st.msg, "fuzz: header", 12)) {
		abort();
	}
	fclose(f);
	return 0;
}
