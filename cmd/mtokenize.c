/* mtokenize: text to token ids (man/mtokenize.1).
 *
 * Model mode (default): every prompt becomes a TOKENS frame holding
 * tokenize(t2m_template with {prompt}) + [BOM] (docs/model-format.md 4.6, the very ids llamo-t2m
 * uses), preceded, when the guidance scale is not 1, by the unconditional frame (empty prompt,
 * flag uncond); an end-of-input EOS mark closes the stream.
 * --raw: the text of each line as is, no template, no [BOM]. --ids: ids as text lines.
 * --decode: lines of ids back to text.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"
#include "frameio.h"
#include "model.h"

typedef struct opts {
	const char *model_arg, *tokenizer, *cfg_s, *output;
	const char *inputs[64];
	int n_inputs, raw, ids, decode;
} opts;

/* What every mode needs while running. */
typedef struct run {
	const opts *o;
	lm_model *m;         /* model mode: config (and the model's tokenizer) */
	lm_tokenizer *tk;    /* the tokenizer in use */
	float cfg;
	FILE *out;
	lm_writer *w;        /* frame output, NULL with --ids/--decode */
	int flush_lines;     /* flush after every text line (output is not a regular file) */
	uint32_t stream;     /* next prompt's stream id */
	int32_t *uncond;     /* model mode: the unconditional ids, the same for every prompt */
	int n_uncond;
} run;

/* Prompt text: without surrounding blanks (and the line end), as llamo-t2m trims it. */
static char *trim(char *s, size_t *len)
{
	size_t n = *len;
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	s[n] = 0;
	*len = n;
	return s;
}

/* "stdin: line 3" or "arguments" for messages */
static const char *where(const char *name, long lineno)
{
	static char buf[4200];
	if (lineno > 0)
		snprintf(buf, sizeof buf, "%s: line %ld", name, lineno);
	else
		snprintf(buf, sizeof buf, "%s", name);
	return buf;
}

static void put_text_line(run *r, const char *s, size_t len)
{
	if (fwrite(s, 1, len, r->out) != len || putc('\n', r->out) == EOF)
		lm_die(LM_EIO, "%s: write failed: %s", r->o->output, strerror(errno));
	if (r->flush_lines)
		fflush(r->out);
}

static void put_ids_line(run *r, const int32_t *ids, int n)
{
	for (int i = 0; i < n; i++)
		fprintf(r->out, "%s%d", i ? " " : "", ids[i]);
	put_text_line(r, "", 0);
}

static void put_tokens(run *r, uint16_t flags, const int32_t *ids, int n)
{
	lm_status st = {0};
	if (lm_put_rows(r->w, LM_FRAME_TOKENS, r->stream, 0, flags, 1, (uint32_t)n, ids, &st))
		lm_die_status(&st);
}

/* One line of ids to text. */
static void decode_line(run *r, const char *name, long lineno, char *s)
{
	int32_t *ids = NULL;
	int n = 0, cap = 0, rc = 0;
	lm_status st = {0};
	for (char *tok = strtok(s, " \t\r\n"); !rc && tok; tok = strtok(NULL, " \t\r\n")) {
		char *end;
		errno = 0;
		long v = strtol(tok, &end, 10);
		if (*end || errno || v < 0 || v > INT32_MAX) {
			rc = lm_fail(&st, LM_EDATA, "'%s' is not a token id", tok);
		} else if (n == cap) {
			int32_t *grown = realloc(ids, (size_t)(cap ? 2 * cap : 64) * sizeof *ids);
			if (!grown)
				rc = lm_fail(&st, LM_ENOMEM, "out of memory");
			else
				ids = grown, cap = cap ? 2 * cap : 64;
		}
		if (!rc)
			ids[n++] = (int32_t)v;
	}
	char *text;
	size_t len;
	if (!rc)
		rc = lm_detokenize(r->tk, ids, n, &text, &len, &st);
	free(ids);
	if (rc)
		lm_die(st.code, "%s: %s", where(name, lineno), st.msg);
	put_text_line(r, text, len);
	free(text);
}

/* One line (len bytes, the newline removed) of text to ids. */
static void encode_line(run *r, const char *name, long lineno, char *s, size_t len)
{
	lm_status st = {0};
	int32_t *ids;
	int n;
	int rc;
	if (r->o->raw)
		rc = lm_tokenize(r->tk, s, len, &ids, &n, &st);
	else {
		s = trim(s, &len);
		if (!len && lineno > 0)
			return; /* a blank line is no prompt (as in llamo-t2m) */
		if (memchr(s, 0, len))
			lm_die(LM_EDATA, "%s: NUL byte in the prompt", where(name, lineno));
		rc = lm_t2m_prompt_ids(r->m, s, &ids, &n, &st);
	}
	if (rc)
		lm_die(st.code, "%s: %s", where(name, lineno), st.msg);
	if (r->w) {
		/* the unconditional frame first: llamo-step writes the [BOM] state of both sequences
		 * when the conditional frame arrives, so the other must be prefilled by then */
		if (!r->o->raw && r->cfg != 1.0f)
			put_tokens(r, LM_FLAG_UNCOND, r->uncond, r->n_uncond);
		put_tokens(r, 0, ids, n);
	} else
		put_ids_line(r, ids, n);
	r->stream++;
	free(ids);
}

static void do_line(run *r, const char *name, long lineno, char *s, size_t len)
{
	if (r->o->decode)
		decode_line(r, name, lineno, s);
	else
		encode_line(r, name, lineno, s, len);
}

static void do_file(run *r, const char *path)
{
	lm_status st = {0};
	FILE *f = lm_in_open(path, &st);
	if (!f)
		lm_die_status(&st);
	const char *name = f == stdin ? "stdin" : path;
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	long lineno = 0;
	while ((got = getline(&line, &cap, f)) >= 0) {
		size_t len = (size_t)got;
		if (len && line[len - 1] == '\n')
			line[--len] = 0;
		do_line(r, name, ++lineno, line, len);
	}
	if (ferror(f))
		lm_die(LM_EIO, "%s: read failed: %s", name, strerror(errno));
	free(line);
	if (f != stdin)
		fclose(f);
}

static void on_opt(int key, const char *arg, void *ctx)
{
	opts *o = ctx;
	switch (key) {
	case 256: o->tokenizer = arg; break;
	case 257: o->raw = 1; break;
	case 258: o->ids = 1; break;
	case 259: o->decode = 1; break;
	case 'i':
		if (o->n_inputs == (int)(sizeof o->inputs / sizeof *o->inputs))
			lm_usage_error("too many --input files");
		o->inputs[o->n_inputs++] = arg;
		break;
	}
}

static const lm_cli cli = {
	.usage = "usage: mtokenize [options] [PROMPT...]\n"
		 "Turns text into token ids. The prompt is the arguments joined by spaces; without arguments\n"
		 "every line of the input is one prompt.\n"
		 "\n"
		 "Model mode (default): each non-blank line (trimmed of surrounding blanks) is a prompt k and\n"
		 "becomes a tokens frame for stream k holding the model's t2m_template with the prompt filled\n"
		 "in, then [BOM]; when the guidance scale is not 1 an unconditional frame (empty prompt)\n"
		 "comes first. An end-of-input mark closes the stream.\n",
	.common = LM_OPT_MODEL | LM_OPT_CFG | LM_OPT_OUTPUT,
	.opts = (const lm_cli_opt[]){
		{"cfg", 0, "S", "guidance scale (default: the model's); 1 = no unconditional frame"},
		{"tokenizer", 256, "FILE", "use this tokenizer.json instead of the model's"},
		{"raw", 257, NULL, "tokenize each line exactly as it is (only the newline removed):\n"
				   "no template, no [BOM], no unconditional frame; no config needed"},
		{"ids", 258, NULL, "print the ids as lines of space-separated numbers, not frames"},
		{"decode", 259, NULL, "read lines of space-separated ids, print the decoded text"},
		{"input", 'i', "FILE", "read lines from FILE instead of stdin (repeatable; - is stdin)"},
		{0}},
	.footer = "Examples: mtokenize a person walks | llamo-step | framedump\n"
		  "          echo 'hello world' | mtokenize --raw --ids --tokenizer tokenizer.json\n"
		  "Exit status: 0 ok, 64 usage, 65 bad data (bad text, ids or tokenizer), 66 missing input,\n"
		  "71 out of memory, 74 I/O error. See mtokenize(1).\n",
	.on_opt = on_opt,
};

static void parse_args(opts *o, int argc, char **argv)
{
	lm_cli_opts co;
	optind = lm_cli_parse(&cli, argc, argv, &co, o);
	o->model_arg = co.model;
	o->cfg_s = co.cfg;
	o->output = co.output ? co.output : "-";
	if (optind < argc && o->n_inputs)
		lm_usage_error("give the text either as arguments or with --input, not both");
	if (o->decode && o->cfg_s)
		lm_usage_error("--cfg makes no sense with --decode");
}

/* Loads what the mode needs: the tokenizer always, the config in model mode. */
static void load(run *r)
{
	const opts *o = r->o;
	lm_status st = {0};
	const char *dir = lm_model_dir(o->model_arg);
	if (o->raw || o->decode) {
		char path[4200];
		snprintf(path, sizeof path, "%s/tokenizer.json", dir);
		if (lm_tokenizer_load(&r->tk, o->tokenizer ? o->tokenizer : path, &st))
			lm_die_status(&st);
		return;
	}
	if (lm_model_load(&r->m, dir, NULL, o->tokenizer ? 0 : LM_PART_TOKENIZER, &st))
		lm_die_status(&st);
	if (o->tokenizer) {
		if (lm_tokenizer_load(&r->m->tok, o->tokenizer, &st)) /* lm_model_free frees it */
			lm_die_status(&st);
		if (lm_tokenizer_vocab_size(r->m->tok) > r->m->cfg.vocab_size)
			lm_die(LM_EDATA, "%s: tokenizer has %d tokens, the model's config vocab_size is %d",
			       o->tokenizer, lm_tokenizer_vocab_size(r->m->tok), r->m->cfg.vocab_size);
	}
	r->tk = r->m->tok;
	r->cfg = o->cfg_s ? (float)lm_parse_double("--cfg", o->cfg_s, 0, 100) : r->m->cfg.guidance_scale;
	if (r->cfg != 1.0f && lm_t2m_prompt_ids(r->m, "", &r->uncond, &r->n_uncond, &st))
		lm_die_status(&st);
}

int main(int argc, char **argv)
{
	opts o = {0};
	parse_args(&o, argc, argv);
	run r = {.o = &o};
	load(&r);

	lm_status st = {0};
	if (!(r.out = lm_out_open(o.output, &st)))
		lm_die_status(&st);
	if (o.ids || o.decode) {
		struct stat sb;
		r.flush_lines = fstat(fileno(r.out), &sb) != 0 || !S_ISREG(sb.st_mode);
	} else {
		lm_stream_header h;
		lm_header_init(&h, "tokens", 0, "i32", 0);
		if (lm_writer_open(&r.w, r.out, strcmp(o.output, "-") ? o.output : "stdout", &h, &st))
			lm_die_status(&st);
	}

	if (optind < argc) {
		char *text = lm_join_args(argc - optind, argv + optind);
		do_line(&r, "arguments", 0, text, strlen(text));
		free(text);
	} else if (!o.n_inputs)
		do_file(&r, "-");
	for (int i = 0; i < o.n_inputs; i++)
		do_file(&r, o.inputs[i]);

	if (r.w && (lm_put_mark(r.w, LM_STREAM_ALL, LM_MARK_EOS, -1, &st) || lm_writer_close(r.w, &st)))
		lm_die_status(&st);
	if (lm_out_commit(r.out, &st))
		lm_die_status(&st);
	free(r.uncond);
	if (r.m)
		lm_model_free(r.m);
	else
		lm_tokenizer_free(r.tk);
	return 0;
}
