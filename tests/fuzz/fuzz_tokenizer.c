/* fuzz_tokenizer: the tokenizer on arbitrary bytes.
 *
 * 1. Encodes the input with two small fixed tokenizers (the Llama 3 Sequence layout with plain
 *    added tokens; plain ByteLevel with add_prefix_space, an unk token and lstrip/rstrip/
 *    single_word added tokens) and decodes the ids. With the first, valid UTF-8 input must
 *    round-trip exactly; invalid UTF-8 must be refused with LM_EDATA.
 * 2. Parses the input itself as a tokenizer.json; if it loads, encodes and decodes a fixed text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer.h"

/* %s: the byte tokens (id = byte); then the merges' results, then the added tokens, with the
 * ids HF assigns. */
static const char kLlama3[] =
	"{\"added_tokens\": ["
	"{\"id\": 266, \"content\": \"<|bom|>\", \"special\": true, \"normalized\": false},"
	"{\"id\": 267, \"content\": \"<|eom|>\", \"special\": true, \"normalized\": false},"
	"{\"id\": 268, \"content\": \"<|bo\", \"special\": false, \"normalized\": true},"
	"{\"id\": 258, \"content\": \"the\", \"special\": false, \"normalized\": true}],"
	"\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
	"{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?"
	"\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
	"\"behavior\": \"Isolated\", \"invert\": false},"
	"{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]},"
	"\"decoder\": {\"type\": \"ByteLevel\"},"
	"\"model\": {\"type\": \"BPE\", \"ignore_merges\": true, \"vocab\": {%s,"
	"\"\\u0120t\": 256, \"he\": 257, \"the\": 258, \"\\u0120the\": 259, \"\\u0120\\u0120\": 260, \"in\": 261,"
	"\"ing\": 262, \"\\u0120\\u0120\\u0120\": 263, \"\\u010a\\u010a\": 264, \"\\u00e2\\u0122\": 265},"
	"\"merges\": [\"\\u0120 t\", \"h e\", \"t he\", \"\\u0120t he\", \"\\u0120 \\u0120\", \"i n\", \"in g\","
	"\"\\u0120 \\u0120\\u0120\", \"\\u0120\\u0120 \\u0120\", \"\\u010a \\u010a\", \"\\u00e2 \\u0122\"]}}";

static const char kByteLevel[] =
	"{\"added_tokens\": ["
	"{\"id\": 240, \"content\": \"<unk>\", \"special\": true, \"normalized\": false},"
	"{\"id\": 244, \"content\": \"<m>\", \"lstrip\": true, \"rstrip\": true, \"normalized\": false},"
	"{\"id\": 245, \"content\": \"wd\", \"single_word\": true, \"normalized\": true},"
	"{\"id\": 246, \"content\": \"\\u00e9t\\u00e9\", \"special\": true, \"normalized\": false}],"
	"\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true},"
	"\"decoder\": null,"
	"\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"fuse_unk\": true, \"vocab\": {%s,"
	"\"<unk>\": 240, \"\\u0120w\": 241, \"al\": 242, \"\\u0120wal\": 243},"
	"\"merges\": [[\"\\u0120\", \"w\"], [\"a\", \"l\"], [\"\\u0120w\", \"al\"]]}}";

static lm_tokenizer *load(const char *tmpl, int skip_high)
{
	/* the 256 byte chars of GPT-2's bytes_to_unicode, as "\uXXXX": id (skip_high: leave out
	 * bytes 0xF0.. (ids 240..255) so that unk is reached) */
	static char bytes[256 * 20];
	size_t n = 0;
	for (int b = 0, extra = 0; b < 256; b++) {
		int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
		int c = printable ? b : 256 + extra++;
		if (skip_high && b >= 0xF0)
			continue;
		n += (size_t)snprintf(bytes + n, sizeof bytes - n, "%s\"\\u%04x\": %d", n ? ", " : "", c, b);
	}
	size_t len = sizeof kLlama3 + sizeof kByteLevel + n;
	char *json = malloc(len);
	snprintf(json, len, tmpl, bytes);
	lm_tokenizer *tk = NULL;
	lm_status st = {0};
	if (lm_tokenizer_parse(&tk, json, strlen(json), "fuzz.json", &st)) {
		fprintf(stderr, "fixed tokenizer does not load: %s\n", st.msg);
		abort();
	}
	free(json);
	return tk;
}

/* encode, decode; returns the decoded text (malloc'd) or NULL when encoding refused the input */
static char *roundtrip(const lm_tokenizer *tk, const uint8_t *data, size_t size, size_t *len)
{
	int32_t *ids;
	int n;
	lm_status st = {0};
	if (lm_tokenize(tk, (const char *)data, size, &ids, &n, &st)) {
		if (st.code != LM_EDATA)
			abort(); /* only invalid UTF-8 may be refused */
		return NULL;
	}
	char *text;
	if (lm_detokenize(tk, ids, n, &text, len, &st))
		abort(); /* ids from the tokenizer always decode */
	free(ids);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static lm_tokenizer *llama3, *bytelevel;
	if (!llama3) {
		llama3 = load(kLlama3, 0);
		bytelevel = load(kByteLevel, 1);
	}
	size_t len;
	char *text = roundtrip(llama3, data, size, &len);
	if (text && (len != size || memcmp(text, data, size)))
		abort(); /* every byte is a token and added tokens decode to their text */
	free(text);
	free(roundtrip(bytelevel, data, size, &len));

	lm_tokenizer *tk = NULL;
	lm_status st = {0};
	if (lm_tokenizer_parse(&tk, (const char *)data, size, "input", &st) == 0) {
		static const char probe[] = "a person walks <|bom|> 123\n\n";
		free(roundtrip(tk, (const uint8_t *)probe, sizeof probe - 1, &len));
		lm_tokenizer_vocab_size(tk);
		lm_token_id(tk, "a");
		lm_tokenizer_free(tk);
	}
	return 0;
}
