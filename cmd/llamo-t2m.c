/* llamo-t2m: text to motion latents, the whole generation side in one process
 * (docs/model-format.md 4.6). Writes a latent stream for vae-dec. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "frameio.h"
#include "model.h"

static const char usage[] =
	"usage: llamo-t2m [options] [PROMPT...]\n"
	"Generates motion latents from a text prompt and writes them as a llamo frame stream.\n"
	"The prompt is the arguments joined by spaces; without arguments every non-empty line of\n"
	"stdin is a prompt (stream id = its index among the prompts).\n"
	"\n"
	"  -m, --model DIR      model directory (default: $LLAMO_MODEL or the bundled model)\n"
	"  -s, --seed N         noise seed (default 0); prompt k of a batch uses N + k\n"
	"  -t, --seconds S      upper bound on the motion length in seconds\n"
	"      --cfg S          classifier-free guidance scale (default: the model's; 1 disables)\n"
	"      --steps N        Euler steps of the flow head (default: the model's)\n"
	"      --threshold P    exit-head stop threshold (default: the model's)\n"
	"      --device D       cpu, cuda or auto (default: $LLAMO_DEVICE or auto)\n"
	"  -o, --output FILE    write the stream to FILE instead of stdout\n"
	"  -v, --verbose        report the device and each prompt's length on stderr\n"
	"      --profile        report the time per stage and the frames per second on stderr\n"
	"  -h, --help           show this help\n"
	"\n"
	"Example: echo \"a person walks\" | llamo-t2m | vae-dec > walk.bvh\n"
	"Exit status: 0 ok, 64 usage, 65 bad data, 66 missing model, 69 device unavailable,\n"
	"70 internal error, 71 out of memory, 74 I/O error. See llamo-t2m(1).\n";

/* Strips the newline and surrounding spaces in place; returns the start. */
static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = 0;
	return s;
}

int main(int argc, char **argv)
{
	lm_cli_init(argv[0]);
	lm_cli_help(argc, argv, usage);
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"seed", required_argument, 0, 's'},
		{"seconds", required_argument, 0, 't'}, {"cfg", required_argument, 0, 'g'},
		{"steps", required_argument, 0, 'S'}, {"threshold", required_argument, 0, 'T'},
		{"device", required_argument, 0, 'd'}, {"output", required_argument, 0, 'o'},
		{"verbose", no_argument, 0, 'v'}, {"profile", no_argument, 0, 'P'}, {0, 0, 0, 0}};
	const char *model_arg = NULL, *device = NULL, *outpath = "-";
	const char *seed_s = NULL, *seconds_s = NULL, *cfg_s = NULL, *steps_s = NULL, *thr_s = NULL;
	int verbose = 0, profile = 0, c;
	while ((c = getopt_long(argc, argv, "m:s:t:o:v", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_arg = optarg; break;
		case 's': seed_s = optarg; break;
		case 't': seconds_s = optarg; break;
		case 'g': cfg_s = optarg; break;
		case 'S': steps_s = optarg; break;
		case 'T': thr_s = optarg; break;
		case 'd': device = optarg; break;
		case 'o': outpath = optarg; break;
		case 'v': verbose = 1; break;
		case 'P': profile = 1; break;
		default: lm_usage_error("unknown option");
		}
	}
	lm_status st = {0};
	const lm_backend *be;
	if (lm_backend_get(&be, device, &st))
		lm_die_status(&st);
	lm_model *m;
	const char *dir = lm_model_dir(model_arg);
	if (lm_model_load(&m, dir, be, LM_PART_BACKBONE | LM_PART_HEADS | LM_PART_TOKENIZER, &st))
		lm_die_status(&st);
	if (verbose)
		fprintf(stderr, "%s: model %s on %s\n", lm_prog, dir, be->name);
	lm_gen_opts o;
	lm_gen_opts_default(&o, &m->cfg);
	uint64_t seed0 = seed_s ? (uint64_t)lm_parse_long("--seed", seed_s, 0, 0x7fffffffffffffffL) : 0;
	if (cfg_s)
		o.cfg = lm_parse_double("--cfg", cfg_s, 0, 100);
	if (steps_s)
		o.steps = lm_parse_long("--steps", steps_s, 1, 10000);
	if (thr_s)
		o.threshold = lm_parse_double("--threshold", thr_s, 0, 1);
	if (seconds_s) {
		double sec = lm_parse_double("--seconds", seconds_s, 0, 3600);
		int n = (int)(sec * m->cfg.fps / m->cfg.downsample);
		if (n < 1)
			lm_usage_error("--seconds %s is shorter than one latent (%d frames)", seconds_s,
				       m->cfg.downsample);
		if (n < o.max_tokens)
			o.max_tokens = n;
	}

	FILE *out = lm_out_open(outpath, &st);
	if (!out)
		lm_die_status(&st);
	lm_stream_header h;
	lm_header_init(&h, "latent", m->cfg.latent_dim, "f32", m->cfg.fps / m->cfg.downsample);
	lm_writer *w;
	if (lm_writer_open(&w, out, strcmp(outpath, "-") ? outpath : "stdout", &h, &st))
		lm_die_status(&st);

	char *argprompt = optind < argc ? lm_join_args(argc - optind, argv + optind) : NULL;
	char *line = NULL;
	size_t cap = 0;
	uint32_t stream = 0;
	float *z = malloc(m->cfg.latent_dim * sizeof(float));
	for (;;) {
		char *prompt;
		if (argprompt) {
			if (stream > 0)
				break;
			prompt = trim(argprompt);
		} else {
			if (getline(&line, &cap, stdin) < 0)
				break;
			prompt = trim(line);
			if (!*prompt)
				continue;
		}
		o.seed = seed0 + stream;
		lm_t2m *g;
		if (lm_t2m_begin(&g, m, prompt, &o, &st))
			lm_die_status(&st);
		if (lm_put_mark(w, stream, LM_MARK_BOM, 0, &st))
			lm_die_status(&st);
		int done = 0, k = 0;
		while (!lm_t2m_next(g, z, &done, NULL, &st) && !done) {
			if (lm_put_rows(w, LM_FRAME_LATENT, stream, k++, 0, 1, m->cfg.latent_dim, z, &st))
				lm_die_status(&st);
		}
		if (st.code)
			lm_die_status(&st);
		if (lm_put_mark(w, stream, LM_MARK_EOM, k, &st))
			lm_die_status(&st);
		if (verbose)
			fprintf(stderr, "%s: prompt %u: %d latents (%d frames)\n", lm_prog, stream, k,
				k * m->cfg.downsample);
		if (profile) {
			lm_t2m_times t;
			lm_t2m_times_get(g, &t);
			double total = t.prefill + t.exit + t.flow + t.backbone;
			int frames = t.latents * m->cfg.downsample;
			fprintf(stderr,
				"%s: profile: prompt %u: %d latents, %d frames in %.3f s = %.1f frames/s; "
				"prefill %.2f ms, per latent: flow head %.3f ms, backbone %.3f ms, exit head %.3f ms\n",
				lm_prog, stream, t.latents, frames, total, total > 0 ? frames / total : 0,
				1e3 * t.prefill, t.latents ? 1e3 * t.flow / t.latents : 0,
				t.latents ? 1e3 * t.backbone / t.latents : 0, t.latents ? 1e3 * t.exit / t.latents : 0);
		}
		lm_t2m_free(g);
		stream++;
	}
	if (!argprompt && stream == 0)
		lm_die(LM_EDATA, "stdin: no prompt (give one as arguments or as a line on stdin)");
	if (lm_put_mark(w, LM_STREAM_ALL, LM_MARK_EOS, -1, &st) || lm_writer_close(w, &st) ||
	    lm_out_commit(out, &st))
		lm_die_status(&st);
	free(z);
	free(line);
	free(argprompt);
	lm_model_free(m);
	return 0;
}
