/* llamo-t2m: text to motion latents, the whole generation side in one process
 * (docs/model-format.md 4.6). Writes a latent stream for vae-dec. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "frameio.h"
#include "model.h"

static const char usage[] =
	"usage: llamo-t2m [options] [PROMPT...]\n"
	"Generates motion latents from a text prompt and writes them as a llamo frame stream.\n"
	"The prompt is the arguments joined by spaces; without arguments every line of stdin (or of\n"
	"the --batch file) is a prompt, stream id and seed offset = its index among the prompts.\n"
	"A line is PROMPT or SECONDS<TAB>PROMPT (that length exactly); empty lines and lines\n"
	"starting with # are skipped. On a terminal, stderr shows the progress.\n"
	"\n"
	"  -b, --batch FILE     read the prompts from FILE (- for stdin), one per line\n"
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
	"Examples: echo \"a person walks\" | llamo-t2m | vae-dec > walk.bvh\n"
	"          llamo-t2m --batch prompts.txt | vae-dec -o 'out/%03d.bvh'\n"
	"Exit status: 0 ok, 64 usage, 65 bad data, 66 missing model, 69 device unavailable,\n"
	"70 internal error, 71 out of memory, 74 I/O error. See llamo-t2m(1).\n";

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* The progress line on a terminal's stderr: "llamo-t2m: prompt 3/10: 84 frames, 512 frames/s",
 * rewritten in place (\r, then erase to the end of the line) at most ten times a second. */
static struct {
	int on, shown, total;
	long frames; /* all prompts so far */
	double t0, last;
} prog;

static void progress(uint32_t prompt, int frames, int force)
{
	double t = now();
	if (!prog.on || (!force && t - prog.last < 0.1))
		return;
	prog.last = t;
	long all = prog.frames + frames;
	char of[16] = "";
	if (prog.total > 0)
		snprintf(of, sizeof of, "/%d", prog.total);
	fprintf(stderr, "\r%s: prompt %u%s: %d frames, %.0f frames/s\033[K", lm_prog, prompt + 1, of, frames,
		t > prog.t0 ? all / (t - prog.t0) : 0.0);
	prog.shown = 1;
}

/* Erases the progress line before another message. */
static void progress_clear(void)
{
	if (prog.shown)
		fputs("\r\033[K", stderr);
	prog.shown = 0;
}

static void die(const lm_status *st)
{
	progress_clear();
	lm_die_status(st);
}

/* Splits a prompt line: "SECONDS<TAB>PROMPT" gives the length (else *seconds = 0 and the line,
 * tabs and all, is the prompt). A length out of (0, 3600] is an error naming the line. */
static char *split_length(char *line, double *seconds, const char *src, long lineno)
{
	*seconds = 0;
	char *tab = strchr(line, '\t'), *end;
	if (!tab)
		return line;
	*tab = 0;
	double s = strtod(line, &end);
	while (*end == ' ')
		end++;
	if (end == line || *end) {
		*tab = '\t';
		return line;
	}
	if (!(s > 0 && s <= 3600)) {
		progress_clear();
		lm_die(LM_EDATA, "%s:%ld: length %s is not a number of seconds in (0, 3600]", src, lineno, line);
	}
	*seconds = s;
	return tab + 1;
}

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
		{"verbose", no_argument, 0, 'v'}, {"profile", no_argument, 0, 'P'},
		{"batch", required_argument, 0, 'b'}, {0, 0, 0, 0}};
	const char *model_arg = NULL, *device = NULL, *outpath = "-", *batch = NULL;
	const char *seed_s = NULL, *seconds_s = NULL, *cfg_s = NULL, *steps_s = NULL, *thr_s = NULL;
	int verbose = 0, profile = 0, c;
	while ((c = getopt_long(argc, argv, "m:s:t:o:vb:", opts, NULL)) != -1) {
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
		case 'b': batch = optarg; break;
		default: lm_usage_error("unknown option");
		}
	}
	if (batch && optind < argc)
		lm_usage_error("a prompt on the command line and --batch %s: give one or the other", batch);
	lm_status st = {0};
	/* the prompts file, read whole up front so the progress line can count them */
	FILE *pf = stdin;
	const char *src = "stdin";
	if (batch) {
		if (!(pf = lm_in_open(batch, &st)))
			lm_die_status(&st);
		src = strcmp(batch, "-") ? batch : "stdin";
	}
	const lm_backend *be;
	be = lm_cli_backend(device);
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
	char *line = NULL, *text = NULL;
	size_t cap = 0, textlen = 0;
	if (batch && strcmp(batch, "-")) { /* a named file is read whole first; stdin streams */
		FILE *mem = open_memstream(&text, &textlen);
		if (!mem)
			lm_die(LM_ENOMEM, "out of memory");
		ssize_t got;
		while ((got = getline(&line, &cap, pf)) >= 0) {
			fwrite(line, 1, (size_t)got, mem);
			char *p = trim(line);
			prog.total += *p && *p != '#';
		}
		if (ferror(pf) || fclose(mem))
			lm_die(LM_EIO, "%s: read error", src);
		if (pf != stdin)
			fclose(pf);
		if (!(pf = fmemopen(text, textlen ? textlen : 1, "r")))
			lm_die(LM_ENOMEM, "out of memory");
		if (!textlen)
			getc(pf); /* fmemopen needs a size: read the one byte of an empty text away */
	}
	prog.on = isatty(STDERR_FILENO);
	prog.t0 = now();
	uint32_t stream = 0;
	long lineno = 0;
	float *z = malloc(m->cfg.latent_dim * sizeof(float));
	for (;;) {
		char *prompt;
		double seconds = 0;
		lm_gen_opts ok = o;
		if (argprompt) {
			if (stream > 0)
				break;
			prompt = trim(argprompt);
		} else {
			if (getline(&line, &cap, pf) < 0)
				break;
			lineno++;
			prompt = trim(line);
			if (!*prompt || *prompt == '#')
				continue;
			prompt = trim(split_length(prompt, &seconds, src, lineno));
			if (!*prompt) {
				progress_clear();
				lm_die(LM_EDATA, "%s:%ld: a length and no prompt", src, lineno);
			}
		}
		if (seconds > 0) { /* that length exactly: the exit head is not consulted */
			int n = (int)lround(seconds * m->cfg.fps / m->cfg.downsample);
			if (n < 1 || n > m->cfg.max_motion_tokens) {
				progress_clear();
				lm_die(LM_EDATA, "%s:%ld: %g s is outside the model's 1 to %d latents (%.4g s)", src, lineno,
				       seconds, m->cfg.max_motion_tokens,
				       (double)m->cfg.max_motion_tokens * m->cfg.downsample / m->cfg.fps);
			}
			ok.max_tokens = n;
			ok.threshold = 2; /* an exit probability never exceeds 1 */
		}
		ok.seed = seed0 + stream;
		lm_t2m *g;
		if (lm_t2m_begin(&g, m, prompt, &ok, &st))
			die(&st);
		if (lm_put_mark(w, stream, LM_MARK_BOM, 0, &st))
			die(&st);
		int done = 0, k = 0;
		progress(stream, 0, 1);
		while (!lm_t2m_next(g, z, &done, NULL, &st) && !done) {
			if (lm_put_rows(w, LM_FRAME_LATENT, stream, k++, 0, 1, m->cfg.latent_dim, z, &st))
				die(&st);
			progress(stream, k * m->cfg.downsample, 0);
		}
		if (st.code)
			die(&st);
		if (lm_put_mark(w, stream, LM_MARK_EOM, k, &st))
			die(&st);
		progress(stream, k * m->cfg.downsample, 1);
		prog.frames += (long)k * m->cfg.downsample;
		if (verbose || profile)
			progress_clear();
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
	progress_clear();
	if (!argprompt && stream == 0)
		lm_die(LM_EDATA, "%s: no prompt (give one as arguments or as a line on stdin)", src);
	if (prog.on) {
		double t = now() - prog.t0;
		fprintf(stderr, "%s: %u prompt%s, %ld frames in %.1f s (%.0f frames/s)\n", lm_prog, stream,
			stream == 1 ? "" : "s", prog.frames, t, t > 0 ? prog.frames / t : 0.0);
	}
	if (lm_put_mark(w, LM_STREAM_ALL, LM_MARK_EOS, -1, &st) || lm_writer_close(w, &st) ||
	    lm_out_commit(out, &st))
		lm_die_status(&st);
	free(z);
	free(line);
	free(text);
	free(argprompt);
	lm_model_free(m);
	lm_cli_done();
	return 0;
}
