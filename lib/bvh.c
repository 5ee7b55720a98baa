/* bvh.c: BVH reader, writer and forward kinematics (see bvh.h).
 *
 * The reader is a hand-written tokenizer over the whole text: the hierarchy is read as
 * whitespace-separated tokens, the MOTION section line by line, so every error names the line.
 * Grammar accepted (keywords case-insensitive):
 *
 *   HIERARCHY ROOT name { joint-body } MOTION Frames: n Frame Time: t  data-line*n
 *   joint-body := ( OFFSET x y z | CHANNELS (3|6) chan... | JOINT name { joint-body }
 *                 | End Site { OFFSET x y z } )*
 *
 * Numbers are decimal (sign, digits, point, exponent); nan, inf, hex and overflow are rejected.
 */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <limits.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "bvh.h"

/* ---- tokenizer ---- */

typedef struct cursor {
	const char *p, *end;
	int line;         /* line of p (1-based) */
	const char *name; /* file name for messages */
	lm_status *st;
} cursor;

typedef struct token {
	const char *s;
	int len; /* 0 at end of input */
	int line;
} token;

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static token next_token(cursor *c)
{
	while (c->p < c->end && is_space(*c->p)) {
		if (*c->p == '\n')
			c->line++;
		c->p++;
	}
	token t = {c->p, 0, c->line};
	while (c->p < c->end && !is_space(*c->p))
		c->p++;
	size_t n = (size_t)(c->p - t.s);
	t.len = n > INT_MAX ? INT_MAX : (int)n;
	return t;
}

static int tok_is(token t, const char *kw)
{
	size_t n = strlen(kw);
	return (size_t)t.len == n && strncasecmp(t.s, kw, n) == 0;
}

/* Prints a token for a message: at most 40 bytes, non-printable bytes as '?'. */
static const char *tok_str(token t, char buf[48])
{
	if (t.len == 0)
		return "end of file";
	int n = t.len > 40 ? 40 : t.len, k = 0;
	buf[k++] = '\'';
	for (int i = 0; i < n; i++)
		buf[k++] = isprint((unsigned char)t.s[i]) ? t.s[i] : '?';
	if (t.len > n)
		buf[k++] = '.', buf[k++] = '.';
	buf[k++] = '\'';
	buf[k] = 0;
	return buf;
}

#define FAIL(c, ln, ...) fail_at((c), (ln), __VA_ARGS__)

static int fail_at(cursor *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(cursor *c, int line, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return lm_fail(c->st, LM_EDATA, "%s:%d: %s", c->name, line, msg);
}

/* Strict decimal number: [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?, finite. */
static int parse_number(const char *s, int len, double *out)
{
	int i = 0, digits = 0;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	while (i < len && isdigit((unsigned char)s[i]))
		i++, digits++;
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && isdigit((unsigned char)s[i]))
			i++, digits++;
	}
	if (!digits)
		return -1;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		int ed = 0;
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < len && isdigit((unsigned char)s[i]))
			i++, ed++;
		if (!ed)
			return -1;
	}
	if (i != len || len > 511)
		return -1;
	char buf[512];
	memcpy(buf, s, (size_t)len);
	buf[len] = 0;
	double v = strtod(buf, NULL);
	if (!isfinite(v) || fabs(v) > FLT_MAX)
		return -2; /* beyond the float range */
	*out = v;
	return 0;
}

static int expect_number(cursor *c, double *v, const char *what)
{
	token t = next_token(c);
	char b[48];
	int rc = parse_number(t.s, t.len, v);
	if (rc)
		return FAIL(c, t.line, "expected a number (%s), got %s%s", what, tok_str(t, b),
			    rc == -2 ? " (beyond the float range)" : "");
	return 0;
}

/* A non-negative decimal integer below limit. */
static int expect_count(cursor *c, long limit, long *v, const char *what)
{
	token t = next_token(c);
	char b[48];
	long n = 0;
	int ok = t.len > 0 && t.len < 12;
	for (int i = 0; ok && i < t.len; i++) {
		if (!isdigit((unsigned char)t.s[i]))
			ok = 0;
		else
			n = n * 10 + (t.s[i] - '0');
	}
	if (!ok)
		return FAIL(c, t.line, "expected %s, got %s", what, tok_str(t, b));
	if (n > limit)
		return FAIL(c, t.line, "%s %ld is too large (at most %ld)", what, n, limit);
	*v = n;
	return 0;
}

static int expect_kw(cursor *c, const char *kw)
{
	token t = next_token(c);
	char b[48];
	if (!tok_is(t, kw))
		return FAIL(c, t.line, "expected '%s', got %s", kw, tok_str(t, b));
	return 0;
}

/* ---- hierarchy ---- */

static int parse_channels(cursor *c, lm_bvh_joint *j, int line)
{
	long n;
	int rc;
	char b[48];
	if (j->nchan)
		return FAIL(c, line, "second CHANNELS line for joint '%s'", j->name);
	if ((rc = expect_count(c, 6, &n, "a channel count")))
		return rc;
	if (n != 3 && n != 6)
		return FAIL(c, line, "joint '%s' has %ld channels; 3 or 6 are supported", j->name, n);
	int seen_pos = 0, seen_rot = 0; /* bit per axis */
	for (int i = 0; i < n; i++) {
		token t = next_token(c);
		int axis = t.len >= 1 ? toupper((unsigned char)t.s[0]) - 'X' : -1;
		int pos = t.len == 9 && strncasecmp(t.s + 1, "position", 8) == 0;
		int rot = t.len == 9 && strncasecmp(t.s + 1, "rotation", 8) == 0;
		if (axis < 0 || axis > 2 || (!pos && !rot))
			return FAIL(c, t.line, "expected a channel name (Xposition ... Zrotation), got %s",
				    tok_str(t, b));
		int *seen = pos ? &seen_pos : &seen_rot;
		if (*seen & (1 << axis))
			return FAIL(c, t.line, "channel %s repeated in joint '%s'", tok_str(t, b), j->name);
		*seen |= 1 << axis;
		j->chan[i] = pos ? (char)('x' + axis) : (char)('X' + axis);
	}
	if (seen_rot != 7 || (n == 6 && seen_pos != 7))
		return FAIL(c, line, "joint '%s': expected %s", j->name,
			    n == 3 ? "3 rotation channels" : "3 position and 3 rotation channels");
	j->nchan = (int)n;
	return 0;
}

static int parse_offset(cursor *c, double v[3])
{
	int rc;
	for (int i = 0; i < 3; i++)
		if ((rc = expect_number(c, &v[i], "OFFSET")))
			return rc;
	return 0;
}

static int parse_end_site(cursor *c, lm_bvh_joint *j, int line)
{
	int rc;
	if (j->has_end)
		return FAIL(c, line, "second End Site in joint '%s'", j->name);
	if ((rc = expect_kw(c, "Site")) || (rc = expect_kw(c, "{")) || (rc = expect_kw(c, "OFFSET")) ||
	    (rc = parse_offset(c, j->end)) || (rc = expect_kw(c, "}")))
		return rc;
	j->has_end = 1;
	return 0;
}

static int new_joint(cursor *c, lm_bvh *b, int parent, int line)
{
	token t = next_token(c);
	char buf[48];
	if (t.len == 0 || t.s[0] == '{' || t.s[0] == '}')
		return FAIL(c, t.line, "expected a joint name, got %s", tok_str(t, buf));
	if (t.len >= LM_BVH_NAME)
		return FAIL(c, t.line, "joint name %s is longer than %d bytes", tok_str(t, buf), LM_BVH_NAME - 1);
	for (int i = 0; i < t.len; i++)
		if ((unsigned char)t.s[i] < 0x20 || t.s[i] == 0x7f)
			return FAIL(c, t.line, "joint name %s has a control character", tok_str(t, buf));
	if (b->njoints >= LM_BVH_MAX_JOINTS)
		return FAIL(c, line, "more than %d joints", LM_BVH_MAX_JOINTS);
	lm_bvh_joint *j = &b->joints[b->njoints];
	memset(j, 0, sizeof *j);
	memcpy(j->name, t.s, (size_t)t.len);
	j->name[t.len] = 0;
	if (lm_bvh_find(b, j->name) >= 0)
		return FAIL(c, t.line, "duplicate joint name '%s'", j->name);
	j->parent = parent;
	b->njoints++;
	return expect_kw(c, "{");
}

/* After "ROOT": reads the root and everything below it, up to its closing brace. */
static int parse_hierarchy(cursor *c, lm_bvh *b, int line)
{
	int stack[LM_BVH_MAX_JOINTS + 1], depth = 0, rc;
	char has_offset[LM_BVH_MAX_JOINTS] = {0};
	char buf[48];
	if ((rc = new_joint(c, b, -1, line)))
		return rc;
	stack[depth++] = 0;
	while (depth > 0) {
		int cur = stack[depth - 1];
		lm_bvh_joint *j = &b->joints[cur];
		token t = next_token(c);
		if (t.len == 0)
			return FAIL(c, t.line, "unexpected end of file: %d unclosed brace%s", depth,
				    depth > 1 ? "s" : "");
		if (tok_is(t, "OFFSET")) {
			if (has_offset[cur])
				return FAIL(c, t.line, "second OFFSET for joint '%s'", j->name);
			if ((rc = parse_offset(c, j->offset)))
				return rc;
			has_offset[cur] = 1;
		} else if (tok_is(t, "CHANNELS")) {
			if ((rc = parse_channels(c, j, t.line)))
				return rc;
		} else if (tok_is(t, "JOINT")) {
			if ((rc = new_joint(c, b, cur, t.line)))
				return rc;
			stack[depth++] = b->njoints - 1;
		} else if (tok_is(t, "End")) {
			if ((rc = parse_end_site(c, j, t.line)))
				return rc;
		} else if (tok_is(t, "}")) {
			if (!has_offset[cur])
				return FAIL(c, t.line, "joint '%s' has no OFFSET", j->name);
			depth--;
		} else if (tok_is(t, "ROOT") || tok_is(t, "MOTION")) {
			return FAIL(c, t.line, "%s inside joint '%s': unbalanced braces", tok_str(t, buf),
				    j->name);
		} else {
			return FAIL(c, t.line, "unknown keyword %s in joint '%s'", tok_str(t, buf), j->name);
		}
	}
	return 0;
}

/* ---- motion ---- */

/* The end of the line starting at p. */
static const char *line_end(const char *p, const char *end)
{
	const char *q = memchr(p, '\n', (size_t)(end - p));
	return q ? q : end;
}

static int blank(const char *p, const char *e)
{
	for (; p < e; p++)
		if (!is_space(*p))
			return 0;
	return 1;
}

/* Parses the values of one data line [p, e) into row (nchannels values). */
static int parse_data_line(cursor *c, const char *p, const char *e, int nch, double *row)
{
	int n = 0;
	char buf[48];
	while (p < e) {
		while (p < e && is_space(*p))
			p++;
		if (p == e)
			break;
		const char *s = p;
		while (p < e && !is_space(*p))
			p++;
		token t = {s, (int)(p - s), c->line};
		double v;
		int rc = parse_number(t.s, t.len, &v);
		if (rc)
			return FAIL(c, c->line, "value %d %s: %s", n + 1,
				    rc == -2 ? "is beyond the float range" : "is not a number", tok_str(t, buf));
		if (n < nch)
			row[n] = v;
		n++;
	}
	if (n != nch)
		return FAIL(c, c->line, "%d values on a data line, expected %d (one per channel)", n, nch);
	return 0;
}

static int parse_motion(cursor *c, lm_bvh *b)
{
	long nframes;
	double ft;
	int rc;
	token t = next_token(c);
	char buf[48];
	if (!tok_is(t, "MOTION"))
		return FAIL(c, t.line, "expected MOTION, got %s%s", tok_str(t, buf),
			    tok_is(t, "}") ? " (unbalanced braces)" : tok_is(t, "ROOT") ? " (only one ROOT is supported)" : "");
	if (b->nchannels == 0)
		return FAIL(c, t.line, "the hierarchy has no channels");
	if ((rc = expect_kw(c, "Frames:")))
		return rc;
	long limit = INT_MAX / b->nchannels;
	if ((rc = expect_count(c, limit, &nframes, "a frame count")))
		return rc;
	int frames_line = c->line; /* the count's line */
	if ((rc = expect_kw(c, "Frame")) || (rc = expect_kw(c, "Time:")) ||
	    (rc = expect_number(c, &ft, "Frame Time")))
		return rc;
	if (!(ft > 0))
		return FAIL(c, c->line, "Frame Time must be positive, got %g", ft);
	b->frame_time = ft;
	const char *e = line_end(c->p, c->end);
	if (!blank(c->p, e))
		return FAIL(c, c->line, "unexpected text after Frame Time");
	size_t cap = nframes < 1024 ? (size_t)nframes : 1024;
	b->motion = cap ? malloc(cap * (size_t)b->nchannels * sizeof *b->motion) : NULL;
	if (cap && !b->motion)
		return lm_fail(c->st, LM_ENOMEM, "%s: out of memory", c->name);
	int n = 0;
	while (e < c->end) { /* e points at the '\n' ending the previous line */
		c->p = e + 1;
		c->line++;
		e = line_end(c->p, c->end);
		if (blank(c->p, e))
			continue;
		if (n >= nframes)
			return FAIL(c, c->line, "more data lines than Frames: %ld", nframes);
		if ((size_t)n == cap) {
			size_t ncap = cap * 2 > (size_t)nframes ? (size_t)nframes : cap * 2;
			double *m = realloc(b->motion, ncap * (size_t)b->nchannels * sizeof *m);
			if (!m)
				return lm_fail(c->st, LM_ENOMEM, "%s: out of memory", c->name);
			b->motion = m, cap = ncap;
		}
		if ((rc = parse_data_line(c, c->p, e, b->nchannels, b->motion + (size_t)n * b->nchannels)))
			return rc;
		n++;
	}
	if (n != nframes)
		return FAIL(c, frames_line, "Frames: %ld but %d data line%s", nframes, n, n == 1 ? "" : "s");
	b->nframes = n;
	return 0;
}

int lm_bvh_parse(lm_bvh *b, const char *text, size_t len, const char *name, lm_status *st)
{
	memset(b, 0, sizeof *b);
	cursor c = {text, text + len, 1, name ? name : "bvh", st};
	int rc = expect_kw(&c, "HIERARCHY");
	if (!rc) {
		token t = next_token(&c);
		char buf[48];
		rc = tok_is(t, "ROOT") ? parse_hierarchy(&c, b, t.line)
				       : FAIL(&c, t.line, "expected ROOT, got %s", tok_str(t, buf));
	}
	if (!rc) {
		for (int j = 0; j < b->njoints; j++)
			b->nchannels += b->joints[j].nchan;
		rc = parse_motion(&c, b);
	}
	if (rc)
		lm_bvh_free(b);
	return rc;
}

int lm_bvh_read(lm_bvh *b, FILE *f, const char *name, lm_status *st)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	memset(b, 0, sizeof *b);
	if (!buf)
		return lm_fail(st, LM_ENOMEM, "%s: out of memory", name);
	for (;;) {
		if (n == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return lm_fail(st, LM_ENOMEM, "%s: out of memory", name);
			}
			buf = nb, cap *= 2;
		}
		size_t k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		return lm_fail(st, LM_EIO, "%s: read failed: %s", name, strerror(errno));
	}
	int rc = lm_bvh_parse(b, buf, n, name, st);
	free(buf);
	return rc;
}

void lm_bvh_free(lm_bvh *b)
{
	free(b->motion);
	b->motion = NULL;
	b->nframes = 0;
}

/* ---- writer ---- */

static void put_value(FILE *f, double v, const char *sep)
{
	if (v > -5e-7 && v < 5e-7)
		v = 0; /* no "-0.000000" */
	fprintf(f, "%s%.6f", sep, v);
}

static void put_tabs(FILE *f, int n)
{
	while (n-- > 0)
		fputc('\t', f);
}

static const char *chan_name(char c)
{
	switch (c) {
	case 'x': return "Xposition";
	case 'y': return "Yposition";
	case 'z': return "Zposition";
	case 'X': return "Xrotation";
	case 'Y': return "Yrotation";
	default: return "Zrotation";
	}
}

static void write_joint(const lm_bvh *b, int j, int depth, FILE *f)
{
	const lm_bvh_joint *jt = &b->joints[j];
	put_tabs(f, depth);
	fprintf(f, "%s %s\n", depth ? "JOINT" : "ROOT", jt->name);
	put_tabs(f, depth);
	fputs("{\n", f);
	put_tabs(f, depth + 1);
	fputs("OFFSET", f);
	for (int i = 0; i < 3; i++)
		put_value(f, jt->offset[i], " ");
	fputc('\n', f);
	if (jt->nchan) {
		put_tabs(f, depth + 1);
		fprintf(f, "CHANNELS %d", jt->nchan);
		for (int i = 0; i < jt->nchan; i++)
			fprintf(f, " %s", chan_name(jt->chan[i]));
		fputc('\n', f);
	}
	for (int k = j + 1; k < b->njoints; k++)
		if (b->joints[k].parent == j)
			write_joint(b, k, depth + 1, f);
	if (jt->has_end) {
		put_tabs(f, depth + 1);
		fputs("End Site\n", f);
		put_tabs(f, depth + 1);
		fputs("{\n", f);
		put_tabs(f, depth + 2);
		fputs("OFFSET", f);
		for (int i = 0; i < 3; i++)
			put_value(f, jt->end[i], " ");
		fputc('\n', f);
		put_tabs(f, depth + 1);
		fputs("}\n", f);
	}
	put_tabs(f, depth);
	fputs("}\n", f);
}

int lm_bvh_write(const lm_bvh *b, FILE *f, lm_status *st)
{
	int nch = 0;
	if (b->njoints < 1 || b->njoints > LM_BVH_MAX_JOINTS || b->joints[0].parent != -1)
		return lm_fail(st, LM_EDATA, "bvh write: no root joint");
	for (int j = 0; j < b->njoints; j++) {
		const lm_bvh_joint *jt = &b->joints[j];
		if (j > 0 && (jt->parent < 0 || jt->parent >= j))
			return lm_fail(st, LM_EDATA, "bvh write: joint %d ('%s') has parent %d", j, jt->name,
				       jt->parent);
		if (jt->nchan != 0 && jt->nchan != 3 && jt->nchan != 6)
			return lm_fail(st, LM_EDATA, "bvh write: joint '%s' has %d channels", jt->name, jt->nchan);
		nch += jt->nchan;
	}
	if (nch != b->nchannels || b->nframes < 0 || (b->nframes > 0 && !b->motion) || !(b->frame_time > 0))
		return lm_fail(st, LM_EDATA, "bvh write: inconsistent channels, frames or frame time");
	fputs("HIERARCHY\n", f);
	write_joint(b, 0, 0, f);
	/* %.6f gives "0.033333" at 30 fps; a frame time it would print as 0 gets %.6g */
	fprintf(f, "MOTION\nFrames: %d\n", b->nframes);
	if (b->frame_time >= 1e-6)
		fprintf(f, "Frame Time: %.6f\n", b->frame_time);
	else
		fprintf(f, "Frame Time: %.6g\n", b->frame_time);
	for (int t = 0; t < b->nframes; t++) {
		const double *row = b->motion + (size_t)t * b->nchannels;
		for (int i = 0; i < b->nchannels; i++)
			put_value(f, row[i], i ? " " : "");
		fputc('\n', f);
	}
	if (ferror(f))
		return lm_fail(st, LM_EIO, "bvh write: %s", strerror(errno));
	return 0;
}

/* ---- lookup, Euler angles, forward kinematics ---- */

int lm_bvh_find(const lm_bvh *b, const char *name)
{
	for (int j = 0; j < b->njoints; j++)
		if (strcmp(b->joints[j].name, name) == 0)
			return j;
	return -1;
}

int lm_bvh_rot_order(const lm_bvh_joint *j, char order[4])
{
	int n = 0;
	for (int i = 0; i < j->nchan && n < 3; i++)
		if (j->chan[i] >= 'X' && j->chan[i] <= 'Z')
			order[n++] = j->chan[i];
	order[n] = 0;
	return n;
}

static void matmul3(const double *a, const double *b, double *out)
{
	double r[9];
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 3; k++)
			r[i * 3 + k] = a[i * 3] * b[k] + a[i * 3 + 1] * b[3 + k] + a[i * 3 + 2] * b[6 + k];
	memcpy(out, r, sizeof r);
}

/* Rotation by rad about axis (0 x, 1 y, 2 z). */
static void axis_rot(int axis, double rad, double R[9])
{
	double c = cos(rad), s = sin(rad);
	int p = (axis + 1) % 3, q = (axis + 2) % 3;
	memset(R, 0, 9 * sizeof *R);
	R[axis * 3 + axis] = 1;
	R[p * 3 + p] = c, R[p * 3 + q] = -s;
	R[q * 3 + p] = s, R[q * 3 + q] = c;
}

static int axis_of(char c)
{
	c = (char)toupper((unsigned char)c);
	return c >= 'X' && c <= 'Z' ? c - 'X' : -1;
}

void lm_euler_to_mat(const char *order, const double deg[3], double R[9])
{
	static const double I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
	memcpy(R, I, sizeof I);
	for (int n = 0; n < 3 && order[n]; n++) {
		double A[9];
		int ax = axis_of(order[n]);
		if (ax < 0)
			continue;
		axis_rot(ax, deg[n] * (M_PI / 180), A);
		matmul3(R, A, R);
	}
}

/* R = R_i(a) R_j(b) R_k(c) with i, j, k distinct; s = +1 for the cyclic orders (XYZ, YZX, ZXY).
 * Then R[i][k] = s sin b, R[i][i] = cos b cos c, R[i][j] = -s cos b sin c,
 * R[k][k] = cos a cos b, R[j][k] = -s sin a cos b. */
void lm_mat_to_euler(const char *order, const double R[9], double deg[3])
{
	int i = axis_of(order[0]), j = axis_of(order[1]), k = axis_of(order[2]);
	deg[0] = deg[1] = deg[2] = 0;
	if (i < 0 || j < 0 || k < 0 || i == j || j == k || i == k)
		return;
	double s = j == (i + 1) % 3 ? 1 : -1;
	double cb = hypot(R[i * 3 + i], R[i * 3 + j]);
	double a, b = atan2(s * R[i * 3 + k], cb), c;
	if (cb > 1e-12) {
		a = atan2(-s * R[j * 3 + k], R[k * 3 + k]);
		c = atan2(-s * R[i * 3 + j], R[i * 3 + i]);
	} else { /* gimbal lock: c = 0, R_i(a) = R R_j(b)^T */
		double Bj[9], A[9];
		axis_rot(j, -b, Bj);
		matmul3(R, Bj, A);
		int p = (i + 1) % 3, q = (i + 2) % 3;
		a = atan2(A[q * 3 + p], A[p * 3 + p]);
		c = 0;
	}
	deg[0] = a * (180 / M_PI), deg[1] = b * (180 / M_PI), deg[2] = c * (180 / M_PI);
}

/* Local rotation and translation of joint j from its channel values ch (NULL: none). */
static void local_transform(const lm_bvh_joint *j, const double *ch, double R[9], double t[3])
{
	char order[4];
	double ang[3] = {0, 0, 0};
	int n = 0;
	memcpy(t, j->offset, 3 * sizeof *t);
	for (int i = 0; i < j->nchan; i++) {
		char c = j->chan[i];
		double v = ch ? ch[i] : 0;
		if (c >= 'x' && c <= 'z') {
			if (ch)
				t[c - 'x'] = v;
		} else if (n < 3) {
			order[n] = c, ang[n] = v, n++;
		}
	}
	order[n] = 0;
	lm_euler_to_mat(order, ang, R);
}

void lm_bvh_fk(const lm_bvh *b, int frame, double *grot, double *gpos)
{
	double rbuf[LM_BVH_MAX_JOINTS * 9], pbuf[LM_BVH_MAX_JOINTS * 3];
	double *G = grot ? grot : rbuf, *P = gpos ? gpos : pbuf;
	const double *row = frame >= 0 && frame < b->nframes ? b->motion + (size_t)frame * b->nchannels : NULL;
	int c = 0;
	for (int j = 0; j < b->njoints; j++) {
		const lm_bvh_joint *jt = &b->joints[j];
		double R[9], t[3];
		local_transform(jt, row ? row + c : NULL, R, t);
		c += jt->nchan;
		int p = jt->parent;
		if (p < 0) {
			memcpy(G + 9 * j, R, sizeof R);
			memcpy(P + 3 * j, t, sizeof t);
			continue;
		}
		const double *Gp = G + 9 * p, *Pp = P + 3 * p;
		matmul3(Gp, R, G + 9 * j);
		for (int r = 0; r < 3; r++)
			P[3 * j + r] = Pp[r] + Gp[3 * r] * t[0] + Gp[3 * r + 1] * t[1] + Gp[3 * r + 2] * t[2];
	}
}
