/* tokenizer_impl.h: the inside of lm_tokenizer, shared by tokenizer_load.c (reading
 * tokenizer.json), tokenizer.c (encoding and decoding) and tokenizer_util.c (tables, hash maps,
 * UTF-8 helpers). Not a public header. */
#ifndef LLAMO_TOKENIZER_IMPL_H
#define LLAMO_TOKENIZER_IMPL_H
#include <stdint.h>
#include <oniguruma.h>
#include "tokenizer.h"

#define TK_MAX_ID (1 << 24) /* ids at or above this are refused (bounds the id tables) */
#define TK_MAX_STEPS 8      /* pre-tokenizer split steps */

/* Strings -> ids: open addressing over indices into entries[] (0 = empty slot). */
typedef struct tk_strmap {
	struct tk_str { uint32_t off, len; int32_t id; } *ent; /* (n) key bytes at pool+off */
	uint32_t n, cap_ent;
	uint32_t *slot; /* (mask+1) entry index + 1, 0 when empty */
	uint32_t mask;
	char *pool; /* key bytes */
	size_t pool_len, pool_cap;
} tk_strmap;

/* Merges: pair (left id, right id) -> (rank, merged id). */
typedef struct tk_merge { uint64_t key; int32_t rank, id; } tk_merge;

typedef struct tk_added {
	const char *text; /* content bytes (points into the added map's pool) */
	uint32_t len;
	int32_t id;
	uint8_t single_word, lstrip, rstrip, normalized, special;
} tk_added;

/* How a Split step turns the matches of its pattern into pieces (HF SplitDelimiterBehavior). */
enum { TK_ISOLATED, TK_REMOVED, TK_MERGED_PREV, TK_MERGED_NEXT, TK_CONTIGUOUS };

/* One splitting step of the pre-tokenizer, applied in order to every piece of the previous one:
 * Split(pattern, behavior, invert), Digits (a Split on \p{N}), or the ByteLevel step
 * (prefix_space, then an Isolated split on the GPT-2 regex when use_regex). */
typedef struct tk_step {
	regex_t *re;      /* NULL: no split */
	int behavior;     /* TK_ISOLATED, ... */
	int invert;       /* matches and gaps swap roles (HF Invert(pattern)) */
	int prefix_space; /* ByteLevel add_prefix_space: prepend ' ' to a piece not starting with one */
} tk_step;

struct lm_tokenizer {
	char name[256]; /* for messages */

	tk_strmap vocab; /* model.vocab: byte-level unicode text -> id */
	tk_strmap added_map; /* added_tokens: content -> id */
	int32_t n_ids;   /* highest id + 1 */

	/* per id: bytes it decodes to (dec_pool + dec_off[id], dec_len[id]); dec_len -1: no token */
	uint32_t *dec_off; /* (n_ids) */
	int32_t *dec_len;  /* (n_ids) */
	char *dec_pool;

	tk_merge *merge; /* (merge_mask+1) slots, key UINT64_MAX when empty */
	uint64_t merge_mask;
	int32_t n_merges;

	int32_t byte_id[256];  /* vocab id of the byte-level char of each byte, -1 if absent */
	int32_t fallback_id[256]; /* byte_fallback: id of "<0xXX>", -1 if absent */
	int ignore_merges, byte_fallback, fuse_unk;
	int32_t unk_id; /* -1: none */

	tk_added *added; /* (n_added) in file order */
	int n_added;
	uint8_t added_first[2][256]; /* [normalized][first byte]: some added token starts with it */

	tk_step step[TK_MAX_STEPS];
	int n_steps;
};

/* GPT-2 bytes_to_unicode: the code point standing for byte b, and back (-1: not a byte char). */
extern uint16_t tk_byte_char[256];
extern int16_t tk_char_byte[324];
extern regex_t *tk_word_re; /* a word char (UTS#18 \w), for single_word added tokens */
void tk_tables_init(void);   /* sets up the above and Oniguruma, once per process */

/* String map sized for n keys (it never holds more). put: 0 added, 1 already there (*old = its
 * id), -1 out of memory. get: the id or -1. */
int tk_strmap_init(tk_strmap *m, size_t n);
int tk_strmap_put(tk_strmap *m, const char *s, size_t len, int32_t id, int32_t *old);
int tk_strmap_get(const tk_strmap *m, const char *s, size_t len);
void tk_strmap_free(tk_strmap *m);
/* Merge map: the slot holding key = tk_merge_key(left, right), or the empty slot where it goes. */
uint64_t tk_merge_key(int32_t a, int32_t b);
tk_merge *tk_merge_slot(const lm_tokenizer *tk, uint64_t key);

uint32_t tk_utf8_decode(const unsigned char *s, size_t len, size_t *adv); /* one code point */
int tk_is_white_space(uint32_t c); /* Unicode White_Space (Rust char::is_whitespace) */
#endif
