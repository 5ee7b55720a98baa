/* frame.c: the llamo frame stream, see frame.h; the contract is man/llamo-frame.5.
 *
 * In the spirit of YUV4MPEG2: one text header line, then frames, each a 32-byte little-endian
 * header (starting with the magic "LMF1", so a desync shows at the next frame) and a payload.
 * Both ends check frames with the same function, so a writer cannot emit what a reader refuses.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "frame.h"

#define FRAME_HEADER_BYTES 32
static const char frame_magic[4] = { 'L', 'M', 'F', '1' };

struct lm_reader {
	FILE *f;
	char name[256];
	lm_stream_header h;
	uint64_t off;     /* bytes consumed from the start of the header line */
	uint64_t nframes; /* frames read so far: the index of the next one */
};

struct lm_writer {
	FILE *f;
	char name[256];
	int flush; /* output is a pipe or a socket: flush after every frame */
	uint64_t off, nframes;
};

/* ---- names and sizes ---- */

static const char *type_names[] = { NULL, "tokens", "hidden", "latent", "features", "text", "mark" };
static const char *elem_names[] = { "none", "i32", "f32", "u8" };
static const char *mark_names[] = { NULL, "bom", "eom", "eos" };
static const char *kind_names[] = { "tokens", "hidden", "latent", "features", "text", "mixed" };

const char *lm_frame_type_name(int type)
{
	return type >= LM_FRAME_TOKENS && type <= LM_FRAME_MARK ? type_names[type] : NULL;
}

const char *lm_mark_name(int mark)
{
	return mark >= LM_MARK_BOM && mark <= LM_MARK_EOS ? mark_names[mark] : NULL;
}

const char *lm_elem_name(int elem)
{
	return elem >= LM_ELEM_NONE && elem <= LM_ELEM_U8 ? elem_names[elem] : NULL;
}

size_t lm_elem_size(int elem)
{
	switch (elem) {
	case LM_ELEM_I32:
	case LM_ELEM_F32:
		return 4;
	case LM_ELEM_U8:
		return 1;
	default:
		return 0;
	}
}

/* The one element type each frame type carries. */
static int type_elem(int type)
{
	switch (type) {
	case LM_FRAME_TOKENS:
		return LM_ELEM_I32;
	case LM_FRAME_HIDDEN:
	case LM_FRAME_LATENT:
	case LM_FRAME_FEATURES:
		return LM_ELEM_F32;
	case LM_FRAME_TEXT:
		return LM_ELEM_U8;
	default:
		return LM_ELEM_NONE;
	}
}

static int elem_by_name(const char *s)
{
	for (int i = LM_ELEM_I32; i <= LM_ELEM_U8; i++)
		if (!strcmp(s, elem_names[i]))
			return i;
	return -1;
}

static int kind_known(const char *s)
{
	for (size_t i = 0; i < sizeof kind_names / sizeof *kind_names; i++)
		if (!strcmp(s, kind_names[i]))
			return 1;
	return 0;
}

/* The elem a kind requires: "mixed" takes any (returns 0), the others their frame type's. */
static int kind_elem(const char *kind)
{
	for (int t = LM_FRAME_TOKENS; t <= LM_FRAME_TEXT; t++)
		if (!strcmp(kind, type_names[t]))
			return type_elem(t);
	return 0;
}

/* ---- byte order: little-endian on disk whatever the host ---- */

static int host_is_le(void)
{
	const uint16_t one = 1;
	return *(const uint8_t *)&one == 1;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff, p[1] = v >> 8 & 0xff, p[2] = v >> 16 & 0xff, p[3] = v >> 24;
}

/* Reverses each 4-byte element in place (payload conversion on a big-endian host). */
static void swap4(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++, p += 4) {
		uint8_t a = p[0], b = p[1];
		p[0] = p[3], p[1] = p[2], p[2] = b, p[3] = a;
	}
}

/* ---- frame checks, shared by reader and writer ---- */

/* Returns NULL when fr is a valid frame header, else writes why into buf and returns it. */
static const char *frame_problem(const lm_frame *fr, char *buf, size_t n)
{
	const char *tn = lm_frame_type_name(fr->type);
	if (!tn) {
		snprintf(buf, n, "unknown frame type %u", fr->type);
		return buf;
	}
	if (!lm_elem_name(fr->elem)) {
		snprintf(buf, n, "unknown element type %u in a %s frame", fr->elem, tn);
		return buf;
	}
	if (fr->elem != type_elem(fr->type)) {
		snprintf(buf, n, "%s frame with elem %s (wants %s)", tn, elem_names[fr->elem],
			 elem_names[type_elem(fr->type)]);
		return buf;
	}
	if (fr->flags & ~LM_FLAGS_KNOWN) {
		snprintf(buf, n, "unknown flags 0x%x in a %s frame", fr->flags & ~LM_FLAGS_KNOWN, tn);
		return buf;
	}
	if (fr->pos < -1) {
		snprintf(buf, n, "%s frame with pos %" PRId32 " (wants -1 or more)", tn, fr->pos);
		return buf;
	}
	if (fr->type == LM_FRAME_MARK) {
		if (!lm_mark_name(fr->mark)) {
			snprintf(buf, n, "unknown mark %u", fr->mark);
			return buf;
		}
		if (fr->rows || fr->cols) {
			snprintf(buf, n, "mark frame with %u x %u elements (wants 0 x 0)", fr->rows, fr->cols);
			return buf;
		}
		if (fr->stream == LM_STREAM_ALL && fr->mark != LM_MARK_EOS) {
			snprintf(buf, n, "%s mark for stream ALL (only eos may be)", mark_names[fr->mark]);
			return buf;
		}
		return NULL;
	}
	if (fr->mark) {
		snprintf(buf, n, "%s frame with mark %u (wants 0)", tn, fr->mark);
		return buf;
	}
	if (fr->stream == LM_STREAM_ALL) {
		snprintf(buf, n, "%s frame for stream ALL (only an eos mark may be)", tn);
		return buf;
	}
	if ((fr->type == LM_FRAME_TOKENS || fr->type == LM_FRAME_TEXT) && fr->rows != 1) {
		snprintf(buf, n, "%s frame with %u rows (wants 1)", tn, fr->rows);
		return buf;
	}
	uint64_t bytes = (uint64_t)fr->rows * fr->cols * lm_elem_size(fr->elem);
	if (bytes > LM_FRAME_MAX_BYTES) {
		snprintf(buf, n, "%s frame of %u x %u %s is %" PRIu64 " bytes, over the limit of %u", tn,
			 fr->rows, fr->cols, elem_names[fr->elem], bytes, LM_FRAME_MAX_BYTES);
		return buf;
	}
	return NULL;
}

static size_t frame_bytes(const lm_frame *fr)
{
	return (size_t)fr->rows * fr->cols * lm_elem_size(fr->elem);
}

int lm_frame_alloc(lm_frame *fr, int type, int elem, uint32_t rows, uint32_t cols, lm_status *st)
{
	memset(fr, 0, sizeof *fr);
	fr->type = (uint8_t)type, fr->elem = (uint8_t)elem;
	fr->rows = rows, fr->cols = cols;
	fr->pos = -1;
	uint64_t bytes = (uint64_t)rows * cols * lm_elem_size(elem);
	if (bytes > LM_FRAME_MAX_BYTES)
		return lm_fail(st, LM_EDATA, "frame of %u x %u elements is %" PRIu64
			       " bytes, over the limit of %u", rows, cols, bytes, LM_FRAME_MAX_BYTES);
	if (bytes && !(fr->data = calloc(1, (size_t)bytes)))
		return lm_fail(st, LM_ENOMEM, "out of memory for a frame of %" PRIu64 " bytes", bytes);
	return 0;
}

void lm_frame_free(lm_frame *fr)
{
	if (!fr)
		return;
	free(fr->data);
	fr->data = NULL;
}

/* ---- the header line ---- */

void lm_header_init(lm_stream_header *h, const char *kind, uint32_t width, const char *elem, double rate)
{
	memset(h, 0, sizeof *h);
	snprintf(h->kind, sizeof h->kind, "%s", kind ? kind : "");
	snprintf(h->elem, sizeof h->elem, "%s", elem ? elem : "");
	h->width = width;
	h->rate = rate;
}

static int tag_key_ok(const char *k)
{
	size_t n = strlen(k);
	if (n < 3 || n > LM_TAG_MAX || k[0] != 'X' || k[1] != '-')
		return 0;
	for (size_t i = 2; i < n; i++) {
		char c = k[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

static int tag_value_ok(const char *v)
{
	size_t n = strlen(v);
	if (n > LM_TAG_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
			return 0;
	return 1;
}

static int tag_index(const lm_stream_header *h, const char *key)
{
	for (int i = 0; i < h->ntags && i < LM_FRAME_MAX_TAGS; i++)
		if (!strcmp(h->tags[i][0], key))
			return i;
	return -1;
}

const char *lm_header_get_tag(const lm_stream_header *h, const char *key)
{
	int i = tag_index(h, key);
	return i < 0 ? NULL : h->tags[i][1];
}

int lm_header_set_tag(lm_stream_header *h, const char *key, const char *value, lm_status *st)
{
	if (!tag_key_ok(key))
		return lm_fail(st, LM_EUSAGE, "bad tag key '%.80s' (wants X- then up to %d letters, "
			       "digits, '-', '_' or '.')", key, LM_TAG_MAX - 2);
	if (!tag_value_ok(value))
		return lm_fail(st, LM_EUSAGE, "bad value for tag %s (wants up to %d printable ASCII "
			       "bytes without spaces)", key, LM_TAG_MAX);
	int i = tag_index(h, key);
	if (i < 0) {
		if (h->ntags >= LM_FRAME_MAX_TAGS)
			return lm_fail(st, LM_EUSAGE, "too many tags (at most %d)", LM_FRAME_MAX_TAGS);
		i = h->ntags++;
		snprintf(h->tags[i][0], sizeof h->tags[i][0], "%s", key);
	}
	snprintf(h->tags[i][1], sizeof h->tags[i][1], "%s", value);
	return 0;
}

void lm_header_copy_tags(lm_stream_header *dst, const lm_stream_header *src)
{
	for (int i = 0; i < src->ntags && i < LM_FRAME_MAX_TAGS; i++)
		lm_header_set_tag(dst, src->tags[i][0], src->tags[i][1], NULL);
}

/* Writes the rate with the fewest digits that read back to the same double. */
static void format_rate(char *buf, size_t n, double rate)
{
	snprintf(buf, n, "%.15g", rate);
	if (strtod(buf, NULL) != rate)
		snprintf(buf, n, "%.17g", rate);
}

/* Checks h as the reader would; NULL when fine, else why (in buf). */
static const char *header_problem(const lm_stream_header *h, char *buf, size_t n)
{
	if (!kind_known(h->kind)) {
		snprintf(buf, n, "unknown kind '%s'", h->kind);
		return buf;
	}
	int e = elem_by_name(h->elem);
	if (e < 0) {
		snprintf(buf, n, "unknown elem '%s'", h->elem);
		return buf;
	}
	if (kind_elem(h->kind) && kind_elem(h->kind) != e) {
		snprintf(buf, n, "kind %s with elem %s (wants %s)", h->kind, h->elem,
			 elem_names[kind_elem(h->kind)]);
		return buf;
	}
	if (!isfinite(h->rate) || h->rate < 0) {
		snprintf(buf, n, "rate %g (wants a finite number >= 0)", h->rate);
		return buf;
	}
	if (h->ntags < 0 || h->ntags > LM_FRAME_MAX_TAGS) {
		snprintf(buf, n, "%d tags (at most %d)", h->ntags, LM_FRAME_MAX_TAGS);
		return buf;
	}
	for (int i = 0; i < h->ntags; i++) {
		if (!memchr(h->tags[i][0], 0, sizeof h->tags[i][0]) || !tag_key_ok(h->tags[i][0]) ||
		    !memchr(h->tags[i][1], 0, sizeof h->tags[i][1]) || !tag_value_ok(h->tags[i][1])) {
			snprintf(buf, n, "bad tag %d", i);
			return buf;
		}
		for (int j = 0; j < i; j++)
			if (!strcmp(h->tags[i][0], h->tags[j][0])) {
				snprintf(buf, n, "tag %s given twice", h->tags[i][0]);
				return buf;
			}
	}
	return NULL;
}

/* Formats the header line, newline included, in key order kind width elem rate, then the tags.
 * Returns its length, or 0 when it does not fit in LM_HEADER_MAX bytes. */
static size_t format_header(const lm_stream_header *h, char *buf)
{
	char rate[40];
	format_rate(rate, sizeof rate, h->rate);
	int n = snprintf(buf, LM_HEADER_MAX, "LLAMO1 kind=%s width=%u elem=%s rate=%s", h->kind,
			 h->width, h->elem, rate);
	for (int i = 0; i < h->ntags && n > 0 && n < LM_HEADER_MAX; i++)
		n += snprintf(buf + n, LM_HEADER_MAX - n, " %s=%s", h->tags[i][0], h->tags[i][1]);
	if (n <= 0 || n + 1 > LM_HEADER_MAX)
		return 0;
	buf[n++] = '\n';
	return (size_t)n;
}

/* Parses an unsigned 32-bit decimal; 0 on success. */
static int parse_u32(const char *s, uint32_t *v)
{
	uint64_t x = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
		if (x > UINT32_MAX)
			return -1;
	}
	*v = (uint32_t)x;
	return 0;
}

/* Parses a rate: a plain decimal number (no hex, inf or nan), finite and >= 0. */
static int parse_rate(const char *s, double *v)
{
	if (!*s || strspn(s, "0123456789.eE+-") != strlen(s))
		return -1;
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	return *end || errno == ERANGE || !isfinite(*v) || *v < 0 ? -1 : 0;
}

/* Parses one "key=value" field of the line at byte `at` into h; seen holds the keys found. */
static int parse_field(lm_reader *r, char *field, size_t at, unsigned *seen, lm_status *st)
{
	static const char *keys[] = { "kind", "width", "elem", "rate" };
	char *eq = strchr(field, '=');
	if (!eq || eq == field)
		return lm_fail(st, LM_EDATA, "%s: header at byte %zu: field '%.40s' is not key=value",
			       r->name, at, field);
	*eq = 0;
	const char *key = field, *val = eq + 1;
	lm_stream_header *h = &r->h;
	if (key[0] == 'X' && key[1] == '-') {
		if (tag_index(h, key) >= 0)
			return lm_fail(st, LM_EDATA, "%s: header at byte %zu: tag %.40s given twice",
				       r->name, at, key);
		lm_status tst;
		if (lm_header_set_tag(h, key, val, &tst))
			return lm_fail(st, LM_EDATA, "%s: header at byte %zu: %s", r->name, at, tst.msg);
		return 0;
	}
	int k = -1;
	for (int i = 0; i < 4; i++)
		if (!strcmp(key, keys[i]))
			k = i;
	if (k < 0)
		return lm_fail(st, LM_EDATA, "%s: header at byte %zu: unknown key '%.40s' (not LLAMO1, "
			       "or an extension tag without X-)", r->name, at, key);
	if (*seen & 1u << k)
		return lm_fail(st, LM_EDATA, "%s: header at byte %zu: key %s given twice", r->name, at, key);
	*seen |= 1u << k;
	int bad = 0;
	switch (k) {
	case 0:
		bad = !kind_known(val);
		if (!bad)
			snprintf(h->kind, sizeof h->kind, "%s", val);
		break;
	case 1:
		bad = parse_u32(val, &h->width) != 0;
		break;
	case 2:
		bad = elem_by_name(val) < 0;
		if (!bad)
			snprintf(h->elem, sizeof h->elem, "%s", val);
		break;
	case 3:
		bad = parse_rate(val, &h->rate) != 0;
		break;
	}
	if (bad)
		return lm_fail(st, LM_EDATA, "%s: header at byte %zu: bad %s '%.40s'", r->name, at, key, val);
	return 0;
}

/* Parses the header line (without its newline, NUL-terminated) into r->h. */
static int parse_header(lm_reader *r, char *line, lm_status *st)
{
	memset(&r->h, 0, sizeof r->h);
	size_t vlen = strcspn(line, " ");
	if (vlen != 6 || strncmp(line, "LLAMO1", 6))
		return lm_fail(st, LM_EDATA, "%s: header at byte 0: unsupported version '%.*s' (this "
			       "reads LLAMO1)", r->name, vlen > 16 ? 16 : (int)vlen, line);
	unsigned seen = 0;
	size_t len = strlen(line);
	for (char *p = line + 6; *p == ' ';) {
		p++; /* the space before each field */
		size_t at = (size_t)(p - line), flen = strcspn(p, " ");
		char *next = p + flen; /* a space or the end */
		int more = *next == ' ';
		*next = 0;
		if (!flen)
			return lm_fail(st, LM_EDATA, "%s: header at byte %zu: empty field (fields are "
				       "separated by one space)", r->name, at);
		int rc = parse_field(r, p, at, &seen, st);
		if (rc)
			return rc;
		if (more)
			*next = ' ';
		p = next;
	}
	static const char *keys[] = { "kind", "width", "elem", "rate" };
	for (int i = 0; i < 4; i++)
		if (!(seen & 1u << i))
			return lm_fail(st, LM_EDATA, "%s: header at byte %zu: missing key %s", r->name,
				       len, keys[i]);
	char why[160];
	if (header_problem(&r->h, why, sizeof why))
		return lm_fail(st, LM_EDATA, "%s: header: %s", r->name, why);
	return 0;
}

/* ---- reader ---- */

/* Reads the header line into line (NUL-terminated, newline dropped), stopping early when the
 * first bytes cannot begin "LLAMO" so that binary garbage is named as such. */
static int read_header_line(lm_reader *r, char *line, lm_status *st)
{
	static const char magic[] = "LLAMO";
	size_t n = 0;
	for (;;) {
		int c = getc(r->f);
		if (c == EOF) {
			if (ferror(r->f))
				return lm_fail(st, LM_EIO, "%s: header at byte %zu: read failed: %s", r->name,
					       n, strerror(errno));
			if (n == 0)
				return lm_fail(st, LM_EDATA, "%s: header at byte 0: empty input, not a llamo "
					       "stream", r->name);
			return lm_fail(st, LM_EDATA, "%s: header at byte %zu: end of input inside the "
				       "header line", r->name, n);
		}
		r->off++;
		if (n < 5 && c != magic[n])
			return lm_fail(st, LM_EDATA, "%s: header at byte %zu: not a llamo stream (no "
				       "\"LLAMO1 \" header line)", r->name, n);
		if (c == '\n') {
			line[n] = 0;
			return 0;
		}
		if (c == 0)
			return lm_fail(st, LM_EDATA, "%s: header at byte %zu: NUL byte in the header line",
				       r->name, n);
		if (n + 1 >= LM_HEADER_MAX)
			return lm_fail(st, LM_EDATA, "%s: header at byte %zu: header line longer than %d "
				       "bytes", r->name, n, LM_HEADER_MAX);
		line[n++] = (char)c;
	}
}

int lm_reader_open(lm_reader **rp, FILE *f, const char *name, lm_status *st)
{
	*rp = NULL;
	lm_reader *r = calloc(1, sizeof *r);
	char *line = malloc(LM_HEADER_MAX);
	if (!r || !line) {
		free(r), free(line);
		return lm_fail(st, LM_ENOMEM, "%s: out of memory", name ? name : "-");
	}
	r->f = f;
	snprintf(r->name, sizeof r->name, "%s", name ? name : "-");
	int rc = read_header_line(r, line, st);
	if (!rc)
		rc = parse_header(r, line, st);
	free(line);
	if (rc) {
		free(r);
		return rc;
	}
	*rp = r;
	return 0;
}

const lm_stream_header *lm_reader_header(const lm_reader *r)
{
	return &r->h;
}

void lm_reader_free(lm_reader *r)
{
	free(r);
}

/* Fails with "NAME: frame I at byte OFF: why". */
static int frame_fail(const lm_reader *r, uint64_t at, lm_status *st, int code, const char *why)
{
	return lm_fail(st, code, "%s: frame %" PRIu64 " at byte %" PRIu64 ": %s", r->name, r->nframes,
		       at, why);
}

/* Reads the payload of fr (bytes of it) into a buffer grown as data arrives, so that a truncated
 * stream claiming a large frame does not allocate it all. */
static int read_payload(lm_reader *r, lm_frame *fr, uint64_t at, lm_status *st)
{
	size_t need = frame_bytes(fr), got = 0, cap = need < (1u << 20) ? need : (1u << 20);
	uint8_t *buf = malloc(cap);
	char why[160];
	if (!buf)
		return frame_fail(r, at, st, LM_ENOMEM, "out of memory for the payload");
	while (got < need) {
		if (got == cap) {
			cap = cap * 2 < need ? cap * 2 : need;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return frame_fail(r, at, st, LM_ENOMEM, "out of memory for the payload");
			}
			buf = nb;
		}
		size_t n = fread(buf + got, 1, cap - got, r->f);
		got += n;
		r->off += n;
		if (n == 0) {
			free(buf);
			if (ferror(r->f)) {
				snprintf(why, sizeof why, "read failed: %s", strerror(errno));
				return frame_fail(r, at, st, LM_EIO, why);
			}
			snprintf(why, sizeof why, "truncated payload (end of input after %zu of %zu bytes)",
				 got, need);
			return frame_fail(r, at, st, LM_EDATA, why);
		}
	}
	if (!host_is_le() && lm_elem_size(fr->elem) == 4)
		swap4(buf, need / 4);
	fr->data = buf;
	return 0;
}

/* Reads the rest of a header line that began with "LLAM" at byte `at` (a concatenated stream) and
 * checks it parses; the reader keeps its first header. */
static int skip_header_line(lm_reader *r, uint64_t at, lm_status *st)
{
	char *line = malloc(LM_HEADER_MAX);
	if (!line)
		return lm_fail(st, LM_ENOMEM, "%s: out of memory", r->name);
	memcpy(line, "LLAM", 4);
	size_t n = 4;
	int c, rc = 0;
	while ((c = getc(r->f)) != EOF && c != '\n' && c != 0 && n + 1 < LM_HEADER_MAX) {
		r->off++;
		line[n++] = (char)c;
	}
	if (c == '\n') {
		r->off++;
		line[n] = 0;
		lm_stream_header keep = r->h;
		rc = parse_header(r, line, st);
		r->h = keep;
		if (rc) {
			char inner[sizeof st->msg];
			size_t skip = strlen(r->name) + 2; /* the inner message starts "NAME: " */
			snprintf(inner, sizeof inner, "%s", strlen(st->msg) > skip ? st->msg + skip : st->msg);
			rc = lm_fail(st, LM_EDATA, "%s: frame %" PRIu64 " at byte %" PRIu64 ": bad second "
				     "stream header (%s)", r->name, r->nframes, at, inner);
		}
	} else {
		rc = lm_fail(st, LM_EDATA, "%s: frame %" PRIu64 " at byte %" PRIu64 ": bad magic (a "
			     "header line that does not end)", r->name, r->nframes, at);
	}
	free(line);
	return rc;
}

int lm_reader_next(lm_reader *r, lm_frame *fr, int *eof, lm_status *st)
{
	uint8_t b[FRAME_HEADER_BYTES];
	char why[200];
	uint64_t at = r->off;
	lm_frame_free(fr);
	*eof = 0;
	size_t n;
again:
	at = r->off;
	n = fread(b, 1, 4, r->f);
	r->off += n;
	if (n == 4 && !memcmp(b, "LLAM", 4)) {
		/* Concatenated streams (`cat a b`, or the FIFO loop where a second program's output
		 * joins the first's): a header line where a frame would start is read, checked and
		 * skipped; the first header stays the stream's header. */
		int rc = skip_header_line(r, at, st);
		if (rc)
			return rc;
		goto again;
	}
	if (n == 4) {
		size_t more = fread(b + 4, 1, sizeof b - 4, r->f);
		r->off += more;
		n += more;
	}
	if (n < sizeof b) {
		if (ferror(r->f)) {
			snprintf(why, sizeof why, "read failed: %s", strerror(errno));
			return frame_fail(r, at, st, LM_EIO, why);
		}
		if (n == 0) {
			memset(fr, 0, sizeof *fr);
			*eof = 1;
			return 0;
		}
		snprintf(why, sizeof why, "truncated frame header (end of input after %zu of %d bytes)",
			 n, FRAME_HEADER_BYTES);
		return frame_fail(r, at, st, LM_EDATA, why);
	}
	if (memcmp(b, frame_magic, 4))
		return frame_fail(r, at, st, LM_EDATA, "bad magic (stream out of sync)");
	fr->type = b[4];
	fr->elem = b[5];
	fr->flags = (uint16_t)(b[6] | b[7] << 8);
	fr->rows = get_u32(b + 8);
	fr->cols = get_u32(b + 12);
	fr->stream = get_u32(b + 16);
	fr->pos = (int32_t)get_u32(b + 20);
	fr->mark = get_u32(b + 24);
	uint32_t reserved = get_u32(b + 28);
	if (reserved) {
		snprintf(why, sizeof why, "reserved field is 0x%08x (must be 0)", reserved);
		return frame_fail(r, at, st, LM_EDATA, why);
	}
	if (frame_problem(fr, why, sizeof why))
		return frame_fail(r, at, st, LM_EDATA, why);
	if (frame_bytes(fr)) {
		int rc = read_payload(r, fr, at, st);
		if (rc)
			return rc;
		if (fr->elem == LM_ELEM_F32) {
			/* a NaN or an infinity is bad data: no stage makes one from good input */
			const uint8_t *p = fr->data;
			size_t ne = (size_t)fr->rows * fr->cols;
			for (size_t i = 0; i < ne; i++) {
				uint32_t u;
				memcpy(&u, p + 4 * i, 4);
				if ((u & 0x7f800000u) == 0x7f800000u) {
					float v;
					memcpy(&v, &u, 4);
					snprintf(why, sizeof why, "%s frame of stream %" PRIu32 " pos %" PRId32
						 ": row %zu col %zu is %s (not finite)",
						 lm_frame_type_name(fr->type), fr->stream, fr->pos, i / fr->cols,
						 i % fr->cols, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
					lm_frame_free(fr);
					return frame_fail(r, at, st, LM_EDATA, why);
				}
			}
		}
	}
	r->nframes++;
	return 0;
}

/* ---- writer ---- */

static int write_fail(const lm_writer *w, lm_status *st)
{
	return lm_fail(st, LM_EIO, "%s: frame %" PRIu64 " at byte %" PRIu64 ": write failed: %s",
		       w->name, w->nframes, w->off, strerror(errno));
}

int lm_writer_open(lm_writer **wp, FILE *f, const char *name, const lm_stream_header *h, lm_status *st)
{
	char why[160];
	*wp = NULL;
	name = name ? name : "-";
	if (isatty(fileno(f)))
		return lm_fail(st, LM_EUSAGE, "%s: refusing to write binary frames to a terminal", name);
	if (header_problem(h, why, sizeof why))
		return lm_fail(st, LM_EINTERNAL, "%s: cannot write header: %s", name, why);
	char line[LM_HEADER_MAX];
	size_t n = format_header(h, line);
	if (!n)
		return lm_fail(st, LM_EINTERNAL, "%s: cannot write header: longer than %d bytes", name,
			       LM_HEADER_MAX);
	lm_writer *w = calloc(1, sizeof *w);
	if (!w)
		return lm_fail(st, LM_ENOMEM, "%s: out of memory", name);
	w->f = f;
	snprintf(w->name, sizeof w->name, "%s", name);
	struct stat sb;
	w->flush = fstat(fileno(f), &sb) == 0 && (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode));
	if (fwrite(line, 1, n, f) != n || (w->flush && fflush(f))) {
		int rc = lm_fail(st, LM_EIO, "%s: header: write failed: %s", name, strerror(errno));
		free(w);
		return rc;
	}
	w->off = n;
	*wp = w;
	return 0;
}

/* Writes n bytes of 4-byte elements in little-endian order, through a small buffer when the host
 * is big-endian. */
static int write_payload(lm_writer *w, const uint8_t *p, size_t n, size_t esize)
{
	if (host_is_le() || esize != 4)
		return fwrite(p, 1, n, w->f) == n ? 0 : -1;
	uint8_t buf[4096];
	for (size_t done = 0; done < n;) {
		size_t k = n - done < sizeof buf ? n - done : sizeof buf;
		memcpy(buf, p + done, k);
		swap4(buf, k / 4);
		if (fwrite(buf, 1, k, w->f) != k)
			return -1;
		done += k;
	}
	return 0;
}

int lm_writer_put(lm_writer *w, const lm_frame *fr, lm_status *st)
{
	char why[200];
	if (frame_problem(fr, why, sizeof why))
		return lm_fail(st, LM_EINTERNAL, "%s: frame %" PRIu64 ": cannot write: %s", w->name,
			       w->nframes, why);
	size_t bytes = frame_bytes(fr);
	if (bytes && !fr->data)
		return lm_fail(st, LM_EINTERNAL, "%s: frame %" PRIu64 ": cannot write: no data",
			       w->name, w->nframes);
	uint8_t b[FRAME_HEADER_BYTES];
	memcpy(b, frame_magic, 4);
	b[4] = fr->type;
	b[5] = fr->elem;
	b[6] = fr->flags & 0xff;
	b[7] = fr->flags >> 8;
	put_u32(b + 8, fr->rows);
	put_u32(b + 12, fr->cols);
	put_u32(b + 16, fr->stream);
	put_u32(b + 20, (uint32_t)fr->pos);
	put_u32(b + 24, fr->mark);
	put_u32(b + 28, 0);
	if (fwrite(b, 1, sizeof b, w->f) != sizeof b)
		return write_fail(w, st);
	if (bytes && write_payload(w, fr->data, bytes, lm_elem_size(fr->elem)))
		return write_fail(w, st);
	if (w->flush && fflush(w->f))
		return write_fail(w, st);
	w->off += sizeof b + bytes;
	w->nframes++;
	return 0;
}

int lm_writer_close(lm_writer *w, lm_status *st)
{
	if (!w)
		return 0;
	int rc = 0;
	if (fflush(w->f) || ferror(w->f))
		rc = lm_fail(st, LM_EIO, "%s: write failed: %s", w->name, strerror(errno));
	free(w);
	return rc;
}
