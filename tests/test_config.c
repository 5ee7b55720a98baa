/* test_config: lib/config.c on the docs/model-format.md example and on mutations of it.
 *
 * The example parses with every value as written; each required key, removed or given the wrong
 * type, is refused with LM_EDATA and a message naming the key path; the consistency checks fire;
 * bad JSON reports line and column. Mutations are made with jansson on the example. */
#include <jansson.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "tap.h"

static const char *example =
	"{\n"
	"  \"model_type\": \"llama\",\n"
	"  \"vocab_size\": 2048, \"hidden_size\": 64, \"intermediate_size\": 172,\n"
	"  \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 16,\n"
	"  \"rms_norm_eps\": 1e-5, \"rope_theta\": 500000.0,\n"
	"  \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 32.0, \"low_freq_factor\": 1.0,\n"
	"                   \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192},\n"
	"  \"max_position_embeddings\": 2048, \"tie_word_embeddings\": true,\n"
	"  \"bos_token_id\": 0, \"eos_token_id\": [1, 4],\n"
	"  \"torch_dtype\": \"float32\",\n"
	"  \"llamo\": {\n"
	"    \"latent_dim\": 32,\n"
	"    \"adapter_hidden_size\": 64, \"projector_hidden_size\": 64, \"condition_size\": 64,\n"
	"    \"flow_head\": {\"width\": 64, \"depth\": 2, \"frequency_embedding_size\": 256,\n"
	"                  \"euler_steps\": 50, \"guidance_scale\": 3.0},\n"
	"    \"exit_head\": {\"hidden_size\": 64, \"num_layers\": 5, \"threshold\": 0.5},\n"
	"    \"vae\": {\"width\": 32, \"down_t\": 2, \"depth\": 3, \"dilation_growth_rate\": 3},\n"
	"    \"motion\": {\"fps\": 30, \"downsample\": 4, \"joints\": 21, \"feature_dim\": 260},\n"
	"    \"bom_token_id\": 2, \"eom_token_id\": 3,\n"
	"    \"max_motion_tokens\": 75,\n"
	"    \"t2m_template\": \"<|begin_of_text|>{prompt}\",\n"
	"    \"m2t_template\": \"<|begin_of_text|>{motion}Caption:\"\n"
	"  }\n"
	"}\n";

/* Every key the parser requires, as a dotted path. */
static const char *required[] = {
	"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
	"num_attention_heads", "num_key_value_heads", "rms_norm_eps", "rope_theta", "bos_token_id",
	"rope_scaling.factor", "rope_scaling.low_freq_factor", "rope_scaling.high_freq_factor",
	"rope_scaling.original_max_position_embeddings",
	"llamo.latent_dim", "llamo.adapter_hidden_size", "llamo.projector_hidden_size",
	"llamo.condition_size", "llamo.bom_token_id", "llamo.eom_token_id", "llamo.t2m_template",
	"llamo.m2t_template", "llamo.flow_head", "llamo.flow_head.width", "llamo.flow_head.depth",
	"llamo.flow_head.euler_steps", "llamo.flow_head.guidance_scale", "llamo.exit_head",
	"llamo.exit_head.hidden_size", "llamo.exit_head.num_layers", "llamo.exit_head.threshold",
	"llamo.vae", "llamo.vae.width", "llamo.vae.down_t", "llamo.vae.depth",
	"llamo.vae.dilation_growth_rate", "llamo.motion", "llamo.motion.fps",
	"llamo.motion.downsample", "llamo.motion.joints", "llamo.motion.feature_dim",
};

/* The object holding the last component of path, and that component in *key. */
static json_t *parent(json_t *root, const char *path, char *key)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", path);
	json_t *o = root;
	char *s = buf, *dot;
	while ((dot = strchr(s, '.'))) {
		*dot = 0;
		o = json_object_get(o, s);
		s = dot + 1;
	}
	strcpy(key, s);
	return o;
}

/* Parses the example with path set to v (stolen; NULL deletes it). Returns the rc. */
static int parse_mutated(const char *path, json_t *v, lm_config *c, lm_status *st)
{
	json_t *root = json_loads(example, 0, NULL);
	char key[256];
	json_t *o = parent(root, path, key);
	if (v)
		json_object_set_new(o, key, v);
	else
		json_object_del(o, key);
	char *s = json_dumps(root, 0);
	int rc = lm_config_parse(c, s, strlen(s), "config.json", st);
	free(s);
	json_decref(root);
	return rc;
}

/* Expects LM_EDATA and the exact message (or a prefix of it when `prefix`). */
static int expect(const char *what, const char *path, json_t *v, const char *want)
{
	lm_config c;
	lm_status st = {0};
	int rc = parse_mutated(path, v, &c, &st);
	int pass = rc == LM_EDATA && strncmp(st.msg, want, strlen(want)) == 0;
	ok(pass, "%s: %s", what, st.msg);
	if (!pass)
		diag("  rc %d, want LM_EDATA and a message starting \"%s\"", rc, want);
	return pass;
}

static void test_example(void)
{
	lm_config c;
	lm_status st = {0};
	int rc = lm_config_parse(&c, example, strlen(example), "config.json", &st);
	ok(rc == 0, "docs/model-format.md example parses (rc %d %s)", rc, rc ? st.msg : "");
	ok(c.vocab_size == 2048 && c.hidden_size == 64 && c.intermediate_size == 172 &&
		   c.num_hidden_layers == 2 && c.num_attention_heads == 4 && c.num_key_value_heads == 2 &&
		   c.head_dim == 16,
	   "backbone sizes: V 2048, H 64, I 172, layers 2, heads 4, kv 2, head_dim 16");
	ok(c.rms_norm_eps == 1e-5f && c.rope_theta == 500000.0f, "rms_norm_eps 1e-5, rope_theta 500000");
	ok(c.rope_llama3 == 1 && c.rope_factor == 32.0f && c.rope_low_freq_factor == 1.0f &&
		   c.rope_high_freq_factor == 4.0f && c.rope_original_max_pos == 8192,
	   "rope_scaling llama3: factor 32, low 1, high 4, original 8192");
	ok(c.max_position_embeddings == 2048 && c.tie_word_embeddings == 1,
	   "max_position_embeddings 2048, tied embeddings");
	ok(c.bos_token_id == 0 && c.n_eos == 2 && c.eos_token_ids[0] == 1 && c.eos_token_ids[1] == 4,
	   "bos 0, eos [1, 4]");
	ok(c.latent_dim == 32 && c.adapter_hidden_size == 64 && c.projector_hidden_size == 64 &&
		   c.condition_size == 64,
	   "latent 32, adapter 64, projector 64, condition 64");
	ok(c.flow_width == 64 && c.flow_depth == 2 && c.flow_freq_size == 256 && c.euler_steps == 50 &&
		   c.guidance_scale == 3.0f,
	   "flow head: width 64, depth 2, freq 256, 50 steps, guidance 3");
	ok(c.exit_hidden_size == 64 && c.exit_layers == 5 && c.exit_threshold == 0.5f,
	   "exit head: hidden 64, 5 layers, threshold 0.5");
	ok(c.vae_width == 32 && c.vae_down_t == 2 && c.vae_depth == 3 && c.vae_dilation_growth == 3,
	   "vae: width 32, down_t 2, depth 3, growth 3");
	ok(c.fps == 30.0f && c.downsample == 4 && c.n_joints == 21 && c.feature_dim == 260,
	   "motion: 30 fps, downsample 4, 21 joints, feature_dim 260");
	ok(c.bom_token_id == 2 && c.eom_token_id == 3 && c.max_motion_tokens == 75,
	   "bom 2, eom 3, max_motion_tokens 75");
	ok(strcmp(c.t2m_template, "<|begin_of_text|>{prompt}") == 0 &&
		   strcmp(c.m2t_template, "<|begin_of_text|>{motion}Caption:") == 0,
	   "templates: '%s', '%s'", c.t2m_template, c.m2t_template);

	/* the same through a file */
	char path[] = "/tmp/test_config.XXXXXX";
	int fd = mkstemp(path);
	int wrote = fd >= 0 && write(fd, example, strlen(example)) == (ssize_t)strlen(example);
	if (fd >= 0)
		close(fd);
	lm_config d;
	rc = wrote ? lm_config_load(&d, path, &st) : -1;
	ok(rc == 0 && memcmp(&c, &d, sizeof c) == 0, "lm_config_load of the same text gives the same struct");
	unlink(path);
	rc = lm_config_load(&d, path, &st);
	ok(rc == LM_ENOINPUT && strstr(st.msg, path), "absent file: LM_ENOINPUT: %s", st.msg);
}

static void test_defaults(void)
{
	lm_config c;
	lm_status st = {0};
	int rc = parse_mutated("head_dim", NULL, &c, &st);
	ok(rc == 0 && c.head_dim == 16, "head_dim absent: hidden/heads = 16 (got %d)", c.head_dim);
	rc = parse_mutated("head_dim", json_integer(32), &c, &st);
	ok(rc == 0 && c.head_dim == 32, "head_dim 32 kept though hidden != heads*head_dim");
	rc = parse_mutated("rope_scaling", NULL, &c, &st);
	ok(rc == 0 && c.rope_llama3 == 0, "rope_scaling absent: plain RoPE");
	rc = parse_mutated("rope_scaling", json_null(), &c, &st);
	ok(rc == 0 && c.rope_llama3 == 0, "rope_scaling null: plain RoPE");
	rc = parse_mutated("rope_scaling", json_pack("{s:s}", "rope_type", "default"), &c, &st);
	ok(rc == 0 && c.rope_llama3 == 0, "rope_type default: plain RoPE");
	rc = parse_mutated("tie_word_embeddings", NULL, &c, &st);
	ok(rc == 0 && c.tie_word_embeddings == 1, "tie_word_embeddings absent: true");
	rc = parse_mutated("tie_word_embeddings", json_false(), &c, &st);
	ok(rc == 0 && c.tie_word_embeddings == 0, "tie_word_embeddings false");
	rc = parse_mutated("max_position_embeddings", NULL, &c, &st);
	ok(rc == 0 && c.max_position_embeddings == 2048, "max_position_embeddings absent: 2048");
	rc = parse_mutated("llamo.max_motion_tokens", NULL, &c, &st);
	ok(rc == 0 && c.max_motion_tokens == 75, "llamo.max_motion_tokens absent: 75");
	rc = parse_mutated("llamo.flow_head.frequency_embedding_size", NULL, &c, &st);
	ok(rc == 0 && c.flow_freq_size == 256, "frequency_embedding_size absent: 256");
	rc = parse_mutated("eos_token_id", json_integer(7), &c, &st);
	ok(rc == 0 && c.n_eos == 1 && c.eos_token_ids[0] == 7, "eos_token_id 7 (an int)");
	rc = parse_mutated("eos_token_id", NULL, &c, &st);
	ok(rc == 0 && c.n_eos == 0, "eos_token_id absent: no end ids");
	rc = parse_mutated("rms_norm_eps", json_integer(1), &c, &st);
	ok(rc == 0 && c.rms_norm_eps == 1.0f, "a float key accepts an integer (rms_norm_eps 1)");
	rc = parse_mutated("model_type", json_integer(1), &c, &st);
	ok(rc == 0, "unknown/unused keys are ignored");
}

static void test_missing_and_mistyped(void)
{
	const int n = (int)(sizeof required / sizeof required[0]);
	int all_missing = 1, all_typed = 1;
	for (int i = 0; i < n; i++) {
		char want[300];
		snprintf(want, sizeof want, "config.json: %s: missing", required[i]);
		lm_config c;
		lm_status st = {0};
		int rc = parse_mutated(required[i], NULL, &c, &st);
		if (rc != LM_EDATA || strcmp(st.msg, want) != 0) {
			all_missing = 0;
			diag("  %s removed: rc %d, \"%s\"", required[i], rc, st.msg);
		}
		/* the wrong type: a string, or for the templates an integer */
		int tmpl = strstr(required[i], "template") != NULL;
		snprintf(want, sizeof want, "config.json: %s: expected ", required[i]);
		rc = parse_mutated(required[i], tmpl ? json_integer(1) : json_string("x"), &c, &st);
		if (rc != LM_EDATA || strncmp(st.msg, want, strlen(want)) != 0 ||
		    !strstr(st.msg, tmpl ? ", got integer" : ", got string")) {
			all_typed = 0;
			diag("  %s a string: rc %d, \"%s\"", required[i], rc, st.msg);
		}
	}
	ok(all_missing, "each of %d required keys, removed, gives \"config.json: <path>: missing\"", n);
	ok(all_typed, "each of %d required keys, given a wrong type, gives \"config.json: <path>: expected ..., got <type>\"", n);
	expect("example of the above", "llamo.flow_head.width", NULL, "config.json: llamo.flow_head.width: missing");
	expect("string for an integer", "num_hidden_layers", json_string("2"),
	       "config.json: num_hidden_layers: expected an integer, got string");
	expect("real for an integer", "hidden_size", json_real(64.0),
	       "config.json: hidden_size: expected an integer, got real");
	expect("string for a float", "rope_theta", json_string("1e4"),
	       "config.json: rope_theta: expected a number, got string");
	expect("zero size", "hidden_size", json_integer(0), "config.json: hidden_size: 0 is out of range");
	expect("negative size", "llamo.vae.width", json_integer(-3), "config.json: llamo.vae.width: -3 is out of range");
	expect("size over INT_MAX", "vocab_size", json_integer(1LL << 40), "config.json: vocab_size: 1099511627776 is out of range");
	expect("zero eps", "rms_norm_eps", json_real(0), "config.json: rms_norm_eps: 0 is out of range");
	expect("threshold 1.5", "llamo.exit_head.threshold", json_real(1.5),
	       "config.json: llamo.exit_head.threshold: 1.5 is out of range");
	expect("tie_word_embeddings a string", "tie_word_embeddings", json_string("yes"),
	       "config.json: tie_word_embeddings: expected a boolean, got string");
	expect("rope_scaling a string", "rope_scaling", json_string("llama3"),
	       "config.json: rope_scaling: expected an object or null, got string");
	expect("rope_type linear", "rope_scaling.rope_type", json_string("linear"),
	       "config.json: rope_scaling.rope_type: 'linear' is not supported");
	expect("rope_type missing", "rope_scaling.rope_type", NULL, "config.json: rope_scaling.rope_type: missing");
	expect("eos a string", "eos_token_id", json_string("</s>"),
	       "config.json: eos_token_id: expected an integer or a list, got string");
	expect("9 eos ids", "eos_token_id", json_pack("[iiiiiiiii]", 1, 1, 1, 1, 1, 1, 1, 1, 1),
	       "config.json: eos_token_id: list has 9 ids (want 1 to 8)");
	expect("empty eos list", "eos_token_id", json_array(), "config.json: eos_token_id: list has 0 ids");
	expect("eos id past vocab", "eos_token_id", json_pack("[ii]", 1, 5000),
	       "config.json: eos_token_id[1]: expected a token id below vocab_size 2048");
	expect("eos id a string in the list", "eos_token_id", json_pack("[is]", 1, "x"),
	       "config.json: eos_token_id[1]: expected a token id");
}

static void test_consistency(void)
{
	expect("heads % kv heads", "num_key_value_heads", json_integer(3),
	       "config.json: num_attention_heads 4 is not a multiple of num_key_value_heads 3");
	expect("odd head_dim", "head_dim", json_integer(15), "config.json: head_dim: 15 is odd");
	expect("feature_dim != 8 + 12 joints", "llamo.motion.feature_dim", json_integer(261),
	       "config.json: llamo.motion.feature_dim: 261 is not 8 + 12 * joints = 260");
	expect("downsample != 2^down_t", "llamo.motion.downsample", json_integer(8),
	       "config.json: llamo.motion.downsample: 8 is not 2^llamo.vae.down_t = 4");
	expect("bom id = vocab", "llamo.bom_token_id", json_integer(2048),
	       "config.json: llamo.bom_token_id: 2048 is not below vocab_size 2048");
	expect("eom id past vocab", "llamo.eom_token_id", json_integer(9999),
	       "config.json: llamo.eom_token_id: 9999 is not below vocab_size 2048");
	expect("bos id past vocab", "bos_token_id", json_integer(4096),
	       "config.json: bos_token_id: 4096 is not below vocab_size 2048");
	expect("exit num_layers 1", "llamo.exit_head.num_layers", json_integer(1),
	       "config.json: llamo.exit_head.num_layers: 1 is out of range");
	expect("exit num_layers 9", "llamo.exit_head.num_layers", json_integer(9),
	       "config.json: llamo.exit_head.num_layers: 9 is out of range (want 2 to 8)");
	expect("t2m without {prompt}", "llamo.t2m_template", json_string("<|begin_of_text|>"),
	       "config.json: llamo.t2m_template: must contain \"{prompt}\" exactly once");
	expect("t2m with {prompt} twice", "llamo.t2m_template", json_string("{prompt} and {prompt}"),
	       "config.json: llamo.t2m_template: must contain \"{prompt}\" exactly once");
	expect("m2t without {motion}", "llamo.m2t_template", json_string("{prompt}Caption:"),
	       "config.json: llamo.m2t_template: must contain \"{motion}\" exactly once");
	char longt[700];
	memset(longt, 'a', sizeof longt);
	memcpy(longt, "{prompt}", 8);
	longt[sizeof longt - 1] = 0;
	expect("template too long", "llamo.t2m_template", json_string(longt),
	       "config.json: llamo.t2m_template: 699 bytes long (at most 511)");
	expect("low >= high freq factor", "rope_scaling.high_freq_factor", json_real(1.0),
	       "config.json: rope_scaling: high_freq_factor 1 must exceed low_freq_factor 1");
	expect("heads 5, kv heads 2", "num_attention_heads", json_integer(5),
	       "config.json: num_attention_heads 5 is not a multiple of num_key_value_heads 2");
	lm_config c;
	lm_status st = {0};
	json_t *root = json_loads(example, 0, NULL);
	json_object_del(root, "head_dim");
	json_object_set_new(root, "hidden_size", json_integer(66));
	char *s = json_dumps(root, 0);
	int rc = lm_config_parse(&c, s, strlen(s), "config.json", &st);
	ok(rc == LM_EDATA && strstr(st.msg, "config.json: head_dim: missing, and hidden_size 66"),
	   "head_dim absent and hidden 66 not divisible by 4 heads: %s", st.msg);
	free(s);
	json_decref(root);
}

static void test_json_errors(void)
{
	lm_config c;
	lm_status st = {0};
	const char *bad = "{\n  \"vocab_size\": 2048,\n  \"hidden_size\": 64,,\n}";
	int rc = lm_config_parse(&c, bad, strlen(bad), "config.json", &st);
	ok(rc == LM_EDATA && strncmp(st.msg, "config.json: line 3 column 21: ", 31) == 0,
	   "stray comma reported at line:column: %s", st.msg);
	const char *dup = "{\"vocab_size\": 2048,\n \"vocab_size\": 4096}";
	rc = lm_config_parse(&c, dup, strlen(dup), "config.json", &st);
	ok(rc == LM_EDATA && strstr(st.msg, "line 2") && strstr(st.msg, "duplicate"),
	   "duplicate key refused: %s", st.msg);
	rc = lm_config_parse(&c, "[]", 2, "config.json", &st);
	ok(rc == LM_EDATA && strcmp(st.msg, "config.json: top level: expected an object, got array") == 0,
	   "top-level array: %s", st.msg);
	rc = lm_config_parse(&c, "", 0, "my.json", &st);
	ok(rc == LM_EDATA && strncmp(st.msg, "my.json: line ", 14) == 0, "empty input: %s", st.msg);
	const char *stock = "{\"vocab_size\": 128256, \"hidden_size\": 2048, \"intermediate_size\": 8192,"
			    " \"num_hidden_layers\": 16, \"num_attention_heads\": 32, \"num_key_value_heads\": 8,"
			    " \"rms_norm_eps\": 1e-05, \"rope_theta\": 500000.0, \"bos_token_id\": 128000,"
			    " \"eos_token_id\": 128001}";
	rc = lm_config_parse(&c, stock, strlen(stock), "config.json", &st);
	ok(rc == 0 && !c.has_motion && c.head_dim == 64 && c.latent_dim == 0,
	   "stock Llama 3.2 1B keys parse as a text-only model (head_dim 64, no motion parts): %s",
	   rc ? st.msg : "ok");
	rc = lm_config_parse(&c, example, strlen(example), "config.json", &st);
	ok(rc == 0 && c.has_motion, "the example, with its llamo object, has motion parts");
}

int main(void)
{
	test_example();
	test_defaults();
	test_missing_and_mistyped();
	test_consistency();
	test_json_errors();
	return done_testing();
}
