/* exithead: decides where a motion ends. For each hidden-state frame that follows a latent
 * (motion branch), runs the exit head on the conditional row; when p > threshold, or when the
 * stream has produced its maximum number of latents, writes an end-of-motion mark in place of
 * the frame (docs/model-format.md 4.2, 4.6). The [BOM] state (text branch) always passes. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "frameio.h"
#include "model.h"

static const char usage[] =
	"usage: exithead [options] [FILE]\n"
	"Passes hidden-state frames on, or replaces one with an end-of-motion mark when the exit\n"
	"head's probability exceeds the threshold (never on a stream's first state, so every motion\n"
	"has at least one latent). Other frames are passed on unchanged.\n"
	"\n"
	"  -m, --model DIR      model directory (default: $LLAMO_MODEL or the bundled model)\n"
	"      --threshold P    stop when p > P (default: the model's)\n"
	"  -t, --seconds S      also stop after S seconds of motion\n"
	"  -v, --verbose        print each decision (stream, latents so far, p) on stderr\n"
	"      --device D       cpu, cuda or auto\n"
	"  -h, --help           show this help\n"
	"\n"
	"Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input, 70 internal, 71 out of memory,\n"
	"74 I/O error. See exithead(1).\n";

int main(int argc, char **argv)
{
	lm_cli_init(argv[0]);
	lm_cli_help(argc, argv, usage);
	static const struct option opts[] = {{"model", required_argument, 0, 'm'},
					     {"threshold", required_argument, 0, 'T'},
					     {"seconds", required_argument, 0, 't'},
					     {"verbose", no_argument, 0, 'v'},
					     {"device", required_argument, 0, 'd'},
					     {0, 0, 0, 0}};
	const char *model_arg = NULL, *device = NULL, *thr_s = NULL, *sec_s = NULL;
	int verbose = 0, c;
	while ((c = getopt_long(argc, argv, "m:t:v", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_arg = optarg; break;
		case 'T': thr_s = optarg; break;
		case 't': sec_s = optarg; break;
		case 'v': verbose = 1; break;
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
	if (thr_s)
		o.threshold = lm_parse_double("--threshold", thr_s, 0, 1);
	if (sec_s) {
		int n = (int)(lm_parse_double("--seconds", sec_s, 0, 3600) * m->cfg.fps / m->cfg.downsample);
		if (n < 1)
			lm_usage_error("--seconds %s is shorter than one latent", sec_s);
		if (n < o.max_tokens)
			o.max_tokens = n;
	}
	int H = m->cfg.hidden_size;
	FILE *in = lm_in_open(inpath, &st);
	lm_reader *r;
	lm_writer *w;
	if (!in || lm_reader_open(&r, in, inpath, &st))
		lm_die_status(&st);
	lm_stream_header h = *lm_reader_header(r);
	if (lm_writer_open(&w, stdout, "stdout", &h, &st))
		lm_die_status(&st);
	lm_streams count = {0}; /* stream -> latents produced so far (stored in the pointer) */
	lm_frame fr = {0};
	int eof = 0;
	while (!lm_reader_next(r, &fr, &eof, &st) && !eof) {
		if (fr.type != LM_FRAME_HIDDEN) {
			if (fr.type == LM_FRAME_MARK && fr.mark == LM_MARK_EOM)
				lm_streams_del(&count, fr.stream);
			if (lm_writer_put(w, &fr, &st))
				lm_die_status(&st);
			continue;
		}
		if ((int)fr.cols != H)
			lm_die(LM_EDATA, "%s: stream %u pos %d: hidden frame is %u wide, the model takes %d", inpath,
			       fr.stream, fr.pos, fr.cols, H);
		void **p = lm_streams_add(&count, fr.stream);
		if (!p)
			lm_die(LM_ENOMEM, "out of memory");
		long i = (fr.flags & LM_FLAG_TEXT_BRANCH) ? 0 : (long)(intptr_t)*p + 1;
		*p = (void *)(intptr_t)i;
		float prob = 0;
		int stop = 0;
		if (i >= o.max_tokens) {
			stop = 1;
		} else if (i > 0) {
			lm_exit_prob(&m->heads, fr.data, 1, &prob);
			stop = prob > o.threshold;
		}
		if (verbose)
			fprintf(stderr, "%s: stream %u: %ld latents, p = %.4f%s\n", lm_prog, fr.stream, i, prob,
				stop ? ", stop" : "");
		if (stop) {
			if (lm_put_mark(w, fr.stream, LM_MARK_EOM, fr.pos, &st))
				lm_die_status(&st);
			lm_streams_del(&count, fr.stream);
		} else if (lm_writer_put(w, &fr, &st)) {
			lm_die_status(&st);
		}
	}
	if (st.code)
		lm_die_status(&st);
	if (lm_writer_close(w, &st))
		lm_die_status(&st);
	lm_streams_free(&count);
	lm_frame_free(&fr);
	lm_reader_free(r);
	lm_model_free(m);
	lm_cli_done();
	return 0;
}
