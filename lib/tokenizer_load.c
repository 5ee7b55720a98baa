/* tokenizer_load.c: reads a Hugging Face tokenizer.json (byte-level BPE) into an lm_tokenizer.
 *
 * What is accepted, and why (HF `tokenizers` is the reference; anything it would do differently
 * from the code in tokenizer.c is refused with LM_EDATA instead of silently diverging):
 *   model         type "BPE"; vocab {text: id}; merges "a b" strings or [a, b] pairs (rank = index;
 *                 a pair listed twice keeps its last rank, as HF's HashMap collect does);
 *                 ignore_merges, byte_fallback, unk_token, fuse_unk honoured; dropout null or 0;
 *                 continuing_subword_prefix / end_of_word_suffix null or "".
 *   added_tokens  content matched verbatim (tokenizer.c); the ids must be the ones HF assigns on
 *                 load (HF ignores the ids in the file: content already in the vocab takes that
 *                 id, a new one takes the next free id, see added_vocabulary.rs add_tokens).
 *   normalizer    null (or an empty Sequence).
 *   pre_tokenizer ByteLevel, or a Sequence (nested ones flattened) of Split (Regex or String
 *                 pattern, any behavior, invert) and Digits (individual_digits or not) steps
 *                 ending with ByteLevel (add_prefix_space, use_regex: the GPT-2 regex). Any
 *                 other type, or a step after ByteLevel, is refused with its JSON path.
 *   decoder       ByteLevel, or a Sequence of just ByteLevel (null is taken as ByteLevel:
 *                 CHOICE, HF would join with spaces).
 *   post_processor, truncation, padding: ignored (lm_tokenize adds no special tokens).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer_impl.h"

/* The regex of HF's ByteLevel pre-tokenizer with use_regex (tokenizers byte_level.rs, GPT-2). */
static const char GPT2_PATTERN[] =
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* Writes at most 40 bytes of s for a message, cut at a character boundary. */
static const char *shorten(const char *s, char buf[48])
{
	size_t n = strlen(s);
	if (n <= 40)
		return s;
	n = 40;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	memcpy(buf, s, n);
	strcpy(buf + n, "...");
	return buf;
}

static int fail(lm_tokenizer *tk, lm_status *st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(lm_tokenizer *tk, lm_status *st, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return lm_fail(st, LM_EDATA, "%s: %s", tk->name, msg);
}

#define NOMEM(tk, st) lm_fail(st, LM_ENOMEM, "%s: out of memory", (tk)->name)

/* Optional member: absent or null gives NULL. */
static json_t *member(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return v && !json_is_null(v) ? v : NULL;
}

/* A boolean member (absent or null: def). Returns -1 when present with another type. */
static int bool_member(json_t *o, const char *key, int def)
{
	json_t *v = member(o, key);
	return !v ? def : json_is_boolean(v) ? json_is_true(v) : -1;
}

/* ---- the model ---- */

static int load_vocab(lm_tokenizer *tk, json_t *vocab, lm_status *st)
{
	char sb[48];
	if (!json_is_object(vocab))
		return fail(tk, st, "model.vocab: %s", vocab ? "not an object" : "missing");
	size_t n = json_object_size(vocab);
	if (tk_strmap_init(&tk->vocab, n))
		return NOMEM(tk, st);
	const char *key;
	json_t *v;
	json_object_foreach(vocab, key, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= TK_MAX_ID)
			return fail(tk, st, "model.vocab[\"%s\"]: not an integer id in [0, %d)", shorten(key, sb),
				    TK_MAX_ID);
		int32_t id = (int32_t)json_integer_value(v), old;
		if (tk_strmap_put(&tk->vocab, key, strlen(key), id, &old) < 0)
			return NOMEM(tk, st);
		if (id >= tk->n_ids)
			tk->n_ids = id + 1;
	}
	return 0;
}

static int load_merges(lm_tokenizer *tk, json_t *merges, lm_status *st)
{
	if (!json_is_array(merges))
		return fail(tk, st, "model.merges: %s", merges ? "not an array" : "missing");
	size_t n = json_array_size(merges), cap = 16;
	if (n >= INT32_MAX / 4)
		return fail(tk, st, "model.merges: too many");
	while (cap < 2 * n + 2)
		cap <<= 1;
	tk->merge = malloc(cap * sizeof *tk->merge);
	if (!tk->merge)
		return NOMEM(tk, st);
	tk->merge_mask = cap - 1;
	for (size_t i = 0; i < cap; i++)
		tk->merge[i].key = UINT64_MAX;
	char *buf = NULL;
	size_t bufcap = 0;
	int rc = 0;
	for (size_t r = 0; r < n && !rc; r++) {
		json_t *m = json_array_get(merges, r);
		const char *a, *b;
		size_t la, lb;
		if (json_is_string(m)) {
			a = json_string_value(m);
			const char *sp = strchr(a, ' ');
			if (!sp) {
				rc = fail(tk, st, "model.merges[%zu]: not \"left right\"", r);
				break;
			}
			la = (size_t)(sp - a);
			b = sp + 1;
			lb = strlen(b);
		} else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
			   json_is_string(json_array_get(m, 1))) {
			a = json_string_value(json_array_get(m, 0));
			b = json_string_value(json_array_get(m, 1));
			la = strlen(a);
			lb = strlen(b);
		} else {
			rc = fail(tk, st, "model.merges[%zu]: neither a \"left right\" string nor a [left, right] pair", r);
			break;
		}
		if (la + lb + 1 > bufcap) {
			bufcap = 2 * (la + lb + 1);
			char *p = realloc(buf, bufcap);
			if (!p) {
				rc = NOMEM(tk, st);
				break;
			}
			buf = p;
		}
		memcpy(buf, a, la);
		memcpy(buf + la, b, lb);
		buf[la + lb] = 0;
		int32_t ia = tk_strmap_get(&tk->vocab, a, la), ib = tk_strmap_get(&tk->vocab, b, lb);
		int32_t iab = tk_strmap_get(&tk->vocab, buf, la + lb);
		char sb[48];
		if (ia < 0 || ib < 0 || iab < 0) {
			const char *what = ia < 0 ? "left part" : ib < 0 ? "right part" : "merged token";
			if (ia < 0)
				buf[la] = 0; /* buf: the left part alone */
			const char *s = ib < 0 && ia >= 0 ? b : buf;
			rc = fail(tk, st, "model.merges[%zu]: %s \"%s\" not in model.vocab", r, what, shorten(s, sb));
			break;
		}
		tk_merge *slot = tk_merge_slot(tk, tk_merge_key(ia, ib));
		if (slot->key == UINT64_MAX)
			tk->n_merges++;
		*slot = (tk_merge){tk_merge_key(ia, ib), (int32_t)r, iab};
	}
	free(buf);
	return rc;
}

static int load_model(lm_tokenizer *tk, json_t *model, lm_status *st)
{
	if (!json_is_object(model))
		return fail(tk, st, "model: %s", model ? "not an object" : "missing");
	json_t *type = json_object_get(model, "type");
	if (!json_is_string(type) || strcmp(json_string_value(type), "BPE"))
		return fail(tk, st, "model.type: %s%s%s (only BPE is supported)", json_is_string(type) ? "\"" : "",
			    json_is_string(type) ? json_string_value(type) : type ? "not a string" : "missing",
			    json_is_string(type) ? "\"" : "");
	int rc = load_vocab(tk, json_object_get(model, "vocab"), st);
	if (!rc)
		rc = load_merges(tk, json_object_get(model, "merges"), st);
	if (rc)
		return rc;
	if ((tk->ignore_merges = bool_member(model, "ignore_merges", 0)) < 0)
		return fail(tk, st, "model.ignore_merges: not a boolean");
	if ((tk->byte_fallback = bool_member(model, "byte_fallback", 0)) < 0)
		return fail(tk, st, "model.byte_fallback: not a boolean");
	if ((tk->fuse_unk = bool_member(model, "fuse_unk", 0)) < 0)
		return fail(tk, st, "model.fuse_unk: not a boolean");
	json_t *d = member(model, "dropout");
	if (d && !(json_is_number(d) && json_number_value(d) == 0))
		return fail(tk, st, "model.dropout: BPE dropout is not supported (want null)");
	static const char *const affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
	for (int i = 0; i < 2; i++) {
		json_t *v = member(model, affix[i]);
		if (v && !(json_is_string(v) && !*json_string_value(v)))
			return fail(tk, st, "model.%s: not supported (want null)", affix[i]);
	}
	tk->unk_id = -1;
	json_t *unk = member(model, "unk_token");
	if (unk) {
		if (!json_is_string(unk))
			return fail(tk, st, "model.unk_token: not a string");
		tk->unk_id = tk_strmap_get(&tk->vocab, json_string_value(unk), strlen(json_string_value(unk)));
		if (tk->unk_id < 0)
			return fail(tk, st, "model.unk_token: \"%s\" not in model.vocab", json_string_value(unk));
	}
	for (int b = 0; b < 256; b++) {
		char s[8];
		size_t n = 0;
		unsigned c = tk_byte_char[b];
		if (c < 0x80)
			s[n++] = (char)c;
		else {
			s[n++] = (char)(0xC0 | c >> 6);
			s[n++] = (char)(0x80 | (c & 0x3F));
		}
		tk->byte_id[b] = tk_strmap_get(&tk->vocab, s, n);
		snprintf(s, sizeof s, "<0x%02X>", b);
		tk->fallback_id[b] = tk_strmap_get(&tk->vocab, s, strlen(s));
	}
	return 0;
}

/* ---- added tokens ---- */

static int load_added(lm_tokenizer *tk, json_t *arr, lm_status *st)
{
	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return fail(tk, st, "added_tokens: not an array");
	size_t n = json_array_size(arr);
	tk->added = calloc(n + 1, sizeof *tk->added);
	if (!tk->added || tk_strmap_init(&tk->added_map, n))
		return NOMEM(tk, st);
	int32_t vocab_count = (int32_t)tk->vocab.n, max_added = -1;
	static const char *const flag[] = {"single_word", "lstrip", "rstrip", "normalized", "special"};
	for (size_t i = 0; i < n; i++) {
		json_t *a = json_array_get(arr, i), *id = json_object_get(a, "id"), *c = json_object_get(a, "content");
		char sb[48];
		if (!json_is_object(a))
			return fail(tk, st, "added_tokens[%zu]: not an object", i);
		if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= TK_MAX_ID)
			return fail(tk, st, "added_tokens[%zu].id: %s", i, id ? "not an integer id" : "missing");
		if (!json_is_string(c) || !*json_string_value(c))
			return fail(tk, st, "added_tokens[%zu].content: %s", i,
				    !c ? "missing" : json_is_string(c) ? "empty" : "not a string");
		tk_added *t = &tk->added[i];
		uint8_t *fl[] = {&t->single_word, &t->lstrip, &t->rstrip, &t->normalized, &t->special};
		int special = bool_member(a, "special", 0);
		for (int f = 0; f < 5; f++) {
			/* HF AddedToken defaults: normalized = !special, the others false */
			int v = bool_member(a, flag[f], f == 3 ? !special : 0);
			if (v < 0)
				return fail(tk, st, "added_tokens[%zu].%s: not a boolean", i, flag[f]);
			*fl[f] = (uint8_t)v;
		}
		const char *s = json_string_value(c);
		size_t len = strlen(s);
		/* the id HF assigns (added_vocabulary.rs AddedVocabulary::add_tokens) */
		int32_t want = tk_strmap_get(&tk->vocab, s, len), fid = (int32_t)json_integer_value(id), old;
		if (want < 0)
			want = max_added < 0 ? vocab_count
			       : max_added >= vocab_count || vocab_count == 0 ? max_added + 1 : vocab_count;
		if (fid != want)
			return fail(tk, st, "added_tokens[%zu]: \"%s\" has id %d, but Hugging Face tokenizers gives it %d",
				    i, shorten(s, sb), fid, want);
		int r = tk_strmap_put(&tk->added_map, s, len, fid, &old);
		if (r < 0)
			return NOMEM(tk, st);
		if (r > 0)
			return fail(tk, st, "added_tokens[%zu]: \"%s\" listed twice", i, shorten(s, sb));
		t->text = tk->added_map.pool + tk->added_map.ent[tk->added_map.n - 1].off;
		t->len = (uint32_t)len;
		t->id = fid;
		if (fid > max_added)
			max_added = fid;
		if (fid >= tk->n_ids)
			tk->n_ids = fid + 1;
		tk->n_added++;
	}
	/* the pool may have moved while growing: point the texts at their final place */
	for (int i = 0; i < tk->n_added; i++) {
		tk->added[i].text = tk->added_map.pool + tk->added_map.ent[i].off;
		tk->added_first[tk->added[i].normalized][(unsigned char)tk->added[i].text[0]] = 1;
	}
	return 0;
}

/* ---- pre-tokenizer ---- */

static int add_step(lm_tokenizer *tk, const char *pat, size_t len, OnigSyntaxType *syn, int behavior, int invert,
		    int prefix_space, const char *where, lm_status *st)
{
	if (tk->n_steps == TK_MAX_STEPS)
		return fail(tk, st, "%s: more than %d pre-tokenizer steps", where, TK_MAX_STEPS);
	tk_step *s = &tk->step[tk->n_steps++];
	s->prefix_space = prefix_space;
	s->behavior = behavior;
	s->invert = invert;
	if (!pat)
		return 0;
	OnigErrorInfo ei;
	/* Same engine and options as HF (onig crate Regex::new: ONIG_OPTION_NONE, default syntax).
	 * Oniguruma's \s in UTF-8 is Unicode White_Space (U+0085 yes, U+FEFF no) as in HF, so the
	 * pattern is used unchanged (test_tokenizer checks divergences.jsonl). */
	int r = onig_new(&s->re, (const UChar *)pat, (const UChar *)pat + len, ONIG_OPTION_NONE,
			 ONIG_ENCODING_UTF8, syn, &ei);
	if (r != ONIG_NORMAL) {
		UChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
		onig_error_code_to_str(msg, r, &ei);
		s->re = NULL;
		return fail(tk, st, "%s: bad regex: %s", where, (char *)msg);
	}
	return 0;
}

/* ByteLevel (pre_tokenizers/byte_level.rs): add_prefix_space (default true) prepends ' ' to every
 * piece not starting with one; use_regex (default true) splits on the GPT-2 regex, Isolated;
 * trim_offsets only moves offsets. */
static int load_byte_level(lm_tokenizer *tk, json_t *p, const char *where, lm_status *st)
{
	int aps = bool_member(p, "add_prefix_space", 1), ure = bool_member(p, "use_regex", 1);
	if (aps < 0 || ure < 0)
		return fail(tk, st, "%s.%s: not a boolean", where, aps < 0 ? "add_prefix_space" : "use_regex");
	return add_step(tk, ure ? GPT2_PATTERN : NULL, sizeof GPT2_PATTERN - 1, ONIG_SYNTAX_DEFAULT, TK_ISOLATED, 0,
			aps, where, st);
}

/* Split (pre_tokenizers/split.rs): pattern {"Regex": re} or {"String": literal}, behavior, invert. */
static int load_split(lm_tokenizer *tk, json_t *p, const char *where, lm_status *st)
{
	static const char *const names[] = {"Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
	json_t *beh = json_object_get(p, "behavior"), *pat = json_object_get(p, "pattern");
	int behavior = -1;
	for (int i = 0; i < 5 && json_is_string(beh); i++)
		if (!strcmp(json_string_value(beh), names[i]))
			behavior = i;
	if (behavior < 0)
		return fail(tk, st, "%s.behavior: want Isolated, Removed, MergedWithPrevious, MergedWithNext or Contiguous",
			    where);
	int invert = bool_member(p, "invert", 0);
	if (invert < 0)
		return fail(tk, st, "%s.invert: not a boolean", where);
	json_t *re = json_object_get(pat, "Regex"), *str = json_object_get(pat, "String");
	if (json_is_string(re))
		return add_step(tk, json_string_value(re), json_string_length(re), ONIG_SYNTAX_DEFAULT, behavior, invert,
				0, where, st);
	if (json_is_string(str) && json_string_length(str)) /* HF escapes a String pattern: the same as ASIS */
		return add_step(tk, json_string_value(str), json_string_length(str), ONIG_SYNTAX_ASIS, behavior, invert,
				0, where, st);
	return fail(tk, st, "%s.pattern: want {\"Regex\": ...} or {\"String\": a non-empty string}", where);
}

/* Digits (pre_tokenizers/digits.rs): a split on Rust's char::is_numeric (general category N:
 * Nd, Nl, No, which is Oniguruma's \p{N}), each digit alone (individual_digits, Isolated) or
 * runs of them (Contiguous). */
static int load_digits(lm_tokenizer *tk, json_t *p, const char *where, lm_status *st)
{
	static const char pat[] = "\\p{N}";
	int ind = bool_member(p, "individual_digits", 0);
	if (ind < 0)
		return fail(tk, st, "%s.individual_digits: not a boolean", where);
	return add_step(tk, pat, sizeof pat - 1, ONIG_SYNTAX_DEFAULT, ind ? TK_ISOLATED : TK_CONTIGUOUS, 0, 0, where,
			st);
}

/* One pre-tokenizer (a Sequence is flattened into its steps). *byte_level is set once a
 * ByteLevel step is added: it must be the last step, as the vocabulary is in byte-level chars
 * and this code maps bytes to them after all splitting. */
static int load_pre(lm_tokenizer *tk, json_t *p, const char *where, int *byte_level, int depth, lm_status *st)
{
	json_t *type = json_object_get(p, "type");
	const char *t = json_is_string(type) ? json_string_value(type) : NULL;
	if (!json_is_object(p) || !t)
		return fail(tk, st, "%s.type: %s", where, json_is_object(p) ? "missing or not a string" : "not an object");
	if (*byte_level)
		return fail(tk, st, "%s: a %s step after ByteLevel is not supported (ByteLevel must be the last step)",
			    where, t);
	if (!strcmp(t, "Sequence")) {
		json_t *seq = json_object_get(p, "pretokenizers");
		if (!json_is_array(seq) || !json_array_size(seq))
			return fail(tk, st, "%s.pretokenizers: missing or empty", where);
		if (depth > 4)
			return fail(tk, st, "%s: Sequences nested too deep", where);
		for (size_t i = 0; i < json_array_size(seq); i++) {
			char w[256];
			snprintf(w, sizeof w, "%s.pretokenizers[%zu]", where, i);
			int rc = load_pre(tk, json_array_get(seq, i), w, byte_level, depth + 1, st);
			if (rc)
				return rc;
		}
		return 0;
	}
	if (!strcmp(t, "ByteLevel")) {
		*byte_level = 1;
		return load_byte_level(tk, p, where, st);
	}
	if (!strcmp(t, "Split"))
		return load_split(tk, p, where, st);
	if (!strcmp(t, "Digits"))
		return load_digits(tk, p, where, st);
	return fail(tk, st, "%s.type: \"%s\" is not supported (want Sequence, Split, Digits or ByteLevel)", where, t);
}

static int load_pre_tokenizer(lm_tokenizer *tk, json_t *pt, lm_status *st)
{
	if (!pt)
		return fail(tk, st, "pre_tokenizer: missing (only byte-level BPE is supported)");
	int byte_level = 0, rc = load_pre(tk, pt, "pre_tokenizer", &byte_level, 0, st);
	if (!rc && !byte_level)
		return fail(tk, st, "pre_tokenizer: no ByteLevel step (only byte-level BPE is supported)");
	return rc;
}

/* The decoder: ByteLevel, alone or as the only member of a Sequence. */
static int byte_level_decoder(json_t *dec)
{
	json_t *t = json_object_get(dec, "type");
	if (!json_is_string(t))
		return 0;
	if (!strcmp(json_string_value(t), "ByteLevel"))
		return 1;
	json_t *seq = json_object_get(dec, "decoders");
	return !strcmp(json_string_value(t), "Sequence") && json_array_size(seq) == 1 &&
	       byte_level_decoder(json_array_get(seq, 0));
}

static int load_pipeline(lm_tokenizer *tk, json_t *root, lm_status *st)
{
	json_t *norm = member(root, "normalizer");
	if (norm && !(json_is_object(norm) && json_is_string(json_object_get(norm, "type")) &&
		      !strcmp(json_string_value(json_object_get(norm, "type")), "Sequence") &&
		      json_array_size(json_object_get(norm, "normalizers")) == 0))
		return fail(tk, st, "normalizer: not supported (want null)");
	int rc = load_pre_tokenizer(tk, member(root, "pre_tokenizer"), st);
	if (rc)
		return rc;
	json_t *dec = member(root, "decoder");
	if (dec && !byte_level_decoder(dec))
		return fail(tk, st, "decoder: only ByteLevel is supported");
	return 0;
}

/* ---- decoding table ---- */

/* HF ByteLevel decoder, per token: every char mapped back to its byte, or, if some char is not
 * a byte char, the token's own UTF-8 bytes (decoders/byte_level.rs decode_chain). */
static size_t token_bytes(const char *s, size_t len, char *out)
{
	size_t n = 0, adv;
	for (size_t i = 0; i < len; i += adv) {
		uint32_t c = tk_utf8_decode((const unsigned char *)s + i, len - i, &adv);
		if (c >= 324 || tk_char_byte[c] < 0) {
			memcpy(out, s, len);
			return len;
		}
		out[n++] = (char)tk_char_byte[c];
	}
	return n;
}

static int build_decoder(lm_tokenizer *tk, lm_status *st)
{
	size_t pool = tk->vocab.pool_len + tk->added_map.pool_len + 1;
	tk->dec_off = malloc((size_t)(tk->n_ids + 1) * sizeof *tk->dec_off);
	tk->dec_len = malloc((size_t)(tk->n_ids + 1) * sizeof *tk->dec_len);
	tk->dec_pool = malloc(pool);
	if (!tk->dec_off || !tk->dec_len || !tk->dec_pool)
		return NOMEM(tk, st);
	for (int32_t i = 0; i < tk->n_ids; i++)
		tk->dec_len[i] = -1;
	size_t at = 0;
	const tk_strmap *maps[2] = {&tk->vocab, &tk->added_map};
	for (int m = 0; m < 2; m++)
		for (uint32_t e = 0; e < maps[m]->n; e++) {
			const struct tk_str *t = &maps[m]->ent[e];
			const char *s = maps[m]->pool + t->off;
			if (tk->dec_len[t->id] >= 0) {
				char sb[48], a[64];
				snprintf(a, sizeof a, "%.*s", (int)(t->len < 60 ? t->len : 60), s);
				if (m == 0)
					return fail(tk, st, "model.vocab: id %d given to \"%s\" and to another token",
						    t->id, shorten(a, sb));
				if (tk_strmap_get(&tk->vocab, s, t->len) != t->id)
					return fail(tk, st, "added_tokens: id %d of \"%s\" is another model.vocab token",
						    t->id, shorten(a, sb));
				continue; /* an added token repeated in the vocab with its id */
			}
			tk->dec_off[t->id] = (uint32_t)at;
			tk->dec_len[t->id] = (int32_t)token_bytes(s, t->len, tk->dec_pool + at);
			at += (size_t)tk->dec_len[t->id];
		}
	return 0;
}

/* ---- entry points ---- */

int lm_tokenizer_parse(lm_tokenizer **out, const char *json, size_t len, const char *name, lm_status *st)
{
	*out = NULL;
	tk_tables_init();
	lm_tokenizer *tk = calloc(1, sizeof *tk);
	if (!tk)
		return lm_fail(st, LM_ENOMEM, "%s: out of memory", name);
	snprintf(tk->name, sizeof tk->name, "%s", name ? name : "tokenizer.json");
	json_error_t je;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	int rc;
	if (!root)
		rc = fail(tk, st, "%d:%d: %s", je.line, je.column, je.text);
	else if (!json_is_object(root))
		rc = fail(tk, st, "not a JSON object");
	else if (!(rc = load_model(tk, json_object_get(root, "model"), st)) &&
		 !(rc = load_added(tk, member(root, "added_tokens"), st)) && !(rc = load_pipeline(tk, root, st)))
		rc = build_decoder(tk, st);
	json_decref(root);
	if (rc) {
		lm_tokenizer_free(tk);
		return rc;
	}
	*out = tk;
	return 0;
}

int lm_tokenizer_load(lm_tokenizer **tk, const char *path, lm_status *st)
{
	*tk = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return lm_fail(st, LM_ENOINPUT, "%s: cannot open: %s", path, strerror(errno));
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? 2 * cap : 1 << 20;
			char *p = realloc(buf, cap);
			if (!p) {
				free(buf);
				fclose(f);
				return lm_fail(st, LM_ENOMEM, "%s: out of memory", path);
			}
			buf = p;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		return lm_fail(st, LM_EIO, "%s: read failed", path);
	}
	int rc = lm_tokenizer_parse(tk, buf, len, path, st);
	free(buf);
	return rc;
}

void lm_tokenizer_free(lm_tokenizer *tk)
{
	if (!tk)
		return;
	tk_strmap_free(&tk->vocab);
	tk_strmap_free(&tk->added_map);
	free(tk->dec_off);
	free(tk->dec_len);
	free(tk->dec_pool);
	free(tk->merge);
	free(tk->added);
	for (int i = 0; i < tk->n_steps; i++)
		if (tk->step[i].re)
			onig_free(tk->step[i].re);
	free(tk);
}

int lm_tokenizer_vocab_size(const lm_tokenizer *tk) { return tk->n_ids; }

int lm_token_id(const lm_tokenizer *tk, const char *s)
{
	int id = tk_strmap_get(&tk->added_map, s, strlen(s));
	return id >= 0 ? id : tk_strmap_get(&tk->vocab, s, strlen(s));
}
