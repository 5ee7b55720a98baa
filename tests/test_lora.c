/* test_lora: a motion model over a base model with its twin stored as LoRA (docs/model-format.md
 * 1 and 3.1), against train/golden_lora.py's files:
 *   tests/golden/tiny-base/         the tiny model's text branch as a text-only model
 *   tests/golden/tiny-lora/         motion tensors only, base_model "../tiny-base", twin as LoRA
 *   tests/golden/tiny-lora-merged/  the same model in one directory, twin merged by merge_lora
 *   tests/golden/lora.safetensors   F16 / BF16 merges, and a case that rounding twice would miss
 * Checks: the rounding (one rounding, ties to even, subnormals, overflow); the C merge equals
 * the Python merge bit for bit (every twin projection of tiny-lora; the 16-bit cases); the two
 * directories load to models that compute the same bits (backbone states on a mixed sequence,
 * a guided t2m generation, a caption), which differ from the tiny model's at motion positions;
 * and bad directories are refused with the documented code and a message that names the problem. */
#include <errno.h>
#include <jansson.h>
#include <sys/stat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lora.h"
#include "model.h"
#include "tap.h"

#define G "tests/golden/"

static lm_status st;

static void check_rounding(void)
{
	uint16_t h = 0;
	double x = 1 + 0x1p-11 + 0x1p-40; /* above the F16 tie between 1 and 1 + 2^-10 */
	int rc = lm_f64_to_bits(lm_round_f64(x, LM_DT_F16), LM_DT_F16, &h);
	ok(lm_round_f64(x, LM_DT_F16) == 1 + 0x1p-10 && rc == 0 && h == 0x3c01,
	   "F16: 1 + 2^-11 + 2^-40 rounds once to 1 + 2^-10 (0x%04x; through float32 it would be 1)", h);
	ok(lm_round_f64(1 + 0x1p-11, LM_DT_F16) == 1 && lm_round_f64(1 + 3 * 0x1p-11, LM_DT_F16) == 1 + 0x1p-9,
	   "F16: ties go to even");
	lm_f64_to_bits(lm_round_f64(3 * 0x1p-26, LM_DT_F16), LM_DT_F16, &h);
	ok(h == 0x0001, "F16: 3 * 2^-26 rounds to the least subnormal 2^-24 (0x%04x)", h);
	lm_f64_to_bits(lm_round_f64(-0x1.8p-20, LM_DT_F16), LM_DT_F16, &h);
	ok(h == 0x8018, "F16: -1.5 * 2^-20 is the subnormal 0x8018 (0x%04x)", h);
	uint16_t h2 = 0;
	ok(lm_f64_to_bits(lm_round_f64(65520.0, LM_DT_F16), LM_DT_F16, &h) == -1 && h == 0x7c00 &&
		   lm_f64_to_bits(lm_round_f64(65519.99, LM_DT_F16), LM_DT_F16, &h2) == 0 && h2 == 0x7bff,
	   "F16: 65519.99 rounds to 65504, 65520 (a tie) to 65536: beyond the range (infinity, refused)");
	lm_f64_to_bits(lm_round_f64(1 + 0x1p-8 + 0x1p-30, LM_DT_BF16), LM_DT_BF16, &h);
	ok(h == 0x3f81, "BF16: 1 + 2^-8 + 2^-30 rounds once to 1 + 2^-7 (0x%04x)", h);
	float f;
	lm_f64_to_bits(lm_round_f64(1 + 0x1p-24 + 0x1p-50, LM_DT_F32), LM_DT_F32, &f);
	ok(f == 1 + 0x1p-23f, "F32: 1 + 2^-24 + 2^-50 rounds to 1 + 2^-23");
}

/* lm_lora_merge(w_<tag>, a_<tag>, b_<tag>) against merged_<tag> of lora.safetensors. */
static void check_golden_merge(lm_safetensors *sf, const char *tag)
{
	char n[4][32];
	const char *what[4] = {"w", "a", "b", "merged"};
	const lm_tensor_info *t[4];
	for (int k = 0; k < 4; k++) {
		snprintf(n[k], sizeof n[k], "%s_%s", what[k], tag);
		if (!(t[k] = lm_st_find(sf, n[k]))) {
			ok(0, "lora.safetensors: %s missing", n[k]);
			return;
		}
	}
	void *got;
	if (!ok(lm_lora_merge(t[0], t[1], t[2], "lora.safetensors", tag, &got, &st) == 0, "merge %s: %s", tag, st.msg))
		return;
	ok(t[3]->dtype == t[0]->dtype && !memcmp(got, t[3]->data, t[3]->nbytes),
	   "merge %s (%s, rank %lld, %lld x %lld): bit-identical to merge_lora's", tag, lm_dtype_name(t[0]->dtype),
	   (long long)t[1]->shape[0], (long long)t[0]->shape[0], (long long)t[0]->shape[1]);
	free(got);
}

/* Every twin projection of tiny-lora, merged in C, against tiny-lora-merged's (merge_lora). */
static void check_twin_merges(void)
{
	lm_safetensors *base, *lora, *merged;
	if (!ok(!lm_st_open(&base, G "tiny-base/model.safetensors", &st) &&
			!lm_st_open(&lora, G "tiny-lora/model.safetensors", &st) &&
			!lm_st_open(&merged, G "tiny-lora-merged/model.safetensors", &st),
		"golden directories open: %s", st.msg))
		exit(done_testing());
	int n = 0, same = 0;
	for (int i = 0; i < lm_st_count(lora); i++) {
		const char *name = lm_st_at(lora, i)->name;
		size_t len = strlen(name);
		if (len < 7 || strcmp(name + len - 7, ".lora_A"))
			continue;
		char proj[200], bn[220], wn[220], tn[220];
		snprintf(proj, sizeof proj, "%.*s", (int)(len - 7), name);
		snprintf(bn, sizeof bn, "%s.lora_B", proj);
		snprintf(wn, sizeof wn, "%s.weight", proj);
		snprintf(tn, sizeof tn, "model.%s.weight", proj + strlen("motion_model."));
		const lm_tensor_info *w = lm_st_find(base, tn), *want = lm_st_find(merged, wn);
		void *got;
		n++;
		if (w && want && !lm_lora_merge(w, lm_st_at(lora, i), lm_st_find(lora, bn), "tiny-lora", proj, &got, &st)) {
			same += !memcmp(got, want->data, want->nbytes);
			free(got);
		}
	}
	ok(n == 14 && same == n, "tiny-lora: %d of %d twin projections merged in C equal merge_lora's bit for bit",
	   same, n);
	lm_st_close(base), lm_st_close(lora), lm_st_close(merged);
}

/* Final-normed states (9, H) host of a mixed sequence: 4 text ids, 3 motion positions (random
 * embeddings), 2 text ids. */
static int mixed_states(const lm_model *m, float *out)
{
	int H = m->cfg.hidden_size;
	int32_t a[4] = {0, 17, 33, 2}, b[2] = {3, 44};
	float *emb = malloc(9 * (size_t)H * sizeof *emb);
	uint32_t s = 5;
	lm_kv_cache kv;
	int rc = lm_kv_init(&kv, &m->bb, 16, &st);
	rc = rc || lm_embed_text(&m->bb, a, 4, emb, &st);
	for (int i = 0; i < 3 * H; i++) {
		s = s * 1664525u + 1013904223u;
		emb[4 * H + i] = (float)((s >> 8) / 16777216.0 - 0.5);
	}
	rc = rc || lm_embed_text(&m->bb, b, 2, emb + 7 * H, &st) ||
	     lm_backbone_forward(&m->bb, &kv, emb, 4, LM_TEXT, out, &st) ||
	     lm_backbone_forward(&m->bb, &kv, emb + 4 * H, 3, LM_MOTION, out + 4 * H, &st) ||
	     lm_backbone_forward(&m->bb, &kv, emb + 7 * H, 2, LM_TEXT, out + 7 * H, &st);
	lm_kv_free(&kv, &m->bb);
	free(emb);
	return rc;
}

/* Latents (up to 16, L) of a guided generation; returns their count, -1 on error. */
static int generate(const lm_model *m, float *z)
{
	lm_gen_opts o;
	lm_gen_opts_default(&o, &m->cfg);
	o.seed = 3;
	lm_t2m *g;
	int n = 0, done = 0;
	if (lm_t2m_begin(&g, m, "a person waves the left hand", &o, &st))
		return -1;
	while (n < 16 && !lm_t2m_next(g, z + (size_t)n * m->cfg.latent_dim, &done, NULL, &st) && !done)
		n++;
	lm_t2m_free(g);
	return st.code ? -1 : n;
}

static void check_same_model(const lm_backend *be)
{
	lm_model *lora, *full, *tiny;
	if (!ok(lm_model_load(&lora, G "tiny-lora", be, LM_PART_ALL, &st) == 0, "tiny-lora loads: %s", st.msg) ||
	    !ok(lm_model_load(&full, G "tiny-lora-merged", be, LM_PART_ALL, &st) == 0, "tiny-lora-merged loads: %s",
		st.msg) ||
	    !ok(lm_model_load(&tiny, G "tiny", be, LM_PART_BACKBONE, &st) == 0, "tiny loads: %s", st.msg))
		exit(done_testing());
	ok(!strcmp(lora->text_dir, G "tiny-lora/../tiny-base"), "the text branch and tokenizer come from %s",
	   lora->text_dir);
	int H = lora->cfg.hidden_size, L = lora->cfg.latent_dim;
	float *h1 = malloc(9 * (size_t)H * 4), *h2 = malloc(9 * (size_t)H * 4), *h3 = malloc(9 * (size_t)H * 4);
	if (ok(!mixed_states(lora, h1) && !mixed_states(full, h2) && !mixed_states(tiny, h3), "mixed sequences run: %s",
	       st.msg)) {
		ok(!memcmp(h1, h2, 9 * (size_t)H * 4), "9 states of a text/motion/text sequence: LoRA-stored == merged, bit for bit");
		ok(!memcmp(h1, h3, 4 * (size_t)H * 4) && memcmp(h1 + 4 * H, h3 + 4 * H, (size_t)H * 4),
		   "the text prefix equals the tiny model's, the motion positions differ from it (the twin is not the tiny one's)");
	}
	float z1[16 * 64], z2[16 * 64];
	int n1 = generate(lora, z1), n2 = generate(full, z2);
	ok(n1 > 0 && n1 == n2 && !memcmp(z1, z2, (size_t)n1 * L * 4),
	   "a guided generation (seed 3): %d latents LoRA-stored, %d merged, bit-identical", n1, n2);
	char *c1 = NULL, *c2 = NULL;
	int32_t *i1 = NULL, *i2 = NULL;
	int k1 = 0, k2 = 0;
	if (n1 > 0 && ok(!lm_m2t_caption(lora, z1, n1, 16, &c1, &i1, &k1, &st) &&
				 !lm_m2t_caption(full, z1, n1, 16, &c2, &i2, &k2, &st),
			 "captions run: %s", st.msg))
		ok(k1 == k2 && !memcmp(i1, i2, (size_t)k1 * sizeof *i1), "a caption of those latents: the same %d ids", k1);
	free(c1), free(c2), free(i1), free(i2), free(h1), free(h2), free(h3);
	lm_model_free(lora), lm_model_free(full), lm_model_free(tiny);
}

/* ---- refusals ---- */

static char tmp[64];

/* tmp/<name>/ with config.json = tiny-lora's, key `key` of the llamo object (or the top level when
 * top) set to value (NULL: removed), and model.safetensors, normalization, skeleton linked. */
static const char *motion_dir(const char *name, int top, const char *key, json_t *value)
{
	static char dir[128];
	char p[256], cwd[1024], src[1200];
	snprintf(dir, sizeof dir, "%s/%s", tmp, name);
	if (mkdir(dir, 0755) && errno != EEXIST)
		return NULL;
	if (!getcwd(cwd, sizeof cwd))
		return NULL;
	json_t *c = json_load_file(G "tiny-lora/config.json", 0, NULL);
	json_t *o = top ? c : json_object_get(c, "llamo");
	snprintf(src, sizeof src, "%s/" G "tiny-base", cwd); /* absolute: the directory is elsewhere */
	json_object_set_new(json_object_get(c, "llamo"), "base_model", json_string(src));
	if (value)
		json_object_set_new(o, key, value);
	else if (key)
		json_object_del(o, key);
	snprintf(p, sizeof p, "%s/config.json", dir);
	json_dump_file(c, p, JSON_INDENT(1));
	json_decref(c);
	const char *files[] = {"model.safetensors", "normalization.safetensors", "skeleton.bvh"};
	for (int k = 0; k < 3; k++) {
		snprintf(p, sizeof p, "%s/%s", dir, files[k]);
		snprintf(src, sizeof src, "%s/" G "tiny-lora/%s", cwd, files[k]);
		unlink(p);
		if (symlink(src, p))
			return NULL;
	}
	return dir;
}

static void refused(const char *dir, int code, const char *needle, const char *what)
{
	lm_model *m;
	st = (lm_status){0};
	int rc = lm_model_load(&m, dir, &lm_backend_cpu, LM_PART_ALL, &st);
	ok(rc == code && strstr(st.msg, needle) && !strchr(st.msg, '\n'), "%s: code %d, \"%s\"", what, rc, st.msg);
	if (!rc)
		lm_model_free(m);
}

static void check_refusals(void)
{
	char base[1200], cwd[1024];
	snprintf(tmp, sizeof tmp, "/tmp/test_lora.XXXXXX");
	if (!mkdtemp(tmp) || !getcwd(cwd, sizeof cwd))
		return;
	refused(motion_dir("nobase", 0, "base_model", json_string("../no-such-base")), LM_ENOINPUT, "make smollm2",
		"a missing base directory");
	snprintf(base, sizeof base, "%s/" G "tiny-base", cwd);
	const char *d = motion_dir("abs", 0, "base_model", json_string(base));
	lm_model *m;
	st = (lm_status){0};
	ok(lm_model_load(&m, d, &lm_backend_cpu, LM_PART_BACKBONE | LM_PART_TOKENIZER, &st) == 0,
	   "an absolute base_model loads: %s", st.msg);
	if (!st.code)
		lm_model_free(m);
	d = motion_dir("int", 1, "rope_theta", json_integer(500000));
	st = (lm_status){0};
	ok(lm_model_load(&m, d, &lm_backend_cpu, 0, &st) == 0, "rope_theta 500000 here, 500000.0 in the base: "
	   "numbers agree by value: %s", st.msg);
	if (!st.code)
		lm_model_free(m);
	refused(motion_dir("theta", 1, "rope_theta", json_real(10000.0)), LM_EDATA,
		"rope_theta: 10000.0 here, 500000.0 in the base", "rope_theta differs from the base's");
	refused(motion_dir("layers", 1, "num_hidden_layers", json_integer(3)), LM_EDATA,
		"num_hidden_layers: 3 here, 2 in the base", "num_hidden_layers differs");
	refused(motion_dir("tie", 1, "tie_word_embeddings", NULL), LM_EDATA, "tie_word_embeddings: absent here, true",
		"tie_word_embeddings absent here only");
	snprintf(base, sizeof base, "%s/" G "tiny", cwd);
	refused(motion_dir("motionbase", 0, "base_model", json_string(base)), LM_EDATA, "not a text-only model",
		"a base that has a llamo section");
	d = motion_dir("tok", 0, NULL, NULL);
	char p[300];
	snprintf(p, sizeof p, "%s/tokenizer.json", d);
	fclose(fopen(p, "w"));
	refused(d, LM_EDATA, "uses the base's tokenizer.json", "a tokenizer.json beside a base_model");
	/* motion model.safetensors variants */
	float v[64 * 64] = {0};
	lm_st_out text[] = {{"model.norm.weight", 1, {64}, v}};
	d = motion_dir("text", 0, NULL, NULL);
	snprintf(p, sizeof p, "%s/model.safetensors", d);
	unlink(p);
	lm_st_write_f32(p, text, 1, &st);
	refused(d, LM_EDATA, "tensor 'model.norm.weight': a text-branch tensor", "a text tensor in the motion dir");
	v[0] = 1;
	lm_st_out both[] = {{"motion_model.layers.0.input_layernorm.weight", 1, {64}, v},
			    {"motion_model.layers.0.self_attn.q_proj.weight", 2, {64, 64}, v},
			    {"motion_model.layers.0.self_attn.q_proj.lora_A", 2, {2, 64}, v},
			    {"motion_model.layers.0.self_attn.q_proj.lora_B", 2, {64, 2}, v}};
	struct {
		int n, skip;
		int64_t a0;
		const char *needle, *what;
	} cases[] = {{4, -1, 2, "stored both full (.weight) and as lora_A / lora_B", "both .weight and LoRA"},
		     {3, 1, 2, "tensor 'motion_model.layers.0.self_attn.q_proj.lora_A' without", "lora_A without lora_B"},
		     {4, 1, 3, "lora_A has shape [3, 64] and lora_B [64, 2]", "factors of mismatched rank"},
		     {4, 1, 2, "q_proj.lora_B': element 5 is not finite", "a NaN in lora_B"}};
	lm_safetensors *bsf;
	lm_st_open(&bsf, G "tiny-base/model.safetensors", &st);
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		lm_st_out t[4];
		int n = 0;
		for (int i = 0; i < cases[k].n; i++)
			if (i != cases[k].skip)
				t[n++] = both[i];
		for (int i = 0; i < n; i++)
			if (!strcmp(t[i].name + strlen(t[i].name) - 6, "lora_A"))
				t[i].shape[0] = cases[k].a0;
		static float nan_b[64 * 2];
		nan_b[5] = NAN;
		if (k == 3)
			t[n - 1].data = nan_b;
		snprintf(p, sizeof p, "%s/case%zu.safetensors", tmp, k);
		lm_st_write_f32(p, t, n, &st);
		lm_safetensors *msf;
		lm_backbone bb;
		lm_st_open(&msf, p, &st);
		lm_model *tl;
		lm_model_load(&tl, G "tiny-lora", &lm_backend_cpu, 0, &st); /* config only */
		st = (lm_status){0};
		int rc = lm_backbone_load_split(&bb, &tl->cfg, bsf, msf, &lm_backend_cpu, &st);
		ok(rc == LM_EDATA && strstr(st.msg, cases[k].needle), "%s: code %d, \"%s\"", cases[k].what, rc, st.msg);
		if (!rc)
			lm_backbone_free(&bb);
		lm_model_free(tl);
		lm_st_close(msf);
	}
	lm_st_close(bsf);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
	if (system(cmd))
		diag("could not remove %s", tmp);
}

int main(void)
{
	check_rounding();
	lm_safetensors *sf;
	if (ok(lm_st_open(&sf, G "lora.safetensors", &st) == 0, "lora.safetensors opens: %s", st.msg)) {
		check_golden_merge(sf, "f16");
		check_golden_merge(sf, "bf16");
		check_golden_merge(sf, "tie");
		lm_st_close(sf);
	}
	check_twin_merges();
	check_same_model(&lm_backend_cpu);
	check_refusals();
	return done_testing();
}
