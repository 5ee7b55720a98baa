/* tokenizer.h: byte-level BPE reading Hugging Face tokenizer.json (Llama 3, SmolLM2 / GPT-2
 * and other byte-level layouts).
 *
 * Encoding follows Hugging Face tokenizers: added tokens are matched verbatim anywhere in the
 * input (leftmost-longest; normalized=false ones first, then normalized=true ones; lstrip, rstrip
 * and single_word honoured) and become their ids; the rest is split by the pre-tokenizer steps
 * from the file (Split with its regex or string, behavior and invert; Digits; ByteLevel with
 * add_prefix_space and use_regex; nested Sequences; Oniguruma, the engine HF uses), mapped to
 * byte-level unicode, and merged by BPE rank (ignore_merges: a piece that is a whole vocab entry
 * is taken as is). Checked against HF tokenizers and llama.cpp on the Llama 3 and SmolLM2 files
 * (tests/test_tokenizer.c, tests/test_smollm2_tok.c).
 * Decoding concatenates token bytes and replaces invalid UTF-8 as Python's errors="replace"
 * does. An added token gives its text, except that, as in HF's ByteLevel decoder, a token made
 * only of GPT-2 byte chars gives those bytes (an added "café" decodes to "caf\xE9" -> U+FFFD).
 * What is accepted from tokenizer.json is listed at the top of tokenizer_load.c; anything on
 * which this code would not match HF is refused with LM_EDATA.
 * A loaded tokenizer is read-only: lm_tokenize/lm_detokenize may run in several threads at once.
 */
#ifndef LLAMO_TOKENIZER_H
#define LLAMO_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>
#include "status.h"

typedef struct lm_tokenizer lm_tokenizer;

/* Loads a tokenizer.json. Errors: LM_ENOINPUT, LM_EIO, LM_ENOMEM, LM_EDATA with the JSON path
 * ("tokenizer.json: model.merges[12]: ...", "tokenizer.json: pre_tokenizer.pretokenizers[0].type:
 * \"Whitespace\" is not supported ..."; a JSON syntax error gives line:column).
 * lm_tokenizer_parse does the same from len bytes in memory; name is used in messages. */
int lm_tokenizer_load(lm_tokenizer **tk, const char *path, lm_status *st);
int lm_tokenizer_parse(lm_tokenizer **tk, const char *json, size_t len, const char *name, lm_status *st);
void lm_tokenizer_free(lm_tokenizer *tk);

/* Encodes len bytes of text (may contain NUL) with no special tokens added. *ids is malloc'd
 * (caller frees), *n its length. Invalid UTF-8 in the input is an error (LM_EDATA). */
int lm_tokenize(const lm_tokenizer *tk, const char *text, size_t len, int32_t **ids, int *n, lm_status *st);
/* Decodes ids to a malloc'd NUL-terminated string (*len bytes without the NUL). Unknown id: LM_EDATA. */
int lm_detokenize(const lm_tokenizer *tk, const int32_t *ids, int n, char **text, size_t *len, lm_status *st);

int lm_tokenizer_vocab_size(const lm_tokenizer *tk);    /* highest id + 1, added tokens included */
int lm_token_id(const lm_tokenizer *tk, const char *s); /* exact vocab or added-token text, or -1 */
#endif
