/* tokenizer.c: byte-level BPE encoding and decoding, following Hugging Face `tokenizers`
 * (see tokenizer.h; tokenizer_load.c reads the file).
 *
 * encode(text):
 *   1. added tokens, matched verbatim, leftmost-longest, first those with normalized=false, then
 *      in what is left those with normalized=true (added_vocabulary.rs split_with_indices);
 *   2. every other piece through the pre-tokenizer steps (Split with any behavior and invert,
 *      Digits, with Oniguruma; then ByteLevel), each step splitting every piece of the previous
 *      one;
 *   3. each final piece: bytes -> GPT-2 byte chars; the whole piece if it is a vocab entry and
 *      ignore_merges is set; else BPE: merge the adjacent pair of lowest merge rank, leftmost
 *      on ties, with HF's heap and its stale-entry test (models/bpe/word.rs merge_all).
 */
#include <stdlib.h>
#include <string.h>
#include "tokenizer_impl.h"

typedef struct sym { int32_t id, prev, next, alive; } sym;
typedef struct hent { int32_t rank, pos, id; } hent;

/* Encoder state for one lm_tokenize call. */
typedef struct enc {
	const lm_tokenizer *tk;
	lm_status *st;
	int32_t *ids; /* (n, cap) output */
	size_t n, cap;
	char *bl; /* (bl_cap) byte-level text of one piece */
	sym *sym; /* (sym_cap) BPE symbols of one piece */
	hent *heap; /* (heap_cap) merge candidates */
	size_t bl_cap, sym_cap, heap_cap;
	OnigRegion *region;
} enc;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static int emit(enc *e, int32_t id)
{
	if (grow((void **)&e->ids, &e->cap, e->n + 1, sizeof *e->ids))
		return lm_fail(e->st, LM_ENOMEM, "%s: out of memory", e->tk->name);
	e->ids[e->n++] = id;
	return 0;
}

/* ---- BPE on one piece ---- */

static int merge_get(const lm_tokenizer *tk, int32_t a, int32_t b, int32_t *rank, int32_t *id)
{
	const tk_merge *m = tk_merge_slot(tk, tk_merge_key(a, b));
	if (m->key == UINT64_MAX)
		return 0;
	*rank = m->rank;
	*id = m->id;
	return 1;
}

static int hent_less(hent a, hent b) { return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos; }

static void heap_push(hent *h, size_t *n, hent x)
{
	size_t i = (*n)++;
	while (i > 0 && hent_less(x, h[(i - 1) / 2])) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = x;
}

static hent heap_pop(hent *h, size_t *n)
{
	hent top = h[0], x = h[--*n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && hent_less(h[c + 1], h[c]))
			c++;
		if (!hent_less(h[c], x))
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n)
		h[i] = x;
	return top;
}

/* Pushes the merge of symbol pos with its right neighbour, if there is one. */
static void push_pair(const lm_tokenizer *tk, const sym *s, int32_t pos, hent *h, size_t *n)
{
	int32_t rank, id;
	if (pos >= 0 && s[pos].next >= 0 && merge_get(tk, s[pos].id, s[s[pos].next].id, &rank, &id))
		heap_push(h, n, (hent){rank, pos, id});
}

/* Word::merge_all (tokenizers models/bpe/word.rs), without dropout. */
static void merge_all(const lm_tokenizer *tk, sym *s, int32_t ns, hent *h)
{
	size_t nh = 0;
	for (int32_t i = 0; i + 1 < ns; i++)
		push_pair(tk, s, i, h, &nh);
	while (nh) {
		hent top = heap_pop(h, &nh);
		sym *a = &s[top.pos];
		int32_t rank, id;
		if (!a->alive || a->next < 0)
			continue;
		/* a stale entry: the pair changed since it was pushed */
		if (!merge_get(tk, a->id, s[a->next].id, &rank, &id) || id != top.id)
			continue;
		sym *b = &s[a->next];
		a->id = top.id;
		b->alive = 0;
		a->next = b->next;
		if (b->next >= 0)
			s[b->next].prev = top.pos;
		push_pair(tk, s, a->prev, h, &nh);
		push_pair(tk, s, top.pos, h, &nh);
	}
}

static void add_sym(enc *e, int32_t *ns, int32_t id)
{
	e->sym[*ns] = (sym){id, *ns - 1, -1, 1};
	if (*ns > 0)
		e->sym[*ns - 1].next = *ns;
	(*ns)++;
}

/* One pre-token (raw bytes) to ids. */
static int bpe(enc *e, const char *s, size_t len)
{
	const lm_tokenizer *tk = e->tk;
	/* up to 2 symbols per byte (byte fallback of a 2-byte char), 3 heap entries per symbol */
	if (grow((void **)&e->bl, &e->bl_cap, 2 * len, 1) || grow((void **)&e->sym, &e->sym_cap, 2 * len, sizeof(sym)) ||
	    grow((void **)&e->heap, &e->heap_cap, 6 * len, sizeof(hent)))
		return lm_fail(e->st, LM_ENOMEM, "%s: out of memory", tk->name);
	size_t nb = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned c = tk_byte_char[(unsigned char)s[i]];
		if (c < 0x80)
			e->bl[nb++] = (char)c;
		else {
			e->bl[nb++] = (char)(0xC0 | c >> 6);
			e->bl[nb++] = (char)(0x80 | (c & 0x3F));
		}
	}
	if (tk->ignore_merges) {
		int id = tk_strmap_get(&tk->vocab, e->bl, nb);
		if (id >= 0)
			return emit(e, id);
	}
	/* BPE::merge_word (models/bpe/model.rs): one symbol per char; unknown chars go to byte
	 * fallback "<0xXX>" tokens (of the char's UTF-8 bytes), else to unk (fused if fuse_unk),
	 * else are dropped */
	int32_t ns = 0, unk = -1;
	for (size_t i = 0, at = 0; i < len; i++) {
		unsigned char b = (unsigned char)s[i];
		size_t clen = tk_byte_char[b] < 0x80 ? 1 : 2;
		const unsigned char *ch = (const unsigned char *)e->bl + at;
		at += clen;
		if (tk->byte_id[b] >= 0) {
			if (unk >= 0)
				add_sym(e, &ns, unk);
			unk = -1;
			add_sym(e, &ns, tk->byte_id[b]);
			continue;
		}
		if (tk->byte_fallback && tk->fallback_id[ch[0]] >= 0 && (clen == 1 || tk->fallback_id[ch[1]] >= 0)) {
			for (size_t k = 0; k < clen; k++)
				add_sym(e, &ns, tk->fallback_id[ch[k]]);
			continue;
		}
		if (tk->unk_id >= 0) {
			if (unk >= 0 && !tk->fuse_unk)
				add_sym(e, &ns, unk);
			unk = tk->unk_id;
		}
	}
	if (unk >= 0)
		add_sym(e, &ns, unk);
	if (!ns)
		return 0;
	merge_all(tk, e->sym, ns, e->heap);
	int rc = 0;
	for (int32_t i = 0; i >= 0 && !rc; i = e->sym[i].next)
		rc = emit(e, e->sym[i].id);
	return rc;
}

/* ---- pre-tokenizer ---- */

static size_t char_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

/* A piece of the text being split: [s, e), is_match (a match of the pattern, after invert) or,
 * after the behavior is applied, remove. */
typedef struct span { size_t s, e; int m; } span;

static int push_span(span **v, size_t *n, size_t *cap, size_t s, size_t e, int m)
{
	if (grow((void **)v, cap, *n + 1, sizeof **v))
		return -1;
	(*v)[(*n)++] = (span){s, e, m};
	return 0;
}

/* Pattern::find_matches for a regex (tokenizers utils/pattern.rs): the gaps and the matches in
 * order, as (offsets, is_match), empty matches included; matches iterated as the onig crate's
 * find_iter does (an empty match right at the end of the previous match is skipped by one char).
 * Then SplitDelimiterBehavior as NormalizedString::split applies it (normalizer.rs). */
static int split_spans(enc *e, const tk_step *p, const char *s, size_t len, span **out, size_t *nout)
{
	const lm_tokenizer *tk = e->tk;
	const UChar *u = (const UChar *)s;
	span *m = NULL, *v = NULL;
	size_t nm = 0, cm = 0, nv = 0, cv = 0, from = 0, prev = 0;
	long last_match_end = -1;
	int rc = 0;
	while (from <= len) {
		int r = onig_search(p->re, u, u + len, u + from, u + len, e->region, ONIG_OPTION_NONE);
		if (r == ONIG_MISMATCH)
			break;
		if (r < 0) {
			UChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
			onig_error_code_to_str(msg, r);
			rc = lm_fail(e->st, LM_EDATA, "%s: pre-tokenizer regex: %s", tk->name, (char *)msg);
			goto out;
		}
		size_t ms = (size_t)e->region->beg[0], me = (size_t)e->region->end[0];
		if (ms == me && (long)me == last_match_end) {
			from += from < len ? char_len(u[from]) : 1;
			continue;
		}
		from = me;
		last_match_end = (long)me;
		if ((ms > prev && push_span(&m, &nm, &cm, prev, ms, 0)) || push_span(&m, &nm, &cm, ms, me, 1))
			goto nomem;
		prev = me;
	}
	if (prev < len && push_span(&m, &nm, &cm, prev, len, 0))
		goto nomem;
	/* the behavior: m -> v with .m = remove */
	int previous_match = 0;
	if (p->behavior == TK_MERGED_NEXT) { /* folded from the right, then reversed */
		for (size_t i = nm; i-- > 0;) {
			int is_match = m[i].m != p->invert;
			if (is_match && !previous_match && nv)
				v[nv - 1].s = m[i].s;
			else if (push_span(&v, &nv, &cv, m[i].s, m[i].e, 0))
				goto nomem;
			previous_match = is_match;
		}
		for (size_t i = 0; i < nv / 2; i++) {
			span t = v[i];
			v[i] = v[nv - 1 - i];
			v[nv - 1 - i] = t;
		}
	} else
		for (size_t i = 0; i < nm; i++) {
			int is_match = m[i].m != p->invert, merge = 0, remove = 0;
			if (p->behavior == TK_REMOVED)
				remove = is_match;
			else if (p->behavior == TK_CONTIGUOUS)
				merge = is_match == previous_match;
			else if (p->behavior == TK_MERGED_PREV)
				merge = is_match && !previous_match;
			if (merge && nv)
				v[nv - 1].e = m[i].e;
			else if (push_span(&v, &nv, &cv, m[i].s, m[i].e, remove))
				goto nomem;
			previous_match = is_match;
		}
	goto out;
nomem:
	rc = lm_fail(e->st, LM_ENOMEM, "%s: out of memory", tk->name);
out:
	free(m);
	if (rc) {
		free(v);
		v = NULL;
		nv = 0;
	}
	*out = v;
	*nout = nv;
	return rc;
}

/* Runs steps k.. on s; each step splits every piece of the previous one and drops empty pieces
 * (PreTokenizedString::split). */
static int pretok(enc *e, int k, const char *s, size_t len)
{
	const lm_tokenizer *tk = e->tk;
	if (!len)
		return 0;
	if (k == tk->n_steps)
		return bpe(e, s, len);
	const tk_step *p = &tk->step[k];
	char *own = NULL;
	int rc = 0;
	if (p->prefix_space && s[0] != ' ') {
		if (!(own = malloc(len + 1)))
			return lm_fail(e->st, LM_ENOMEM, "%s: out of memory", tk->name);
		own[0] = ' ';
		memcpy(own + 1, s, len);
		s = own;
		len++;
	}
	if (!p->re) {
		rc = pretok(e, k + 1, s, len);
		free(own);
		return rc;
	}
	span *v;
	size_t nv;
	rc = split_spans(e, p, s, len, &v, &nv);
	for (size_t i = 0; i < nv && !rc; i++)
		if (!v[i].m && v[i].e > v[i].s)
			rc = pretok(e, k + 1, s + v[i].s, v[i].e - v[i].s);
	free(v);
	free(own);
	return rc;
}

/* ---- added tokens ---- */

/* regex_syntax::is_word_character, what HF's single_word tests (tk_word_re). */
static int is_word_at(const char *s, size_t len, size_t at)
{
	const UChar *u = (const UChar *)s;
	return tk_word_re && onig_match(tk_word_re, u, u + len, u + at, NULL, ONIG_OPTION_NONE) > 0;
}

/* The leftmost-longest added token of the given normalized flag in s[from..len), or -1. */
static int find_added(const lm_tokenizer *tk, int normalized, const char *s, size_t len, size_t from, size_t *at)
{
	for (size_t i = from; i < len; i++) {
		if (!tk->added_first[normalized][(unsigned char)s[i]])
			continue;
		int best = -1;
		for (int t = 0; t < tk->n_added; t++) {
			const tk_added *a = &tk->added[t];
			if (a->normalized == normalized && a->len <= len - i && (best < 0 || a->len > tk->added[best].len) &&
			    !memcmp(s + i, a->text, a->len))
				best = t;
		}
		if (best >= 0) {
			*at = i;
			return best;
		}
	}
	return -1;
}

static int encode_segment(enc *e, int pass, const char *s, size_t len);

/* AddedVocabulary::find_matches: non-overlapping leftmost-longest matches; single_word drops a
 * match touching a word char; lstrip/rstrip take the white space beside the match into it.
 * (After an rstrip the search resumes past the taken space; HF resumes at the match's end, which
 * differs only for an added token that itself starts with white space.) */
static int encode_segment(enc *e, int pass, const char *s, size_t len)
{
	const lm_tokenizer *tk = e->tk;
	if (pass == 2)
		return pretok(e, 0, s, len);
	size_t done = 0, from = 0, at;
	int t, rc = 0;
	while (!rc && (t = find_added(tk, pass, s, len, from, &at)) >= 0) {
		const tk_added *a = &tk->added[t];
		size_t start = at, stop = at + a->len, adv;
		from = stop;
		if (a->single_word) {
			size_t p = start ? start - 1 : 0; /* the char before the match */
			while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80)
				p--;
			if ((start > 0 && is_word_at(s, len, p)) || (stop < len && is_word_at(s, len, stop)))
				continue;
		}
		if (a->lstrip)
			while (start > done) {
				size_t p = start - 1;
				while (p > done && ((unsigned char)s[p] & 0xC0) == 0x80)
					p--;
				if (!tk_is_white_space(tk_utf8_decode((const unsigned char *)s + p, len - p, &adv)))
					break;
				start = p;
			}
		if (a->rstrip)
			while (stop < len &&
			       tk_is_white_space(tk_utf8_decode((const unsigned char *)s + stop, len - stop, &adv)))
				stop += adv;
		if (start > done)
			rc = encode_segment(e, pass + 1, s + done, start - done);
		if (!rc)
			rc = emit(e, a->id);
		done = from = stop;
	}
	if (!rc && done < len)
		rc = encode_segment(e, pass + 1, s + done, len - done);
	return rc;
}

/* ---- entry points ---- */

/* Length of the valid UTF-8 prefix of s (strict: no overlongs, surrogates or > U+10FFFF). */
static size_t utf8_valid_prefix(const unsigned char *s, size_t len, size_t *bad_len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t need;
		unsigned lo = 0x80, hi = 0xBF;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF)
			need = 1;
		else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			lo = c == 0xE0 ? 0xA0 : 0x80;
			hi = c == 0xED ? 0x9F : 0xBF;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			lo = c == 0xF0 ? 0x90 : 0x80;
			hi = c == 0xF4 ? 0x8F : 0xBF;
		} else {
			*bad_len = 1;
			return i;
		}
		size_t k = 1;
		for (; k <= need && i + k < len; k++) {
			unsigned b = s[i + k];
			if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
				break;
		}
		if (k <= need) { /* the maximal invalid subpart is k bytes */
			*bad_len = k;
			return i;
		}
		i += need + 1;
	}
	*bad_len = 0;
	return len;
}

int lm_tokenize(const lm_tokenizer *tk, const char *text, size_t len, int32_t **ids, int *n, lm_status *st)
{
	*ids = NULL;
	*n = 0;
	size_t bad;
	size_t ok_len = utf8_valid_prefix((const unsigned char *)text, len, &bad);
	if (ok_len < len)
		return lm_fail(st, LM_EDATA, "invalid UTF-8 at byte %zu of the text", ok_len);
	if (len > (size_t)INT32_MAX / 4)
		return lm_fail(st, LM_EDATA, "text too long to tokenize (%zu bytes)", len);
	enc e = {.tk = tk, .st = st};
	e.region = onig_region_new();
	if (!e.region)
		return lm_fail(st, LM_ENOMEM, "%s: out of memory", tk->name);
	int rc = encode_segment(&e, 0, text, len);
	onig_region_free(e.region, 1);
	free(e.bl);
	free(e.sym);
	free(e.heap);
	if (rc) {
		free(e.ids);
		return rc;
	}
	*ids = e.ids;
	*n = (int)e.n;
	return 0;
}

/* Appends s as UTF-8 with every maximal invalid subpart replaced by U+FFFD (Python
 * bytes.decode(errors="replace"), Rust String::from_utf8_lossy). out has room for 3*len bytes. */
static size_t utf8_lossy(const unsigned char *s, size_t len, char *out)
{
	size_t n = 0;
	while (len) {
		size_t bad, good = utf8_valid_prefix(s, len, &bad);
		memcpy(out + n, s, good);
		n += good;
		s += good;
		len -= good;
		if (bad) {
			memcpy(out + n, "\xEF\xBF\xBD", 3);
			n += 3;
			s += bad;
			len -= bad;
		}
	}
	return n;
}

int lm_detokenize(const lm_tokenizer *tk, const int32_t *ids, int n, char **text, size_t *len, lm_status *st)
{
	*text = NULL;
	*len = 0;
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		if (ids[i] < 0 || ids[i] >= tk->n_ids || tk->dec_len[ids[i]] < 0)
			return lm_fail(st, LM_EDATA, "%s: token id %d (at %d) is not in the vocabulary", tk->name,
				       ids[i], i);
		total += (size_t)tk->dec_len[ids[i]];
	}
	char *raw = malloc(total + 1), *out = malloc(3 * total + 1);
	if (!raw || !out) {
		free(raw);
		free(out);
		return lm_fail(st, LM_ENOMEM, "%s: out of memory", tk->name);
	}
	size_t at = 0;
	for (int i = 0; i < n; i++) {
		memcpy(raw + at, tk->dec_pool + tk->dec_off[ids[i]], (size_t)tk->dec_len[ids[i]]);
		at += (size_t)tk->dec_len[ids[i]];
	}
	*len = utf8_lossy((const unsigned char *)raw, total, out);
	out[*len] = 0;
	free(raw);
	*text = out;
	return 0;
}
