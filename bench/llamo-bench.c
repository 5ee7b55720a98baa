/* llamo-bench: how fast the text-to-motion loop runs on a device, on random-weight models of the
 * real shapes (issue 4; bench/README.md says what each number means and how it is taken).
 *
 * The model is built in memory (randmodel.c) and loaded through the library's own loaders; every
 * measurement calls the library's public functions, the same that llamo-t2m and vae-dec run:
 * lm_t2m_begin / lm_t2m_next for generation, lm_vae_stream_step for decoding, lm_flow_sample,
 * lm_backbone_forward. Host wall-clock timers, read after the backend's check() (which waits for
 * queued device work); every result these calls return lands in host memory, so each timed
 * call has finished when the timer stops. Medians of repeats after warm-up runs. */
#include <dlfcn.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include "cli.h"
#include "clock.h"
#include "model.h"
#include "randmodel.h"

static const char usage[] =
	"usage: llamo-bench [options]\n"
	"Times text-to-motion generation on a random-weight model of a real shape, built in memory:\n"
	"streaming frames per second with p50/p99 per-token latency, time to first frame, the flow\n"
	"head per Euler step, backbone tokens per second, several streams at once, device memory and\n"
	"the bandwidth floor. See bench/README.md.\n"
	"\n"
	"  --shape NAME         tiny, 1b, 3b or 8b (default 1b)\n"
	"  --device D           cpu, cuda or auto (default: $LLAMO_DEVICE or auto)\n"
	"  --tokens N           motion tokens (latents) per generation (default 75 = 10 s of motion)\n"
	"  --repeats N          timed generations per measurement (default 5)\n"
	"  --batch LIST         stream counts run interleaved, comma-separated (default 4,8; 0: none)\n"
	"  --cfg S              guidance scale (default 3; 1 disables guidance)\n"
	"  --steps N            Euler steps (default 50)\n"
	"  --prompt-tokens N    prompt length in tokens, [BOM] included (default 32)\n"
	"  --tokenizer FILE     tokenizer.json for the prompt (default models/default/tokenizer.json)\n"
	"  --copy-mib N         buffer size of the copy-bandwidth measurement (default 1024)\n"
	"  --budget S           seconds after which repeats are cut short (default 240)\n"
	"  --seed N             seed of the random weights and of the noise (default 0)\n"
	"  --json FILE          also write the results as one JSON object to FILE\n"
	"  --print-config       print the shape's config.json and exit\n"
	"  -h, --help           show this help\n"
	"\n"
	"Exit status: 0 ok, 64 usage, 65 bad data, 66 missing tokenizer, 69 device unavailable,\n"
	"70 internal error, 71 out of memory, 74 I/O error.\n";

typedef struct opts {
	const bench_shape *shape;
	const char *device, *tokenizer, *json;
	int tokens, repeats, steps, prompt_tokens, copy_mib;
	int batches[8], nbatch;
	float cfg;
	double budget;
	uint64_t seed;
} opts;

static const lm_backend *be;
static lm_status st;
static double deadline;

/* Waits for the device's queued work; dies on a device error. */
static void sync_be(void)
{
	if (be->check && be->check(&st))
		lm_die_status(&st);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		lm_die(LM_ENOMEM, "out of memory (%zu bytes)", n);
	return p;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The p-th percentile (0..100) of v(n), nearest rank; v is sorted in place. NAN when n = 0. */
static double pct(double *v, int n, double p)
{
	if (n < 1)
		return NAN;
	qsort(v, n, sizeof *v, cmp_double);
	int k = (int)ceil(p / 100.0 * n) - 1;
	return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static double median(double *v, int n)
{
	return pct(v, n, 50);
}

/* ---- results: printed as they come, and kept for --json ---- */

static struct { char key[48]; char val[160]; int str; } res[96];
static int nres;

static void put_num(const char *key, double v)
{
	if (nres < (int)(sizeof res / sizeof res[0])) {
		snprintf(res[nres].key, sizeof res[nres].key, "%s", key);
		if (isfinite(v))
			snprintf(res[nres].val, sizeof res[nres].val, "%.6g", v);
		else
			snprintf(res[nres].val, sizeof res[nres].val, "null");
		res[nres++].str = 0;
	}
}

static void put_str(const char *key, const char *v)
{
	if (nres < (int)(sizeof res / sizeof res[0])) {
		snprintf(res[nres].key, sizeof res[nres].key, "%s", key);
		snprintf(res[nres].val, sizeof res[nres].val, "%s", v);
		res[nres++].str = 1;
	}
}

static void write_json(const char *path)
{
	FILE *f = lm_out_open(path, &st);
	if (!f)
		lm_die_status(&st);
	fprintf(f, "{");
	for (int i = 0; i < nres; i++) {
		fprintf(f, "%s\n  \"%s\": ", i ? "," : "", res[i].key);
		if (res[i].str) {
			fputc('"', f);
			for (const char *p = res[i].val; *p; p++)
				if (*p == '"' || *p == '\\')
					fprintf(f, "\\%c", *p);
				else if ((unsigned char)*p >= 0x20)
					fputc(*p, f);
			fputc('"', f);
		} else {
			fputs(res[i].val, f);
		}
	}
	fprintf(f, "\n}\n");
	if (lm_out_commit(f, &st))
		lm_die_status(&st);
}

static void checkpoint(const char *path)
{
	if (path)
		write_json(path);
}

/* ---- device memory through NVML (loaded at run time; absent on the CPU: "n/a") ---- */

typedef struct { unsigned long long total, free, used; } nvml_memory;
static struct {
	int ok;
	void *dev;
	int (*mem)(void *, nvml_memory *);
	double base, peak; /* bytes in use before the model was built; highest seen since */
	char name[96], driver[80];
} nv;

static void nvml_open(void)
{
	static const char *names[] = {"libnvidia-ml.so.1", "/usr/local/nvidia/lib64/libnvidia-ml.so.1",
				      "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"};
	void *lib = NULL;
	for (size_t i = 0; !lib && i < sizeof names / sizeof names[0]; i++)
		lib = dlopen(names[i], RTLD_NOW);
	if (!lib)
		return;
	int (*init)(void) = (int (*)(void))dlsym(lib, "nvmlInit_v2");
	int (*get)(unsigned, void **) = (int (*)(unsigned, void **))dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
	int (*name)(void *, char *, unsigned) = (int (*)(void *, char *, unsigned))dlsym(lib, "nvmlDeviceGetName");
	int (*drv)(char *, unsigned) = (int (*)(char *, unsigned))dlsym(lib, "nvmlSystemGetDriverVersion");
	nv.mem = (int (*)(void *, nvml_memory *))dlsym(lib, "nvmlDeviceGetMemoryInfo");
	if (!init || !get || !nv.mem || init() != 0 || get(0, &nv.dev) != 0)
		return;
	if (!name || name(nv.dev, nv.name, sizeof nv.name))
		snprintf(nv.name, sizeof nv.name, "?");
	if (!drv || drv(nv.driver, sizeof nv.driver))
		snprintf(nv.driver, sizeof nv.driver, "?");
	nv.ok = 1;
}

/* Device memory in use now (bytes, the whole device), and the peak updated; NAN without NVML. */
static double nvml_sample(void)
{
	nvml_memory m;
	if (!nv.ok || nv.mem(nv.dev, &m))
		return NAN;
	if (m.used > nv.peak)
		nv.peak = m.used;
	return m.used;
}

/* ---- the prompt ---- */

/* A prompt whose t2m token ids (template + [BOM]) number want, or the first length past it. */
static char *make_prompt(const lm_model *m, int want, int *got)
{
	static const char *words[] = {"a", "person", "walks", "forward", "slowly", "then", "turns", "around",
				      "and", "waves", "with", "the", "left", "hand", "while", "jumping",
				      "twice", "before", "sitting", "down", "on", "a", "chair", "near", "wall"};
	int nw = sizeof words / sizeof words[0];
	size_t cap = 16;
	char *p = xmalloc(cap);
	p[0] = 0;
	for (int i = 0;; i++) {
		int32_t *ids;
		int n;
		if (lm_t2m_prompt_ids(m, p, &ids, &n, &st))
			lm_die_status(&st);
		free(ids);
		*got = n;
		if (n >= want || i > 64 * want)
			return p;
		const char *w = words[i % nw];
		if (strlen(p) + strlen(w) + 2 > cap) {
			cap = 2 * cap + strlen(w);
			char *q = realloc(p, cap);
			if (!q)
				lm_die(LM_ENOMEM, "out of memory");
			p = q;
		}
		if (*p)
			strcat(p, " ");
		strcat(p, w);
	}
}

/* ---- measurements ---- */

typedef struct bench {
	opts o;
	lm_model *m;
	lm_gen_opts gen;
	char *prompt;
	int prompt_n;
	lm_vae_stream *vs;
	float *z, *feats;
} bench;

static void gen_begin(bench *b, lm_t2m **g, uint64_t seed)
{
	lm_gen_opts o = b->gen;
	o.seed = seed;
	if (lm_t2m_begin(g, b->m, b->prompt, &o, &st))
		lm_die_status(&st);
}

/* One latent of g into b->z; dies on an error or an early stop (the exit head is off). */
static void gen_next(bench *b, lm_t2m *g)
{
	int done = 0;
	if (lm_t2m_next(g, b->z, &done, NULL, &st))
		lm_die_status(&st);
	if (done)
		lm_die(LM_EINTERNAL, "generation stopped early although the exit head is off");
}

static void vae_step(bench *b)
{
	if (lm_vae_stream_step(b->vs, b->z, b->feats, &st))
		lm_die_status(&st);
}

/* Device copy bandwidth: be->copy of copy_mib MiB, bytes read + written over the median time. */
static double copy_bandwidth(bench *b)
{
	size_t n = (size_t)b->o.copy_mib << 18; /* floats */
	float *x = be->alloc(n), *y = be->alloc(n);
	if (!x || !y)
		lm_die(LM_ENOMEM, "copy bandwidth: cannot allocate 2 x %d MiB on %s", b->o.copy_mib, be->name);
	double t[20];
	int k = 0;
	be->copy(y, x, n);
	sync_be();
	for (; k < 20 && (k < 5 || lm_now() < deadline); k++) {
		double t0 = lm_now();
		be->copy(k % 2 ? x : y, k % 2 ? y : x, n);
		sync_be();
		t[k] = lm_now() - t0;
	}
	nvml_sample();
	be->release(x);
	be->release(y);
	double s = median(t, k);
	double gbs = 2.0 * n * sizeof(float) / s / 1e9;
	printf("copy bandwidth: %.0f GB/s (%d MiB copied, read + write counted, median of %d)\n", gbs,
	       b->o.copy_mib, k);
	put_num("copy_gbs", gbs);
	return gbs;
}

/* Time to first frame: prompt prefill (conditional and unconditional), the first latent, and the
 * VAE's first 4 frames, from nothing (lm_t2m_begin allocates the KV caches too). */
static void time_to_first_frame(bench *b)
{
	enum { R = 16 };
	double tot[R], pre[R], lat[R], vae[R];
	int k = 0;
	for (; k < R && (k < 3 || (k < b->o.repeats + 2 && lm_now() < deadline)); k++) {
		lm_t2m *g;
		double t0 = lm_now();
		gen_begin(b, &g, b->o.seed + k);
		sync_be();
		double t1 = lm_now();
		gen_next(b, g);
		sync_be();
		double t2 = lm_now();
		lm_vae_stream_reset(b->vs);
		vae_step(b);
		sync_be();
		double t3 = lm_now();
		lm_t2m_free(g);
		tot[k] = t3 - t0, pre[k] = t1 - t0, lat[k] = t2 - t1, vae[k] = t3 - t2;
	}
	double T = median(tot, k), P = median(pre, k), L = median(lat, k), V = median(vae, k);
	printf("time to first frame: %.2f ms (median of %d): prefill of the %d-token prompt%s %.2f ms, "
	       "first latent %.2f ms, VAE decode of its 4 frames %.2f ms\n",
	       1e3 * T, k, b->prompt_n, b->gen.cfg != 1 ? " and the unconditional one" : "", 1e3 * P,
	       1e3 * L, 1e3 * V);
	put_num("ttff_ms", 1e3 * T);
	put_num("ttff_prefill_ms", 1e3 * P);
	put_num("ttff_first_latent_ms", 1e3 * L);
	put_num("ttff_vae_ms", 1e3 * V);
	put_num("prompt_tokens", b->prompt_n);
	nvml_sample();
}

/* Batch 1 streaming: repeats generations of `tokens` latents, each latent timed, plus the VAE's
 * streaming decode of it timed separately. Returns the p50 per-token latency in seconds. */
static double streaming(bench *b)
{
	int N = b->o.tokens, R = b->o.repeats;
	double *lat = xmalloc((size_t)N * R * sizeof *lat), *vae = xmalloc((size_t)N * R * sizeof *vae);
	double sum = 0, sum_vae = 0;
	int n = 0, runs = 0;
	lm_t2m_times tsum = {0};
	for (int r = 0; r < R && (r == 0 || lm_now() < deadline); r++, runs++) {
		lm_t2m *g;
		gen_begin(b, &g, b->o.seed + 100 + r);
		lm_vae_stream_reset(b->vs);
		sync_be();
		for (int i = 0; i < N; i++) {
			double t0 = lm_now();
			gen_next(b, g);
			sync_be();
			double t1 = lm_now();
			vae_step(b);
			sync_be();
			double t2 = lm_now();
			lat[n] = t1 - t0, vae[n] = t2 - t1;
			sum += lat[n], sum_vae += vae[n];
			n++;
		}
		lm_t2m_times t;
		lm_t2m_times_get(g, &t);
		tsum.flow += t.flow, tsum.backbone += t.backbone, tsum.exit += t.exit, tsum.latents += t.latents;
		lm_t2m_free(g);
		for (int i = 0; i < b->m->cfg.latent_dim; i++)
			if (!isfinite(b->z[i]))
				lm_die(LM_EINTERNAL, "streaming: the last latent is not finite");
	}
	nvml_sample();
	double mean = sum / n, p99 = pct(lat, n, 99), p50 = pct(lat, n, 50), vae50 = median(vae, n);
	int F = b->m->cfg.downsample;
	printf("streaming, batch 1: %d latents x %d generation%s, %d frames per latent\n", N, runs,
	       runs == 1 ? "" : "s", F);
	printf("  per motion token: p50 %.3f ms, p99 %.3f ms, mean %.3f ms -> %.0f frames/s (%.0f at p50)\n",
	       1e3 * p50, 1e3 * p99, 1e3 * mean, F / mean, F / p50);
	printf("  VAE streaming decode per latent: p50 %.3f ms; generation + decode: %.0f frames/s\n",
	       1e3 * vae50, F * n / (sum + sum_vae));
	if (tsum.latents)
		printf("  library stage timers per latent: flow head (projector, noise, ODE) %.3f ms, backbone "
		       "(adapter, one step per sequence) %.3f ms, exit head %.3f ms\n",
		       1e3 * tsum.flow / tsum.latents, 1e3 * tsum.backbone / tsum.latents,
		       1e3 * tsum.exit / tsum.latents);
	put_num("stream_p50_ms", 1e3 * p50);
	put_num("stream_p99_ms", 1e3 * p99);
	put_num("stream_mean_ms", 1e3 * mean);
	put_num("stream_fps", F / mean);
	put_num("stream_fps_with_vae", F * n / (sum + sum_vae));
	put_num("vae_latent_ms", 1e3 * vae50);
	if (tsum.latents) {
		put_num("stage_flow_ms", 1e3 * tsum.flow / tsum.latents);
		put_num("stage_backbone_ms", 1e3 * tsum.backbone / tsum.latents);
		put_num("stage_exit_ms", 1e3 * tsum.exit / tsum.latents);
	}
	put_num("stream_latents_timed", n);
	free(lat);
	free(vae);
	return p50;
}

/* The flow head alone: lm_flow_sample at the run's guidance with `steps` and with steps/5. */
static void flow_head(bench *b)
{
	const lm_config *c = &b->m->cfg;
	int C = c->condition_size, L = c->latent_dim, S = b->o.steps, S2 = S / 5 > 0 ? S / 5 : 1;
	float *cc = xmalloc(2 * C * sizeof *cc), *noise = xmalloc(L * sizeof *noise), *out = xmalloc(L * sizeof *out);
	lm_rng rng;
	lm_rng_seed(&rng, b->o.seed + 7);
	lm_randn(&rng, cc, 2 * C);
	lm_randn(&rng, noise, L);
	int guided = b->gen.cfg != 1;
	double t[2][32];
	int n[2] = {0, 0};
	/* S2 first, S last: the library keeps one recorded ODE graph (per step count), so each
	 * count gets its own warm-up call and the graph left behind is the one generation uses */
	for (int w = 1; w >= 0; w--) {
		int steps = w ? S2 : S, k = 0;
		lm_flow_sample(&b->m->heads, noise, cc, guided ? cc + C : NULL, b->gen.cfg, steps, out);
		sync_be();
		for (; k < 32 && (k < 5 || (k < 4 * b->o.repeats && lm_now() < deadline)); k++) {
			double t0 = lm_now();
			lm_flow_sample(&b->m->heads, noise, cc, guided ? cc + C : NULL, b->gen.cfg, steps, out);
			sync_be();
			t[w][k] = lm_now() - t0;
		}
		n[w] = k;
	}
	double a = median(t[0], n[0]), s2 = median(t[1], n[1]);
	double marginal = S > S2 ? (a - s2) / (S - S2) : NAN;
	printf("flow head alone (%s, %d rows): %.3f ms per latent at %d steps = %.1f us per Euler step; "
	       "marginal step (%d vs %d steps) %.1f us\n", guided ? "guidance on" : "no guidance", 1 + guided,
	       1e3 * a, S, 1e6 * a / S, S, S2, 1e6 * marginal);
	put_num("flow_sample_ms", 1e3 * a);
	put_num("flow_step_us", 1e6 * a / S);
	put_num("flow_step_marginal_us", 1e6 * marginal);
	free(cc);
	free(noise);
	free(out);
}

/* The backbone alone: prefill of the prompt length and of 512 text tokens, and single motion
 * tokens after a prefill (the decode step of generation, one sequence). */
static void backbone(bench *b)
{
	const lm_config *c = &b->m->cfg;
	int H = c->hidden_size, big = 512, nd = 64;
	lm_kv_cache kv = {0};
	if (lm_kv_init(&kv, &b->m->bb, big + nd + 8, &st))
		lm_die_status(&st);
	int32_t *ids = xmalloc(big * sizeof *ids);
	for (int i = 0; i < big; i++)
		ids[i] = 5 + (int32_t)((1103515245u * (unsigned)i + 12345u) % (unsigned)(c->vocab_size - 5));
	float *emb = xmalloc((size_t)big * H * sizeof *emb), *out = xmalloc((size_t)big * H * sizeof *out);
	if (lm_embed_text(&b->m->bb, ids, big, emb, &st))
		lm_die_status(&st);
	int lens[2] = {b->prompt_n, big};
	double tps[2];
	for (int q = 0; q < 2; q++) {
		double t[16];
		int k = 0;
		for (; k < 16 && (k < 3 || (k < b->o.repeats + 1 && lm_now() < deadline)); k++) {
			lm_kv_reset(&kv);
			double t0 = lm_now();
			if (lm_backbone_forward(&b->m->bb, &kv, emb, lens[q], LM_TEXT, out, &st))
				lm_die_status(&st);
			sync_be();
			t[k] = lm_now() - t0;
		}
		double s = median(t + 1, k - 1); /* the first is a warm-up */
		tps[q] = lens[q] / s;
		printf("backbone prefill, %d text tokens: %.3f ms = %.0f tokens/s\n", lens[q], 1e3 * s, tps[q]);
	}
	put_num("bb_prefill_prompt_tps", tps[0]);
	put_num("bb_prefill512_tps", tps[1]);
	/* decode: one motion position per call after a prompt-length prefill */
	double t[64];
	lm_kv_reset(&kv);
	if (lm_backbone_forward(&b->m->bb, &kv, emb, b->prompt_n, LM_TEXT, NULL, &st))
		lm_die_status(&st);
	int k = 0;
	for (int i = 0; i < nd; i++) {
		double t0 = lm_now();
		if (lm_backbone_forward(&b->m->bb, &kv, emb + (size_t)i * H, 1, LM_MOTION, out, &st))
			lm_die_status(&st);
		sync_be();
		if (i >= 4) /* warm-up */
			t[k++] = lm_now() - t0;
	}
	double s = median(t, k);
	printf("backbone decode, 1 motion token per call (one sequence, %d-%d cached): %.3f ms = %.0f tokens/s\n",
	       b->prompt_n + 4, b->prompt_n + nd, 1e3 * s, 1 / s);
	put_num("bb_decode_ms", 1e3 * s);
	put_num("bb_decode_tps", 1 / s);
	nvml_sample();
	lm_kv_free(&kv, &b->m->bb);
	free(ids);
	free(emb);
	free(out);
}

/* B streams at once. The library has no batched generation path: the B generators run
 * interleaved, one latent of each in turn, on one device stream. Aggregate frames per second of
 * the token loop (the prefills before it are not counted). */
static void batched(bench *b, int B)
{
	lm_t2m **g = xmalloc(B * sizeof *g);
	int N = b->o.tokens;
	if (lm_now() > deadline) {
		printf("batch %d: skipped (past --budget)\n", B);
		free(g);
		return;
	}
	double t0 = lm_now();
	for (int s = 0; s < B; s++)
		gen_begin(b, &g[s], b->o.seed + 1000 + s);
	sync_be();
	double t1 = lm_now();
	int done = 0;
	for (; done < N && (done < 4 || lm_now() < deadline); done++)
		for (int s = 0; s < B; s++)
			gen_next(b, g[s]);
	sync_be();
	double t2 = lm_now();
	nvml_sample();
	for (int s = 0; s < B; s++)
		lm_t2m_free(g[s]);
	free(g);
	int F = b->m->cfg.downsample;
	double fps = (double)F * B * done / (t2 - t1);
	printf("batch %d (interleaved generators, no batched path): %d latents each, aggregate %.0f frames/s "
	       "(%.3f ms per round of %d latents); the %d prefills took %.2f ms\n", B, done, fps,
	       1e3 * (t2 - t1) / done, B, B, 1e3 * (t1 - t0));
	char key[32];
	snprintf(key, sizeof key, "batch%d_fps", B);
	put_num(key, fps);
}

/* Bytes that must cross device memory per motion token, and that over the copy bandwidth. */
static void floor_report(bench *b, double gbs, double p50)
{
	const lm_config *c = &b->m->cfg;
	bench_bytes by;
	bench_model_bytes(c, &by);
	int S = b->o.steps, guided = b->gen.cfg != 1, rows = 1 + guided;
	double mod = (double)S * rows * (c->flow_depth * 3 + 2) * c->flow_width * 4 * 2; /* written + read, F32 */
	/* positions cached, on average over a generation: the prompt and half the latents, plus the
	 * unconditional sequence's 2 prompt tokens ([BOS] [BOM]) and half the latents */
	double pos = b->prompt_n + b->o.tokens / 2.0 + guided * (2 + b->o.tokens / 2.0);
	double kv = pos * c->num_hidden_layers * 2.0 * c->num_key_value_heads * c->head_dim * 4; /* F32 cache */
	double total = by.branch + by.adapter + by.projector + by.exit + by.flow_once + S * by.flow_step + mod + kv;
	double floor_s = total / (gbs * 1e9);
	int F = c->downsample;
	printf("bandwidth floor per motion token (%s, BF16 weights): motion branch %.1f MB + flow head "
	       "%d x %.2f MB per step + %.2f MB once (time MLP, cond, adaLN) + adapter/projector/exit %.2f MB + "
	       "modulations %.2f MB + KV cache %.2f MB = %.1f MB -> %.3f ms at %.0f GB/s = %.0f frames/s; "
	       "measured p50 is %.2fx the floor\n",
	       guided ? "cond and uncond as one batch of 2" : "no guidance", by.branch / 1e6, S,
	       by.flow_step / 1e6, by.flow_once / 1e6, (by.adapter + by.projector + by.exit) / 1e6, mod / 1e6,
	       kv / 1e6, total / 1e6, 1e3 * floor_s, gbs, F / floor_s, p50 / floor_s);
	put_num("floor_bytes", total);
	put_num("floor_ms", 1e3 * floor_s);
	put_num("floor_fps", F / floor_s);
	put_num("floor_ratio", p50 / floor_s);
	put_num("bytes_motion_branch", by.branch);
	put_num("bytes_flow_step", by.flow_step);
	put_num("bytes_flow_once", by.flow_once);
	put_num("bytes_model", by.total);
}

static void parse_batches(opts *o, const char *s)
{
	o->nbatch = 0;
	char *dup = strdup(s), *save = NULL;
	if (!dup)
		lm_die(LM_ENOMEM, "out of memory");
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int v = (int)lm_parse_long("--batch", t, 0, 64);
		if (v > 0 && o->nbatch < 8)
			o->batches[o->nbatch++] = v;
	}
	free(dup);
}

int main(int argc, char **argv)
{
	lm_cli_init(argv[0]);
	lm_cli_help(argc, argv, usage);
	setvbuf(stdout, NULL, _IOLBF, 0); /* a pipe to tee: lines out as they come, also when stopped */
	opts o = {.device = NULL, .tokenizer = "models/default/tokenizer.json", .tokens = 75, .repeats = 5,
		  .steps = 50, .prompt_tokens = 32, .copy_mib = 1024, .cfg = 3.0f, .budget = 240};
	o.shape = bench_shape_find("1b");
	parse_batches(&o, "4,8");
	int print_config = 0, c;
	static const struct option lo[] = {
		{"shape", required_argument, 0, 'a'}, {"device", required_argument, 0, 'd'},
		{"tokens", required_argument, 0, 'n'}, {"repeats", required_argument, 0, 'r'},
		{"batch", required_argument, 0, 'b'}, {"cfg", required_argument, 0, 'g'},
		{"steps", required_argument, 0, 'S'}, {"prompt-tokens", required_argument, 0, 'p'},
		{"tokenizer", required_argument, 0, 't'}, {"copy-mib", required_argument, 0, 'c'},
		{"budget", required_argument, 0, 'B'}, {"seed", required_argument, 0, 's'},
		{"json", required_argument, 0, 'j'}, {"print-config", no_argument, 0, 'P'}, {0, 0, 0, 0}};
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (!(o.shape = bench_shape_find(optarg)))
				lm_usage_error("--shape: '%s' is not one of %s", optarg, bench_shapes_list());
			break;
		case 'd': o.device = optarg; break;
		case 'n': o.tokens = (int)lm_parse_long("--tokens", optarg, 1, 100000); break;
		case 'r': o.repeats = (int)lm_parse_long("--repeats", optarg, 1, 1000); break;
		case 'b': parse_batches(&o, optarg); break;
		case 'g': o.cfg = (float)lm_parse_double("--cfg", optarg, 0, 100); break;
		case 'S': o.steps = (int)lm_parse_long("--steps", optarg, 1, 10000); break;
		case 'p': o.prompt_tokens = (int)lm_parse_long("--prompt-tokens", optarg, 2, 4096); break;
		case 't': o.tokenizer = optarg; break;
		case 'c': o.copy_mib = (int)lm_parse_long("--copy-mib", optarg, 1, 65536); break;
		case 'B': o.budget = lm_parse_double("--budget", optarg, 1, 86400); break;
		case 's': o.seed = (uint64_t)lm_parse_long("--seed", optarg, 0, 0x7fffffffffffffffL); break;
		case 'j': o.json = optarg; break;
		case 'P': print_config = 1; break;
		default: lm_usage_error("unknown option");
		}
	}
	if (optind < argc)
		lm_usage_error("unexpected argument '%s'", argv[optind]);
	int max_tokens = o.tokens + 8;
	if (print_config) {
		fputs(bench_config_json(o.shape, max_tokens), stdout);
		return 0;
	}
	double start = lm_now();
	deadline = start + o.budget;
	if (lm_backend_get(&be, o.device, &st))
		lm_die_status(&st);
	nvml_open();
	double base = nvml_sample();
	nv.peak = 0;

	bench b = {.o = o};
	double build_s = 0, load_s = 0;
	printf("llamo-bench: building the random %s model in host memory and loading it onto %s\n",
	       o.shape->name, lm_backend_describe(be));
	if (bench_model_build(&b.m, o.shape, max_tokens, be, o.tokenizer, o.seed, &build_s, &load_s, &st))
		lm_die_status(&st);
	double after_load = nvml_sample();
	const lm_config *cfg = &b.m->cfg;
	bench_bytes by;
	bench_model_bytes(cfg, &by);
	struct utsname u;
	uname(&u);
	time_t tnow = time(NULL);
	char date[32];
	strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&tnow));
	printf("llamo-bench: shape %s: %s\n", o.shape->name, o.shape->what);
	printf("  hidden %d, %d layers x 2 branches, heads %d/%d x %d, intermediate %d, vocab %d (%s); flow head "
	       "%d x %d, VAE width %d, latent %d, %d features\n", cfg->hidden_size, cfg->num_hidden_layers,
	       cfg->num_attention_heads, cfg->num_key_value_heads, cfg->head_dim, cfg->intermediate_size,
	       cfg->vocab_size, cfg->tie_word_embeddings ? "tied" : "untied", cfg->flow_width, cfg->flow_depth,
	       cfg->vae_width, cfg->latent_dim, cfg->feature_dim);
	printf("  device: %s; %s %s; %s\n", lm_backend_describe(be), u.sysname, u.machine, date);
	if (nv.ok)
		printf("  GPU (NVML): %s, driver %s\n", nv.name, nv.driver);
	printf("  weights: %.2f GB as BF16, random, built in host memory in %.1f s, loaded through the "
	       "library's loaders in %.1f s\n", by.total / 1e9, build_s, load_s);
	put_str("shape", o.shape->name);
	put_str("device", be->name);
	put_str("describe", lm_backend_describe(be));
	put_str("gpu", nv.ok ? nv.name : "");
	put_str("driver", nv.ok ? nv.driver : "");
	put_str("date", date);
	put_num("bytes_model_bf16", by.total);
	put_num("build_s", build_s);
	put_num("load_s", load_s);
	put_num("cfg", o.cfg);
	put_num("steps", o.steps);
	put_num("tokens", o.tokens);

	lm_gen_opts_default(&b.gen, cfg);
	b.gen.cfg = o.cfg;
	b.gen.steps = o.steps;
	b.gen.max_tokens = o.tokens;
	b.gen.threshold = 1.0f; /* p > 1 never happens: every generation makes `tokens` latents */
	if (lm_heads_reserve(&b.m->heads, o.steps, &st))
		lm_die_status(&st);
	b.prompt = make_prompt(b.m, o.prompt_tokens, &b.prompt_n);
	if (lm_vae_stream_init(&b.vs, &b.m->vae, &st))
		lm_die_status(&st);
	b.z = xmalloc(cfg->latent_dim * sizeof(float));
	b.feats = xmalloc((size_t)cfg->downsample * cfg->feature_dim * sizeof(float));
	printf("  guidance %g, %d Euler steps, exit head evaluated but never stopping; prompt %d tokens; "
	       "budget %.0f s\n", o.cfg, o.steps, b.prompt_n, o.budget);

	/* warm-up: a short generation (graph capture, cuBLAS heuristics, first-touch allocations) */
	{
		lm_t2m *g;
		gen_begin(&b, &g, o.seed);
		lm_vae_stream_reset(b.vs);
		for (int i = 0; i < 4 && i < o.tokens; i++) {
			gen_next(&b, g);
			vae_step(&b);
		}
		sync_be();
		lm_t2m_free(g);
	}
	/* --json is rewritten after every part: a run stopped from outside keeps what it measured */
	double p50 = streaming(&b);
	checkpoint(o.json);
	time_to_first_frame(&b);
	checkpoint(o.json);
	flow_head(&b);
	checkpoint(o.json);
	backbone(&b);
	checkpoint(o.json);
	for (int i = 0; i < o.nbatch; i++) {
		batched(&b, o.batches[i]);
		checkpoint(o.json);
	}
	double gbs = copy_bandwidth(&b);
	floor_report(&b, gbs, p50);
	if (nv.ok) {
		printf("device memory in use (NVML, whole device, sampled after each part): %.2f GiB before the "
		       "model, %.2f GiB after loading, peak %.2f GiB\n", base / 1073741824.0,
		       after_load / 1073741824.0, nv.peak / 1073741824.0);
		put_num("mem_before_gib", base / 1073741824.0);
		put_num("mem_loaded_gib", after_load / 1073741824.0);
		put_num("mem_peak_gib", nv.peak / 1073741824.0);
	} else {
		printf("device memory: n/a (no NVML: not an NVIDIA device)\n");
	}
	put_num("wall_s", lm_now() - start);
	printf("llamo-bench: %s done in %.1f s\n", o.shape->name, lm_now() - start);
	checkpoint(o.json);
	lm_vae_stream_free(b.vs);
	lm_model_free(b.m);
	free(b.prompt);
	free(b.z);
	free(b.feats);
	return 0;
}
