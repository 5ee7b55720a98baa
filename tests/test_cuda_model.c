/* test_cuda_model: every stage of the model on the CUDA backend against the CPU backend, on the
 * tiny golden model (tests/golden/tiny, F32 weights) and the bundled default model (BF16 weights):
 * backbone (prefill chunk and single steps over the kv cache, logits), adapter, projector, exit
 * head, flow velocity and the Euler sampler (the recorded graph, replayed and re-recorded), the VAE
 * (encode, decode whole, decode streamed), and end to end: the same seed gives the same latents
 * within tolerance and the exit head stops at the same step.
 *
 * Bounds (relative L2 over a whole output, written at each check): the CUDA backend keeps matrix
 * weights in bfloat16 (the tiny model's F32 weights lose bits there; the default model's BF16
 * weights do not) and cuBLAS takes bfloat16 activations for more than 8 rows, so stages agree to
 * about 1e-2: a stage 2e-2, a whole generation (errors fed back through the backbone for every
 * latent) 5e-2. Inputs are the same host data on both sides (the CPU's outputs feed both the
 * next stage), so each check measures one stage.
 * Without a GPU (or without a CUDA build): "1..0 # SKIP"; with LLAMO_REQUIRE_GPU set, a failure. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "model.h"
#include "tap.h"

#define STAGE 2e-2
#define WHOLE 5e-2

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static float urand(float lo, float hi)
{
	rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
	uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
	return lo + (hi - lo) * (float)((r >> 40) * (1.0 / 16777216.0));
}

static float *rnd(size_t n, float lo, float hi)
{
	float *p = malloc((n ? n : 1) * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = urand(lo, hi);
	return p;
}

static float *fbuf(size_t n)
{
	return calloc(n ? n : 1, sizeof(float));
}

static double rel_l2(const float *got, const float *want, size_t n)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		if (isnan(got[i]) || isnan(want[i]))
			return INFINITY;
		double e = (double)got[i] - want[i];
		num += e * e, den += (double)want[i] * want[i];
	}
	return den > 0 ? sqrt(num / den) : sqrt(num);
}

static int close_rel(const float *got, const float *want, size_t n, double bound, const char *name,
		     const char *what)
{
	double r = rel_l2(got, want, n);
	return ok(n > 0 && r <= bound, "%s: %s: rel L2 %.3g (bound %g)", name, what, r, bound);
}

typedef struct pair {
	const char *name;
	lm_model *c, *g; /* CPU, CUDA */
} pair;

static void test_backbone(pair *p)
{
	const lm_config *c = &p->c->cfg;
	int H = c->hidden_size, V = c->vocab_size, n = 20, steps = 6;
	lm_status st = {0};
	int32_t ids[20];
	for (int i = 0; i < n; i++)
		ids[i] = (int32_t)(urand(0, 1) * V) % V;
	float *ec = fbuf((size_t)n * H), *eg = fbuf((size_t)n * H);
	int rc = lm_embed_text(&p->c->bb, ids, n, ec, &st) || lm_embed_text(&p->g->bb, ids, n, eg, &st);
	ok(!rc, "%s: embed %d ids: %s", p->name, n, rc ? st.msg : "ok");
	close_rel(eg, ec, (size_t)n * H, 4e-3, p->name, "embeddings (bf16 table, 2^-9 relative at most)");

	lm_kv_cache kc, kg;
	if (lm_kv_init(&kc, &p->c->bb, 64, &st) || lm_kv_init(&kg, &p->g->bb, 64, &st)) {
		ok(0, "%s: kv caches: %s", p->name, st.msg);
		free(ec), free(eg);
		return;
	}
	float *hc = fbuf((size_t)(n + steps) * H), *hg = fbuf((size_t)(n + steps) * H);
	/* the prompt as one chunk (cuBLAS on the GPU), then motion positions one at a time (gemv) */
	rc = lm_backbone_forward(&p->c->bb, &kc, ec, n, LM_TEXT, hc, &st) ||
	     lm_backbone_forward(&p->g->bb, &kg, ec, n, LM_TEXT, hg, &st);
	ok(!rc, "%s: prefill of %d text positions: %s", p->name, n, rc ? st.msg : "ok");
	close_rel(hg, hc, (size_t)n * H, STAGE, p->name, "text prefill states (one chunk)");
	float *m = rnd((size_t)steps * H, -1, 1);
	for (int i = 0; i < steps && !rc; i++)
		rc = lm_backbone_forward(&p->c->bb, &kc, m + (size_t)i * H, 1, LM_MOTION, hc + (size_t)(n + i) * H, &st) ||
		     lm_backbone_forward(&p->g->bb, &kg, m + (size_t)i * H, 1, LM_MOTION, hg + (size_t)(n + i) * H, &st);
	ok(!rc, "%s: %d motion steps: %s", p->name, steps, rc ? st.msg : "ok");
	close_rel(hg + (size_t)n * H, hc + (size_t)n * H, (size_t)steps * H, STAGE, p->name,
		  "motion steps over the cache, one position per call");
	float *lc = fbuf((size_t)2 * V), *lg = fbuf((size_t)2 * V);
	lm_logits(&p->c->bb, hc + (size_t)(n - 2) * H, 2, lc);
	lm_logits(&p->g->bb, hc + (size_t)(n - 2) * H, 2, lg);
	close_rel(lg, lc, (size_t)2 * V, STAGE, p->name, "logits of 2 states (tied embeddings)");
	lm_kv_free(&kc, &p->c->bb);
	lm_kv_free(&kg, &p->g->bb);
	free(ec), free(eg), free(hc), free(hg), free(m), free(lc), free(lg);
}

static void test_heads(pair *p)
{
	const lm_config *c = &p->c->cfg;
	int H = c->hidden_size, L = c->latent_dim, C = c->condition_size, n = 5;
	const lm_heads *hc = &p->c->heads, *hg = &p->g->heads;
	float *z = rnd((size_t)n * L, -2, 2), *hs = rnd((size_t)n * H, -2, 2);
	float *ac = fbuf((size_t)n * H), *ag = fbuf((size_t)n * H);
	lm_adapter(hc, z, n, ac);
	lm_adapter(hg, z, n, ag);
	close_rel(ag, ac, (size_t)n * H, STAGE, p->name, "adapter, 5 latents");
	float *cc = fbuf((size_t)n * C), *cg = fbuf((size_t)n * C);
	lm_projector(hc, hs, n, cc);
	lm_projector(hg, hs, n, cg);
	close_rel(cg, cc, (size_t)n * C, STAGE, p->name, "projector, 5 states");
	float pc[5], pg[5];
	lm_exit_prob(hc, hs, n, pc);
	lm_exit_prob(hg, hs, n, pg);
	close_rel(pg, pc, n, STAGE, p->name, "exit probabilities, 5 states");

	float *x = rnd((size_t)3 * L, -2, 2), t[3] = {0.0f, 0.37f, 0.98f};
	float *vc = fbuf((size_t)3 * L), *vg = fbuf((size_t)3 * L);
	lm_flow_velocity(hc, x, t, cc, 3, vc);
	lm_flow_velocity(hg, x, t, cc, 3, vg);
	close_rel(vg, vc, (size_t)3 * L, STAGE, p->name, "flow velocity, 3 rows");

	/* the sampler: the graph is recorded on the first call, replayed on the second, recorded again
	 * for another step count or without guidance */
	float *noise = rnd(L, -2, 2), *oc = fbuf(L), *og = fbuf(L), *og2 = fbuf(L);
	struct {
		float s;
		int steps;
		const char *what;
	} runs[] = {
		{3.0f, 50, "Euler sampler, guidance 3, 50 steps (graph recorded)"},
		{3.0f, 50, "the same again (graph replayed)"},
		{3.0f, 20, "20 steps (graph recorded again)"},
		{1.0f, 50, "guidance 1: the conditional row only"},
	};
	for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
		lm_flow_sample(hc, noise, cc, cc + C, runs[r].s, runs[r].steps, oc);
		lm_flow_sample(hg, noise, cc, cc + C, runs[r].s, runs[r].steps, og);
		close_rel(og, oc, L, STAGE, p->name, runs[r].what);
		if (r == 1)
			ok(!memcmp(og, og2, L * sizeof *og), "%s: the replayed graph gives the recorded run's latent bit for bit",
			   p->name);
		memcpy(og2, og, L * sizeof *og);
	}
	free(z), free(hs), free(ac), free(ag), free(cc), free(cg), free(x), free(vc), free(vg);
	free(noise), free(oc), free(og), free(og2);
}

static void test_vae(pair *p)
{
	const lm_vae *vc = &p->c->vae, *vg = &p->g->vae;
	int F = vc->F, L = vc->L, T = 64, r = vc->ratio;
	lm_status st = {0};
	float *feats = rnd((size_t)T * F, -1.5f, 1.5f), *mc = NULL, *mg = NULL;
	int nc = 0, ng = 0;
	int rc = lm_vae_encode(vc, feats, T, &mc, &nc, &st) || lm_vae_encode(vg, feats, T, &mg, &ng, &st);
	ok(!rc && nc == ng && nc == T / r, "%s: encode %d frames: %s", p->name, T, rc ? st.msg : "ok");
	if (rc) {
		free(feats);
		return;
	}
	close_rel(mg, mc, (size_t)nc * L, STAGE, p->name, "encoder means");
	float *dc = fbuf((size_t)nc * r * F), *dg = fbuf((size_t)nc * r * F), *ds = fbuf((size_t)nc * r * F);
	rc = lm_vae_decode(vc, mc, nc, dc, &st) || lm_vae_decode(vg, mc, nc, dg, &st);
	ok(!rc, "%s: decode %d latents: %s", p->name, nc, rc ? st.msg : "ok");
	close_rel(dg, dc, (size_t)nc * r * F, STAGE, p->name, "decoder, whole sequence");
	lm_vae_stream *s = NULL;
	rc = lm_vae_stream_init(&s, vg, &st);
	for (int i = 0; i < nc && !rc; i++)
		rc = lm_vae_stream_step(s, mc + (size_t)i * L, ds + (size_t)i * r * F, &st);
	ok(!rc, "%s: streamed decode: %s", p->name, rc ? st.msg : "ok");
	close_rel(ds, dc, (size_t)nc * r * F, STAGE, p->name, "decoder streamed latent by latent (CUDA) vs whole (CPU)");
	close_rel(ds, dg, (size_t)nc * r * F, STAGE, p->name, "streamed vs whole, both CUDA");
	lm_vae_stream_free(s);
	free(feats), free(mc), free(mg), free(dc), free(dg), free(ds);
}

/* the generation loop until the exit head stops it: latents (max_tokens, L), count, exit probs */
static int generate(const lm_model *m, const char *prompt, uint64_t seed, float *z, float *pe, int *count,
		    lm_status *st)
{
	lm_gen_opts o;
	lm_gen_opts_default(&o, &m->cfg);
	o.seed = seed;
	lm_t2m *g = NULL;
	int rc = lm_t2m_begin(&g, m, prompt, &o, st), done = 0, n = 0;
	while (!rc && n < o.max_tokens) {
		rc = lm_t2m_next(g, z + (size_t)n * m->cfg.latent_dim, &done, &pe[n], st);
		if (rc || done)
			break;
		n++;
	}
	lm_t2m_free(g);
	*count = n;
	return rc;
}

static void test_generation(pair *p)
{
	int L = p->c->cfg.latent_dim, max = p->c->cfg.max_motion_tokens + 1;
	lm_status st = {0};
	const char *prompts[2] = {"a person walks forward", "someone jumps twice"};
	for (int k = 0; k < 2; k++) {
		float *zc = fbuf((size_t)max * L), *zg = fbuf((size_t)max * L), *pc = fbuf(max), *pg = fbuf(max);
		int nc = 0, ng = 0;
		int rc = generate(p->c, prompts[k], 11 + k, zc, pc, &nc, &st) ||
			 generate(p->g, prompts[k], 11 + k, zg, pg, &ng, &st);
		ok(!rc, "%s: generation of '%s': %s", p->name, prompts[k], rc ? st.msg : "ok");
		ok(nc == ng, "%s: '%s', seed %d: the exit head stops at the same step (CPU %d latents, CUDA %d)",
		   p->name, prompts[k], 11 + k, nc, ng);
		int n = nc < ng ? nc : ng;
		if (n > 0)
			close_rel(zg, zc, (size_t)n * L, WHOLE, p->name, "latents of the whole generation, same seed");
		double worst = 0;
		for (int i = 0; i <= n && i < max; i++)
			worst = fmax(worst, fabs((double)pg[i] - pc[i]));
		diag("%s: largest exit-probability difference %.3g over %d steps", p->name, worst, n + 1);
		free(zc), free(zg), free(pc), free(pg);
	}
}

int main(void)
{
	lm_status st = {0};
	const lm_backend *cu;
	if (lm_backend_get(&cu, "cuda", &st)) {
		if (getenv("LLAMO_REQUIRE_GPU")) {
			ok(0, "CUDA backend available: %s", st.msg);
			return done_testing();
		}
		skip_all("no GPU");
	}
	diag("%s", lm_backend_describe(cu));
	const char *dirs[2] = {"tests/golden/tiny", "models/default"};
	for (int i = 0; i < 2; i++) {
		pair p = {dirs[i], NULL, NULL};
		if (lm_model_load(&p.c, dirs[i], &lm_backend_cpu, LM_PART_ALL, &st) ||
		    lm_model_load(&p.g, dirs[i], cu, LM_PART_ALL, &st)) {
			ok(0, "load %s on both backends: %s", dirs[i], st.msg);
			if (p.c)
				lm_model_free(p.c);
			continue;
		}
		test_backbone(&p);
		test_heads(&p);
		test_vae(&p);
		test_generation(&p);
		lm_model_free(p.c);
		lm_model_free(p.g);
	}
	ok(cu->check && cu->check(&st) == 0, "no asynchronous CUDA error: %s", cu->check ? st.msg : "no check hook");
	return done_testing();
}
