/* randmodel.c: random-weight models of the real shapes, built in memory (randmodel.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "randmodel.h"

/* The shapes. Backbones are Meta's Llama 3.2 1B / 3B and Llama 3.1 8B (config.json of each);
 * every one gets the motion twin. The motion parts follow issue 4: flow head 1536 wide x 12
 * blocks, VAE width 1024, latent 32. Adapter and projector hidden sizes, the condition size and
 * the exit head's width are ours (CHOICE: adapter/projector hidden = H, condition = flow width,
 * exit hidden 1024); they are small next to the rest. "tiny" is for dry runs on a CPU; its
 * vocabulary holds the bundled default model's tokenizer (4096). */
static const bench_shape shapes[] = {
	{"tiny", "dry-run size (CPU), untied like 8b", 4096, 64, 172, 2, 4, 2, 16, 0, 32.0f, 64, 64, 64, 64, 2, 64, 32},
	{"1b", "Llama-3.2-1B backbone + motion twin, flow head 1536x12, VAE 1024",
	 128256, 2048, 8192, 16, 32, 8, 64, 1, 32.0f, 2048, 2048, 1536, 1536, 12, 1024, 1024},
	{"3b", "Llama-3.2-3B backbone + motion twin, flow head 1536x12, VAE 1024",
	 128256, 3072, 8192, 28, 24, 8, 128, 1, 32.0f, 3072, 3072, 1536, 1536, 12, 1024, 1024},
	{"8b", "Llama-3.1-8B backbone (untied) + motion twin, flow head 1536x12, VAE 1024",
	 128256, 4096, 14336, 32, 32, 8, 128, 0, 8.0f, 4096, 4096, 1536, 1536, 12, 1024, 1024},
};

const bench_shape *bench_shape_find(const char *name)
{
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
		if (!strcmp(shapes[i].name, name))
			return &shapes[i];
	return NULL;
}

const char *bench_shapes_list(void)
{
	return "tiny, 1b, 3b, 8b";
}

const char *bench_config_json(const bench_shape *s, int max_tokens)
{
	static char buf[2048];
	snprintf(buf, sizeof buf,
		 "{\"model_type\": \"llama\", \"vocab_size\": %d, \"hidden_size\": %d, \"intermediate_size\": %d,\n"
		 " \"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"head_dim\": %d,\n"
		 " \"rms_norm_eps\": 1e-5, \"rope_theta\": 500000.0,\n"
		 " \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": %.1f, \"low_freq_factor\": 1.0,\n"
		 "                  \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192},\n"
		 " \"max_position_embeddings\": 131072, \"tie_word_embeddings\": %s,\n"
		 " \"bos_token_id\": 0, \"eos_token_id\": [1, 4], \"torch_dtype\": \"bfloat16\",\n"
		 " \"llamo\": {\"latent_dim\": 32, \"adapter_hidden_size\": %d, \"projector_hidden_size\": %d,\n"
		 "  \"condition_size\": %d,\n"
		 "  \"flow_head\": {\"width\": %d, \"depth\": %d, \"frequency_embedding_size\": 256,\n"
		 "                \"euler_steps\": 50, \"guidance_scale\": 3.0},\n"
		 "  \"exit_head\": {\"hidden_size\": %d, \"num_layers\": 5, \"threshold\": 0.5},\n"
		 "  \"vae\": {\"width\": %d, \"down_t\": 2, \"depth\": 3, \"dilation_growth_rate\": 3},\n"
		 "  \"motion\": {\"fps\": 30, \"downsample\": 4, \"joints\": 21, \"feature_dim\": 260},\n"
		 "  \"bom_token_id\": 2, \"eom_token_id\": 3, \"max_motion_tokens\": %d,\n"
		 "  \"t2m_template\": \"<|begin_of_text|>{prompt}\",\n"
		 "  \"m2t_template\": \"<|begin_of_text|>{motion}Caption:\"}}\n",
		 s->V, s->H, s->I, s->layers, s->heads, s->kv_heads, s->head_dim, s->rope_factor,
		 s->tied ? "true" : "false", s->A, s->P, s->C, s->W, s->depth, s->E, s->K, max_tokens);
	return buf;
}

/* ---- the tensor list (docs/model-format.md section 3) ---- */

enum { T_MATRIX, T_EMBED, T_NORM, T_BIAS };

typedef struct tdesc {
	char name[96];
	int ndim;
	int64_t shape[3];
	int kind;
	int64_t fan_in; /* T_MATRIX: shape[1] * shape[2] */
	size_t offset;  /* in the data section, bytes */
} tdesc;

typedef struct tlist {
	tdesc *t;
	int n, cap;
	int oom;
} tlist;

/* Appends a tensor called prefix + suffix. */
static void add(tlist *l, int kind, int ndim, int64_t d0, int64_t d1, int64_t d2, const char *prefix,
		const char *suffix)
{
	if (l->oom)
		return;
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 256;
		tdesc *t = realloc(l->t, cap * sizeof *t);
		if (!t) {
			l->oom = 1;
			return;
		}
		l->t = t;
		l->cap = cap;
	}
	tdesc *d = &l->t[l->n++];
	snprintf(d->name, sizeof d->name, "%s%s", prefix, suffix);
	d->ndim = ndim;
	d->shape[0] = d0;
	d->shape[1] = d1;
	d->shape[2] = d2;
	d->kind = kind;
	d->fan_in = ndim == 3 ? d1 * d2 : d1;
}

static void mat(tlist *l, int kind, int64_t out, int64_t in, const char *name)
{
	add(l, kind, 2, out, in, 1, name, "");
}

static void vec(tlist *l, int kind, int64_t n, const char *name)
{
	add(l, kind, 1, n, 1, 1, name, "");
}

/* torch nn.Linear(in, out): prefix.weight (out, in), prefix.bias (out) */
static void lin(tlist *l, int64_t out, int64_t in, const char *prefix)
{
	add(l, T_MATRIX, 2, out, in, 1, prefix, ".weight");
	add(l, T_BIAS, 1, out, 1, 1, prefix, ".bias");
}

/* torch nn.Conv1d(cin, cout, k): prefix.weight (cout, cin, k), prefix.bias (cout) */
static void conv(tlist *l, int64_t cout, int64_t cin, int64_t k, const char *prefix)
{
	add(l, T_MATRIX, 3, cout, cin, k, prefix, ".weight");
	add(l, T_BIAS, 1, cout, 1, 1, prefix, ".bias");
}

/* A name made with printf (one buffer per call site is enough: each is used at once). */
static const char *nm(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *nm(char *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, 96, fmt, ap);
	va_end(ap);
	return buf;
}

static void list_tensors(const lm_config *c, tlist *l)
{
	int V = c->vocab_size, H = c->hidden_size, I = c->intermediate_size;
	int qd = c->num_attention_heads * c->head_dim, kvd = c->num_key_value_heads * c->head_dim;
	int L = c->latent_dim, A = c->adapter_hidden_size, P = c->projector_hidden_size;
	int C = c->condition_size, W = c->flow_width, R = c->flow_freq_size, E = c->exit_hidden_size;
	int K = c->vae_width, F = c->feature_dim;
	static const char *branch[2] = {"model.", "motion_model."};
	char b[96];

	mat(l, T_EMBED, V, H, "model.embed_tokens.weight");
	for (int br = 0; br < 2; br++) {
		const char *p = branch[br];
		for (int i = 0; i < c->num_hidden_layers; i++) {
			vec(l, T_NORM, H, nm(b, "%slayers.%d.input_layernorm.weight", p, i));
			mat(l, T_MATRIX, qd, H, nm(b, "%slayers.%d.self_attn.q_proj.weight", p, i));
			mat(l, T_MATRIX, kvd, H, nm(b, "%slayers.%d.self_attn.k_proj.weight", p, i));
			mat(l, T_MATRIX, kvd, H, nm(b, "%slayers.%d.self_attn.v_proj.weight", p, i));
			mat(l, T_MATRIX, H, qd, nm(b, "%slayers.%d.self_attn.o_proj.weight", p, i));
			vec(l, T_NORM, H, nm(b, "%slayers.%d.post_attention_layernorm.weight", p, i));
			mat(l, T_MATRIX, I, H, nm(b, "%slayers.%d.mlp.gate_proj.weight", p, i));
			mat(l, T_MATRIX, I, H, nm(b, "%slayers.%d.mlp.up_proj.weight", p, i));
			mat(l, T_MATRIX, H, I, nm(b, "%slayers.%d.mlp.down_proj.weight", p, i));
		}
		vec(l, T_NORM, H, nm(b, "%snorm.weight", p));
	}
	if (!c->tie_word_embeddings)
		mat(l, T_MATRIX, V, H, "lm_head.weight");

	lin(l, A, L, "motion_adapter.fc1");
	lin(l, H, A, "motion_adapter.fc2");
	vec(l, T_NORM, H, "motion_adapter.norm.weight");
	lin(l, P, H, "motion_projector.fc1");
	lin(l, C, P, "motion_projector.fc2");
	vec(l, T_NORM, C, "motion_projector.norm.weight");

	lin(l, W, L, "flow_head.input_proj");
	lin(l, W, R, "flow_head.time_embed.mlp.0");
	lin(l, W, W, "flow_head.time_embed.mlp.2");
	lin(l, W, C, "flow_head.cond_embed");
	for (int j = 0; j < c->flow_depth; j++) {
		vec(l, T_NORM, W, nm(b, "flow_head.res_blocks.%d.in_ln.weight", j));
		vec(l, T_BIAS, W, nm(b, "flow_head.res_blocks.%d.in_ln.bias", j));
		lin(l, W, W, nm(b, "flow_head.res_blocks.%d.mlp.0", j));
		lin(l, W, W, nm(b, "flow_head.res_blocks.%d.mlp.2", j));
		lin(l, 3 * W, W, nm(b, "flow_head.res_blocks.%d.adaLN_modulation.1", j));
	}
	lin(l, 2 * W, W, "flow_head.final_layer.adaLN_modulation.1");
	lin(l, L, W, "flow_head.final_layer.linear");

	for (int i = 0; i < c->exit_layers; i++)
		lin(l, i + 1 < c->exit_layers ? E : 1, i ? E : H, nm(b, "exit_head.layers.%d", i));

	conv(l, K, F, 3, "vae.encoder.conv_in");
	for (int s = 0; s < c->vae_down_t; s++) {
		conv(l, K, K, 4, nm(b, "vae.encoder.down.%d.conv", s));
		for (int r = 0; r < c->vae_depth; r++) {
			conv(l, K, K, 3, nm(b, "vae.encoder.down.%d.res.%d.conv1", s, r));
			conv(l, K, K, 1, nm(b, "vae.encoder.down.%d.res.%d.conv2", s, r));
		}
	}
	conv(l, K, K, 3, "vae.encoder.conv_out");
	lin(l, 2 * L, K, "vae.encoder.proj");
	lin(l, K, L, "vae.decoder.proj");
	conv(l, K, K, 3, "vae.decoder.conv_in");
	for (int s = 0; s < c->vae_down_t; s++) {
		for (int r = 0; r < c->vae_depth; r++) {
			conv(l, K, K, 3, nm(b, "vae.decoder.up.%d.res.%d.conv1", s, r));
			conv(l, K, K, 1, nm(b, "vae.decoder.up.%d.res.%d.conv2", s, r));
		}
		conv(l, K, K, 3, nm(b, "vae.decoder.up.%d.conv", s));
	}
	conv(l, K, K, 3, "vae.decoder.conv_mid");
	conv(l, F, K, 3, "vae.decoder.conv_out");
}

static int64_t numel(const tdesc *d)
{
	int64_t n = 1;
	for (int i = 0; i < d->ndim; i++)
		n *= d->shape[i];
	return n;
}

/* BF16 bytes of the tensors whose name starts with one of the prefixes and contains `has` (NULL:
 * any), minus those containing `not` (NULL: none). */
static double bytes_of(const tlist *l, const char *prefix, const char *has, const char *not)
{
	double b = 0;
	for (int i = 0; i < l->n; i++) {
		const char *nm = l->t[i].name;
		if (strncmp(nm, prefix, strlen(prefix)) || (has && !strstr(nm, has)) || (not && strstr(nm, not)))
			continue;
		b += 2.0 * numel(&l->t[i]);
	}
	return b;
}

void bench_model_bytes(const lm_config *c, bench_bytes *b)
{
	tlist l = {0};
	list_tensors(c, &l);
	memset(b, 0, sizeof *b);
	b->embed = bytes_of(&l, "model.embed_tokens.", NULL, NULL);
	b->lm_head = bytes_of(&l, "lm_head.", NULL, NULL);
	b->branch = bytes_of(&l, "motion_model.", NULL, NULL);
	b->adapter = bytes_of(&l, "motion_adapter.", NULL, NULL);
	b->projector = bytes_of(&l, "motion_projector.", NULL, NULL);
	b->exit = bytes_of(&l, "exit_head.", NULL, NULL);
	b->flow_once = bytes_of(&l, "flow_head.time_embed.", NULL, NULL) + bytes_of(&l, "flow_head.cond_embed.", NULL, NULL) +
		       bytes_of(&l, "flow_head.", "adaLN_modulation", NULL);
	b->flow_step = bytes_of(&l, "flow_head.input_proj.", NULL, NULL) +
		       bytes_of(&l, "flow_head.res_blocks.", NULL, "adaLN_modulation") +
		       bytes_of(&l, "flow_head.final_layer.linear.", NULL, NULL);
	b->vae_dec = bytes_of(&l, "vae.decoder.", NULL, NULL);
	b->vae_enc = bytes_of(&l, "vae.encoder.", NULL, NULL);
	for (int i = 0; i < l.n; i++)
		b->total += 2.0 * numel(&l.t[i]);
	free(l.t);
}

/* ---- the safetensors image ---- */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* n BF16 values: center + uniform(-a, a), four values per hash, 16 bits each. */
static void fill_bf16(uint16_t *out, int64_t n, float center, float a, uint64_t seed)
{
	#pragma omp parallel for schedule(static) if (n > (1 << 20))
	for (int64_t q = 0; q < (n + 3) / 4; q++) {
		uint64_t r = splitmix64(seed ^ (uint64_t)q * 0xd1b54a32d192ed03ull);
		for (int k = 0; k < 4 && 4 * q + k < n; k++) {
			float u = (float)((r >> (16 * k)) & 0xffff) * (1.0f / 65536.0f);
			out[4 * q + k] = lm_f32_to_bf16(center + a * (2.0f * u - 1.0f));
		}
	}
}

/* The header JSON (offsets assigned here), padded with spaces to a multiple of 8 bytes. */
static char *make_header(tlist *l, size_t *hlen, size_t *dlen)
{
	size_t cap = 256 + (size_t)l->n * 200, len = 0, off = 0;
	char *h = malloc(cap);
	if (!h)
		return NULL;
	len += snprintf(h + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\",\"source\":\"llamo-bench random\"}");
	for (int i = 0; i < l->n; i++) {
		tdesc *d = &l->t[i];
		size_t nb = 2 * (size_t)numel(d);
		d->offset = off;
		len += snprintf(h + len, cap - len, ",\"%s\":{\"dtype\":\"BF16\",\"shape\":[", d->name);
		for (int k = 0; k < d->ndim; k++)
			len += snprintf(h + len, cap - len, "%s%lld", k ? "," : "", (long long)d->shape[k]);
		len += snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", off, off + nb);
		off += nb;
	}
	len += snprintf(h + len, cap - len, "}");
	while (len % 8 && len + 1 < cap)
		h[len++] = ' ';
	h[len] = 0;
	*hlen = len;
	*dlen = off;
	return h;
}

int bench_model_build(lm_model **out, const bench_shape *s, int max_tokens, const lm_backend *be,
		      const char *tokenizer_path, uint64_t seed, double *build_s, double *load_s,
		      lm_status *st)
{
	*out = NULL;
	lm_model *m = calloc(1, sizeof *m);
	if (!m)
		return lm_fail(st, LM_ENOMEM, "out of memory");
	snprintf(m->dir, sizeof m->dir, "(random %s)", s->name);
	m->be = be;
	const char *json = bench_config_json(s, max_tokens);
	tlist l = {0};
	char *hdr = NULL;
	uint8_t *img = NULL;
	lm_safetensors *sf = NULL;
	int rc;
	if ((rc = lm_config_parse(&m->cfg, json, strlen(json), "bench config", st)))
		goto done;
	if ((rc = lm_tokenizer_load(&m->tok, tokenizer_path, st))) /* first: fail before the long part */
		goto done;
	if (lm_tokenizer_vocab_size(m->tok) > m->cfg.vocab_size) {
		rc = lm_fail(st, LM_EDATA, "%s: tokenizer has %d tokens, the %s shape's vocabulary %d",
			     tokenizer_path, lm_tokenizer_vocab_size(m->tok), s->name, m->cfg.vocab_size);
		goto done;
	}
	list_tensors(&m->cfg, &l);
	size_t hlen = 0, dlen = 0;
	if (l.oom || !(hdr = make_header(&l, &hlen, &dlen)) || !(img = malloc(8 + hlen + dlen))) {
		rc = lm_fail(st, LM_ENOMEM, "random %s model: out of host memory (%.1f GB image)", s->name,
			     (8.0 + hlen + dlen) / 1e9);
		goto done;
	}
	double t0 = lm_now();
	uint64_t h64 = hlen;
	for (int k = 0; k < 8; k++)
		img[k] = (uint8_t)(h64 >> (8 * k));
	memcpy(img + 8, hdr, hlen);
	uint8_t *data = img + 8 + hlen;
	for (int i = 0; i < l.n; i++) {
		const tdesc *d = &l.t[i];
		uint16_t *p = (uint16_t *)(data + d->offset); /* offsets are even: BF16 is 2 bytes */
		uint64_t ts = splitmix64(seed * 1000003u + (uint64_t)i);
		switch (d->kind) {
		case T_MATRIX: fill_bf16(p, numel(d), 0, 1.7320508f / sqrtf((float)d->fan_in), ts); break;
		case T_EMBED: fill_bf16(p, numel(d), 0, 0.52f, ts); break; /* the spread of N(0, 0.3^2) */
		case T_NORM: fill_bf16(p, numel(d), 1, 0.1f, ts); break;
		default: fill_bf16(p, numel(d), 0, 0.1f, ts); break;
		}
	}
	double t1 = lm_now();
	if ((rc = lm_st_open_mem(&sf, img, 8 + hlen + dlen, "random-model.safetensors", st)))
		goto done;
	if ((rc = lm_backbone_load(&m->bb, &m->cfg, sf, be, st)))
		goto done;
	m->parts |= LM_PART_BACKBONE;
	if ((rc = lm_heads_load(&m->heads, &m->cfg, sf, be, st)))
		goto done;
	m->parts |= LM_PART_HEADS;
	if ((rc = lm_vae_load(&m->vae, &m->cfg, sf, be, st)))
		goto done;
	m->parts |= LM_PART_VAE;
	if (be->check && (rc = be->check(st)))
		goto done;
	double t2 = lm_now();
	if (build_s)
		*build_s = t1 - t0;
	if (load_s)
		*load_s = t2 - t1;
done:
	lm_st_close(sf); /* the loaders copied everything onto be: the image can go */
	free(img);
	free(hdr);
	free(l.t);
	if (rc)
		lm_model_free(m);
	else
		*out = m;
	return rc;
}
