/* llamo-t2m: text to motion latents, the whole generation side in one process: per prompt the
 * generation step of lib/model.c (exit check, draw a latent, feed it back) until the exit head
 * stops (docs/model-format.md 4.6). Writes a latent stream for vae-dec. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "clock.h"
#include "frameio.h"
#include "model.h"

typedef struct run {
	const char *batch;
	int verbose, profile;
} run;

static void on_opt(int key, const char *arg, void *ctx)
{
	run *r = ctx;
	if (key == 'b')
		r->batch = arg;
	else if (key == 'v')
		r->verbose = 1;
	else
		r->profile = 1;
}

static const lm_cli cli = {
	.usage = "usage: llamo-t2m [options] [PROMPT...]\n"
		 "Generates motion latents from a text prompt and writes them as a llamo frame stream.\n"
		 "The prompt is the arguments joined by spaces; without arguments every line of stdin (or of\n"
		 "the --batch file) is a prompt, stream id and seed offset = its index among the prompts.\n"
		 "A line is PROMPT or SECONDS<TAB>PROMPT (that length exactly); empty lines and lines\n"
		 "starting with # are skipped. On a terminal, stderr shows the progress.\n",
	.common = LM_OPT_MODEL | LM_OPT_DEVICE | LM_OPT_SEED | LM_OPT_CFG | LM_OPT_STEPS | LM_OPT_SECONDS |
		  LM_OPT_THRESHOLD | LM_OPT_OUTPUT,
	.opts = (const lm_cli_opt[]){{"batch", 'b', "FILE", "read the prompts from FILE (- for stdin), one per line"},
				     {"output", 'o', "FILE", "write the stream to FILE instead of stdout"},
				     {"verbose", 'v', NULL, "report the device and each prompt's length on stderr"},
				     {"profile", 256, NULL, "report the time per stage and the frames per second on stderr"},
				     {0}},
	.footer = "Examples: echo \"a person walks\" | llamo-t2m | vae-dec > walk.bvh\n"
		  "          llamo-t2m --batch prompts.txt | vae-dec -o 'out/%03d.bvh'\n"
		  "Exit status: 0 ok, 64 usage, 65 bad data, 66 missing model, 69 device unavailable,\n"
		  "70 internal error, 71 out of memory, 74 I/O error. See llamo-t2m(1).\n",
	.on_opt = on_opt,
};

/* The progress line on a terminal's stderr: "llamo-t2m: prompt 3/10: 84 frames, 512 frames/s",
 * rewritten in place (\r, then erase to the end of the line) at most ten times a second. */
static struct {
	int on, shown, total;
	long frames; /* all prompts so far */
	double t0, last;
} prog;

static void progress(uint32_t prompt, int frames, int force)
{
	double t = lm_now();
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

/* The prompts: the arguments, or the lines of the --batch file or stdin. */
typedef struct prompts {
	char *arg;            /* the prompt given as arguments, or NULL */
	FILE *f;
	const char *src;      /* for messages: "stdin" or the file */
	char *line, *text;    /* getline's buffer; a named file read whole */
	size_t cap, textlen;
	long lineno;
	int n;                /* prompts handed out */
} prompts;

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

/* A named --batch file is read whole first, so that the progress line can count its prompts;
 * stdin streams. */
static void prompts_open(prompts *p, const char *batch, int argc, char **argv)
{
	lm_status st = {0};
	p->f = stdin;
	p->src = "stdin";
	if (argc > 0) {
		if (batch)
			lm_usage_error("a prompt on the command line and --batch %s: give one or the other", batch);
		p->arg = lm_join_args(argc, argv);
		return;
	}
	if (!batch || !strcmp(batch, "-"))
		return;
	if (!(p->f = lm_in_open(batch, &st)))
		lm_die_status(&st);
	p->src = batch;
	p->text = lm_slurp(p->f, batch, &p->textlen);
	fclose(p->f);
	for (char *s = p->text, *end = s + p->textlen; s < end;) {
		char *e = memchr(s, '\n', end - s), *line = strndup(s, (e ? e : end) - s);
		if (!line)
			lm_die(LM_ENOMEM, "out of memory");
		char *t = trim(line);
		prog.total += *t && *t != '#';
		free(line);
		s = e ? e + 1 : end;
	}
	if (!(p->f = fmemopen(p->text, p->textlen ? p->textlen : 1, "r")))
		lm_die(LM_ENOMEM, "out of memory");
	if (!p->textlen)
		getc(p->f); /* fmemopen needs a size: read the one byte of an empty text away */
}

/* Splits a prompt line: "SECONDS<TAB>PROMPT" gives the length (else *seconds = 0 and the line,
 * tabs and all, is the prompt). A length out of (0, 3600] is an error naming the line. */
static char *split_length(prompts *p, char *line, double *seconds)
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
		lm_die(LM_EDATA, "%s:%ld: length %s is not a number of seconds in (0, 3600]", p->src, p->lineno, line);
	}
	*seconds = s;
	return tab + 1;
}

/* The next prompt (NULL at the end) and its length in seconds (0: up to the exit head). */
static char *prompts_next(prompts *p, double *seconds)
{
	*seconds = 0;
	if (p->arg)
		return p->n++ ? NULL : trim(p->arg);
	for (;;) {
		if (getline(&p->line, &p->cap, p->f) < 0) {
			if (ferror(p->f))
				lm_die(LM_EIO, "%s: read error", p->src);
			return NULL;
		}
		p->lineno++;
		char *s = trim(p->line);
		if (!*s || *s == '#')
			continue;
		s = trim(split_length(p, s, seconds));
		if (!*s) {
			progress_clear();
			lm_die(LM_EDATA, "%s:%ld: a length and no prompt", p->src, p->lineno);
		}
		p->n++;
		return s;
	}
}

static void prompts_close(prompts *p)
{
	if (p->f != stdin)
		fclose(p->f);
	free(p->arg);
	free(p->line);
	free(p->text);
}

/* The options of one prompt: that length exactly when the line gives one (the exit head is
 * then not consulted), and the stream's seed. */
static lm_gen_opts prompt_opts(const lm_model *m, const lm_gen_opts *o, const prompts *p, uint32_t stream,
			       double seconds)
{
	lm_gen_opts ok = *o;
	ok.seed = o->seed + stream;
	if (seconds > 0) {
		int n = (int)lround(seconds * m->cfg.fps / m->cfg.downsample);
		if (n < 1 || n > m->cfg.max_motion_tokens) {
			progress_clear();
			lm_die(LM_EDATA, "%s:%ld: %g s is outside the model's 1 to %d latents (%.4g s)", p->src, p->lineno,
			       seconds, m->cfg.max_motion_tokens,
			       (double)m->cfg.max_motion_tokens * m->cfg.downsample / m->cfg.fps);
		}
		ok.max_tokens = n;
		ok.threshold = 2; /* an exit probability never exceeds 1 */
	}
	return ok;
}

static void report(const run *r, const lm_model *m, const lm_t2m *g, uint32_t stream)
{
	if (r->verbose || r->profile)
		progress_clear();
	if (r->verbose)
		fprintf(stderr, "%s: prompt %u: %d latents (%d frames)\n", lm_prog, stream, g->i,
			g->i * m->cfg.downsample);
	if (!r->profile)
		return;
	lm_t2m_times t;
	lm_t2m_times_get(g, &t);
	double total = t.prefill + t.exit + t.flow + t.backbone;
	int frames = t.latents * m->cfg.downsample;
	fprintf(stderr,
		"%s: profile: prompt %u: %d latents, %d frames in %.3f s = %.1f frames/s; "
		"prefill %.2f ms, per latent: flow head %.3f ms, backbone %.3f ms, exit head %.3f ms\n",
		lm_prog, stream, t.latents, frames, total, total > 0 ? frames / total : 0, 1e3 * t.prefill,
		t.latents ? 1e3 * t.flow / t.latents : 0, t.latents ? 1e3 * t.backbone / t.latents : 0,
		t.latents ? 1e3 * t.exit / t.latents : 0);
}

/* One prompt: its stream of latents between a BOM and an EOM mark, the step run until it stops. */
static void generate(const run *r, const lm_model *m, const lm_gen_opts *o, lm_writer *w, const char *prompt,
		     uint32_t stream, const char *where)
{
	lm_status st = {0};
	lm_t2m *g;
	int L = m->cfg.latent_dim, stop = 0;
	float z[L];
	if (lm_t2m_begin(&g, m, prompt, o, &st)) {
		lm_prefix(&st, "%s", where);
		die(&st);
	}
	if (lm_put_mark(w, stream, LM_MARK_BOM, 0, &st))
		die(&st);
	progress(stream, 0, 1);
	while (!lm_t2m_exit(g, &stop, NULL, &st) && !stop) {
		if (lm_t2m_draw(g, z, &st) || lm_put_rows(w, LM_FRAME_LATENT, stream, g->i - 1, 0, 1, L, z, &st) ||
		    lm_t2m_feed(g, NULL, &st))
			die(&st);
		progress(stream, g->i * m->cfg.downsample, 0);
	}
	if (st.code || lm_put_mark(w, stream, LM_MARK_EOM, g->i, &st))
		die(&st);
	progress(stream, g->i * m->cfg.downsample, 1);
	prog.frames += (long)g->i * m->cfg.downsample;
	report(r, m, g, stream);
	lm_t2m_free(g);
}

int main(int argc, char **argv)
{
	run r = {0};
	lm_cli_opts o;
	int first = lm_cli_parse(&cli, argc, argv, &o, &r);
	prompts p = {0};
	prompts_open(&p, r.batch, argc - first, argv + first);
	lm_model *m = lm_cli_load(&o, LM_PART_BACKBONE | LM_PART_HEADS | LM_PART_TOKENIZER);
	if (r.verbose)
		fprintf(stderr, "%s: model %s on %s\n", lm_prog, lm_model_dir(o.model), m->be->name);
	lm_gen_opts go;
	lm_cli_gen_opts(&o, &m->cfg, &go);
	lm_status st = {0};
	const char *outpath = o.output ? o.output : "-";
	FILE *out = lm_out_open(outpath, &st);
	lm_stream_header h;
	lm_header_init(&h, "latent", m->cfg.latent_dim, "f32", m->cfg.fps / m->cfg.downsample);
	lm_writer *w;
	if (!out || lm_writer_open(&w, out, strcmp(outpath, "-") ? outpath : "stdout", &h, &st))
		lm_die_status(&st);
	prog.on = isatty(STDERR_FILENO);
	prog.t0 = lm_now();
	double seconds;
	for (char *prompt; (prompt = prompts_next(&p, &seconds));) {
		uint32_t stream = p.n - 1;
		lm_gen_opts po = prompt_opts(m, &go, &p, stream, seconds);
		char where[4200];
		if (p.arg)
			snprintf(where, sizeof where, "the prompt given as arguments");
		else
			snprintf(where, sizeof where, "%s:%ld", p.src, p.lineno);
		generate(&r, m, &po, w, prompt, stream, where);
	}
	progress_clear();
	if (!p.arg && p.n == 0)
		lm_die(LM_EDATA, "%s: no prompt (give one as arguments or as a line on stdin)", p.src);
	if (prog.on)
		fprintf(stderr, "%s: %d prompt%s, %ld frames in %.1f s (%.0f frames/s)\n", lm_prog, p.n,
			p.n == 1 ? "" : "s", prog.frames, lm_now() - prog.t0, prog.frames / fmax(lm_now() - prog.t0, 1e-9));
	if (lm_put_mark(w, LM_STREAM_ALL, LM_MARK_EOS, -1, &st) || lm_writer_close(w, &st) || lm_out_commit(out, &st))
		lm_die_status(&st);
	prompts_close(&p);
	lm_model_free(m);
	lm_cli_done();
	return 0;
}
