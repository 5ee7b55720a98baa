/* test_frame.c: the frame stream (lib/frame.c) against man/llamo-frame.5.
 *
 * Round trips of every frame type through a tmpfile and a pipe (the pipe one also checks that a
 * writer flushes each frame without being closed), the exact bytes on disk, X- tags, and every
 * error case: the right code and a message naming the stream and the place. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "frame.h"
#include "tap.h"

/* ---- building streams by hand ---- */

typedef struct {
	uint8_t b[1 << 16];
	size_t n;
} buf;

static void put_bytes(buf *s, const void *p, size_t n)
{
	memcpy(s->b + s->n, p, n);
	s->n += n;
}

static void put_le32(buf *s, uint32_t v)
{
	uint8_t b[4] = { v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff, v >> 24 };
	put_bytes(s, b, 4);
}

/* A 32-byte frame header, every field as given. */
static void put_fhdr(buf *s, int type, int elem, int flags, uint32_t rows, uint32_t cols,
		     uint32_t stream, int32_t pos, uint32_t mark, uint32_t reserved)
{
	uint8_t b[4] = { type, elem, flags & 0xff, flags >> 8 };
	put_bytes(s, "LMF1", 4);
	put_bytes(s, b, 4);
	put_le32(s, rows);
	put_le32(s, cols);
	put_le32(s, stream);
	put_le32(s, (uint32_t)pos);
	put_le32(s, mark);
	put_le32(s, reserved);
}

static const char *HDR = "LLAMO1 kind=latent width=2 elem=f32 rate=7.5\n";

static void start(buf *s, const char *header)
{
	s->n = 0;
	put_bytes(s, header, strlen(header));
}

/* A valid latent frame of one row [1, 2]. */
static void put_latent(buf *s)
{
	put_fhdr(s, LM_FRAME_LATENT, LM_ELEM_F32, 0, 1, 2, 0, 0, 0, 0);
	float v[2] = { 1, 2 };
	for (int i = 0; i < 2; i++) {
		uint32_t u;
		memcpy(&u, &v[i], 4);
		put_le32(s, u);
	}
}

/* Reads all of s as stream "t". Returns the code of the first failure (0 at a clean end);
 * *nframes counts the frames read; msg gets the message. */
static int read_all(const buf *s, int *nframes, char *msg)
{
	FILE *f = fmemopen((void *)s->b, s->n ? s->n : 1, "rb");
	if (!s->n)
		fgetc(f); /* fmemopen wants a size > 0: start at its end */
	lm_status st = { 0 };
	lm_reader *r = NULL;
	lm_frame fr = { 0 };
	int rc = lm_reader_open(&r, f, "t", &st), eof = 0;
	*nframes = 0;
	while (!rc) {
		rc = lm_reader_next(r, &fr, &eof, &st);
		if (rc || eof)
			break;
		(*nframes)++;
	}
	lm_frame_free(&fr);
	lm_reader_free(r);
	fclose(f);
	snprintf(msg, 512, "%s", rc ? st.msg : "");
	return rc;
}

/* Checks that s fails with code and a message containing want. */
static void expect_fail(const buf *s, int code, const char *want, const char *what)
{
	char msg[512];
	int n, rc = read_all(s, &n, msg);
	ok(rc == code && strstr(msg, want) != NULL, "%s: code %d (want %d), message \"%s\" (wants \"%s\")",
	   what, rc, code, msg, want);
}

/* ---- round trips ---- */

/* One frame of every type, with payloads that show byte-order or truncation mistakes. */
static int make_frames(lm_frame *fr, lm_status *st)
{
	static const int types[6] = { LM_FRAME_TOKENS, LM_FRAME_HIDDEN, LM_FRAME_LATENT,
				      LM_FRAME_FEATURES, LM_FRAME_TEXT, LM_FRAME_MARK };
	static const int elems[6] = { LM_ELEM_I32, LM_ELEM_F32, LM_ELEM_F32, LM_ELEM_F32, LM_ELEM_U8,
				      LM_ELEM_NONE };
	static const uint32_t rows[6] = { 1, 2, 3, 4, 1, 0 }, cols[6] = { 5, 64, 32, 260, 11, 0 };
	for (int i = 0; i < 6; i++) {
		if (lm_frame_alloc(&fr[i], types[i], elems[i], rows[i], cols[i], st))
			return -1;
		fr[i].stream = 7 + i;
		fr[i].pos = 100 * i - 1;
		size_t n = (size_t)rows[i] * cols[i];
		for (size_t j = 0; j < n; j++) {
			if (elems[i] == LM_ELEM_I32)
				((int32_t *)fr[i].data)[j] = (int32_t)(j * 1000003u) - 70000;
			else if (elems[i] == LM_ELEM_F32)
				((float *)fr[i].data)[j] = (float)j * 0.37f - 3.1e-3f * (float)i;
		}
	}
	memcpy(fr[4].data, "hello world", 11);
	fr[0].flags = LM_FLAG_UNCOND;
	fr[1].flags = LM_FLAG_TEXT_BRANCH;
	fr[5].mark = LM_MARK_EOS;
	fr[5].stream = LM_STREAM_ALL;
	return 0;
}

static int same_frame(const lm_frame *a, const lm_frame *b)
{
	size_t n = (size_t)a->rows * a->cols * lm_elem_size(a->elem);
	return a->type == b->type && a->elem == b->elem && a->flags == b->flags && a->rows == b->rows &&
	       a->cols == b->cols && a->stream == b->stream && a->pos == b->pos && a->mark == b->mark &&
	       (n == 0 || (a->data && b->data && !memcmp(a->data, b->data, n)));
}

/* Writes the six frames to w_f, reads them back from r_f; reading may start before writing ends
 * (interleave: read each frame right after writing it, which needs the writer to flush). */
static void round_trip(FILE *w_f, FILE *r_f, int interleave, const char *what)
{
	lm_status st = { 0 };
	lm_frame fr[6], got = { 0 };
	lm_stream_header h;
	lm_writer *w;
	lm_reader *r = NULL;
	int eof = 0, same = 0, rc;
	if (make_frames(fr, &st)) {
		ok(0, "%s: make frames: %s", what, st.msg);
		return;
	}
	lm_header_init(&h, "mixed", 0, "f32", 0);
	rc = lm_writer_open(&w, w_f, "out", &h, &st);
	for (int i = 0; i < 6 && !rc; i++) {
		rc = lm_writer_put(w, &fr[i], &st);
		if (interleave && !rc) {
			if (!r)
				rc = lm_reader_open(&r, r_f, "in", &st);
			if (!rc)
				rc = lm_reader_next(r, &got, &eof, &st);
			same += !rc && !eof && same_frame(&fr[i], &got);
		}
	}
	if (!rc && !interleave) {
		rc = lm_writer_close(w, &st);
		w = NULL;
		rewind(r_f);
		rc = rc ? rc : lm_reader_open(&r, r_f, "in", &st);
		for (int i = 0; i < 6 && !rc; i++) {
			rc = lm_reader_next(r, &got, &eof, &st);
			same += !rc && !eof && same_frame(&fr[i], &got);
		}
	}
	if (w)
		lm_writer_close(w, NULL);
	ok(rc == 0 && same == 6, "%s: %d of 6 frames (tokens, hidden, latent, features, text, mark) "
	   "read back equal in every field and byte%s%s", what, same, rc ? ": " : "", rc ? st.msg : "");
	if (r && !interleave) {
		rc = lm_reader_next(r, &got, &eof, &st);
		ok(rc == 0 && eof == 1, "%s: clean EOF after the last frame (rc %d, eof %d)", what, rc, eof);
		const lm_stream_header *rh = lm_reader_header(r);
		ok(!strcmp(rh->kind, "mixed") && rh->width == 0 && !strcmp(rh->elem, "f32") && rh->rate == 0,
		   "%s: header read back: kind %s width %u elem %s rate %g", what, rh->kind, rh->width,
		   rh->elem, rh->rate);
	}
	lm_frame_free(&got);
	for (int i = 0; i < 6; i++)
		lm_frame_free(&fr[i]);
	lm_reader_free(r);
}

static void test_round_trips(void)
{
	FILE *t = tmpfile();
	round_trip(t, t, 0, "tmpfile");
	fclose(t);

	int p[2];
	if (pipe(p)) {
		ok(0, "pipe");
		return;
	}
	/* Non-blocking read end: a writer that does not flush makes the reader fail, not hang. */
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	FILE *wf = fdopen(p[1], "wb"), *rf = fdopen(p[0], "rb");
	round_trip(wf, rf, 1, "pipe, each frame read before the next is written (flush per frame)");
	fclose(wf);
	fclose(rf);
}

/* The bytes on disk, spelled out: header line key order and a little-endian frame header. */
static void test_bytes(void)
{
	lm_status st = { 0 };
	lm_stream_header h;
	lm_writer *w;
	char *mem = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&mem, &len);
	lm_header_init(&h, "tokens", 0, "i32", 0);
	lm_header_set_tag(&h, "X-prompt-id", "42", &st);
	lm_frame fr;
	lm_frame_alloc(&fr, LM_FRAME_TOKENS, LM_ELEM_I32, 1, 2, &st);
	((int32_t *)fr.data)[0] = 0x01020304;
	((int32_t *)fr.data)[1] = -2;
	fr.stream = 0x0a0b0c0d;
	fr.pos = -1;
	fr.flags = LM_FLAG_UNCOND;
	int rc = lm_writer_open(&w, f, "mem", &h, &st);
	rc = rc ? rc : lm_writer_put(w, &fr, &st);
	rc = rc ? rc : lm_writer_close(w, &st);
	fclose(f);
	lm_frame_free(&fr);
	const char *line = "LLAMO1 kind=tokens width=0 elem=i32 rate=0 X-prompt-id=42\n";
	size_t hl = strlen(line);
	static const uint8_t want[40] = { 'L', 'M', 'F', '1', 1, 1, 1, 0, 1, 0, 0, 0, 2, 0, 0, 0,
					  0x0d, 0x0c, 0x0b, 0x0a, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
					  0, 0, 0, 0, 4, 3, 2, 1, 0xfe, 0xff, 0xff, 0xff };
	ok(rc == 0 && len == hl + 40 && !memcmp(mem, line, hl) && !memcmp(mem + hl, want, 40),
	   "bytes on disk: header line \"kind width elem rate X-tags\" and a 32-byte little-endian "
	   "frame header + payload (%zu bytes, want %zu)", len, hl + 40);
	free(mem);

	/* Rates: written with the fewest digits that read back to the same double. */
	double rates[3] = { 7.5, 30, 0.1 };
	const char *rs[3] = { "rate=7.5\n", "rate=30\n", "rate=0.1\n" };
	for (int i = 0; i < 3; i++) {
		mem = NULL;
		f = open_memstream(&mem, &len);
		lm_header_init(&h, "latent", 32, "f32", rates[i]);
		rc = lm_writer_open(&w, f, "mem", &h, &st);
		lm_writer_close(w, NULL);
		fclose(f);
		ok(rc == 0 && len > 9 && !strcmp(mem + len - strlen(rs[i]), rs[i]),
		   "rate %g written as \"%.*s\"", rates[i], (int)(len ? len - 1 : 0), mem ? mem : "");
		free(mem);
	}
}

/* ---- tags ---- */

static void test_tags(void)
{
	lm_status st = { 0 };
	lm_stream_header h, g;
	lm_header_init(&h, "latent", 32, "f32", 7.5);
	int rc = lm_header_set_tag(&h, "X-seed", "1234", &st);
	rc |= lm_header_set_tag(&h, "X-model", "llamo-tiny_v1.0", &st);
	rc |= lm_header_set_tag(&h, "X-empty", "", &st);
	rc |= lm_header_set_tag(&h, "X-seed", "99", &st); /* replaces */
	ok(rc == 0 && h.ntags == 3 && !strcmp(lm_header_get_tag(&h, "X-seed"), "99") &&
	   !lm_header_get_tag(&h, "X-none"), "set_tag: 3 tags, a second set replaces (X-seed=%s)",
	   lm_header_get_tag(&h, "X-seed"));
	ok(lm_header_set_tag(&h, "seed", "1", &st) == LM_EUSAGE, "set_tag: key without X- refused (%s)", st.msg);
	ok(lm_header_set_tag(&h, "X-a", "two words", &st) == LM_EUSAGE, "set_tag: value with a space refused (%s)", st.msg);
	ok(lm_header_set_tag(&h, "X-a b", "1", &st) == LM_EUSAGE, "set_tag: key with a space refused");

	FILE *t = tmpfile();
	lm_writer *w;
	lm_reader *r = NULL;
	rc = lm_writer_open(&w, t, "t", &h, &st);
	rc = rc ? rc : lm_writer_close(w, &st);
	rewind(t);
	rc = rc ? rc : lm_reader_open(&r, t, "t", &st);
	const lm_stream_header *rh = r ? lm_reader_header(r) : &h;
	ok(rc == 0 && rh->ntags == 3 && !strcmp(rh->tags[0][0], "X-seed") &&
	   !strcmp(rh->tags[1][1], "llamo-tiny_v1.0") && !strcmp(rh->tags[2][0], "X-empty") &&
	   !strcmp(rh->tags[2][1], "") && rh->width == 32 && rh->rate == 7.5,
	   "tags round trip in order: %d tags, width %u, rate %g %s", rh->ntags, rh->width, rh->rate,
	   rc ? st.msg : "");

	/* A filter: a new header of its own kind, the input's tags passed on. */
	lm_header_init(&g, "features", 260, "f32", 30);
	lm_header_set_tag(&g, "X-seed", "old", &st);
	lm_header_copy_tags(&g, rh);
	ok(g.ntags == 3 && !strcmp(g.kind, "features") && g.width == 260 &&
	   !strcmp(lm_header_get_tag(&g, "X-seed"), "99") &&
	   !strcmp(lm_header_get_tag(&g, "X-model"), "llamo-tiny_v1.0"),
	   "copy_tags: kind/width kept, 3 tags, the input's X-seed wins (%s)", lm_header_get_tag(&g, "X-seed"));
	lm_reader_free(r);
	fclose(t);
}

/* ---- errors ---- */

static void test_header_errors(void)
{
	buf s;
	start(&s, "");
	expect_fail(&s, LM_EDATA, "t: header at byte 0: empty input", "empty input");
	start(&s, "P6\n3 2\n255\n");
	expect_fail(&s, LM_EDATA, "t: header at byte 0: not a llamo stream", "a PPM file");
	start(&s, "LLAMO2 kind=latent width=2 elem=f32 rate=7.5\n");
	expect_fail(&s, LM_EDATA, "unsupported version 'LLAMO2'", "LLAMO2");
	start(&s, "LLAMO1 kind=latent width=2 elem=f32 rate=7.5");
	expect_fail(&s, LM_EDATA, "t: header at byte 44: end of input inside the header line", "EOF mid-header");
	start(&s, "LLAMO1 kind=latent width=2 elem=f32 rate=7.5 fps=30\n");
	expect_fail(&s, LM_EDATA, "t: header at byte 45: unknown key 'fps'", "unknown non-X key");
	start(&s, "LLAMO1 kind=latent width=2 elem=f32 rate=7.5 X-fps=30\n");
	put_latent(&s);
	char msg[512];
	int n, rc = read_all(&s, &n, msg);
	ok(rc == 0 && n == 1, "an unknown X- key is fine (rc %d, %d frame) %s", rc, n, msg);
	start(&s, "LLAMO1 kind=latent width=2 elem=f32\n");
	expect_fail(&s, LM_EDATA, "missing key rate", "missing rate");
	start(&s, "LLAMO1 kind=latent width=2 width=3 elem=f32 rate=1\n");
	expect_fail(&s, LM_EDATA, "at byte 27: key width given twice", "duplicate key");
	start(&s, "LLAMO1 kind=latent width=-2 elem=f32 rate=1\n");
	expect_fail(&s, LM_EDATA, "bad width '-2'", "negative width");
	start(&s, "LLAMO1 kind=latent width=4294967296 elem=f32 rate=1\n");
	expect_fail(&s, LM_EDATA, "bad width", "width over u32");
	start(&s, "LLAMO1 kind=latent width=2 elem=f32 rate=nan\n");
	expect_fail(&s, LM_EDATA, "bad rate 'nan'", "rate nan");
	start(&s, "LLAMO1 kind=motion width=2 elem=f32 rate=1\n");
	expect_fail(&s, LM_EDATA, "bad kind 'motion'", "unknown kind");
	start(&s, "LLAMO1 kind=latent width=2 elem=f16 rate=1\n");
	expect_fail(&s, LM_EDATA, "bad elem 'f16'", "unknown elem");
	start(&s, "LLAMO1 kind=tokens width=0 elem=f32 rate=0\n");
	expect_fail(&s, LM_EDATA, "kind tokens with elem f32 (wants i32)", "kind/elem mismatch");
	start(&s, "LLAMO1 kind=latent  width=2 elem=f32 rate=1\n");
	expect_fail(&s, LM_EDATA, "at byte 19: empty field", "two spaces");
	start(&s, "LLAMO1 kind=latent width=2 elem=f32 rate=1 X-a=1 X-a=2\n");
	expect_fail(&s, LM_EDATA, "tag X-a given twice", "duplicate tag");
	start(&s, "LLAMO1 kind=latent width=2 elem=f32 rate=1 X-a\n");
	expect_fail(&s, LM_EDATA, "at byte 43: field 'X-a' is not key=value", "field without =");
	start(&s, "LLAMO1 kind=latent width=2 elem=f32 rate=1\r\n");
	expect_fail(&s, LM_EDATA, "bad rate", "CRLF header");

	/* Longest allowed line (4096 bytes with the newline: 31 tags of 63-byte keys and values, and
	 * one to fill), then one byte more. */
	static char line[5000];
	size_t len = (size_t)sprintf(line, "LLAMO1 kind=latent width=2 elem=f32 rate=1");
	for (int i = 0; len < 4095; i++) {
		size_t room = 4095 - len, vl = room > 128 ? 63 : (room - 5 > 63 ? 63 : room - 5);
		size_t kl = room > 128 ? 63 : room - 2 - vl;
		len += (size_t)sprintf(line + len, " X-%02d%.*s=%.*s", i, (int)kl - 4,
				       "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", (int)vl,
				       "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv");
	}
	strcat(line, "\n");
	start(&s, line);
	put_latent(&s);
	rc = read_all(&s, &n, msg);
	ok(rc == 0 && n == 1 && strlen(line) == 4096, "a header line of %zu bytes reads (rc %d) %s",
	   strlen(line), rc, msg);
	line[4095] = 'v';
	strcat(line, "\n");
	start(&s, line);
	expect_fail(&s, LM_EDATA, "t: header at byte 4095: header line longer than 4096 bytes",
		    "a header line of 4097 bytes");
}

static void test_frame_errors(void)
{
	buf s;
	size_t h = strlen(HDR), f1 = h + 32 + 8; /* byte offset of frame 1 */
	char want[200];
	struct {
		int type, elem, flags;
		uint32_t rows, cols, stream;
		int32_t pos;
		uint32_t mark, reserved;
		const char *msg, *what;
	} bad[] = {
		{ 9, 2, 0, 1, 2, 0, 0, 0, 0, "unknown frame type 9", "unknown type" },
		{ 0, 2, 0, 1, 2, 0, 0, 0, 0, "unknown frame type 0", "type 0" },
		{ 3, 7, 0, 1, 2, 0, 0, 0, 0, "unknown element type 7", "unknown elem" },
		{ 1, 2, 0, 1, 2, 0, 0, 0, 0, "tokens frame with elem f32 (wants i32)", "tokens as f32" },
		{ 2, 1, 0, 1, 2, 0, 0, 0, 0, "hidden frame with elem i32 (wants f32)", "hidden as i32" },
		{ 5, 2, 0, 1, 2, 0, 0, 0, 0, "text frame with elem f32 (wants u8)", "text as f32" },
		{ 6, 3, 0, 0, 0, 0, 0, 3, 0, "mark frame with elem u8 (wants none)", "mark as u8" },
		{ 6, 0, 0, 1, 0, 0, 0, 3, 0, "mark frame with 1 x 0 elements (wants 0 x 0)", "mark with rows" },
		{ 6, 0, 0, 0, 0, 0, 0, 4, 0, "unknown mark 4", "unknown mark" },
		{ 6, 0, 0, 0, 0, 0, 0, 0, 0, "unknown mark 0", "mark 0" },
		{ 3, 2, 0, 1, 2, 0, 0, 1, 0, "latent frame with mark 1 (wants 0)", "mark field in a latent" },
		{ 3, 2, 0, 1, 2, 0, 0, 0, 1, "reserved field is 0x00000001 (must be 0)", "reserved nonzero" },
		{ 3, 2, 4, 1, 2, 0, 0, 0, 0, "unknown flags 0x4", "unknown flag" },
		{ 3, 2, 0, 1, 2, 0, -2, 0, 0, "latent frame with pos -2 (wants -1 or more)", "pos -2" },
		{ 1, 1, 0, 2, 2, 0, 0, 0, 0, "tokens frame with 2 rows (wants 1)", "tokens with 2 rows" },
		{ 3, 2, 0, 1, 2, LM_STREAM_ALL, 0, 0, 0, "latent frame for stream ALL", "latent for stream ALL" },
		{ 6, 0, 0, 0, 0, LM_STREAM_ALL, 0, 2, 0, "eom mark for stream ALL", "eom for stream ALL" },
		{ 3, 2, 0, 65536, 1025, 0, 0, 0, 0, "latent frame of 65536 x 1025 f32 is 268697600 bytes, over the limit of 268435456", "rows*cols*4 over 256 MiB" },
		{ 3, 2, 0, 0xffffffffu, 0xffffffffu, 0, 0, 0, 0, "latent frame of 4294967295 x 4294967295 f32", "rows*cols near 2^64" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		start(&s, HDR);
		put_latent(&s);
		put_fhdr(&s, bad[i].type, bad[i].elem, bad[i].flags, bad[i].rows, bad[i].cols,
			 bad[i].stream, bad[i].pos, bad[i].mark, bad[i].reserved);
		put_bytes(&s, "\0\0\0\0\0\0\0\0", 8);
		snprintf(want, sizeof want, "t: frame 1 at byte %zu: %s", f1, bad[i].msg);
		expect_fail(&s, LM_EDATA, want, bad[i].what);
	}

	start(&s, HDR);
	put_latent(&s);
	put_bytes(&s, "garbage garbage garbage garbage garbage", 39);
	snprintf(want, sizeof want, "t: frame 1 at byte %zu: bad magic (stream out of sync)", f1);
	expect_fail(&s, LM_EDATA, want, "bad magic");

	start(&s, HDR);
	put_latent(&s);
	put_fhdr(&s, 3, 2, 0, 1, 2, 0, 0, 0, 0);
	s.n -= 12;
	snprintf(want, sizeof want, "t: frame 1 at byte %zu: truncated frame header (end of input after 20 of 32 bytes)", f1);
	expect_fail(&s, LM_EDATA, want, "EOF inside a frame header");

	start(&s, HDR);
	put_latent(&s);
	put_latent(&s);
	s.n -= 3;
	snprintf(want, sizeof want, "t: frame 1 at byte %zu: truncated payload (end of input after 5 of 8 bytes)", f1);
	expect_fail(&s, LM_EDATA, want, "EOF inside a payload");

	/* A big frame announced, little data: fails as truncated without allocating it all. */
	start(&s, HDR);
	put_fhdr(&s, 3, 2, 0, 4096, 16384, 0, 0, 0, 0); /* exactly 256 MiB: allowed */
	put_bytes(&s, "abcd", 4);
	snprintf(want, sizeof want, "t: frame 0 at byte %zu: truncated payload (end of input after 4 of 268435456 bytes)", h);
	expect_fail(&s, LM_EDATA, want, "EOF inside a 256 MiB payload");

	/* Clean ends. */
	char msg[512];
	int n, rc;
	start(&s, HDR);
	rc = read_all(&s, &n, msg);
	ok(rc == 0 && n == 0, "header only: clean EOF, 0 frames (rc %d) %s", rc, msg);
	start(&s, HDR);
	for (int i = 0; i < 5; i++)
		put_latent(&s);
	put_fhdr(&s, 6, 0, 0, 0, 0, LM_STREAM_ALL, -1, LM_MARK_EOS, 0);
	put_fhdr(&s, 5, 3, 0, 1, 0, 1, -1, 0, 0); /* empty text */
	rc = read_all(&s, &n, msg);
	ok(rc == 0 && n == 7, "5 latents, an end-of-input eos mark, an empty text: %d frames, clean EOF (rc %d) %s",
	   n, rc, msg);
}

static void test_writer_errors(void)
{
	lm_status st = { 0 };
	lm_stream_header h;
	lm_writer *w;
	FILE *t = tmpfile();
	lm_header_init(&h, "latent", 32, "f32", 7.5);
	int rc = lm_writer_open(&w, t, "t", &h, &st);
	lm_frame fr;
	lm_frame_alloc(&fr, LM_FRAME_LATENT, LM_ELEM_I32, 1, 2, &st);
	int rc2 = lm_writer_put(w, &fr, &st);
	ok(rc == 0 && rc2 == LM_EINTERNAL && strstr(st.msg, "t: frame 0: cannot write: latent frame with elem i32"),
	   "writer refuses a frame the reader would refuse: %d, %s", rc2, st.msg);
	lm_frame_free(&fr);
	lm_writer_close(w, NULL);

	lm_header_init(&h, "latents", 32, "f32", 7.5);
	rc = lm_writer_open(&w, t, "t", &h, &st);
	ok(rc == LM_EINTERNAL && strstr(st.msg, "unknown kind 'latents'"), "writer refuses an unknown kind: %s", st.msg);
	lm_header_init(&h, "latent", 32, "f32", -1);
	rc = lm_writer_open(&w, t, "t", &h, &st);
	ok(rc == LM_EINTERNAL && strstr(st.msg, "rate -1"), "writer refuses a negative rate: %s", st.msg);
	fclose(t);

	rc = lm_frame_alloc(&fr, LM_FRAME_HIDDEN, LM_ELEM_F32, 1u << 20, 1u << 20, &st);
	ok(rc == LM_EDATA && !fr.data, "frame_alloc refuses 2^40 floats: %s", st.msg);

	/* A terminal: a pseudo-terminal's slave side. */
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m)) {
		ok(1, "# SKIP no pseudo-terminal here");
		if (m >= 0)
			close(m);
		return;
	}
	FILE *tty = fopen(ptsname(m), "w");
	if (!tty) {
		ok(1, "# SKIP cannot open the pty slave");
		close(m);
		return;
	}
	lm_header_init(&h, "latent", 32, "f32", 7.5);
	rc = lm_writer_open(&w, tty, "-", &h, &st);
	ok(rc == LM_EUSAGE && !strcmp(st.msg, "-: refusing to write binary frames to a terminal"),
	   "writer refuses a terminal: %d, %s", rc, st.msg);
	fclose(tty);
	close(m);
}


/* Concatenated streams (`cat a b`, the FIFO loop): a second header line where a frame would start
 * is skipped; frames of both streams are read; the first header stays; a broken second header is
 * an error naming its byte. */
static void test_concatenated(void)
{
	lm_status st = { 0 };
	FILE *t = tmpfile();
	lm_stream_header h1, h2;
	lm_header_init(&h1, "tokens", 0, "i32", 0);
	lm_header_init(&h2, "latent", 4, "f32", 7.5);
	int32_t ids[3] = { 1, 2, 3 };
	float z[4] = { 0.5f, -1, 2, 3 };
	lm_frame a = { .type = LM_FRAME_TOKENS, .elem = LM_ELEM_I32, .rows = 1, .cols = 3, .pos = 0, .data = ids };
	lm_frame b = { .type = LM_FRAME_LATENT, .elem = LM_ELEM_F32, .rows = 1, .cols = 4, .pos = 0, .data = z };
	lm_writer *w;
	int rc = lm_writer_open(&w, t, "t", &h1, &st);
	rc = rc ? rc : lm_writer_put(w, &a, &st);
	rc = rc ? rc : lm_writer_close(w, &st);
	rc = rc ? rc : lm_writer_open(&w, t, "t", &h2, &st);
	rc = rc ? rc : lm_writer_put(w, &b, &st);
	rc = rc ? rc : lm_writer_close(w, &st);
	rewind(t);
	lm_reader *r = NULL;
	lm_frame fr = { 0 };
	int eof = 0, n = 0, types = 0;
	rc = rc ? rc : lm_reader_open(&r, t, "t", &st);
	while (!rc && !(rc = lm_reader_next(r, &fr, &eof, &st)) && !eof)
		types = types * 10 + fr.type, n++;
	ok(rc == 0 && n == 2 && types == 13 && !strcmp(lm_reader_header(r)->kind, "tokens"),
	   "concatenated streams: %d frames (types %d), first header kept %s", n, types, rc ? st.msg : "");
	lm_frame_free(&fr);
	lm_reader_free(r);
	fclose(t);

	const char bad[] = "LLAMO1 kind=tokens width=0 elem=i32 rate=0\nLLAMO1 kind=bogus width=1 elem=f32 rate=0\n";
	t = fmemopen((void *)bad, sizeof bad - 1, "rb");
	rc = lm_reader_open(&r, t, "t", &st);
	rc = rc ? rc : lm_reader_next(r, &fr, &eof, &st);
	ok(rc == LM_EDATA && strstr(st.msg, "t: frame 0 at byte 43: bad second stream header"),
	   "a bad second header is an error naming its byte (%s)", st.msg);
	lm_reader_free(r);
	fclose(t);
}

int main(void)
{
	test_round_trips();
	test_bytes();
	test_tags();
	test_header_errors();
	test_frame_errors();
	test_writer_errors();
	test_concatenated();
	return done_testing();
}
