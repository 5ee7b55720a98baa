/* config.h: the model directory's config.json (docs/model-format.md is the reference).
 *
 * Hugging Face Llama keys describe the backbone (so a stock Llama config.json parses, as a
 * text-only model); the "llamo" object describes the motion parts. Every key is checked for presence and type;
 * an error names the file and the key ("config.json: llamo.flow_head.width: missing").
 */
#ifndef LLAMO_CONFIG_H
#define LLAMO_CONFIG_H
#include "status.h"

#define LM_MAX_EOS 8
#define LM_TEMPLATE_MAX 512
#define LM_PATH_MAX 1024

typedef struct lm_config {
	/* backbone: Hugging Face LlamaConfig keys */
	int vocab_size, hidden_size, intermediate_size, num_hidden_layers;
	int num_attention_heads, num_key_value_heads, head_dim; /* head_dim defaults to hidden/heads */
	float rms_norm_eps, rope_theta;
	int rope_llama3; /* rope_scaling.rope_type == "llama3" */
	float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
	int rope_original_max_pos;
	int max_position_embeddings, tie_word_embeddings;
	int bos_token_id, n_eos, eos_token_ids[LM_MAX_EOS];

	/* llamo section; absent in a text-only model (a stock Hugging Face Llama config.json) */
	int has_motion;                                        /* the "llamo" object is there */
	int latent_dim;                                        /* llamo.latent_dim */
	int adapter_hidden_size, projector_hidden_size, condition_size;
	int flow_width, flow_depth, flow_freq_size, euler_steps; /* llamo.flow_head.* */
	float guidance_scale;
	int exit_hidden_size, exit_layers; /* llamo.exit_head.* (layers = Linear count, 5) */
	float exit_threshold;
	int vae_width, vae_down_t, vae_depth, vae_dilation_growth; /* llamo.vae.* */
	int n_joints, feature_dim; /* llamo.motion.joints; feature_dim = 8 + 12*joints */
	float fps;                 /* llamo.motion.fps (30) */
	int downsample;            /* llamo.motion.downsample (4 = 2^vae_down_t) */
	int bom_token_id, eom_token_id;
	int max_motion_tokens;
	char t2m_template[LM_TEMPLATE_MAX]; /* contains "{prompt}" */
	char m2t_template[LM_TEMPLATE_MAX]; /* contains "{motion}", and "{prompt}" at most once */
	char m2t_prompt[LM_TEMPLATE_MAX];   /* llamo.m2t_prompt: the default {prompt}; "" when the
	                                     * template has none */
	char base_model[LM_PATH_MAX];       /* llamo.base_model: the text-only model directory that
	                                     * holds the text branch and tokenizer, as written (relative
	                                     * to this model's directory, or absolute); "" when none */
} lm_config;

/* Parses path into c and checks consistency (hidden = heads*head_dim is not required, heads
 * divisible by kv heads, feature_dim = 8+12*joints, downsample = 2^down_t, token ids < vocab).
 * Errors: LM_ENOINPUT (cannot open), LM_EDATA (bad JSON with line:column, missing or mistyped key). */
int lm_config_load(lm_config *c, const char *path, lm_status *st);
/* The same from a string (name is used in messages). */
int lm_config_parse(lm_config *c, const char *json, size_t len, const char *name, lm_status *st);
/* A motion model over a base model (llamo.base_model, docs/model-format.md 1): the Llama keys of
 * config.json at path (model_type, vocab_size, hidden_size, intermediate_size, num_hidden_layers,
 * num_attention_heads, num_key_value_heads, head_dim, hidden_act, rms_norm_eps, rope_theta,
 * rope_scaling, attention_bias, mlp_bias, tie_word_embeddings, max_position_embeddings,
 * bos_token_id, eos_token_id) must equal those of base_path key by key: absent in both, or equal
 * values (numbers by value, 32 == 32.0). Errors: LM_EDATA naming the first key that differs and
 * both values ("m/config.json: rope_theta: 10000 here, 100000 in the base model's
 * b/config.json"), LM_ENOINPUT / LM_EIO / LM_EDATA for a file that cannot be read or parsed. */
int lm_config_check_base(const char *path, const char *base_path, lm_status *st);
#endif
