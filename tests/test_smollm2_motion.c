/* test_smollm2_motion: language kept on the real SmolLM2-135M-Instruct (issue 11). At test time it
 * writes a motion model directory over it (docs/model-format.md 1, 3.1): config.json = SmolLM2's
 * Llama keys + a "llamo" object with base_model = the SmolLM2 directory, model.safetensors = a
 * motion twin stored as rank-16 LoRA (random, nonzero) with norms equal to the text branch's, no
 * text tensor, no tokenizer, no chat.json. Checks:
 *   - it loads: 210 twin projections merged over the F16 text weights, tokenizer from the base;
 *   - the next-token logits at the end of each of the 20 ChatML prompts of tests/golden/smollm2/
 *     replies.json (those of tests/test_smollm2.c) are bit-identical to plain SmolLM2's;
 *   - greedy 64-token replies to the prompts of tests/llamo-chat.t (1, 4, 14) and prompt 0 are
 *     bit-identical in token ids, through the library and through `llamo-chat -m MOTIONDIR`
 *     (which reads the base's chat.json);
 *   - a motion position's state does change with the twin (the motion branch, whose norms are
 *     the text branch's, gives another state than the text branch on the same input), so the
 *     checks above are not vacuous.
 * The base is $LLAMO_SMOLLM2, else models/smollm2-135m-instruct (`make smollm2`); without it the
 * test skips. */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "model.h"
#include "lmstate.h"
#include "tap.h"

#define RANK 16

static lm_status st;
static uint32_t rs = 11;

static float rnd(void) /* uniform in (-0.05, 0.05) */
{
	rs = rs * 1664525u + 1013904223u;
	return ((rs >> 8) / 16777216.0f - 0.5f) * 0.1f;
}

/* dir/config.json: base's keys + a llamo object over base (absolute). */
static int write_config(const char *dir, const char *base)
{
	char p[PATH_MAX + 32];
	snprintf(p, sizeof p, "%s/config.json", base);
	json_t *c = json_load_file(p, 0, NULL);
	if (!c)
		return -1;
	json_t *l = json_pack("{s:i, s:i, s:i, s:i, s:{s:i, s:i, s:i, s:f}, s:{s:i, s:i, s:f}, "
			      "s:{s:i, s:i, s:i, s:i}, s:{s:i, s:i, s:i, s:i}, s:i, s:i, s:i, s:s, s:s, s:s}",
			      "latent_dim", 32, "adapter_hidden_size", 64, "projector_hidden_size", 64, "condition_size", 64,
			      "flow_head", "width", 64, "depth", 2, "euler_steps", 10, "guidance_scale", 1.0,
			      "exit_head", "hidden_size", 64, "num_layers", 5, "threshold", 0.5,
			      "vae", "width", 32, "down_t", 2, "depth", 3, "dilation_growth_rate", 3,
			      "motion", "fps", 30, "downsample", 4, "joints", 21, "feature_dim", 260,
			      "bom_token_id", 3, "eom_token_id", 4, "max_motion_tokens", 16,
			      "t2m_template", "{prompt}", "m2t_template", "{motion}", "base_model", base);
	json_object_set_new(c, "llamo", l);
	snprintf(p, sizeof p, "%s/config.json", dir);
	int rc = json_dump_file(c, p, JSON_INDENT(2));
	json_decref(c);
	return rc;
}

/* dir/model.safetensors: the twin's norms (copies of the text branch's, from base_sf) and every
 * projection as lora_A [RANK, in], lora_B [out, RANK]. */
static int write_twin(const char *dir, const lm_config *c, const lm_safetensors *base_sf)
{
	int H = c->hidden_size, I = c->intermediate_size, nl = c->num_hidden_layers;
	int qd = c->num_attention_heads * c->head_dim, kvd = c->num_key_value_heads * c->head_dim;
	struct {
		const char *name;
		int out, in;
	} proj[7] = {{"self_attn.q_proj", qd, H}, {"self_attn.k_proj", kvd, H}, {"self_attn.v_proj", kvd, H},
		     {"self_attn.o_proj", H, qd}, {"mlp.gate_proj", I, H}, {"mlp.up_proj", I, H}, {"mlp.down_proj", H, I}};
	int n = nl * (2 + 14) + 1, k = 0, rc = 0;
	lm_st_out *t = calloc(n, sizeof *t);
	char(*names)[96] = calloc(n, sizeof *names);
	float **data = calloc(n, sizeof *data);
	for (int l = 0; l < nl && !rc; l++) {
		const char *norms[2] = {"input_layernorm", "post_attention_layernorm"};
		for (int j = 0; j < 2 && !rc; j++) {
			char tn[96];
			int64_t s[1] = {H};
			snprintf(tn, sizeof tn, "model.layers.%d.%s.weight", l, norms[j]);
			snprintf(names[k], sizeof names[k], "motion_model.layers.%d.%s.weight", l, norms[j]);
			rc = lm_st_load_f32(base_sf, tn, 1, s, &data[k], &st);
			t[k] = (lm_st_out){names[k], 1, {H}, data[k]};
			k++;
		}
		for (int j = 0; j < 7; j++)
			for (int ab = 0; ab < 2; ab++) {
				int64_t d0 = ab ? proj[j].out : RANK, d1 = ab ? RANK : proj[j].in;
				snprintf(names[k], sizeof names[k], "motion_model.layers.%d.%s.lora_%c", l, proj[j].name,
					 ab ? 'B' : 'A');
				data[k] = malloc((size_t)d0 * d1 * sizeof(float));
				for (int64_t i = 0; i < d0 * d1; i++)
					data[k][i] = rnd();
				t[k] = (lm_st_out){names[k], 2, {d0, d1}, data[k]};
				k++;
			}
	}
	int64_t s[1] = {H};
	if (!rc)
		rc = lm_st_load_f32(base_sf, "model.norm.weight", 1, s, &data[k], &st);
	t[k] = (lm_st_out){"motion_model.norm.weight", 1, {H}, data[k]};
	char p[PATH_MAX + 32];
	snprintf(p, sizeof p, "%s/model.safetensors", dir);
	if (!rc)
		rc = lm_st_write_f32(p, t, n, &st);
	for (int i = 0; i < n; i++)
		free(data[i]);
	free(data), free(names), free(t);
	return rc;
}

static int32_t *json_ids(json_t *a, int *n)
{
	*n = (int)json_array_size(a);
	int32_t *ids = malloc((*n ? *n : 1) * sizeof *ids);
	for (int i = 0; i < *n; i++)
		ids[i] = (int32_t)json_integer_value(json_array_get(a, i));
	return ids;
}

/* Prefills ids; logits (V) host of the last position, and with max_new > 0 the greedy reply
 * (stopping at eot) in *reply, *nreply. */
static int run_prompt(const lm_model *m, const int32_t *ids, int n, int32_t eot, int max_new, float *logits,
		      int32_t **reply, int *nreply)
{
	const lm_backend *be = m->be;
	lm_kv_cache kv = {0};
	float *h = be->alloc(m->cfg.hidden_size), *dl = be->alloc(m->cfg.vocab_size);
	lm_text_opts o = {.max_new = max_new};
	int rc = lm_kv_init(&kv, &m->bb, n + max_new + 2, &st) || lm_backbone_prefill(&m->bb, &kv, ids, n, h, &st);
	if (!rc) {
		lm_logits_be(&m->bb, h, 1, dl);
		be->download(logits, dl, m->cfg.vocab_size);
	}
	if (!rc && max_new > 0)
		rc = lm_text_continue(m, &kv, h, &o, &eot, 1, NULL, NULL, reply, nreply, &st);
	lm_kv_free(&kv, &m->bb);
	be->release(h);
	be->release(dl);
	return rc;
}

/* `llamo-chat -m dir --ids --max-tokens 64` with prompt on stdin: its ids in got (at most 80). */
static int chat_ids(const char *dir, const char *tmp, const char *prompt, int32_t *got)
{
	char p[PATH_MAX + 32], cmd[3 * PATH_MAX];
	snprintf(p, sizeof p, "%s/prompt.txt", tmp);
	FILE *f = fopen(p, "w");
	fprintf(f, "%s\n", prompt);
	fclose(f);
	snprintf(cmd, sizeof cmd, "bin/llamo-chat -m '%s' --ids --max-tokens 64 < '%s'", dir, p);
	FILE *pp = popen(cmd, "r");
	int n = 0, id;
	while (pp && n < 80 && fscanf(pp, "%d", &id) == 1)
		got[n++] = id;
	int rc = pp ? pclose(pp) : -1;
	return rc == 0 ? n : -1;
}

int main(void)
{
	const char *env = getenv("LLAMO_SMOLLM2");
	char base[PATH_MAX], p[PATH_MAX + 64], tmp[] = "/tmp/test_smollm2_motion.XXXXXX";
	snprintf(p, sizeof p, "%s/model.safetensors", env && *env ? env : "models/smollm2-135m-instruct");
	if (access(p, R_OK) != 0 || !realpath(env && *env ? env : "models/smollm2-135m-instruct", base)) {
		printf("1..0 # SKIP %s is not there (make smollm2 builds it)\n", p);
		return 0;
	}
	if (access("bin/llamo-chat", X_OK) != 0) {
		printf("1..0 # SKIP bin/llamo-chat is not built\n");
		return 0;
	}
	lm_model *plain, *motion = NULL;
	if (!ok(lm_model_load(&plain, base, &lm_backend_cpu, LM_PART_BACKBONE | LM_PART_TOKENIZER, &st) == 0,
		"SmolLM2 loads: %s", st.msg) ||
	    !ok(mkdtemp(tmp) != NULL, "a temporary directory"))
		return done_testing();
	int wrote = write_config(tmp, base) == 0 && write_twin(tmp, &plain->cfg, plain->sf) == 0;
	ok(wrote, "a motion directory over %s: config.json and a rank-%d LoRA twin written in %s: %s", base, RANK,
	   tmp, st.msg);
	if (wrote && ok(lm_model_load(&motion, tmp, &lm_backend_cpu, LM_PART_BACKBONE | LM_PART_TOKENIZER, &st) == 0,
			"the motion directory loads (210 projections merged over the F16 text weights): %s", st.msg)) {
		ok(!strcmp(motion->text_dir, base) && motion->base_sf && motion->cfg.has_motion,
		   "its text branch and tokenizer come from the base (%s)", motion->text_dir);
		snprintf(p, sizeof p, "tests/golden/smollm2/replies.json");
		json_t *r = json_load_file(p, 0, NULL);
		json_t *pids = json_object_get(r, "prompt_ids"), *texts = json_object_get(r, "prompts");
		int32_t eot = (int32_t)json_integer_value(json_object_get(r, "eot_id"));
		int V = plain->cfg.vocab_size, H = plain->cfg.hidden_size, np = (int)json_array_size(pids);
		float *l1 = malloc((size_t)V * 4), *l2 = malloc((size_t)V * 4);
		int same_logits = 0, chat[4] = {0, 1, 4, 14}, same_reply = 0, same_chat = 0, nchat = 0;
		for (int i = 0; i < np; i++) {
			int n;
			int32_t *ids = json_ids(json_array_get(pids, i), &n), *a = NULL, *b = NULL;
			int na = 0, nb = 0, greedy = i == 0 || i == 1 || i == 4 || i == 14;
			if (run_prompt(plain, ids, n, eot, greedy ? 64 : 0, l1, &a, &na) ||
			    run_prompt(motion, ids, n, eot, greedy ? 64 : 0, l2, &b, &nb)) {
				ok(0, "prompt %d runs: %s", i, st.msg);
				free(ids);
				break;
			}
			same_logits += !memcmp(l1, l2, (size_t)V * 4);
			if (greedy) {
				int eq = na == nb && !memcmp(a, b, (size_t)na * sizeof *a);
				same_reply += eq;
				if (!eq)
					diag("  prompt %d: %d reply tokens, plain SmolLM2 %d", i, nb, na);
				int32_t got[80];
				int ng = chat_ids(tmp, tmp, json_string_value(json_array_get(texts, i)), got);
				nchat++;
				same_chat += ng == na && !memcmp(got, a, (size_t)na * sizeof *a);
				if (ng != na)
					diag("  prompt %d: llamo-chat -m MOTIONDIR gave %d ids, plain SmolLM2 %d", i, ng, na);
			}
			if (i == 0) {
				float s_text[H], s_motion[H];
				lm_state_after(motion, ids, n, LM_TEXT, s_text);
				lm_state_after(motion, ids, n, LM_MOTION, s_motion);
				double d = 0;
				for (int j = 0; j < H; j++)
					d = fmax(d, fabs(s_text[j] - s_motion[j]));
				ok(d > 1e-3, "a motion position's state changes with the LoRA twin (max |motion - text branch| "
				   "%.3g; the twin's norms are the text branch's)", d);
			}
			free(ids), free(a), free(b);
		}
		ok(np == 20 && same_logits == np, "%d of %d prompts: last-position logits bit-identical to plain SmolLM2's",
		   same_logits, np);
		ok(same_reply == 4, "greedy 64-token replies to prompts %d, %d, %d, %d: %d of 4 bit-identical in token ids",
		   chat[0], chat[1], chat[2], chat[3], same_reply);
		ok(nchat == 4 && same_chat == 4, "llamo-chat -m MOTIONDIR (the base's chat.json): %d of 4 replies "
		   "bit-identical in token ids to plain SmolLM2's", same_chat);
		free(l1), free(l2);
		json_decref(r);
	}
	lm_model_free(motion);
	lm_model_free(plain);
	snprintf(p, sizeof p, "rm -rf '%s'", tmp);
	if (system(p))
		diag("could not remove %s", tmp);
	return done_testing();
}
