/* test_trained: the C library on the trained default model (models/default) against the PyTorch
 * reference on the same weights (train/golden_trained.py -> tests/golden/trained.safetensors), on
 * real inputs (a validation clip of the Bandai-Namco data and its latents):
 *
 *   - the templated prompt ids (exact);
 *   - a mixed sequence text [BOM] motion x6 [EOM] "Caption:": final-normed states and logits;
 *   - adapter, projector, exit head and one flow-head evaluation on real rows; a guided and an
 *     unguided 50-step sample from the real conditions of the prompt and of the empty prompt;
 *   - the VAE on a real 64-frame window: mu, logvar, decode(mu), and the streaming decoder;
 *   - a guided generation (seed and max_tokens from the golden file): latents, exit
 *     probabilities, where it stops;
 *   - motion to text on the clip's latents: the greedy caption ids (exact).
 *
 * Tolerances (float32, different summation orders; the trained weights are BF16 upcast on both
 * sides, so the weights are identical): states and heads atol 1e-4, rtol 1e-3; logits atol 1e-3;
 * single head evaluations atol 1e-5, rtol 1e-4; the 50-step samples atol 1e-4, rtol 1e-3; the
 * VAE atol 1e-4, rtol 1e-3; generated latents: the first 6 atol 2e-4, all atol 2e-3 (guidance
 * amplifies rounding along the autoregressive loop, see tests/golden/README.md); exit
 * probabilities atol 1e-4. Skips when models/default or the golden file is absent. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "model.h"
#include "tap.h"

static lm_safetensors *gold;
static lm_status st;

static float *gf(const char *name, long *numel)
{
	const lm_tensor_info *t = lm_st_find(gold, name);
	float *x = NULL;
	if (!t || lm_st_load_f32(gold, name, t->ndim, t->shape, &x, &st)) {
		ok(0, "golden tensor %s: %s", name, t ? st.msg : "missing");
		exit(done_testing());
	}
	*numel = (long)lm_tensor_numel(t);
	return x;
}

static int32_t *gi(const char *name, int *n)
{
	int32_t *x = NULL;
	int64_t k = 0;
	if (lm_st_load_i32(gold, name, &x, &k, &st)) {
		ok(0, "golden tensor %s: %s", name, st.msg);
		exit(done_testing());
	}
	*n = (int)k;
	return x;
}

static const char *meta(const char *key)
{
	const char *v = lm_st_metadata(gold, key);
	if (!v) {
		ok(0, "golden metadata %s missing", key);
		exit(done_testing());
	}
	return v;
}

/* Final-normed states of ids_a [latents] ids_b through a fresh cache: (T, H) malloc'd. */
static float *run_mixed(const lm_model *m, const int32_t *a, int na, const float *z, int nz, const int32_t *b,
			int nb)
{
	int H = m->cfg.hidden_size, T = na + nz + nb;
	float *out = calloc((size_t)T * H, sizeof *out), *emb = malloc((size_t)T * H * sizeof *emb);
	lm_kv_cache kv;
	int rc = lm_kv_init(&kv, &m->bb, T, &st);
	if (!rc)
		rc = lm_embed_text(&m->bb, a, na, emb, &st);
	if (!rc)
		rc = lm_backbone_forward(&m->bb, &kv, emb, na, LM_TEXT, out, &st);
	if (!rc) {
		lm_adapter(&m->heads, z, nz, emb + (size_t)na * H);
		rc = lm_backbone_forward(&m->bb, &kv, emb + (size_t)na * H, nz, LM_MOTION, out + (size_t)na * H, &st);
	}
	if (!rc)
		rc = lm_embed_text(&m->bb, b, nb, emb + (size_t)(na + nz) * H, &st);
	if (!rc)
		rc = lm_backbone_forward(&m->bb, &kv, emb + (size_t)(na + nz) * H, nb, LM_TEXT,
					 out + (size_t)(na + nz) * H, &st);
	lm_kv_free(&kv, &m->bb);
	free(emb);
	if (rc) {
		diag("%s", st.msg);
		free(out);
		return NULL;
	}
	return out;
}

static void check_backbone(const lm_model *m)
{
	int na, nb, H = m->cfg.hidden_size, V = m->cfg.vocab_size;
	long nz, nh, nl;
	int32_t *a = gi("ids_a", &na), *b = gi("ids_b", &nb);
	float *z = gf("latents", &nz), *want = gf("hidden", &nh), *want_l = gf("logits", &nl);
	int T = na + (int)(nz / m->cfg.latent_dim) + nb;
	float *h = run_mixed(m, a, na, z, (int)(nz / m->cfg.latent_dim), b, nb);
	if (ok(h && nh == (long)T * H && nl == (long)T * V, "mixed sequence of %d positions ran", T)) {
		close_f32(h, want, nh, 1e-4, 1e-3, "mixed sequence: final-normed states vs PyTorch");
		float *lg = malloc((size_t)T * V * sizeof *lg);
		lm_logits(&m->bb, h, T, lg);
		close_f32(lg, want_l, nl, 1e-3, 1e-3, "mixed sequence: logits vs PyTorch");
		free(lg);
	}
	free(h), free(a), free(b), free(z), free(want), free(want_l);
}

static void check_heads(const lm_model *m)
{
	const lm_config *c = &m->cfg;
	int L = c->latent_dim, H = c->hidden_size, C = c->condition_size;
	long n1, n2, n3, n4;
	float *ai = gf("adapter_in", &n1), *ao = gf("adapter_out", &n2);
	float *got = malloc((size_t)64 * (H > C ? H : C) * sizeof *got);
	lm_adapter(&m->heads, ai, (int)(n1 / L), got);
	close_f32(got, ao, n2, 1e-5, 1e-4, "adapter on real latents vs PyTorch");
	free(ai), free(ao);
	float *pi = gf("projector_in", &n1), *po = gf("projector_out", &n2);
	lm_projector(&m->heads, pi, (int)(n1 / H), got);
	close_f32(got, po, n2, 1e-5, 1e-4, "projector on real states vs PyTorch");
	free(pi), free(po);
	float *ei = gf("exit_in", &n1), *eo = gf("exit_out", &n2);
	lm_exit_prob(&m->heads, ei, (int)(n1 / H), got);
	close_f32(got, eo, n2, 1e-5, 1e-4, "exit head on real states vs PyTorch");
	free(ei), free(eo);
	float *fx = gf("flow_x", &n1), *ft = gf("flow_t", &n2), *fc = gf("flow_c", &n3), *fv = gf("flow_v", &n4);
	lm_flow_velocity(&m->heads, fx, ft, fc, (int)n2, got);
	close_f32(got, fv, n4, 1e-5, 1e-4, "flow velocity at t = 0, 0.3, 0.77, 1 vs PyTorch");
	free(fx), free(ft), free(fc), free(fv);
	float *noise = gf("sample_noise", &n1), *cc = gf("sample_c", &n2), *cu = gf("sample_u", &n3);
	float *want = gf("sample_out_cfg", &n4), s = (float)atof(meta("scale"));
	int steps = atoi(meta("steps"));
	lm_flow_sample(&m->heads, noise, cc, cu, s, steps, got);
	close_f32(got, want, L, 1e-4, 1e-3, "guided 50-step sample from the real conditions vs PyTorch");
	free(want);
	want = gf("sample_out_nocfg", &n4);
	lm_flow_sample(&m->heads, noise, cc, NULL, 1.0f, steps, got);
	close_f32(got, want, L, 1e-4, 1e-3, "unguided 50-step sample vs PyTorch");
	free(want), free(noise), free(cc), free(cu), free(got);
}

static void check_vae(const lm_model *m)
{
	int F = m->cfg.feature_dim, L = m->cfg.latent_dim;
	long nf, nm, nv, nd;
	float *x = gf("vae_feats", &nf), *wmu = gf("vae_mu", &nm), *wlv = gf("vae_logvar", &nv);
	float *wdec = gf("vae_decoded", &nd), *mu = NULL, *lv = NULL;
	int T = (int)(nf / F), n = 0;
	int rc = lm_vae_encode_posterior(&m->vae, x, T, &mu, &lv, &n, &st);
	if (!ok(rc == 0 && (long)n * L == nm, "VAE encodes the %d-frame real window into %d latents", T, n))
		goto out;
	close_f32(mu, wmu, nm, 1e-4, 1e-3, "VAE mu vs PyTorch");
	close_f32(lv, wlv, nv, 1e-4, 1e-3, "VAE logvar vs PyTorch");
	float *dec = malloc((size_t)nd * sizeof *dec), *sdec = malloc((size_t)nd * sizeof *sdec);
	/* decode the reference's mu, so that the decoder is compared on its own */
	if (ok(lm_vae_decode(&m->vae, wmu, n, dec, &st) == 0, "VAE decode ran"))
		close_f32(dec, wdec, nd, 1e-4, 1e-3, "VAE decode(mu) vs PyTorch");
	lm_vae_stream *s = NULL;
	rc = lm_vae_stream_init(&s, &m->vae, &st);
	for (int i = 0; i < n && !rc; i++)
		rc = lm_vae_stream_step(s, wmu + (size_t)i * L, sdec + (size_t)i * 4 * F, &st);
	if (ok(rc == 0, "streaming decode ran"))
		close_f32(sdec, wdec, nd, 1e-4, 1e-3, "streaming VAE decode vs PyTorch");
	lm_vae_stream_free(s);
	free(dec), free(sdec);
out:
	free(x), free(wmu), free(wlv), free(wdec), free(mu), free(lv);
}

static void check_generate(const lm_model *m)
{
	const char *prompt = meta("prompt");
	int L = m->cfg.latent_dim, nc, nu, k;
	int32_t *cond = gi("cond_ids", &nc), *uncond = gi("uncond_ids", &nu), *ids = NULL;
	int rc = lm_t2m_prompt_ids(m, prompt, &ids, &k, &st);
	ok(rc == 0 && k == nc && !memcmp(ids, cond, nc * sizeof *ids), "prompt '%s': %d templated ids equal the reference's",
	   prompt, k);
	free(ids);
	rc = lm_t2m_prompt_ids(m, "", &ids, &k, &st);
	ok(rc == 0 && k == nu && !memcmp(ids, uncond, nu * sizeof *ids), "empty prompt: templated ids equal the reference's");
	free(ids), free(cond), free(uncond);

	long nl, np;
	float *want = gf("gen_latents", &nl), *want_p = gf("gen_exit_p", &np);
	int n_want = (int)(nl / L), stopped = !strcmp(meta("stopped"), "true");
	lm_gen_opts o;
	lm_gen_opts_default(&o, &m->cfg);
	o.seed = strtoull(meta("seed"), NULL, 10);
	o.cfg = (float)atof(meta("scale"));
	o.steps = atoi(meta("steps"));
	o.max_tokens = atoi(meta("max_tokens"));
	o.threshold = (float)atof(meta("threshold"));
	lm_t2m *g;
	rc = lm_t2m_begin(&g, m, prompt, &o, &st);
	if (!ok(rc == 0, "lm_t2m_begin: %s", rc ? st.msg : "ok"))
		goto out;
	float *z = calloc((size_t)(o.max_tokens + 1) * L, sizeof *z), *p = calloc(o.max_tokens + 2, sizeof *p);
	int n = 0, done = 0;
	while (n <= o.max_tokens && !lm_t2m_next(g, z + (size_t)n * L, &done, &p[n], &st) && !done)
		n++;
	ok(st.code == 0, "generation ran: %s", st.code ? st.msg : "ok");
	ok(n == n_want, "generation gives %d latents (reference: %d, %s)", n, n_want,
	   stopped ? "the exit head stopped it" : "ran to max_tokens");
	if (n == n_want) {
		int head = n < 6 ? n : 6;
		close_f32(z, want, (long)head * L, 2e-4, 1e-3, "first generated latents vs PyTorch");
		close_f32(z, want, nl, 2e-3, 1e-2, "all generated latents vs PyTorch");
		close_f32(p, want_p, np, 1e-4, 1e-3, "exit probabilities at each step vs PyTorch");
		if (stopped) {
			long ns;
			float *ws = gf("gen_exit_p_stop", &ns);
			close_f32(&p[n], ws, 1, 1e-4, 1e-3, "the exit probability that stopped it");
			free(ws);
		}
	}
	lm_t2m_free(g);
	free(z), free(p);
out:
	free(want), free(want_p);
}

static void check_m2t(const lm_model *m)
{
	long nz;
	int nc, nids = 0;
	float *z = gf("m2t_latents", &nz);
	int32_t *want = gi("m2t_caption_ids", &nc), *ids = NULL;
	char *text = NULL;
	int rc = lm_m2t_caption(m, z, (int)(nz / m->cfg.latent_dim), atoi(meta("m2t_max_new_tokens")), &text, &ids,
				&nids, &st);
	ok(rc == 0, "lm_m2t_caption: %s", rc ? st.msg : "ok");
	ok(rc == 0 && nids == nc && !memcmp(ids, want, nc * sizeof *ids), "caption ids equal the reference's (%d vs %d)",
	   nids, nc);
	diag("caption: '%s' (reference: '%s')", text ? text : "", meta("m2t_caption"));
	free(z), free(want), free(ids), free(text);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "models/default";
	const char *gpath = argc > 2 ? argv[2] : "tests/golden/trained.safetensors";
	lm_model *m;
	if (access(gpath, R_OK))
		skip_all("no tests/golden/trained.safetensors (train/golden_trained.py writes it)");
	if (lm_st_open(&gold, gpath, &st) || lm_model_load(&m, dir, &lm_backend_cpu, LM_PART_ALL, &st)) {
		ok(0, "load: %s", st.msg);
		return done_testing();
	}
	diag("%s (clip %s) on %s", gpath, meta("clip"), dir);
	check_backbone(m);
	check_heads(m);
	check_vae(m);
	check_generate(m);
	check_m2t(m);
	lm_model_free(m);
	lm_st_close(gold);
	return done_testing();
}
