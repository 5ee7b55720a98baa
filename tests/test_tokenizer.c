/* test_tokenizer: the byte-level BPE tokenizer against Hugging Face `tokenizers`.
 *
 * 1. A tiny tokenizer built here (256 byte tokens, a few merges and added tokens) in two
 *    layouts (plain ByteLevel with the GPT-2 regex and add_prefix_space; the Llama 3 Sequence),
 *    against ids computed with HF tokenizers 0.23 (the script is in the comment at kTiny).
 *    unk_token / fuse_unk / byte_fallback on a vocab without some bytes, likewise.
 * 2. Files that are not tokenizer.json: each must fail with LM_EDATA naming the JSON path.
 * 3. The Llama 3 fixtures in $LLAMO_SHARED/tokenizer/llama3 (skipped when missing): every line of
 *    vectors.jsonl (ids exact, without the 128000/128001 lm_tokenize does not add), their decode
 *    round trip, divergences.jsonl ids_hf, decode.jsonl.
 * Tolerance: none, ids and text must be identical.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "tap.h"
#include "tokenizer.h"

/* ---- helpers ---- */

static int ids_equal(const int32_t *a, int na, const int32_t *b, int nb)
{
	return na == nb && (na == 0 || !memcmp(a, b, (size_t)na * sizeof *a));
}

static void print_ids(const char *what, const int32_t *ids, int n)
{
	char buf[400];
	int at = 0;
	for (int i = 0; i < n && at < (int)sizeof buf - 16; i++)
		at += snprintf(buf + at, sizeof buf - (size_t)at, "%s%d", i ? " " : "", ids[i]);
	diag("    %s: [%s]%s", what, buf, at >= (int)sizeof buf - 16 ? " ..." : "");
}

/* s with control chars as \\n, \\t, \\xHH, for one-line messages (static buffer) */
static const char *esc(const char *s)
{
	static char buf[160];
	size_t n = 0;
	for (; *s && n < sizeof buf - 8; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n' || c == '\t' || c == '\r')
			n += (size_t)snprintf(buf + n, sizeof buf - n, "\\%c", c == '\n' ? 'n' : c == '\t' ? 't' : 'r');
		else if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(buf + n, sizeof buf - n, "\\x%02x", c);
		else
			buf[n++] = (char)c;
	}
	buf[n] = 0;
	return buf;
}

static int ids_from_json(json_t *arr, int32_t **ids)
{
	int n = (int)json_array_size(arr);
	*ids = malloc((size_t)(n + 1) * sizeof **ids);
	for (int i = 0; i < n; i++)
		(*ids)[i] = (int32_t)json_integer_value(json_array_get(arr, (size_t)i));
	return n;
}

/* ---- 1. the tiny tokenizer ---- */

/* GPT-2 bytes_to_unicode, written out again here so the test does not trust the library's. */
static int byte_char(int b)
{
	int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
	if (printable)
		return b;
	int n = 0;
	for (int x = 0; x < b; x++)
		n += !((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE);
	return 256 + n;
}

/* kTiny: vocab = the 256 byte chars (id = byte) + these merges' results (ids 256..), then the
 * added tokens. Expected ids below come from:
 *   python3 -c 'from tokenizers import Tokenizer; t = Tokenizer.from_str(open("tiny.json").read());
 *               print(t.encode(s, add_special_tokens=False).ids)'
 * with tiny.json the string make_tiny() prints (tokenizers 0.23.3). */
static const char *const kMerges[] = {
	"Ġ t", "h e", "Ġt he", "Ġ w", "a l", "Ġw al", "k s", "Ġwal ks", "e r", "Ġ p",
	"Ġp er", "s o", "Ġper so", "n Ġ", "Ġ Ġ", "ĠĠ Ġ", "Ċ Ċ",
};
#define N_MERGES (int)(sizeof kMerges / sizeof *kMerges)

static char *make_tiny(int llama3_layout)
{
	size_t cap = 1 << 16, n = 0;
	char *s = malloc(cap);
	n += (size_t)snprintf(s + n, cap - n, "{\"version\": \"1.0\", \"added_tokens\": ["
		"{\"id\": %d, \"content\": \"<|bom|>\", \"single_word\": false, \"lstrip\": false, "
		"\"rstrip\": false, \"normalized\": false, \"special\": true},"
		"{\"id\": %d, \"content\": \"<|eom|>\", \"single_word\": false, \"lstrip\": false, "
		"\"rstrip\": false, \"normalized\": false, \"special\": true},"
		"{\"id\": %d, \"content\": \"<|bo\", \"single_word\": false, \"lstrip\": false, "
		"\"rstrip\": false, \"normalized\": false, \"special\": true}],",
		256 + N_MERGES, 257 + N_MERGES, 258 + N_MERGES);
	n += (size_t)snprintf(s + n, cap - n, "\"normalizer\": null, \"pre_tokenizer\": %s,",
		llama3_layout
		? "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
		  "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}"
		  "\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}, \"behavior\": \"Isolated\", "
		  "\"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
		  "\"use_regex\": false}]}"
		: "{\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true}");
	n += (size_t)snprintf(s + n, cap - n, "\"post_processor\": null, \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
		"\"trim_offsets\": true, \"use_regex\": true},"
		"\"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, \"fuse_unk\": false,"
		"\"byte_fallback\": false, \"ignore_merges\": %s, \"vocab\": {", llama3_layout ? "true" : "false");
	for (int b = 0; b < 256; b++)
		n += (size_t)snprintf(s + n, cap - n, "%s\"\\u%04x\": %d", b ? ", " : "", byte_char(b), b);
	for (int m = 0; m < N_MERGES; m++) {
		char merged[32];
		const char *sp = strchr(kMerges[m], ' ');
		snprintf(merged, sizeof merged, "%.*s%s", (int)(sp - kMerges[m]), kMerges[m], sp + 1);
		n += (size_t)snprintf(s + n, cap - n, ", \"%s\": %d", merged, 256 + m);
	}
	n += (size_t)snprintf(s + n, cap - n, "}, \"merges\": [");
	for (int m = 0; m < N_MERGES; m++) /* Llama 3: "a b" strings; the other: [a, b] pairs */
		if (llama3_layout)
			n += (size_t)snprintf(s + n, cap - n, "%s\"%s\"", m ? ", " : "", kMerges[m]);
		else {
			const char *sp = strchr(kMerges[m], ' ');
			n += (size_t)snprintf(s + n, cap - n, "%s[\"%.*s\", \"%s\"]", m ? ", " : "",
					      (int)(sp - kMerges[m]), kMerges[m], sp + 1);
		}
	snprintf(s + n, cap - n, "]}}");
	return s;
}

static const struct tiny_case {
	int layout;
	const char *text;
	int n;
	int32_t ids[24];
} kTinyCases[] = {
	/* ByteLevel(add_prefix_space, use_regex): GPT-2 regex, ' ' prepended to every segment */
	{0, "the person walks", 4, {258, 268, 110, 263}},
	{0, "the<|bom|>walks", 3, {258, 273, 263}},
	{0, "<|bom|><|eom|> the", 3, {273, 274, 258}},
	{0, "a  walk\n\nthe", 9, {32, 97, 32, 261, 107, 10, 10, 116, 257}},
	{0, "the <|bo x", 5, {258, 32, 275, 32, 120}},
	{0, "", 0, {0}},
	/* the Llama 3 Sequence, ignore_merges */
	{1, "the person walks", 5, {116, 257, 268, 110, 263}},
	{1, "Walks   the\n\n\nso", 8, {87, 260, 262, 270, 258, 272, 10, 267}},
	{1, "x<|bom|> 123 4567", 11, {120, 273, 32, 49, 50, 51, 32, 52, 53, 54, 55}},
	{1, "'S don't", 8, {39, 83, 32, 100, 111, 110, 39, 116}},
};

static int tiny_expected(const struct tiny_case *c, const int32_t *got, int n)
{
	return ids_equal(got, n, c->ids, c->n);
}

static void test_tiny(void)
{
	lm_tokenizer *tk[2] = {0};
	for (int layout = 0; layout < 2; layout++) {
		char *json = make_tiny(layout);
		lm_status st = {0};
		int rc = lm_tokenizer_parse(&tk[layout], json, strlen(json), "tiny.json", &st);
		ok(rc == 0, "tiny tokenizer (%s layout) parses%s%s", layout ? "Llama 3" : "ByteLevel",
		   rc ? ": " : "", rc ? st.msg : "");
		if (getenv("TINY_PRINT"))
			printf("%s\n", json);
		free(json);
	}
	if (!tk[0] || !tk[1])
		return;
	ok(lm_tokenizer_vocab_size(tk[0]) == 256 + N_MERGES + 3, "vocab size %d (want %d)",
	   lm_tokenizer_vocab_size(tk[0]), 256 + N_MERGES + 3);
	ok(lm_token_id(tk[0], "<|eom|>") == 257 + N_MERGES && lm_token_id(tk[0], "Ġthe") == 258 &&
	   lm_token_id(tk[0], "nope") == -1, "lm_token_id: added, vocab and unknown texts");
	for (size_t i = 0; i < sizeof kTinyCases / sizeof *kTinyCases; i++) {
		const struct tiny_case *c = &kTinyCases[i];
		int32_t *ids;
		int n;
		lm_status st = {0};
		int rc = lm_tokenize(tk[c->layout], c->text, strlen(c->text), &ids, &n, &st);
		int pass = rc == 0 && tiny_expected(c, ids, n);
		ok(pass, "tiny %s: encode \"%s\" gives HF's %d ids", c->layout ? "Llama 3" : "ByteLevel", esc(c->text), c->n);
		if (!pass) {
			print_ids("got", ids, rc ? 0 : n);
			print_ids("want", c->ids, c->n);
		}
		free(ids);
	}
	/* decode: added tokens give their text, bytes are joined, invalid UTF-8 becomes U+FFFD */
	int32_t dec[] = {273, 258, 226, 130, 97};
	char *text;
	size_t len;
	lm_status st = {0};
	int rc = lm_detokenize(tk[0], dec, 5, &text, &len, &st);
	ok(rc == 0 && len == strlen("<|bom|> the\xEF\xBF\xBD" "a") && !strcmp(text, "<|bom|> the\xEF\xBF\xBD" "a"),
	   "tiny: decode [273 258 226 130 97] = \"<|bom|> the\\ufffda\" (E2 82 is one maximal invalid subpart)");
	free(text);
	int32_t bad[] = {5, 9999};
	rc = lm_detokenize(tk[0], bad, 2, &text, &len, &st);
	ok(rc == LM_EDATA && text == NULL, "tiny: decode of unknown id 9999 is LM_EDATA (%s)", st.msg);
	int32_t *ids;
	int n;
	rc = lm_tokenize(tk[0], "ab\xC3(", 4, &ids, &n, &st);
	ok(rc == LM_EDATA && ids == NULL, "tiny: invalid UTF-8 input is LM_EDATA (%s)", st.msg);
	rc = lm_tokenize(tk[1], "a\0b", 3, &ids, &n, &st);
	ok(rc == 0 && n == 3 && ids[1] == 0, "tiny: a NUL byte in the text is a token (id 0)");
	free(ids);
	lm_tokenizer_free(tk[0]);
	lm_tokenizer_free(tk[1]);
}

/* unk_token, fuse_unk and byte_fallback on a vocab that lacks some byte chars ("x", "y", "c");
 * ids from HF tokenizers 0.23.3 for "axyb c ab". */
static void test_unk(void)
{
	static const struct { const char *opts; int32_t ids[8]; } cases[] = {
		{"\"fuse_unk\": true, \"byte_fallback\": false", {0, 2, 1, 3, 2, 3, 5}},
		{"\"fuse_unk\": false, \"byte_fallback\": false", {0, 2, 2, 1, 3, 2, 3, 5}},
		{"\"fuse_unk\": true, \"byte_fallback\": true", {0, 4, 2, 1, 3, 2, 3, 5}},
	};
	for (int c = 0; c < 3; c++) {
		char json[1024];
		snprintf(json, sizeof json,
			 "{\"added_tokens\": [], \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"ByteLevel\", "
			 "\"add_prefix_space\": false, \"use_regex\": true}, \"decoder\": {\"type\": \"ByteLevel\"}, "
			 "\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", %s, \"vocab\": {\"a\": 0, \"b\": 1, "
			 "\"<unk>\": 2, \"\\u0120\": 3, \"<0x78>\": 4, \"ab\": 5}, \"merges\": [[\"a\", \"b\"]]}}",
			 cases[c].opts);
		lm_tokenizer *tk = NULL;
		lm_status st = {0};
		int32_t *ids = NULL;
		int n = 0, nwant = c == 0 ? 7 : 8;
		int rc = lm_tokenizer_parse(&tk, json, strlen(json), "unk.json", &st);
		if (!rc)
			rc = lm_tokenize(tk, "axyb c ab", 9, &ids, &n, &st);
		int pass = rc == 0 && ids_equal(ids, n, cases[c].ids, nwant);
		ok(pass, "unk: %s: \"axyb c ab\" gives HF's %d ids%s%s", cases[c].opts, nwant, rc ? ": " : "",
		   rc ? st.msg : "");
		if (!pass) {
			print_ids("got", ids, rc ? 0 : n);
			print_ids("want", cases[c].ids, nwant);
		}
		free(ids);
		lm_tokenizer_free(tk);
	}
}

/* ---- 2. not a tokenizer.json ---- */

static void test_errors(void)
{
	static const struct { const char *json, *want; } bad[] = {
		{"this is not json", "tk.json: 1:"},
		{"[1, 2]", "not a JSON object"},
		{"{\"added_tokens\": []}", "model: missing"},
		{"{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "model.type"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": [\"a\"], \"merges\": []}}", "model.vocab: not an object"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}}", "model.vocab[\"a\"]"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}", "model.vocab[\"a\"]"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []},"
		 "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "id 0 given to"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"a\": 1}, \"merges\": []}}", "duplicate"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": {}}}", "model.merges: not an array"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"aa\"]}}", "model.merges[0]"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]}}", "model.merges[0]"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}",
		 "model.merges[0]: merged token \"ab\" not in model.vocab"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a c\"]}}",
		 "model.merges[0]: right part \"c\""},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": {}}",
		 "added_tokens: not an array"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": [{\"id\": 1}]}",
		 "added_tokens[0].content: missing"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
		 "\"added_tokens\": [{\"id\": 7, \"content\": \"<x>\"}]}", "Hugging Face tokenizers gives it 1"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
		 "\"added_tokens\": [{\"id\": 1, \"content\": \"<x>\", \"lstrip\": 3}]}", "added_tokens[0].lstrip"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}", "pre_tokenizer: missing"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": "
		 "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, "
		 "\"behavior\": \"Isolated\"}, {\"type\": \"ByteLevel\"}]}}", "bad regex"},
		{"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": "
		 "{\"type\": \"NFC\"}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "normalizer"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		lm_tokenizer *tk = NULL;
		lm_status st = {0};
		int rc = lm_tokenizer_parse(&tk, bad[i].json, strlen(bad[i].json), "tk.json", &st);
		int pass = rc == LM_EDATA && tk == NULL && strstr(st.msg, bad[i].want) && !strncmp(st.msg, "tk.json: ", 9);
		ok(pass, "bad tokenizer %zu: LM_EDATA \"%s\"", i, st.msg);
		if (!pass)
			diag("    rc %d, message should contain \"%s\"", rc, bad[i].want);
		lm_tokenizer_free(tk);
	}
	lm_tokenizer *tk = NULL;
	lm_status st = {0};
	int rc = lm_tokenizer_load(&tk, "/nonexistent/tokenizer.json", &st);
	ok(rc == LM_ENOINPUT && !tk && strstr(st.msg, "/nonexistent/tokenizer.json"), "missing file: LM_ENOINPUT (%s)",
	   st.msg);
}

/* ---- 3. Llama 3 fixtures ---- */

typedef struct { int total, pass; } tally;

static void mismatch(tally *t, int line, const char *what, const int32_t *got, int ngot, const int32_t *want,
		     int nwant)
{
	if (t->total - t->pass > 5)
		return;
	diag("  line %d: %s", line, what);
	print_ids("got ", got, ngot);
	print_ids("want", want, nwant);
}

/* vectors.jsonl: encode exact and decode round trip of every line */
static void test_vectors(const lm_tokenizer *tk, const char *dir)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/vectors.jsonl", dir);
	FILE *f = fopen(path, "r");
	if (!ok(f != NULL, "open %s", path))
		return;
	tally enc = {0}, dec = {0};
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0;
	double t0 = lm_now(), bytes = 0;
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		json_error_t je;
		json_t *o = json_loads(line, JSON_ALLOW_NUL, &je);
		json_t *jt = json_object_get(o, "text");
		const char *text = json_string_value(jt);
		size_t len = json_string_length(jt);
		int bos = json_is_true(json_object_get(o, "bos")), eos = json_is_true(json_object_get(o, "eos"));
		int32_t *want, *got = NULL;
		int nwant = ids_from_json(json_object_get(o, "ids"), &want), ngot = 0;
		lm_status st = {0};
		int rc = lm_tokenize(tk, text ? text : "", len, &got, &ngot, &st);
		bytes += (double)len;
		/* lm_tokenize adds no special tokens: compare with the middle part */
		const int32_t *mid = want + (bos && nwant && want[0] == 128000);
		int nmid = nwant - (int)(mid - want) - (eos && nwant && want[nwant - 1] == 128001);
		enc.total++;
		if (text && rc == 0 && ids_equal(got, ngot, mid, nmid))
			enc.pass++;
		else
			mismatch(&enc, lineno, rc ? st.msg : esc(text), got, ngot, mid, nmid);
		/* round trip of the complete ids */
		char *out = NULL;
		size_t outlen = 0;
		rc = lm_detokenize(tk, want, nwant, &out, &outlen, &st);
		size_t wl = (bos ? 17 : 0) + len + (eos ? 15 : 0);
		char *w = malloc(wl + 1);
		snprintf(w, wl + 1, "%s", bos ? "<|begin_of_text|>" : "");
		memcpy(w + (bos ? 17 : 0), text ? text : "", len);
		memcpy(w + (bos ? 17 : 0) + len, "<|end_of_text|>", eos ? 15 : 0);
		dec.total++;
		if (rc == 0 && outlen == wl && !memcmp(out, w, wl))
			dec.pass++;
		else if (dec.total - dec.pass <= 5)
			diag("  line %d: decode gave \"%.80s\", want \"%.80s\"", lineno, out ? out : st.msg, w);
		free(w);
		free(out);
		free(want);
		free(got);
		json_decref(o);
	}
	double dt = lm_now() - t0;
	free(line);
	fclose(f);
	ok(enc.total > 0 && enc.pass == enc.total, "vectors: %d/%d exact (encode %.0f bytes + decode in %.2f s)",
	   enc.pass, enc.total, bytes, dt);
	ok(dec.total > 0 && dec.pass == dec.total, "vectors: %d/%d decode round trips", dec.pass, dec.total);
}

static void test_divergences(const lm_tokenizer *tk, const char *dir)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/divergences.jsonl", dir);
	FILE *f = fopen(path, "r");
	if (!ok(f != NULL, "open %s", path))
		return;
	tally t = {0};
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		json_t *o = json_loads(line, JSON_ALLOW_NUL, NULL);
		json_t *jt = json_object_get(o, "text");
		int32_t *want, *got = NULL;
		int nwant = ids_from_json(json_object_get(o, "ids_hf"), &want), ngot = 0;
		lm_status st = {0};
		int rc = lm_tokenize(tk, json_string_value(jt), json_string_length(jt), &got, &ngot, &st);
		t.total++;
		if (rc == 0 && ids_equal(got, ngot, want, nwant))
			t.pass++;
		else
			mismatch(&t, t.total, rc ? st.msg : esc(json_string_value(jt)), got, ngot, want, nwant);
		free(want);
		free(got);
		json_decref(o);
	}
	free(line);
	fclose(f);
	ok(t.total > 0 && t.pass == t.total, "divergences: %d/%d ids_hf exact (\\s = White_Space: U+0085 yes, U+FEFF no)",
	   t.pass, t.total);
}

static void test_decode(const lm_tokenizer *tk, const char *dir)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/decode.jsonl", dir);
	FILE *f = fopen(path, "r");
	if (!ok(f != NULL, "open %s", path))
		return;
	tally t = {0};
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		json_t *o = json_loads(line, JSON_ALLOW_NUL, NULL);
		json_t *jt = json_object_get(o, "text");
		int32_t *ids;
		int n = ids_from_json(json_object_get(o, "ids"), &ids);
		char *out = NULL;
		size_t len = 0;
		lm_status st = {0};
		int rc = lm_detokenize(tk, ids, n, &out, &len, &st);
		t.total++;
		if (rc == 0 && len == json_string_length(jt) && !memcmp(out, json_string_value(jt), len))
			t.pass++;
		else if (t.total - t.pass <= 5)
			diag("  line %d: got \"%s\", want \"%s\"", t.total, rc ? st.msg : out, json_string_value(jt));
		free(out);
		free(ids);
		json_decref(o);
	}
	free(line);
	fclose(f);
	ok(t.total > 0 && t.pass == t.total, "decode.jsonl: %d/%d exact", t.pass, t.total);
}

static void test_llama3(void)
{
	const char *shared = getenv("LLAMO_SHARED");
	char dir[900], path[1024];
	snprintf(dir, sizeof dir, "%s/tokenizer/llama3", shared && *shared ? shared : "../shared");
	snprintf(path, sizeof path, "%s/tokenizer.json", dir);
	FILE *probe = fopen(path, "r");
	if (!probe) { /* the checks above need no fixture: skip only these */
		ok(1, "# SKIP Llama 3 fixtures: %s not found", path);
		return;
	}
	fclose(probe);
	lm_tokenizer *tk = NULL;
	lm_status st = {0};
	double t0 = lm_now();
	int rc = lm_tokenizer_load(&tk, path, &st);
	double dt = lm_now() - t0;
	if (!ok(rc == 0, "load %s in %.2f s%s%s", path, dt, rc ? ": " : "", rc ? st.msg : ""))
		return;
	ok(dt < 5.0, "loading took %.2f s (< 5 s on a shared 2-core machine)", dt);
	ok(lm_tokenizer_vocab_size(tk) == 128256, "vocab size %d (want 128256)", lm_tokenizer_vocab_size(tk));
	ok(lm_token_id(tk, "<|eot_id|>") == 128009 && lm_token_id(tk, "<|begin_of_text|>") == 128000 &&
	   lm_token_id(tk, "Ġthe") == 279, "lm_token_id: <|eot_id|> 128009, <|begin_of_text|> 128000, Ġthe 279");
	test_vectors(tk, dir);
	test_divergences(tk, dir);
	test_decode(tk, dir);
	lm_tokenizer_free(tk);
}

int main(void)
{
	test_tiny();
	test_unk();
	test_errors();
	test_llama3();
	return done_testing();
}
