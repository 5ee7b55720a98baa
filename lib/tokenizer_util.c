/* tokenizer_util.c: the tokenizer's tables (GPT-2 byte chars, string and merge hash maps) and
 * small UTF-8 helpers, shared by tokenizer_load.c and tokenizer.c. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer_impl.h"

uint16_t tk_byte_char[256];
int16_t tk_char_byte[324];
regex_t *tk_word_re;

/* GPT-2 bytes_to_unicode (openai/gpt-2 encoder.py): printable Latin-1 bytes stand for
 * themselves, the other 68 bytes for U+0100.. in byte order. */
static void tables_init_once(void)
{
	int n = 0;
	for (int c = 0; c < 324; c++)
		tk_char_byte[c] = -1;
	for (int b = 0; b < 256; b++) {
		int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
		tk_byte_char[b] = printable ? b : 256 + n++;
		tk_char_byte[tk_byte_char[b]] = (int16_t)b;
	}
	OnigEncoding enc = ONIG_ENCODING_UTF8;
	onig_initialize(&enc, 1);
	/* regex_syntax::is_word_character (HF single_word), i.e. UTS#18 \w; Oniguruma's own \w
	 * differs (it has No such as U+00BD, lacks U+200D) */
	OnigErrorInfo ei;
	static const char word[] = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]";
	if (onig_new(&tk_word_re, (const UChar *)word, (const UChar *)word + sizeof word - 1, ONIG_OPTION_NONE,
		     ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &ei) != ONIG_NORMAL)
		tk_word_re = NULL; /* cannot happen; single_word then never rejects a match */
}

void tk_tables_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, tables_init_once);
}

/* ---- string map ---- */

static uint64_t hash_bytes(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h ^ (h >> 29);
}

int tk_strmap_init(tk_strmap *m, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n + 2)
		cap <<= 1;
	m->slot = calloc(cap, sizeof *m->slot);
	m->mask = (uint32_t)(cap - 1);
	m->cap_ent = (uint32_t)n + 1;
	m->ent = malloc(m->cap_ent * sizeof *m->ent);
	m->pool_cap = 16 * n + 64;
	m->pool = malloc(m->pool_cap);
	return m->slot && m->ent && m->pool ? 0 : -1;
}

void tk_strmap_free(tk_strmap *m)
{
	free(m->slot);
	free(m->ent);
	free(m->pool);
}

/* Returns the entry index of s, or the free slot's negative index - 1 (for insertion). */
static long strmap_find(const tk_strmap *m, const char *s, size_t len)
{
	for (uint32_t i = (uint32_t)hash_bytes(s, len) & m->mask;; i = (i + 1) & m->mask) {
		uint32_t e = m->slot[i];
		if (!e)
			return -(long)i - 1;
		const struct tk_str *t = &m->ent[e - 1];
		if (t->len == len && !memcmp(m->pool + t->off, s, len))
			return e - 1;
	}
}

int tk_strmap_get(const tk_strmap *m, const char *s, size_t len)
{
	if (!m->slot)
		return -1;
	long e = strmap_find(m, s, len);
	return e >= 0 ? m->ent[e].id : -1;
}

/* Adds s -> id. Returns 0, 1 if s was there already (*old set to its id), -1 out of memory.
 * The map never holds more than the n given to strmap_init. */
int tk_strmap_put(tk_strmap *m, const char *s, size_t len, int32_t id, int32_t *old)
{
	long e = strmap_find(m, s, len);
	if (e >= 0) {
		*old = m->ent[e].id;
		return 1;
	}
	if (m->n >= m->cap_ent)
		return -1;
	if (m->pool_len + len > m->pool_cap) {
		size_t cap = 2 * m->pool_cap + len;
		char *p = realloc(m->pool, cap);
		if (!p)
			return -1;
		m->pool = p;
		m->pool_cap = cap;
	}
	memcpy(m->pool + m->pool_len, s, len);
	m->ent[m->n] = (struct tk_str){(uint32_t)m->pool_len, (uint32_t)len, id};
	m->pool_len += len;
	m->slot[-e - 1] = ++m->n;
	return 0;
}

/* ---- merges ---- */

uint64_t tk_merge_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

tk_merge *tk_merge_slot(const lm_tokenizer *tk, uint64_t key)
{
	for (uint64_t i = (key * 0x9E3779B97F4A7C15ull >> 20) & tk->merge_mask;; i = (i + 1) & tk->merge_mask)
		if (tk->merge[i].key == key || tk->merge[i].key == UINT64_MAX)
			return &tk->merge[i];
}

/* ---- small helpers ---- */

uint32_t tk_utf8_decode(const unsigned char *s, size_t len, size_t *adv)
{
	/* s is valid UTF-8 (checked by the caller or by jansson) */
	if (s[0] < 0x80 || len < 2) {
		*adv = 1;
		return s[0];
	}
	if (s[0] < 0xE0) {
		*adv = 2;
		return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
	}
	if (s[0] < 0xF0 || len < 4) {
		*adv = len < 3 ? len : 3;
		return len < 3 ? 0xFFFD : (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
	}
	*adv = 4;
	return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 |
	       (s[3] & 0x3F);
}

int tk_is_white_space(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
	       c == 0x3000;
}

