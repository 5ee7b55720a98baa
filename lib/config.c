/* config.c: the model directory's config.json (see config.h; docs/model-format.md section 2).
 *
 * Every key we use is checked for presence, type and range; keys we do not use are ignored (a
 * stock Hugging Face config.json has many). An error names the file and the key path:
 * "config.json: llamo.flow_head.width: missing".
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

#define CONFIG_MAX_BYTES (16 << 20) /* a config.json is a few kB; refuse anything absurd */

typedef struct {
	const char *file; /* for messages */
	const char *path; /* key path prefix, "" or "llamo.flow_head." */
	lm_status *st;
} ctx;

#define TRY(e)                      \
	do {                        \
		int rc_ = (e);      \
		if (rc_)            \
			return rc_; \
	} while (0)

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "real";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	default: return "null";
	}
}

static int missing(ctx *x, const char *key)
{
	return lm_fail(x->st, LM_EDATA, "%s: %s%s: missing", x->file, x->path, key);
}

static int mistyped(ctx *x, const char *key, const char *want, const json_t *v)
{
	return lm_fail(x->st, LM_EDATA, "%s: %s%s: expected %s, got %s", x->file, x->path, key, want,
		       type_name(v));
}

/* An integer in [lo, INT_MAX]. A value absent (or null) is `def` when optional, else an error. */
static int get_int(ctx *x, const json_t *o, const char *key, int optional, int def, int lo, int *out)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v)) {
		if (!optional)
			return missing(x, key);
		*out = def;
		return 0;
	}
	if (!json_is_integer(v))
		return mistyped(x, key, "an integer", v);
	json_int_t i = json_integer_value(v);
	if (i < lo || i > INT_MAX)
		return lm_fail(x->st, LM_EDATA, "%s: %s%s: %lld is out of range (want %d to %d)", x->file,
			       x->path, key, (long long)i, lo, INT_MAX);
	*out = (int)i;
	return 0;
}

#define REQ_INT(o, key, lo, out) get_int(x, o, key, 0, 0, lo, out)

/* A number (integer or real) in [lo, hi]; `lo_open` makes the lower bound exclusive. */
static int get_float(ctx *x, const json_t *o, const char *key, int optional, double def, double lo,
		     int lo_open, double hi, float *out)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v)) {
		if (!optional)
			return missing(x, key);
		*out = (float)def;
		return 0;
	}
	if (!json_is_number(v))
		return mistyped(x, key, "a number", v);
	double d = json_number_value(v);
	if (!isfinite(d) || d < lo || (lo_open && d == lo) || d > hi || !isfinite((float)d))
		return lm_fail(x->st, LM_EDATA, "%s: %s%s: %g is out of range (want %s%g to %g)", x->file,
			       x->path, key, d, lo_open ? "more than " : "", lo, hi);
	*out = (float)d;
	return 0;
}

#define REQ_POS_FLOAT(o, key, out) get_float(x, o, key, 0, 0, 0, 1, 3.4e38, out)

static int get_object(ctx *x, const json_t *o, const char *key, json_t **out)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return missing(x, key);
	if (!json_is_object(v))
		return mistyped(x, key, "an object", v);
	*out = v;
	return 0;
}

/* A template string that fits LM_TEMPLATE_MAX and holds `hole` exactly once. */
static int get_template(ctx *x, const json_t *o, const char *key, const char *hole, char *out)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return missing(x, key);
	if (!json_is_string(v))
		return mistyped(x, key, "a string", v);
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n >= LM_TEMPLATE_MAX)
		return lm_fail(x->st, LM_EDATA, "%s: %s%s: %zu bytes long (at most %d)", x->file, x->path,
			       key, n, LM_TEMPLATE_MAX - 1);
	const char *p = strstr(s, hole);
	if (!p || strstr(p + 1, hole))
		return lm_fail(x->st, LM_EDATA, "%s: %s%s: must contain \"%s\" exactly once", x->file,
			       x->path, key, hole);
	memcpy(out, s, n + 1);
	return 0;
}

/* An optional string that fits `size` bytes: absent (or null) leaves out[0] = 0; empty refused. */
static int get_string(ctx *x, const json_t *o, const char *key, char *out, size_t size)
{
	json_t *v = json_object_get(o, key);
	out[0] = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return mistyped(x, key, "a string", v);
	size_t n = json_string_length(v);
	if (n == 0 || n >= size || strlen(json_string_value(v)) != n)
		return lm_fail(x->st, LM_EDATA, "%s: %s%s: %zu bytes long (want 1 to %zu, no NUL)", x->file, x->path,
			       key, n, size - 1);
	memcpy(out, json_string_value(v), n + 1);
	return 0;
}

/* m2t_template holds {motion} once and may hold {prompt} once; m2t_prompt, the instruction used
 * when none is given, is there exactly when {prompt} is. */
static int get_m2t(ctx *x, const json_t *l, lm_config *c)
{
	TRY(get_template(x, l, "m2t_template", "{motion}", c->m2t_template));
	const char *p = strstr(c->m2t_template, "{prompt}");
	if (p && strstr(p + 1, "{prompt}"))
		return lm_fail(x->st, LM_EDATA, "%s: llamo.m2t_template: \"{prompt}\" more than once", x->file);
	TRY(get_string(x, l, "m2t_prompt", c->m2t_prompt, sizeof c->m2t_prompt));
	if (p && !c->m2t_prompt[0])
		return lm_fail(x->st, LM_EDATA, "%s: llamo.m2t_prompt: missing (m2t_template has {prompt})", x->file);
	if (!p && c->m2t_prompt[0])
		return lm_fail(x->st, LM_EDATA, "%s: llamo.m2t_prompt: given, but m2t_template has no {prompt}", x->file);
	return 0;
}

/* A token id in [0, vocab). */
static int get_token(ctx *x, const json_t *o, const char *key, int vocab, int *out)
{
	TRY(REQ_INT(o, key, 0, out));
	if (*out >= vocab)
		return lm_fail(x->st, LM_EDATA, "%s: %s%s: %d is not below vocab_size %d", x->file, x->path,
			       key, *out, vocab);
	return 0;
}

/* eos_token_id: absent or null (no end id), an id, or a list of 1 to LM_MAX_EOS ids. */
static int get_eos(ctx *x, const json_t *o, lm_config *c)
{
	json_t *v = json_object_get(o, "eos_token_id");
	c->n_eos = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		c->n_eos = 1;
		return get_token(x, o, "eos_token_id", c->vocab_size, &c->eos_token_ids[0]);
	}
	if (!json_is_array(v))
		return mistyped(x, "eos_token_id", "an integer or a list", v);
	size_t n = json_array_size(v);
	if (n < 1 || n > LM_MAX_EOS)
		return lm_fail(x->st, LM_EDATA, "%s: eos_token_id: list has %zu ids (want 1 to %d)", x->file,
			       n, LM_MAX_EOS);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(v, i);
		if (!json_is_integer(e) || json_integer_value(e) < 0 ||
		    json_integer_value(e) >= c->vocab_size)
			return lm_fail(x->st, LM_EDATA,
				       "%s: eos_token_id[%zu]: expected a token id below vocab_size %d",
				       x->file, i, c->vocab_size);
		c->eos_token_ids[i] = (int)json_integer_value(e);
	}
	c->n_eos = (int)n;
	return 0;
}

/* rope_scaling: null or absent (plain RoPE), rope_type "default", or rope_type "llama3" with its
 * four parameters (HF modeling_rope_utils._compute_llama3_parameters). Older configs say "type". */
static int get_rope_scaling(ctx *x, const json_t *o, lm_config *c)
{
	json_t *r = json_object_get(o, "rope_scaling");
	c->rope_llama3 = 0;
	c->rope_factor = 1, c->rope_low_freq_factor = 1, c->rope_high_freq_factor = 1;
	c->rope_original_max_pos = c->max_position_embeddings;
	if (!r || json_is_null(r))
		return 0;
	if (!json_is_object(r))
		return mistyped(x, "rope_scaling", "an object or null", r);
	x->path = "rope_scaling.";
	const char *tkey = json_object_get(r, "rope_type") ? "rope_type" : "type";
	json_t *t = json_object_get(r, tkey);
	if (!t)
		return missing(x, "rope_type");
	if (!json_is_string(t))
		return mistyped(x, tkey, "a string", t);
	const char *ty = json_string_value(t);
	if (strcmp(ty, "default") == 0) {
		x->path = "";
		return 0;
	}
	if (strcmp(ty, "llama3") != 0)
		return lm_fail(x->st, LM_EDATA, "%s: rope_scaling.%s: '%s' is not supported (want llama3 or default)",
			       x->file, tkey, ty);
	c->rope_llama3 = 1;
	TRY(REQ_POS_FLOAT(r, "factor", &c->rope_factor));
	TRY(REQ_POS_FLOAT(r, "low_freq_factor", &c->rope_low_freq_factor));
	TRY(REQ_POS_FLOAT(r, "high_freq_factor", &c->rope_high_freq_factor));
	TRY(REQ_INT(r, "original_max_position_embeddings", 1, &c->rope_original_max_pos));
	if (!(c->rope_high_freq_factor > c->rope_low_freq_factor))
		return lm_fail(x->st, LM_EDATA,
			       "%s: rope_scaling: high_freq_factor %g must exceed low_freq_factor %g",
			       x->file, c->rope_high_freq_factor, c->rope_low_freq_factor);
	x->path = "";
	return 0;
}

/* The Hugging Face LlamaConfig keys. */
static int parse_backbone(ctx *x, const json_t *o, lm_config *c)
{
	TRY(REQ_INT(o, "vocab_size", 1, &c->vocab_size));
	TRY(REQ_INT(o, "hidden_size", 1, &c->hidden_size));
	TRY(REQ_INT(o, "intermediate_size", 1, &c->intermediate_size));
	TRY(REQ_INT(o, "num_hidden_layers", 1, &c->num_hidden_layers));
	TRY(REQ_INT(o, "num_attention_heads", 1, &c->num_attention_heads));
	TRY(REQ_INT(o, "num_key_value_heads", 1, &c->num_key_value_heads));
	if (c->num_attention_heads % c->num_key_value_heads)
		return lm_fail(x->st, LM_EDATA,
			       "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
			       x->file, c->num_attention_heads, c->num_key_value_heads);
	if (!json_object_get(o, "head_dim") || json_is_null(json_object_get(o, "head_dim"))) {
		if (c->hidden_size % c->num_attention_heads)
			return lm_fail(x->st, LM_EDATA,
				       "%s: head_dim: missing, and hidden_size %d is not a multiple of num_attention_heads %d",
				       x->file, c->hidden_size, c->num_attention_heads);
		c->head_dim = c->hidden_size / c->num_attention_heads;
	} else {
		TRY(REQ_INT(o, "head_dim", 1, &c->head_dim));
	}
	if (c->head_dim % 2)
		return lm_fail(x->st, LM_EDATA, "%s: head_dim: %d is odd (RoPE rotates pairs)", x->file,
			       c->head_dim);
	TRY(REQ_POS_FLOAT(o, "rms_norm_eps", &c->rms_norm_eps));
	TRY(REQ_POS_FLOAT(o, "rope_theta", &c->rope_theta));
	TRY(get_int(x, o, "max_position_embeddings", 1, 2048, 1, &c->max_position_embeddings));
	TRY(get_rope_scaling(x, o, c));
	json_t *tie = json_object_get(o, "tie_word_embeddings");
	if (tie && !json_is_null(tie) && !json_is_boolean(tie))
		return mistyped(x, "tie_word_embeddings", "a boolean", tie);
	c->tie_word_embeddings = !tie || json_is_null(tie) || json_is_true(tie);
	TRY(get_token(x, o, "bos_token_id", c->vocab_size, &c->bos_token_id));
	return get_eos(x, o, c);
}

/* The "llamo" object: the motion parts. */
static int parse_llamo(ctx *x, const json_t *root, lm_config *c)
{
	json_t *l, *f, *e, *v, *m;
	TRY(get_object(x, root, "llamo", &l));
	x->path = "llamo.";
	TRY(REQ_INT(l, "latent_dim", 1, &c->latent_dim));
	TRY(REQ_INT(l, "adapter_hidden_size", 1, &c->adapter_hidden_size));
	TRY(REQ_INT(l, "projector_hidden_size", 1, &c->projector_hidden_size));
	TRY(REQ_INT(l, "condition_size", 1, &c->condition_size));
	TRY(get_token(x, l, "bom_token_id", c->vocab_size, &c->bom_token_id));
	TRY(get_token(x, l, "eom_token_id", c->vocab_size, &c->eom_token_id));
	TRY(get_int(x, l, "max_motion_tokens", 1, 75, 1, &c->max_motion_tokens));
	TRY(get_template(x, l, "t2m_template", "{prompt}", c->t2m_template));
	TRY(get_m2t(x, l, c));
	TRY(get_string(x, l, "base_model", c->base_model, sizeof c->base_model));
	TRY(get_object(x, l, "flow_head", &f));
	TRY(get_object(x, l, "exit_head", &e));
	TRY(get_object(x, l, "vae", &v));
	TRY(get_object(x, l, "motion", &m));

	x->path = "llamo.flow_head.";
	TRY(REQ_INT(f, "width", 1, &c->flow_width));
	TRY(REQ_INT(f, "depth", 1, &c->flow_depth));
	TRY(get_int(x, f, "frequency_embedding_size", 1, 256, 2, &c->flow_freq_size));
	if (c->flow_freq_size % 2)
		return lm_fail(x->st, LM_EDATA, "%s: llamo.flow_head.frequency_embedding_size: %d is odd",
			       x->file, c->flow_freq_size);
	TRY(REQ_INT(f, "euler_steps", 1, &c->euler_steps));
	TRY(get_float(x, f, "guidance_scale", 0, 0, 0, 0, 1e6, &c->guidance_scale));

	x->path = "llamo.exit_head.";
	TRY(REQ_INT(e, "hidden_size", 1, &c->exit_hidden_size));
	TRY(REQ_INT(e, "num_layers", 2, &c->exit_layers));
	if (c->exit_layers > 8)
		return lm_fail(x->st, LM_EDATA, "%s: llamo.exit_head.num_layers: %d is out of range (want 2 to 8)",
			       x->file, c->exit_layers);
	TRY(get_float(x, e, "threshold", 0, 0, 0, 0, 1, &c->exit_threshold));

	x->path = "llamo.vae.";
	TRY(REQ_INT(v, "width", 1, &c->vae_width));
	TRY(REQ_INT(v, "down_t", 0, &c->vae_down_t));
	if (c->vae_down_t > 8)
		return lm_fail(x->st, LM_EDATA, "%s: llamo.vae.down_t: %d is out of range (want 0 to 8)",
			       x->file, c->vae_down_t);
	TRY(REQ_INT(v, "depth", 1, &c->vae_depth));
	TRY(REQ_INT(v, "dilation_growth_rate", 1, &c->vae_dilation_growth));

	x->path = "llamo.motion.";
	TRY(get_float(x, m, "fps", 0, 0, 0, 1, 1e6, &c->fps));
	TRY(REQ_INT(m, "downsample", 1, &c->downsample));
	TRY(REQ_INT(m, "joints", 1, &c->n_joints));
	TRY(REQ_INT(m, "feature_dim", 1, &c->feature_dim));
	if ((long long)c->feature_dim != 8 + 12LL * c->n_joints)
		return lm_fail(x->st, LM_EDATA,
			       "%s: llamo.motion.feature_dim: %d is not 8 + 12 * joints = %lld", x->file,
			       c->feature_dim, 8 + 12LL * c->n_joints);
	if (c->downsample != 1 << c->vae_down_t)
		return lm_fail(x->st, LM_EDATA,
			       "%s: llamo.motion.downsample: %d is not 2^llamo.vae.down_t = %d", x->file,
			       c->downsample, 1 << c->vae_down_t);
	x->path = "";
	return 0;
}

int lm_config_parse(lm_config *c, const char *json, size_t len, const char *name, lm_status *st)
{
	memset(c, 0, sizeof *c);
	ctx x = {name ? name : "config.json", "", st};
	json_error_t err;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return lm_fail(st, LM_EDATA, "%s: line %d column %d: %s", x.file, err.line, err.column,
			       err.text);
	int rc = json_is_object(root) ? 0 : mistyped(&x, "top level", "an object", root);
	if (!rc)
		rc = parse_backbone(&x, root, c);
	c->has_motion = json_object_get(root, "llamo") != NULL; /* else a text-only Llama */
	if (!rc && c->has_motion)
		rc = parse_llamo(&x, root, c);
	json_decref(root);
	return rc;
}

/* The file's bytes, malloc'd in *buf (NUL-terminated), its length in *n. */
static int read_file(const char *path, char **buf_out, size_t *n, lm_status *st)
{
	*buf_out = NULL;
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return lm_fail(st, LM_ENOINPUT, "%s: %s", path, strerror(errno));
	char *buf = malloc(CONFIG_MAX_BYTES + 1);
	if (!buf) {
		fclose(fp);
		return lm_fail(st, LM_ENOMEM, "%s: out of memory", path);
	}
	*n = fread(buf, 1, CONFIG_MAX_BYTES + 1, fp);
	int bad = ferror(fp);
	fclose(fp);
	int rc = 0;
	if (bad)
		rc = lm_fail(st, LM_EIO, "%s: read error", path);
	else if (*n > CONFIG_MAX_BYTES)
		rc = lm_fail(st, LM_EDATA, "%s: larger than %d bytes", path, CONFIG_MAX_BYTES);
	if (rc) {
		free(buf);
		return rc;
	}
	buf[*n] = 0;
	*buf_out = buf;
	return 0;
}

int lm_config_load(lm_config *c, const char *path, lm_status *st)
{
	memset(c, 0, sizeof *c);
	char *buf;
	size_t n;
	if (read_file(path, &buf, &n, st))
		return st->code;
	int rc = lm_config_parse(c, buf, n, path, st);
	free(buf);
	return rc;
}

/* The Llama keys a motion model repeats from its base model (llamo.base_model), key by key. */
static const char *const base_keys[] = {
	"model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
	"num_attention_heads", "num_key_value_heads", "head_dim", "hidden_act", "rms_norm_eps",
	"rope_theta", "rope_scaling", "attention_bias", "mlp_bias", "tie_word_embeddings",
	"max_position_embeddings", "bos_token_id", "eos_token_id",
};

/* JSON values equal, numbers by value (32 and 32.0 are one number). */
static int same_json(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_typeof(a) != json_typeof(b))
		return 0;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!same_json(json_array_get(a, i), json_array_get(b, i)))
				return 0;
		return 1;
	}
	if (json_is_object(a)) {
		const char *k;
		json_t *v;
		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach((json_t *)a, k, v) {
			json_t *w = json_object_get(b, k);
			if (!w || !same_json(v, w))
				return 0;
		}
		return 1;
	}
	return json_equal((json_t *)a, (json_t *)b);
}

static json_t *load_json(const char *path, lm_status *st)
{
	char *buf;
	size_t n;
	if (read_file(path, &buf, &n, st))
		return NULL;
	json_error_t err;
	json_t *root = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &err);
	free(buf);
	if (!root)
		lm_fail(st, LM_EDATA, "%s: line %d column %d: %s", path, err.line, err.column, err.text);
	else if (!json_is_object(root)) {
		json_decref(root);
		root = NULL;
		lm_fail(st, LM_EDATA, "%s: top level: expected an object", path);
	}
	return root;
}

int lm_config_check_base(const char *path, const char *base_path, lm_status *st)
{
	json_t *a = load_json(path, st), *b = a ? load_json(base_path, st) : NULL;
	int rc = a && b ? 0 : st->code;
	for (size_t i = 0; !rc && i < sizeof base_keys / sizeof *base_keys; i++) {
		json_t *va = json_object_get(a, base_keys[i]), *vb = json_object_get(b, base_keys[i]);
		if (!va && !vb)
			continue;
		if (va && vb && same_json(va, vb))
			continue;
		char *sa = va ? json_dumps(va, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		char *sb = vb ? json_dumps(vb, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		rc = lm_fail(st, LM_EDATA, "%s: %s: %s here, %s in the base model's %s", path, base_keys[i],
			     sa ? sa : "absent", sb ? sb : "absent", base_path);
		free(sa);
		free(sb);
	}
	json_decref(a);
	json_decref(b);
	return rc;
}
