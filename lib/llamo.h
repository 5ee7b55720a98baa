/* llamo.h: the library's public header (installed as $(PREFIX)/include/llamo/llamo.h with the
 * headers it includes; `pkg-config --cflags --libs llamo`).
 *
 * The stable API is the functions marked LM_API (api.h) in the headers below, and only those:
 * libllamo.so exports nothing else. Their types (lm_status, lm_model, lm_gen_opts, lm_bvh,
 * lm_frame, lm_stream_header, ...) come with them. Everything else the headers declare is the
 * programs' internals (in libllamo.a, not in libllamo.so) and may change without notice.
 *
 *   backend.h    lm_backend_get, lm_backend_describe            the device ("cpu", "cuda", NULL: auto)
 *   model.h      lm_model_load, lm_model_free                   a model directory (LM_PART_*)
 *                lm_gen_opts_default, lm_t2m_begin, lm_t2m_next, lm_t2m_free    text to latents
 *                lm_m2t_caption                                 latents to text
 *                lm_features_normalize, lm_features_denormalize
 *   vae.h        lm_vae_encode, lm_vae_decode                   features <-> latents (model->vae)
 *   motion.h     lm_motion_from_bvh, lm_motion_to_bvh, lm_bvh_positions     BVH <-> features
 *   bvh.h        lm_bvh_read, lm_bvh_parse, lm_bvh_write, lm_bvh_free, lm_bvh_find, lm_bvh_fk
 *   frame.h      lm_reader_*, lm_writer_*, lm_header_init, lm_header_copy_tags,
 *                lm_header_set_tag, lm_header_get_tag, lm_frame_alloc, lm_frame_free
 *                                                               the frame stream (llamo-frame(5))
 *
 * Errors: a function that can fail returns 0 or an LM_E* code and fills its lm_status (status.h).
 * The library never exits and never writes to stdout.
 *
 * A prompt to a BVH (what `llamo-t2m | vae-dec` does, without the streaming):
 *
 *   const lm_backend *be; lm_model *m; lm_t2m *g; lm_gen_opts o; lm_status st = {0};
 *   lm_backend_get(&be, "cpu", &st);
 *   lm_model_load(&m, LLAMO_DATADIR "/models/default", be, LM_PART_ALL, &st);
 *   lm_gen_opts_default(&o, &m->cfg);
 *   lm_t2m_begin(&g, m, "a person walks forward", &o, &st);
 *   then lm_t2m_next(g, z + i * L, &done, NULL, &st) until done, lm_vae_decode,
 *   lm_features_denormalize, lm_motion_to_bvh(&m->sk, ...), lm_bvh_write.
 */
#ifndef LLAMO_H
#define LLAMO_H
#define LLAMO_VERSION_MAJOR 0
#define LLAMO_VERSION_MINOR 1
#define LLAMO_VERSION_PATCH 0
#define LLAMO_VERSION "0.1.0"
#include "api.h"
#include "status.h"
#include "backend.h"
#include "bvh.h"
#include "frame.h"
#include "motion.h"
#include "vae.h"
#include "model.h"
#endif
