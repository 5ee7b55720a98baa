/* frame.h: the llamo frame stream (the contract is man/llamo-frame.5).
 *
 * A stream is one text header line, then frames:
 *
 *   LLAMO1 kind=latent width=32 elem=f32 rate=7.5 [X-name=value ...]\n
 *
 * kind: the main payload (tokens, hidden, latent, features, text, mixed); width: elements per
 * row of that payload; elem: i32, f32 or u8 (tokens i32; hidden, latent, features f32; text u8;
 * mixed any); rate: rows per second of motion (latents 7.5, features 30; 0 when not timed).
 * All four are required; writers write them in that order, then the tags. Tags whose key starts
 * with "X-" are extensions: filters pass them on unchanged. Unknown non-X keys are an error (a
 * newer major format). The line is at most LM_HEADER_MAX bytes. Any stream may also carry frames
 * of other types than its kind (filters forward what they do not consume).
 *
 * Each frame is a 32-byte little-endian header followed by rows*cols elements:
 *
 *   offset size field
 *   0      4    magic "LMF1"  (a desync is caught at the next frame)
 *   4      1    type   (lm_frame_type)
 *   5      1    elem   (lm_elem: 0 none, 1 i32, 2 f32, 3 u8)
 *   6      2    flags  (LM_FLAG_*)
 *   8      4    rows   (u32; guidance carries conditional row 0, unconditional row 1)
 *   12     4    cols   (u32; elements per row)
 *   16     4    stream (u32; keeps the prompts of a batch apart in one pipe)
 *   20     4    pos    (i32; sequence position of the first row, -1 when none)
 *   24     4    mark   (u32; for LM_FRAME_MARK: lm_mark; else 0)
 *   28     4    reserved, written 0, must be 0
 *
 * Each type has one elem (tokens i32, hidden/latent/features f32, text u8, mark none); tokens
 * and text have rows=1; marks have rows=cols=0 and mark 1..3; other frames mark=0; pos >= -1;
 * stream LM_STREAM_ALL only on an eos mark (end of input); flags only LM_FLAGS_KNOWN bits.
 * Clean EOF between frames is the normal end; EOF inside a header or a payload is an error.
 * Limits: rows*cols*elemsize <= LM_FRAME_MAX_BYTES.
 */
#ifndef LLAMO_FRAME_H
#define LLAMO_FRAME_H
#include "api.h"
#include <stdint.h>
#include <stdio.h>
#include "status.h"

#define LM_FRAME_MAX_BYTES (256u << 20)
#define LM_FRAME_MAX_TAGS 32
#define LM_HEADER_MAX 4096 /* bytes in the header line, its newline included */
#define LM_TAG_MAX 63      /* bytes in an X- tag's key, and in its value */
#define LM_STREAM_ALL 0xFFFFFFFFu /* stream id of an end-of-input EOS mark: no more streams follow */

typedef enum {
	LM_FRAME_TOKENS = 1,   /* i32 token ids, rows=1, cols=n tokens */
	LM_FRAME_HIDDEN = 2,   /* f32 final-normed hidden states, rows x hidden_size */
	LM_FRAME_LATENT = 3,   /* f32 motion latents, rows x latent_dim */
	LM_FRAME_FEATURES = 4, /* f32 motion features (8+12N), rows = frames at 30 fps */
	LM_FRAME_TEXT = 5,     /* u8 UTF-8 text, rows=1, cols=bytes */
	LM_FRAME_MARK = 6,     /* no payload; mark says which */
} lm_frame_type;

typedef enum { LM_ELEM_NONE = 0, LM_ELEM_I32 = 1, LM_ELEM_F32 = 2, LM_ELEM_U8 = 3 } lm_elem;

typedef enum {
	LM_MARK_BOM = 1, /* begin of motion: latents of this stream follow */
	LM_MARK_EOM = 2, /* end of motion of this stream */
	LM_MARK_EOS = 3, /* end of this stream: nothing more for this stream id */
} lm_mark;

enum {
	LM_FLAG_UNCOND = 1 << 0, /* TOKENS: the unconditional (empty prompt) branch for guidance */
	LM_FLAG_TEXT_BRANCH = 1 << 1, /* HIDDEN: the state came out of the text branch */
	LM_FLAGS_KNOWN = LM_FLAG_UNCOND | LM_FLAG_TEXT_BRANCH, /* other bits are an error */
};

typedef struct lm_frame {
	uint8_t type, elem;
	uint16_t flags;
	uint32_t rows, cols, stream;
	int32_t pos;
	uint32_t mark;
	void *data; /* rows*cols elements; owned by the frame (lm_frame_free) */
} lm_frame;

typedef struct lm_stream_header {
	char kind[16];  /* "tokens", "hidden", "latent", "features", "text", "mixed" */
	uint32_t width; /* elements per row of the main payload; 0 when it varies */
	char elem[8];   /* "i32", "f32", "u8" */
	double rate;    /* rows per second, 0 when not timed */
	int ntags;
	char tags[LM_FRAME_MAX_TAGS][2][64]; /* X- extension tags, key and value, passed on */
} lm_stream_header;

typedef struct lm_reader lm_reader;
typedef struct lm_writer lm_writer;

/* Opens a reader on f (not closed by lm_reader_free); name is used in messages ("-" for stdin).
 * Reads and parses the header line. Errors: LM_EDATA (not a llamo stream, bad header), LM_EIO,
 * LM_ENOMEM. Messages read "NAME: header at byte N: ...". */
LM_API int lm_reader_open(lm_reader **r, FILE *f, const char *name, lm_status *st);
LM_API const lm_stream_header *lm_reader_header(const lm_reader *r);
/* Reads the next frame into *fr (freeing what it held: zero *fr before the first call). Returns 0
 * and sets *eof=1 at a clean end (EOF exactly between frames; fr then holds no data), else *eof=0.
 * Errors name the stream, the frame index (from 0) and its byte offset, e.g.
 * "-: frame 3 at byte 1234: bad magic (stream out of sync)": LM_EDATA (bad magic, type, elem,
 * flags, mark, size, reserved field, truncated frame), LM_EIO, LM_ENOMEM. */
LM_API int lm_reader_next(lm_reader *r, lm_frame *fr, int *eof, lm_status *st);
LM_API void lm_reader_free(lm_reader *r);

/* Opens a writer on f and writes the header. Refuses a terminal (LM_EUSAGE: "refusing to write
 * binary frames to a terminal"). Flushes after every frame when f is a pipe or socket.
 * A header that would not read back (unknown kind or elem, bad tag, line too long) is LM_EINTERNAL. */
LM_API int lm_writer_open(lm_writer **w, FILE *f, const char *name, const lm_stream_header *h, lm_status *st);
/* Writes one frame (little-endian). A frame the reader would refuse is LM_EINTERNAL (a bug in the
 * caller); a failed write is LM_EIO. */
LM_API int lm_writer_put(lm_writer *w, const lm_frame *fr, lm_status *st);
LM_API int lm_writer_close(lm_writer *w, lm_status *st); /* flushes, frees; f stays open */

/* Header helpers: fills h (kind, width, elem, rate; no tags). Copies X- tags from src to dst
 * (a key dst already has takes src's value; tags beyond LM_FRAME_MAX_TAGS are dropped, which cannot
 * happen when dst starts with none). */
LM_API void lm_header_init(lm_stream_header *h, const char *kind, uint32_t width, const char *elem, double rate);
LM_API void lm_header_copy_tags(lm_stream_header *dst, const lm_stream_header *src);
/* Sets X- tag key to value (replacing one of that key). key: "X-" then letters, digits, '-', '_',
 * '.'; value: printable ASCII without spaces (may be empty); each at most LM_TAG_MAX bytes.
 * Errors: LM_EUSAGE (bad key or value, too many tags). */
LM_API int lm_header_set_tag(lm_stream_header *h, const char *key, const char *value, lm_status *st);
LM_API const char *lm_header_get_tag(const lm_stream_header *h, const char *key); /* value or NULL */

/* Frame helpers. lm_frame_alloc overwrites *fr (without freeing it): type, elem, rows, cols as
 * given, flags 0, stream 0, pos -1, mark 0, data rows*cols zeroed elements (NULL when none).
 * Errors: LM_EDATA (over LM_FRAME_MAX_BYTES), LM_ENOMEM. */
LM_API int lm_frame_alloc(lm_frame *fr, int type, int elem, uint32_t rows, uint32_t cols, lm_status *st);
LM_API void lm_frame_free(lm_frame *fr);
size_t lm_elem_size(int elem);                /* 4, 4, 1; 0 for none or unknown */
const char *lm_elem_name(int elem);           /* "none", "i32", "f32", "u8" or NULL */
const char *lm_frame_type_name(int type); /* "tokens", ... or NULL */
const char *lm_mark_name(int mark);       /* "bom", "eom", "eos" or NULL */
#endif
