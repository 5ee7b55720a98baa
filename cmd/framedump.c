/* framedump: prints llamo frame streams as JSON lines (man/framedump.1, man/llamo-frame.5).
 *
 * One object per line: the header first, then one per frame. Floats are printed with 9
 * significant digits, enough to read back the same float32. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"
#include "frame.h"

static const char usage[] =
	"usage: framedump [--no-data] [--header-only] [FILE...]\n"
	"Prints each llamo frame stream (stdin when no FILE or FILE is -) as JSON lines:\n"
	"the header, then one object per frame. See framedump(1), llamo-frame(5).\n"
	"  --no-data      leave out the payloads (data, text)\n"
	"  --header-only  print only each stream's header\n"
	"  -h, --help     show this help\n";

static int opt_no_data, opt_header_only, flush_lines;

static void emit(json_t *j)
{
	size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9);
	if (!j || json_dumpf(j, stdout, flags) != 0)
		lm_die(LM_EINTERNAL, "cannot format JSON");
	putchar('\n');
	if (flush_lines)
		fflush(stdout);
	json_decref(j);
}

static json_t *header_json(const lm_stream_header *h)
{
	json_t *tags = json_object();
	for (int i = 0; i < h->ntags; i++)
		json_object_set_new(tags, h->tags[i][0], json_string(h->tags[i][1]));
	json_t *o = json_object();
	json_object_set_new(o, "version", json_integer(1));
	json_object_set_new(o, "kind", json_string(h->kind));
	json_object_set_new(o, "width", json_integer(h->width));
	json_object_set_new(o, "elem", json_string(h->elem));
	json_object_set_new(o, "rate", json_real(h->rate));
	json_object_set_new(o, "tags", tags);
	return json_pack("{s:o}", "header", o);
}

/* A float as a JSON number; JSON has no NaN or infinity, so those become "nan", "inf", "-inf". */
static json_t *f32_json(float v)
{
	if (isnan(v))
		return json_string("nan");
	if (isinf(v))
		return json_string(v > 0 ? "inf" : "-inf");
	return json_real(v);
}

/* rows x cols as an array of row arrays. */
static json_t *rows_json(const lm_frame *fr)
{
	json_t *a = json_array();
	for (uint32_t i = 0; i < fr->rows; i++) {
		json_t *row = json_array();
		for (uint32_t j = 0; j < fr->cols; j++) {
			size_t k = (size_t)i * fr->cols + j;
			json_array_append_new(row, fr->elem == LM_ELEM_I32
							   ? json_integer(((const int32_t *)fr->data)[k])
							   : f32_json(((const float *)fr->data)[k]));
		}
		json_array_append_new(a, row);
	}
	return a;
}

/* Text as a string when it is valid UTF-8; otherwise "text": null and the bytes as numbers. */
static void text_json(json_t *o, const lm_frame *fr)
{
	json_t *s = json_stringn(fr->cols ? fr->data : "", fr->cols);
	if (s) {
		json_object_set_new(o, "text", s);
		return;
	}
	json_t *b = json_array();
	for (uint32_t j = 0; j < fr->cols; j++)
		json_array_append_new(b, json_integer(((const uint8_t *)fr->data)[j]));
	json_object_set_new(o, "text", json_null());
	json_object_set_new(o, "bytes", b);
}

static json_t *frame_json(const lm_frame *fr)
{
	json_t *o = json_object();
	json_object_set_new(o, "type", json_string(lm_frame_type_name(fr->type)));
	if (fr->type == LM_FRAME_MARK)
		json_object_set_new(o, "mark", json_string(lm_mark_name(fr->mark)));
	json_object_set_new(o, "stream", json_integer(fr->stream));
	json_object_set_new(o, "pos", json_integer(fr->pos));
	json_object_set_new(o, "rows", json_integer(fr->rows));
	json_object_set_new(o, "cols", json_integer(fr->cols));
	json_object_set_new(o, "flags", json_integer(fr->flags));
	if (opt_no_data || fr->type == LM_FRAME_MARK)
		return o;
	if (fr->type == LM_FRAME_TEXT)
		text_json(o, fr);
	else
		json_object_set_new(o, "data", rows_json(fr));
	return o;
}

static void dump(const char *path)
{
	lm_status st = { 0 };
	FILE *f = lm_in_open(path, &st);
	if (!f)
		lm_die_status(&st);
	const char *name = path ? path : "-";
	lm_reader *r;
	if (lm_reader_open(&r, f, name, &st))
		lm_die_status(&st);
	emit(header_json(lm_reader_header(r)));
	lm_frame fr = { 0 };
	int eof = 0;
	while (!opt_header_only) {
		if (lm_reader_next(r, &fr, &eof, &st))
			lm_die_status(&st);
		if (eof)
			break;
		emit(frame_json(&fr));
	}
	lm_frame_free(&fr);
	lm_reader_free(r);
	if (f != stdin)
		fclose(f);
}

int main(int argc, char **argv)
{
	lm_cli_init(argv[0]);
	lm_cli_help(argc, argv, usage);
	int nfiles = 0, opts = 1;
	char **files = calloc((size_t)argc, sizeof *files);
	if (!files)
		lm_die(LM_ENOMEM, "out of memory");
	for (int i = 1; i < argc; i++) {
		if (opts && !strcmp(argv[i], "--"))
			opts = 0;
		else if (opts && !strcmp(argv[i], "--no-data"))
			opt_no_data = 1;
		else if (opts && !strcmp(argv[i], "--header-only"))
			opt_header_only = 1;
		else if (opts && argv[i][0] == '-' && argv[i][1])
			lm_usage_error("unknown option '%s'", argv[i]);
		else
			files[nfiles++] = argv[i];
	}
	struct stat sb;
	flush_lines = fstat(fileno(stdout), &sb) == 0 && (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode));
	if (!nfiles)
		dump(NULL);
	for (int i = 0; i < nfiles; i++)
		dump(files[i]);
	free(files);
	lm_status st = { 0 };
	if (lm_out_commit(stdout, &st))
		lm_die_status(&st);
	return 0;
}
