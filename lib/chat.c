/* chat.c: chat.json, see chat.h */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "chat.h"

static int get_string(const char *path, json_t *root, const char *key, char *dst, lm_status *st)
{
	json_t *v = json_object_get(root, key);
	if (!v)
		return lm_fail(st, LM_EDATA, "%s: %s: missing", path, key);
	if (!json_is_string(v))
		return lm_fail(st, LM_EDATA, "%s: %s: expected a string", path, key);
	if (json_string_length(v) >= LM_CHAT_MAX || strlen(json_string_value(v)) != json_string_length(v))
		return lm_fail(st, LM_EDATA, "%s: %s: longer than %d bytes, or holds a NUL", path, key,
			       LM_CHAT_MAX - 1);
	strcpy(dst, json_string_value(v));
	return 0;
}

static int parse(lm_chat *c, const char *path, json_t *root, lm_status *st)
{
	if (!json_is_object(root))
		return lm_fail(st, LM_EDATA, "%s: top level: expected an object", path);
	if (get_string(path, root, "turn", c->turn, st) ||
	    get_string(path, root, "generation_prompt", c->generation_prompt, st) ||
	    get_string(path, root, "default_system", c->default_system, st))
		return st->code;
	const char *r = strstr(c->turn, "{role}"), *t = strstr(c->turn, "{content}");
	if (!r || !t || strstr(r + 1, "{role}") || strstr(t + 1, "{content}"))
		return lm_fail(st, LM_EDATA, "%s: turn: wants {role} and {content} once each", path);
	json_t *e = json_object_get(root, "end_of_turn");
	if (!json_is_array(e) || json_array_size(e) < 1 || json_array_size(e) > 8)
		return lm_fail(st, LM_EDATA, "%s: end_of_turn: expected an array of 1 to 8 token texts", path);
	for (size_t i = 0; i < json_array_size(e); i++) {
		json_t *s = json_array_get(e, i);
		if (!json_is_string(s) || json_string_length(s) < 1 || json_string_length(s) >= 64)
			return lm_fail(st, LM_EDATA, "%s: end_of_turn[%zu]: expected a token text", path, i);
		strcpy(c->end_of_turn[c->n_end++], json_string_value(s));
	}
	return 0;
}

int lm_chat_parse(lm_chat *c, const char *json, size_t len, const char *name, lm_status *st)
{
	memset(c, 0, sizeof *c);
	json_error_t err;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return lm_fail(st, LM_EDATA, "%s: line %d column %d: %s", name, err.line, err.column, err.text);
	int rc = parse(c, name, root, st);
	json_decref(root);
	return rc;
}

int lm_chat_load(lm_chat *c, const char *path, lm_status *st)
{
	memset(c, 0, sizeof *c);
	json_error_t err;
	FILE *f = fopen(path, "rb");
	if (!f)
		return lm_fail(st, LM_ENOINPUT, "%s: cannot open (not a chat model?)", path);
	json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &err);
	fclose(f);
	if (!root)
		return lm_fail(st, LM_EDATA, "%s: line %d column %d: %s", path, err.line, err.column, err.text);
	int rc = parse(c, path, root, st);
	json_decref(root);
	return rc;
}

/* Appends the turn of role with content to the growing text s (len bytes). */
static char *put_turn(const lm_chat *c, char *s, size_t *len, const char *role, const char *content)
{
	size_t need = *len + strlen(c->turn) + strlen(role) + strlen(content) + 1;
	char *p = realloc(s, need);
	if (!p) {
		free(s);
		return NULL;
	}
	for (const char *t = c->turn; *t;) {
		const char *sub = !strncmp(t, "{role}", 6) ? role : !strncmp(t, "{content}", 9) ? content : NULL;
		size_t n = sub ? strlen(sub) : 1;
		memcpy(p + *len, sub ? sub : t, n);
		*len += n;
		t += sub ? (sub == role ? 6 : 9) : 1;
	}
	p[*len] = 0;
	return p;
}

int lm_chat_render(const lm_chat *c, const char *system, const char *user, char **text, lm_status *st)
{
	size_t len = 0;
	char *s = calloc(1, 1);
	const char *sys = system ? system : c->default_system;
	if (s && *sys)
		s = put_turn(c, s, &len, "system", sys);
	if (s)
		s = put_turn(c, s, &len, "user", user);
	char *p = s ? realloc(s, len + strlen(c->generation_prompt) + 1) : NULL;
	if (!p) {
		free(s);
		return lm_fail(st, LM_ENOMEM, "out of memory");
	}
	strcpy(p + len, c->generation_prompt);
	*text = p;
	return 0;
}
