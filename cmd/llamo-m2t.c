/* llamo-m2t: motion to text. Reads a latent stream (or a BVH with --bvh) and prints one caption
 * line per motion (docs/model-format.md 4.7). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "frameio.h"
#include "model.h"

static const char usage[] =
	"usage: llamo-m2t [options] [FILE]\n"
	"Captions motion: reads a latent stream (from vae-enc or llamo-t2m) from FILE or stdin and\n"
	"prints one caption line per motion (per stream, when its end-of-motion mark arrives).\n"
	"\n"
	"  -m, --model DIR      model directory (default: $LLAMO_MODEL or the bundled model)\n"
	"      --bvh FILE       caption a BVH file (encoded with the model's VAE first)\n"
	"      --max-tokens N   at most N caption tokens (default 64)\n"
	"      --device D       cpu, cuda or auto\n"
	"  -h, --help           show this help\n"
	"\n"
	"Example: vae-enc < clip.bvh | llamo-m2t\n"
	"Exit status: 0 ok, 64 usage, 65 bad data, 66 missing input, 70 internal, 71 out of memory,\n"
	"74 I/O error. See llamo-m2t(1).\n";

static lm_model *m;
static int max_new = 64;

static void caption(const float *z, int n)
{
	lm_status st = {0};
	char *text;
	if (n == 0)
		lm_die(LM_EDATA, "a motion with no latents");
	if (lm_m2t_caption(m, z, n, max_new, &text, NULL, NULL, &st))
		lm_die_status(&st);
	printf("%s\n", text);
	fflush(stdout);
	free(text);
}

static void caption_bvh(const char *path)
{
	lm_status st = {0};
	FILE *f = lm_in_open(path, &st);
	lm_bvh b = {0};
	float *feat, *mu;
	int T, n;
	if (!f || lm_bvh_read(&b, f, path, &st) || lm_motion_from_bvh(&m->sk, &b, &feat, &T, &st))
		lm_die_status(&st);
	if (f != stdin)
		fclose(f);
	lm_features_normalize(m, feat, T);
	if (lm_vae_encode(&m->vae, feat, T, &mu, &n, &st))
		lm_die_status(&st);
	caption(mu, n);
	free(mu);
	free(feat);
	lm_bvh_free(&b);
}

typedef struct latents {
	float *z;
	int n;
} latents;

int main(int argc, char **argv)
{
	lm_cli_init(argv[0]);
	lm_cli_help(argc, argv, usage);
	static const struct option opts[] = {{"model", required_argument, 0, 'm'},
					     {"bvh", required_argument, 0, 'b'},
					     {"max-tokens", required_argument, 0, 'n'},
					     {"device", required_argument, 0, 'd'},
					     {0, 0, 0, 0}};
	const char *model_arg = NULL, *device = NULL, *bvh = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "m:", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_arg = optarg; break;
		case 'b': bvh = optarg; break;
		case 'n': max_new = lm_parse_long("--max-tokens", optarg, 1, 4096); break;
		case 'd': device = optarg; break;
		default: lm_usage_error("unknown option");
		}
	}
	if (argc - optind > (bvh ? 0 : 1))
		lm_usage_error(bvh ? "--bvh takes the input; no other file" : "at most one input file");
	lm_status st = {0};
	const lm_backend *be;
	be = lm_cli_backend(device);
	unsigned parts = LM_PART_BACKBONE | LM_PART_HEADS | LM_PART_TOKENIZER;
	if (bvh)
		parts |= LM_PART_VAE | LM_PART_SKELETON;
	if (lm_model_load(&m, lm_model_dir(model_arg), be, parts, &st))
		lm_die_status(&st);
	if (bvh) {
		caption_bvh(bvh);
		lm_model_free(m);
		lm_cli_done();
		return 0;
	}
	const char *inpath = optind < argc ? argv[optind] : "-";
	FILE *in = lm_in_open(inpath, &st);
	lm_reader *r;
	if (!in || lm_reader_open(&r, in, inpath, &st))
		lm_die_status(&st);
	int L = m->cfg.latent_dim, ncaptions = 0;
	lm_streams ss = {0};
	lm_frame fr = {0};
	int eof = 0;
	while (!lm_reader_next(r, &fr, &eof, &st) && !eof) {
		if (fr.type == LM_FRAME_LATENT) {
			if ((int)fr.cols != L)
				lm_die(LM_EDATA, "%s: stream %u pos %d: latent frame is %u wide, the model takes %d",
				       inpath, fr.stream, fr.pos, fr.cols, L);
			void **p = lm_streams_add(&ss, fr.stream);
			latents *s = p ? (*p ? *p : (*p = calloc(1, sizeof(latents)))) : NULL;
			if (!s || !(s->z = realloc(s->z, (size_t)(s->n + 1) * L * sizeof(float))))
				lm_die(LM_ENOMEM, "out of memory");
			memcpy(s->z + (size_t)s->n * L, fr.data, L * sizeof(float)); /* row 0 */
			s->n++;
		} else if (fr.type == LM_FRAME_MARK && (fr.mark == LM_MARK_EOM || fr.mark == LM_MARK_EOS)) {
			while (ss.n) {
				uint32_t id = fr.stream == LM_STREAM_ALL ? ss.id[0] : fr.stream;
				void **p = lm_streams_get(&ss, id);
				if (!p)
					break;
				latents *s = *p;
				caption(s->z, s->n);
				ncaptions++;
				free(s->z);
				free(s);
				lm_streams_del(&ss, id);
				if (fr.stream != LM_STREAM_ALL)
					break;
			}
		}
	}
	if (st.code)
		lm_die_status(&st);
	for (int i = 0; i < ss.n; i++) { /* motions without an end mark: caption at EOF */
		latents *s = ss.state[i];
		caption(s->z, s->n);
		ncaptions++;
		free(s->z);
		free(s);
	}
	if (ncaptions == 0)
		lm_die(LM_EDATA, "%s: no motion latents in the input", inpath);
	lm_frame_free(&fr);
	lm_reader_free(r);
	lm_streams_free(&ss);
	lm_model_free(m);
	lm_cli_done();
	return 0;
}
