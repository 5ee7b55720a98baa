/* llamo-chat: the backbone as the chat model it is. One user message (the arguments, or all of
 * stdin) in the model's conversation format (chat.json), greedy by default, the reply streamed
 * to stdout token by token (lm_chat_reply, docs/model-format.md 4.7). On a motion model the
 * motion twin never runs: the reply is the text branch's alone. */
#include <stdlib.h>
#include <string.h>
#include "chat.h"
#include "cli.h"
#include "clock.h"
#include "model.h"

typedef struct run {
	lm_text_opts o;
	const char *system;
	int ids;          /* --ids: the reply's token ids instead of its text */
	int profile;      /* --profile: tokens per second on stderr */
	double t0, t1;    /* start, first token */
	const lm_model *m;
	int32_t *got;     /* the ids so far, and how much of their text is out */
	int n, cap;
	size_t shown;
} run;

static void on_opt(int key, const char *arg, void *ctx)
{
	run *r = ctx;
	switch (key) {
	case 256: r->o.temperature = lm_parse_double("--temperature", arg, 0, 100); break;
	case 257: r->o.top_p = lm_parse_double("--top-p", arg, 1e-6, 1); break;
	case 258: r->o.max_new = lm_parse_long("--max-tokens", arg, 1, 1 << 20); break;
	case 259: r->system = arg; break;
	case 260: r->system = ""; break;
	case 261: r->ids = 1; break;
	case 262: r->profile = 1; break;
	case 's': r->o.seed = lm_parse_long("--seed", arg, 0, 0x7fffffffffffffffL); break;
	}
}

static const lm_cli cli = {
	.usage = "usage: llamo-chat [options] [MESSAGE...]\n"
		 "Answers one message with the model's text branch: the message is the arguments joined by\n"
		 "spaces, or all of stdin. The conversation format comes from the model's chat.json (ChatML\n"
		 "for SmolLM2); the reply is written to stdout as it is generated.\n",
	.common = LM_OPT_MODEL | LM_OPT_DEVICE,
	.opts = (const lm_cli_opt[]){
		{"temperature", 256, "T", "sample from softmax(logits / T) (default 0: greedy)"},
		{"top-p", 257, "P", "sample from the fewest tokens whose probability reaches P (default 1)"},
		{"seed", 's', "N", "seed of the sampler (default 0)"},
		{"max-tokens", 258, "N", "at most N tokens in the reply (default 512)"},
		{"system", 259, "TEXT", "the system message (default: the model's)"},
		{"no-system", 260, NULL, "no system message"},
		{"ids", 261, NULL, "print the reply's token ids on one line instead of its text"},
		{"profile", 262, NULL, "report the prompt's and the reply's tokens per second on stderr"},
		{0}},
	.footer = "Example: echo \"What is the capital of France?\" | llamo-chat -m models/smollm2-135m-instruct\n"
		  "Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input or model, 69 device unavailable,\n"
		  "70 internal, 71 out of memory, 74 I/O error. See llamo-chat(1).\n",
	.on_opt = on_opt,
};

/* Streams the reply: the text of all ids so far, less what is out and less a trailing
 * replacement character (a UTF-8 sequence whose last bytes are still to come). */
static int on_token(void *ctx, int32_t id, lm_status *st)
{
	run *r = ctx;
	if (r->n == r->cap) {
		int32_t *p = realloc(r->got, (r->cap = r->cap ? 2 * r->cap : 64) * sizeof *p);
		if (!p)
			return lm_fail(st, LM_ENOMEM, "out of memory");
		r->got = p;
	}
	r->got[r->n++] = id;
	if (r->n == 1)
		r->t1 = lm_now();
	if (r->ids)
		return 0;
	char *text;
	size_t len;
	if (lm_detokenize(r->m->tok, r->got, r->n, &text, &len, st))
		return st->code;
	while (len >= r->shown + 3 && !memcmp(text + len - 3, "\xEF\xBF\xBD", 3))
		len -= 3;
	if (len > r->shown && fwrite(text + r->shown, 1, len - r->shown, stdout) != len - r->shown)
		return lm_fail(st, LM_EIO, "stdout: write failed");
	fflush(stdout);
	r->shown = len > r->shown ? len : r->shown;
	free(text);
	return 0;
}

/* The end of the reply: what was held back, the ids with --ids, a newline. */
static void finish(run *r)
{
	lm_status st = {0};
	char *text;
	size_t len;
	if (r->ids)
		for (int i = 0; i < r->n; i++)
			printf("%s%d", i ? " " : "", r->got[i]);
	else if (lm_detokenize(r->m->tok, r->got, r->n, &text, &len, &st))
		lm_die_status(&st);
	else
		fwrite(text + r->shown, 1, len - r->shown, stdout), free(text);
	putchar('\n');
	if (fflush(stdout) || ferror(stdout))
		lm_die(LM_EIO, "stdout: write failed");
	double t2 = lm_now();
	if (r->profile && r->n > 1) /* the first token comes with the prompt; the others one step each */
		fprintf(stderr, "%s: profile: prompt and first token %.1f ms; reply %d tokens, %.1f tokens/s\n", lm_prog,
			1e3 * (r->t1 - r->t0), r->n, (r->n - 1) / (t2 - r->t1));
}

int main(int argc, char **argv)
{
	run r = {.o = {.max_new = 512, .top_p = 1}};
	lm_cli_opts o;
	int first = lm_cli_parse(&cli, argc, argv, &o, &r);
	size_t len;
	char *msg = first < argc ? lm_join_args(argc - first, argv + first) : lm_slurp(stdin, "stdin", &len);
	for (size_t k = strlen(msg); k > 0 && (msg[k - 1] == '\n' || msg[k - 1] == '\r'); k--)
		msg[k - 1] = 0; /* a message from echo or a file ends in a newline; the turn does not */
	lm_model *m = lm_cli_load(&o, LM_PART_BACKBONE | LM_PART_TOKENIZER);
	lm_chat chat;
	lm_status st = {0};
	char path[4200];
	snprintf(path, sizeof path, "%s/chat.json", m->text_dir); /* the base's, for a motion model over one */
	r.m = m;
	r.t0 = lm_now();
	if (lm_chat_load(&chat, path, &st) || lm_chat_reply(m, &chat, r.system, msg, &r.o, on_token, &r, NULL, NULL, &st))
		lm_die_status(&st);
	finish(&r);
	free(r.got);
	free(msg);
	lm_model_free(m);
	lm_cli_done();
	return 0;
}
