/* test_safetensors: lib/safetensors.c against hand-built files.
 *
 * Valid files round-trip exactly; F16 and BF16 decode bit-exactly (known values, and all 65536
 * F16 codes against the compiler's _Float16 where it has one); every malformed header is refused
 * with LM_EDATA and a message naming the file and the tensor. No fixtures needed. */
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include "safetensors.h"
#include "tap.h"

/* A safetensors image in memory: u64 LE header length, header, data. Caller frees. */
static uint8_t *build(const char *header, const void *data, size_t ndata, size_t *len)
{
	size_t hl = strlen(header);
	*len = 8 + hl + ndata;
	uint8_t *b = malloc(*len ? *len : 1);
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
	memcpy(b + 8, header, hl);
	if (ndata)
		memcpy(b + 8 + hl, data, ndata);
	return b;
}

static uint32_t bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

/* Opens header+data and expects LM_EDATA with `want` in the message. */
static void expect_bad(const char *what, const char *header, size_t ndata, const char *want)
{
	uint8_t zeros[64] = {0};
	size_t len;
	uint8_t *b = build(header, zeros, ndata, &len);
	lm_safetensors *sf = (lm_safetensors *)1;
	lm_status st = {0};
	int rc = lm_st_open_mem(&sf, b, len, "model.safetensors", &st);
	int pass = rc == LM_EDATA && sf == NULL && strstr(st.msg, want) &&
		   strncmp(st.msg, "model.safetensors: ", 19) == 0;
	ok(pass, "%s: LM_EDATA: %s", what, st.msg);
	if (!pass)
		diag("  rc %d, want LM_EDATA and a message containing \"%s\"", rc, want);
	lm_st_close(rc ? NULL : sf);
	free(b);
}

static void test_round_trip(void)
{
	char dir[] = "/tmp/test_safetensors.XXXXXX";
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	char path[256], tmp[300];
	snprintf(path, sizeof path, "%s/rt.safetensors", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	float a[2 * 3 * 5], s[1] = {-0.0f}, e[1] = {0};
	for (int i = 0; i < 30; i++)
		a[i] = (float)i * 0.37f - 3.3f;
	a[7] = 1e-40f; /* subnormal survives */
	lm_st_out out[3] = {
		{"layer.weight", 3, {2, 3, 5}, a},
		{"scalar", 0, {0}, s},
		{"empty", 2, {0, 4}, e},
	};
	lm_status st = {0};
	int rc = lm_st_write_f32(path, out, 3, &st);
	ok(rc == 0, "lm_st_write_f32 wrote 3 tensors (rc %d %s)", rc, rc ? st.msg : "");
	ok(access(tmp, F_OK) != 0, "no %s left behind", tmp);

	FILE *fp = fopen(path, "rb");
	uint8_t h8[8] = {0};
	size_t got = fp ? fread(h8, 1, 8, fp) : 0;
	if (fp)
		fclose(fp);
	uint64_t hl = 0;
	for (int i = 7; i >= 0; i--)
		hl = hl << 8 | h8[i];
	ok(got == 8 && hl % 8 == 0, "header length %llu is a multiple of 8", (unsigned long long)hl);

	lm_safetensors *sf;
	rc = lm_st_open(&sf, path, &st);
	ok(rc == 0, "lm_st_open reads it back (rc %d %s)", rc, rc ? st.msg : "");
	if (rc)
		return;
	ok(lm_st_count(sf) == 3, "3 tensors (got %d)", lm_st_count(sf));
	ok(strcmp(lm_st_name(sf), path) == 0, "lm_st_name is the path");
	const lm_tensor_info *t = lm_st_find(sf, "layer.weight");
	ok(t && t->dtype == LM_DT_F32 && t->ndim == 3 && t->shape[0] == 2 && t->shape[1] == 3 &&
		   t->shape[2] == 5 && t->nbytes == 120 && lm_tensor_numel(t) == 30,
	   "layer.weight: F32 [2, 3, 5], 120 bytes");
	ok(lm_st_find(sf, "nope") == NULL, "lm_st_find of an absent name is NULL");
	ok(lm_st_at(sf, 3) == NULL && lm_st_at(sf, -1) == NULL, "lm_st_at out of range is NULL");
	ok(lm_st_metadata(sf, "format") == NULL, "no metadata");

	float *y = NULL;
	int64_t sh[3] = {2, 3, 5};
	rc = lm_st_load_f32(sf, "layer.weight", 3, sh, &y, &st);
	int same = rc == 0;
	for (int i = 0; same && i < 30; i++)
		same = bits(y[i]) == bits(a[i]);
	ok(same, "layer.weight round-trips bit-exactly (30 values, tolerance 0)");
	free(y);
	rc = lm_st_load_f32(sf, "scalar", 0, NULL, &y, &st);
	ok(rc == 0 && bits(y[0]) == bits(-0.0f), "0-dim tensor round-trips (-0.0)");
	free(y);
	int64_t she[2] = {0, 4};
	rc = lm_st_load_f32(sf, "empty", 2, she, &y, &st);
	ok(rc == 0 && y != NULL, "[0, 4] tensor loads (rc %d)", rc);
	free(y);

	/* load_f32 errors */
	int64_t wrong[3] = {2, 5, 3};
	rc = lm_st_load_f32(sf, "layer.weight", 3, wrong, &y, &st);
	char want[512];
	snprintf(want, sizeof want, "%s: tensor 'layer.weight' has shape [2, 3, 5], config wants [2, 5, 3]",
		 path);
	ok(rc == LM_EDATA && y == NULL && strcmp(st.msg, want) == 0, "wrong shape names both: %s", st.msg);
	rc = lm_st_load_f32(sf, "layer.weight", 2, wrong, &y, &st);
	ok(rc == LM_EDATA && strstr(st.msg, "config wants [2, 5]"), "wrong ndim: %s", st.msg);
	rc = lm_st_load_f32(sf, "model.norm.weight", 1, sh, &y, &st);
	snprintf(want, sizeof want, "%s: tensor 'model.norm.weight' missing", path);
	ok(rc == LM_EDATA && strcmp(st.msg, want) == 0, "missing tensor: %s", st.msg);
	lm_st_close(sf);

	/* writer refuses duplicate names and leaves nothing */
	lm_st_out dup[2] = {{"x", 1, {1}, s}, {"x", 1, {1}, s}};
	snprintf(tmp, sizeof tmp, "%s/dup.safetensors", dir);
	rc = lm_st_write_f32(tmp, dup, 2, &st);
	ok(rc != 0 && access(tmp, F_OK) != 0, "duplicate names refused by the writer (%s)", st.msg);
	snprintf(tmp, sizeof tmp, "%s/no/such/dir/x.safetensors", dir);
	rc = lm_st_write_f32(tmp, out, 1, &st);
	ok(rc == LM_EIO, "unwritable path gives LM_EIO (%s)", st.msg);

	unlink(path);
	rmdir(dir);
	rc = lm_st_open(&sf, path, &st);
	ok(rc == LM_ENOINPUT && sf == NULL && strstr(st.msg, path), "absent file gives LM_ENOINPUT: %s",
	   st.msg);
	rc = lm_st_open(&sf, "/tmp", &st);
	ok(rc == LM_ENOINPUT, "a directory gives LM_ENOINPUT: %s", st.msg);
}

/* F16, BF16 (at odd, unaligned offsets) and integer tensors in one file, with metadata. */
static void test_decode(void)
{
	static const uint16_t f16[] = {0x3c00, 0xc100, 0x7bff, 0x0001, 0x03ff, 0x0400,
				       0x8000, 0x7c00, 0xfc00, 0x7e00, 0x3555};
	const float f16_want[] = {1.0f, -2.5f, 65504.0f, 0x1p-24f, 0x3ffp-24f, 0x1p-14f,
				  -0.0f, INFINITY, -INFINITY, NAN, 0x1.554p-2f};
	static const uint16_t bf16[] = {0x4049, 0x3f80, 0xc020, 0x7f80, 0x0001, 0x7fc0, 0xff80};
	const float bf16_want[] = {3.140625f, 1.0f, -2.5f, INFINITY, 0x1p-133f, NAN, -INFINITY};
	const int nf = 11, nb = 7;
	uint8_t data[256] = {0};
	data[0] = 0xab;                        /* U8 [1] at [0, 1) */
	memcpy(data + 1, f16, sizeof f16);     /* F16 [11] at [1, 23) */
	memcpy(data + 23, bf16, sizeof bf16);  /* BF16 [7] at [23, 37) */
	int32_t i32[3] = {7, -1, 128000};      /* I32 [3] at [37, 49) */
	memcpy(data + 37, i32, sizeof i32);
	int64_t i64[2] = {5, (int64_t)1 << 40}; /* I64 [2] at [49, 65) */
	memcpy(data + 49, i64, sizeof i64);
	const char *hdr =
		"{\"__metadata__\": {\"format\": \"pt\"},"
		" \"u\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]},"
		" \"h\": {\"dtype\": \"F16\", \"shape\": [11], \"data_offsets\": [1, 23]},"
		" \"b\": {\"dtype\": \"BF16\", \"shape\": [7, 1], \"data_offsets\": [23, 37]},"
		" \"ids\": {\"dtype\": \"I32\", \"shape\": [1, 3], \"data_offsets\": [37, 49]},"
		" \"big\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [49, 65]}}      ";
	size_t len;
	uint8_t *buf = build(hdr, data, 65, &len);
	lm_safetensors *sf;
	lm_status st = {0};
	int rc = lm_st_open_mem(&sf, buf, len, "mixed.safetensors", &st);
	ok(rc == 0, "mixed-dtype file with padded header opens (rc %d %s)", rc, rc ? st.msg : "");
	if (rc) {
		free(buf);
		return;
	}
	ok(lm_st_count(sf) == 5, "5 tensors, __metadata__ not counted (got %d)", lm_st_count(sf));
	ok(lm_st_at(sf, 0) && strcmp(lm_st_at(sf, 0)->name, "u") == 0 &&
		   strcmp(lm_st_at(sf, 4)->name, "big") == 0,
	   "lm_st_at follows header order");
	const char *fmt = lm_st_metadata(sf, "format");
	ok(fmt && strcmp(fmt, "pt") == 0, "metadata format = pt");
	ok(lm_st_find(sf, "u")->dtype == LM_DT_U8 && *(const uint8_t *)lm_st_find(sf, "u")->data == 0xab,
	   "U8 tensor points at its byte");

	float *y;
	int64_t shf[1] = {nf}, shb[2] = {nb, 1};
	rc = lm_st_load_f32(sf, "h", 1, shf, &y, &st);
	int same = rc == 0;
	for (int i = 0; same && i < nf; i++)
		same = isnan(f16_want[i]) ? isnan(y[i]) : bits(y[i]) == bits(f16_want[i]);
	ok(same, "F16 decodes exactly: 1, -2.5, 65504, 2^-24, max subnormal, min normal, -0, +-inf, nan, 1/3");
	if (rc == 0)
		for (int i = 0; i < nf; i++)
			diag("  f16 0x%04x -> %.9g", f16[i], y[i]);
	free(y);
	rc = lm_st_load_f32(sf, "b", 2, shb, &y, &st);
	same = rc == 0;
	for (int i = 0; same && i < nb; i++)
		same = isnan(bf16_want[i]) ? isnan(y[i]) : bits(y[i]) == bits(bf16_want[i]);
	ok(same, "BF16 decodes exactly: 3.140625, 1, -2.5, inf, 2^-133, nan, -inf");
	free(y);

	rc = lm_st_load_f32(sf, "ids", 2, (int64_t[]){1, 3}, &y, &st);
	ok(rc == LM_EDATA && strcmp(st.msg, "mixed.safetensors: tensor 'ids' has dtype I32, want a float type") == 0,
	   "load_f32 of an I32 tensor: %s", st.msg);
	rc = lm_st_load_f32(sf, "u", 1, (int64_t[]){1}, &y, &st);
	ok(rc == LM_EDATA && strstr(st.msg, "dtype U8"), "load_f32 of a U8 tensor: %s", st.msg);

	int32_t *ids;
	int64_t n;
	rc = lm_st_load_i32(sf, "ids", &ids, &n, &st);
	ok(rc == 0 && n == 3 && ids[0] == 7 && ids[1] == -1 && ids[2] == 128000,
	   "lm_st_load_i32 of I32 [1, 3]: 7 -1 128000");
	if (!rc)
		free(ids);
	rc = lm_st_load_i32(sf, "big", &ids, &n, &st);
	ok(rc == LM_EDATA && strstr(st.msg, "does not fit in int32"), "I64 2^40 into int32 refused: %s",
	   st.msg);
	int64_t *l;
	rc = lm_st_load_i64(sf, "big", &l, &n, &st);
	ok(rc == 0 && n == 2 && l[0] == 5 && l[1] == (int64_t)1 << 40, "lm_st_load_i64 of I64 [2]: 5 2^40");
	if (!rc)
		free(l);
	rc = lm_st_load_i64(sf, "ids", &l, &n, &st);
	ok(rc == 0 && n == 3 && l[2] == 128000, "lm_st_load_i64 widens I32");
	if (!rc)
		free(l);
	rc = lm_st_load_i32(sf, "h", &ids, &n, &st);
	ok(rc == LM_EDATA && strstr(st.msg, "dtype F16, want I32 or I64"), "load_i32 of F16: %s", st.msg);
	lm_st_close(sf);
	free(buf);
}

static void test_conversions(void)
{
	/* lm_f32_to_bf16: round to nearest even, as torch */
	struct {
		uint32_t in;
		uint16_t want;
	} c[] = {
		{0x40490fdb, 0x4049}, /* pi -> 3.140625 */
		{0x3f808000, 0x3f80}, /* tie, even below */
		{0x3f818000, 0x3f82}, /* tie, even above */
		{0x3f808001, 0x3f81}, /* just above the tie */
		{0x7f7fffff, 0x7f80}, /* FLT_MAX rounds to inf */
		{0xff800000, 0xff80}, /* -inf */
		{0x7fc00001, 0x7fc0}, /* nan */
		{0x00000001, 0x0000}, /* tiny subnormal to +0 */
	};
	int all = 1;
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		float f;
		memcpy(&f, &c[i].in, 4);
		uint16_t got = lm_f32_to_bf16(f);
		if (got != c[i].want) {
			all = 0;
			diag("  f32 0x%08x -> bf16 0x%04x, want 0x%04x", c[i].in, got, c[i].want);
		}
	}
	ok(all, "lm_f32_to_bf16 rounds to nearest even on 8 cases (ties, overflow, inf, nan)");

	int bad = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		float f = lm_bf16_to_f32((uint16_t)h);
		if (!isnan(f) && lm_f32_to_bf16(f) != h)
			bad++;
	}
	ok(bad == 0, "bf16 -> f32 -> bf16 is the identity on all 65536 non-NaN codes (%d differ)", bad);

	/* all F16 codes against the textbook formula (-1)^s * 2^(e-15) * (1 + m/1024), e = 0: 2^-14 m/1024 */
	bad = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		int e = (h >> 10) & 31, m = h & 1023;
		double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
		float want = (float)((h & 0x8000) ? -v : v), got = lm_f16_to_f32((uint16_t)h);
		if (isnan(want) ? !isnan(got) : bits(got) != bits(want))
			bad++;
	}
	ok(bad == 0, "lm_f16_to_f32 matches the binary16 formula on all 65536 codes (%d differ)", bad);
#ifdef __FLT16_MAX__
	bad = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		_Float16 x;
		uint16_t hh = (uint16_t)h;
		memcpy(&x, &hh, 2);
		float want = (float)x, got = lm_f16_to_f32(hh);
		if (isnan(want) ? !isnan(got) : bits(got) != bits(want))
			bad++;
	}
	ok(bad == 0, "lm_f16_to_f32 matches the compiler's _Float16 on all 65536 codes (%d differ)", bad);
#else
	diag("no _Float16 in this compiler: the check against it is skipped");
#endif
}

#define T(dt, shape, off) "{\"dtype\": \"" dt "\", \"shape\": " shape ", \"data_offsets\": " off "}"

static void test_errors(void)
{
	lm_safetensors *sf;
	lm_status st = {0};
	uint8_t small[5] = {1, 0, 0, 0, 0};
	int rc = lm_st_open_mem(&sf, small, 5, "model.safetensors", &st);
	ok(rc == LM_EDATA && strstr(st.msg, "5 bytes, too short"), "truncated file (5 bytes): %s", st.msg);

	uint8_t huge[16] = {0, 0, 0, 0x10, 0, 0, 0, 0, '{', '}'}; /* 2^28 */
	rc = lm_st_open_mem(&sf, huge, 16, "model.safetensors", &st);
	ok(rc == LM_EDATA && strstr(st.msg, "over the 100000000-byte limit"), "header length 2^28: %s", st.msg);
	uint8_t all_ff[16];
	memset(all_ff, 0xff, sizeof all_ff);
	rc = lm_st_open_mem(&sf, all_ff, 16, "model.safetensors", &st);
	ok(rc == LM_EDATA && strstr(st.msg, "over the"), "header length 2^64-1: %s", st.msg);
	uint8_t past[12] = {9, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
	rc = lm_st_open_mem(&sf, past, 12, "model.safetensors", &st);
	ok(rc == LM_EDATA && strstr(st.msg, "header length 9 runs past the end of the file (12 bytes)"),
	   "header length past EOF: %s", st.msg);

	expect_bad("empty header", "", 0, "header JSON, line");
	expect_bad("bad JSON", "{\"a\":\n {\"dtype\": F32}}", 0, "header JSON, line 2 column");
	expect_bad("duplicate key", "{\"a\": " T("U8", "[1]", "[0, 1]") ", \"a\": " T("U8", "[1]", "[1, 2]") "}",
		   2, "duplicate");
	expect_bad("top level array", "[1, 2]", 0, "header JSON is not an object");
	expect_bad("entry not an object", "{\"w\": 3}", 0, "tensor 'w': entry is not an object");
	expect_bad("unknown dtype", "{\"model.norm.weight\": " T("F64", "[2]", "[0, 16]") "}", 16,
		   "tensor 'model.norm.weight': unsupported dtype 'F64'");
	expect_bad("dtype missing", "{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
		   "tensor 'w': dtype missing");
	expect_bad("dtype not a string", "{\"w\": {\"dtype\": 5, \"shape\": [1], \"data_offsets\": [0, 4]}}",
		   4, "tensor 'w': dtype is not a string");
	expect_bad("shape missing", "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4,
		   "tensor 'w': shape missing");
	expect_bad("negative shape", "{\"w\": " T("F32", "[2, -1]", "[0, 8]") "}", 8,
		   "tensor 'w': shape[1] is not a non-negative integer");
	expect_bad("float shape", "{\"w\": " T("F32", "[2.0]", "[0, 8]") "}", 8,
		   "tensor 'w': shape[0] is not a non-negative integer");
	expect_bad("9 dims", "{\"w\": " T("U8", "[1,1,1,1,1,1,1,1,1]", "[0, 1]") "}", 1,
		   "tensor 'w': shape has 9 dims (at most 8)");
	expect_bad("shape overflow", "{\"w\": " T("F32", "[1099511627776, 1099511627776]", "[0, 8]") "}", 8,
		   "tensor 'w': shape overflows");
	expect_bad("shape overflow 2", "{\"w\": " T("I64", "[4611686018427387904]", "[0, 8]") "}", 8,
		   "tensor 'w': shape overflows");
	expect_bad("shape/size mismatch", "{\"w\": " T("F32", "[3]", "[0, 8]") "}", 8,
		   "tensor 'w': F32 shape needs 12 bytes, data_offsets [0, 8] hold 8");
	expect_bad("offsets out of range", "{\"model.norm.weight\": " T("F32", "[10]", "[10, 50]") "}", 16,
		   "tensor 'model.norm.weight': data_offsets [10, 50] out of range (data is 16 bytes)");
	expect_bad("begin > end", "{\"w\": " T("U8", "[0]", "[8, 4]") "}", 8,
		   "tensor 'w': data_offsets [8, 4] has begin > end");
	expect_bad("offsets not a pair", "{\"w\": " T("U8", "[1]", "[0]") "}", 8,
		   "tensor 'w': data_offsets is not [begin, end]");
	expect_bad("negative offset", "{\"w\": " T("U8", "[1]", "[-1, 0]") "}", 8,
		   "tensor 'w': data_offsets is not [begin, end]");
	expect_bad("offsets missing", "{\"w\": {\"dtype\": \"U8\", \"shape\": [1]}}", 8,
		   "tensor 'w': data_offsets missing");
	expect_bad("overlapping tensors",
		   "{\"a\": " T("F32", "[2]", "[4, 12]") ", \"b\": " T("F32", "[2]", "[0, 8]") "}", 16,
		   "tensors 'b' [0, 8] and 'a' [4, 12] overlap");
	expect_bad("same range twice",
		   "{\"a\": " T("U8", "[4]", "[0, 4]") ", \"b\": " T("U8", "[4]", "[0, 4]") "}", 8, "overlap");
	/* the offsets must tile the data exactly (the reference validator's rule) */
	expect_bad("unused bytes between tensors",
		   "{\"a\": " T("U8", "[4]", "[0, 4]") ", \"b\": " T("U8", "[4]", "[8, 12]") "}", 12,
		   "4 unused bytes [4, 8) before tensor 'b'");
	expect_bad("unused bytes before the first tensor", "{\"a\": " T("U8", "[4]", "[2, 6]") "}", 6,
		   "2 unused bytes [0, 2) before tensor 'a'");
	expect_bad("unused bytes after the last tensor", "{\"a\": " T("U8", "[4]", "[0, 4]") "}", 7,
		   "3 unused bytes [4, 7) after the last tensor");
	expect_bad("data without tensors", "{\"__metadata__\": {\"format\": \"pt\"}}", 4,
		   "4 unused bytes [0, 4) after the last tensor");
	expect_bad("metadata non-string", "{\"__metadata__\": {\"format\": \"pt\", \"n\": 3}}", 0,
		   "__metadata__ 'n' is not a string");
	expect_bad("metadata not an object", "{\"__metadata__\": [\"pt\"]}", 0,
		   "__metadata__ is not an object");

	/* edge cases that are valid */
	size_t len;
	uint8_t z[8] = {0};
	uint8_t *b = build("{\"a\": " T("U8", "[0]", "[4, 4]") ", \"b\": " T("U8", "[4]", "[0, 4]")
			   ", \"c\": " T("U8", "[4]", "[4, 8]") "}", z, 8, &len);
	rc = lm_st_open_mem(&sf, b, len, "ok.safetensors", &st);
	ok(rc == 0, "adjacent tensors and an empty one at the seam are accepted (rc %d %s)", rc,
	   rc ? st.msg : "");
	if (!rc)
		lm_st_close(sf);
	free(b);
	b = build("{}", z, 0, &len);
	rc = lm_st_open_mem(&sf, b, len, "ok.safetensors", &st);
	ok(rc == 0 && lm_st_count(sf) == 0, "a header {} with no tensors is accepted");
	if (!rc)
		lm_st_close(sf);
	free(b);
}

/* lm_tensor_nonfinite: the first NaN or infinity of an F32, BF16 or F16 tensor (also past a
 * 4096-element block), -1 for finite ones and for integer tensors. */
static void test_nonfinite(void)
{
	enum { N = 5000 };
	static float f[N];
	static uint16_t h[N];
	lm_tensor_info t = {.ndim = 1, .shape = {N}};
	for (int i = 0; i < N; i++)
		f[i] = (float)i - 2500.5f, h[i] = 0x3c00; /* F16 and BF16 finite values */
	t.dtype = LM_DT_F32, t.data = f;
	ok(lm_tensor_nonfinite(&t) == -1, "F32: all finite: -1");
	f[4500] = NAN, f[4600] = INFINITY;
	ok(lm_tensor_nonfinite(&t) == 4500, "F32: NaN at 4500 found");
	f[4500] = 1, f[4096] = -INFINITY;
	ok(lm_tensor_nonfinite(&t) == 4096, "F32: -inf at 4096 found");
	t.dtype = LM_DT_BF16, t.data = h;
	ok(lm_tensor_nonfinite(&t) == -1, "BF16: all finite: -1");
	h[7] = 0x7fc0; /* BF16 NaN */
	ok(lm_tensor_nonfinite(&t) == 7, "BF16: NaN at 7 found");
	t.dtype = LM_DT_F16, h[7] = 0x7bff; /* F16 65504, its largest finite */
	ok(lm_tensor_nonfinite(&t) == -1, "F16: all finite (65504 included): -1");
	h[4999] = 0xfc00; /* F16 -inf */
	ok(lm_tensor_nonfinite(&t) == 4999, "F16: -inf at 4999 found");
	t.dtype = LM_DT_I32, t.data = f;
	ok(lm_tensor_nonfinite(&t) == -1, "I32: not a float tensor: -1");
}

int main(void)
{
	test_nonfinite();
	test_round_trip();
	test_decode();
	test_conversions();
	test_errors();
	return done_testing();
}
