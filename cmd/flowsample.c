/* flowsample: hidden states to latents. Projects each hidden-state frame to the flow head's
 * condition and integrates the rectified-flow ODE from Gaussian noise with Euler steps and
 * classifier-free guidance (docs/model-format.md 4.2, 4.3, 4.5). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "frameio.h"
#include "model.h"

static const char usage[] =
	"usage: flowsample [options] [FILE]\n"
	"Samples one latent per hidden-state frame with the flow head. A frame with two rows\n"
	"(conditional, unconditional) is sampled with guidance. Stream s draws its noise from a\n"
	"PyTorch-compatible generator seeded with SEED + s, as llamo-t2m does.\n"
	"Other frames are passed on unchanged.\n"
	"\n"
	"  -m, --model DIR      model directory (default: $LLAMO_MODEL or the bundled model)\n"
	"  -s, --seed N         noise seed (default 0)\n"
	"      --cfg S          guidance scale (default: the model's; 1 disables)\n"
	"      --steps N        Euler steps (default: the model's)\n"
	"      --device D       cpu, cuda or auto\n"
	"  -h, --help           show this help\n"
	"\n"
	"Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input, 70 internal, 71 out of memory,\n"
	"74 I/O error. See flowsample(1).\n";

typedef struct gen {
	lm_rng rng;
	int k; /* latents drawn */
} gen;

int main(int argc, char **argv)
{
	lm_cli_init(argv[0]);
	lm_cli_help(argc, argv, usage);
	static const struct option opts[] = {{"model", required_argument, 0, 'm'},
					     {"seed", required_argument, 0, 's'},
					     {"cfg", required_argument, 0, 'g'},
					     {"steps", required_argument, 0, 'S'},
					     {"device", required_argument, 0, 'd'},
					     {0, 0, 0, 0}};
	const char *model_arg = NULL, *device = NULL, *seed_s = NULL, *cfg_s = NULL, *steps_s = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "m:s:", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_arg = optarg; break;
		case 's': seed_s = optarg; break;
		case 'g': cfg_s = optarg; break;
		case 'S': steps_s = optarg; break;
		case 'd': device = optarg; break;
		default: lm_usage_error("unknown option");
		}
	}
	if (argc - optind > 1)
		lm_usage_error("at most one input file");
	const char *inpath = optind < argc ? argv[optind] : "-";
	lm_status st = {0};
	const lm_backend *be;
	lm_model *m;
	if ((be = lm_cli_backend(device)) == NULL ||
	    lm_model_load(&m, lm_model_dir(model_arg), be, LM_PART_HEADS, &st))
		lm_die_status(&st);
	lm_gen_opts o;
	lm_gen_opts_default(&o, &m->cfg);
	uint64_t seed0 = seed_s ? (uint64_t)lm_parse_long("--seed", seed_s, 0, 0x7fffffffffffffffL) : 0;
	if (cfg_s)
		o.cfg = lm_parse_double("--cfg", cfg_s, 0, 100);
	if (steps_s)
		o.steps = lm_parse_long("--steps", steps_s, 1, 10000);
	int H = m->cfg.hidden_size, L = m->cfg.latent_dim, C = m->cfg.condition_size;
	FILE *in = lm_in_open(inpath, &st);
	lm_reader *r;
	lm_writer *w;
	if (!in || lm_reader_open(&r, in, inpath, &st))
		lm_die_status(&st);
	lm_stream_header h;
	lm_header_init(&h, "latent", L, "f32", m->cfg.fps / m->cfg.downsample);
	lm_header_copy_tags(&h, lm_reader_header(r));
	if (lm_writer_open(&w, stdout, "stdout", &h, &st))
		lm_die_status(&st);
	lm_streams gens = {0};
	float *cond = malloc(2 * (size_t)C * sizeof(float)), *noise = malloc(L * sizeof(float));
	float *z = malloc(L * sizeof(float));
	lm_frame fr = {0};
	int eof = 0;
	while (!lm_reader_next(r, &fr, &eof, &st) && !eof) {
		if (fr.type != LM_FRAME_HIDDEN) {
			if (fr.type == LM_FRAME_MARK && fr.mark == LM_MARK_EOM && lm_streams_get(&gens, fr.stream)) {
				free(*lm_streams_get(&gens, fr.stream));
				lm_streams_del(&gens, fr.stream);
			}
			if (lm_writer_put(w, &fr, &st))
				lm_die_status(&st);
			continue;
		}
		if ((int)fr.cols != H || fr.rows < 1 || fr.rows > 2)
			lm_die(LM_EDATA, "%s: stream %u pos %d: hidden frame is %ux%u, the model takes 1 or 2 rows of %d",
			       inpath, fr.stream, fr.pos, fr.rows, fr.cols, H);
		void **p = lm_streams_add(&gens, fr.stream);
		if (!p)
			lm_die(LM_ENOMEM, "out of memory");
		if (!*p) {
			gen *g = calloc(1, sizeof *g);
			if (!g)
				lm_die(LM_ENOMEM, "out of memory");
			lm_rng_seed(&g->rng, seed0 + fr.stream);
			*p = g;
		}
		gen *g = *p;
		int guided = fr.rows == 2 && o.cfg != 1.0f;
		lm_projector(&m->heads, fr.data, 1 + guided, cond);
		lm_randn(&g->rng, noise, L);
		lm_flow_sample(&m->heads, noise, cond, guided ? cond + C : NULL, o.cfg, o.steps, z);
		if (lm_put_rows(w, LM_FRAME_LATENT, fr.stream, g->k++, 0, 1, L, z, &st))
			lm_die_status(&st);
	}
	if (st.code)
		lm_die_status(&st);
	if (lm_writer_close(w, &st))
		lm_die_status(&st);
	for (int i = 0; i < gens.n; i++)
		free(gens.state[i]);
	lm_streams_free(&gens);
	lm_frame_free(&fr);
	lm_reader_free(r);
	free(cond);
	free(noise);
	free(z);
	lm_model_free(m);
	lm_cli_done();
	return 0;
}
