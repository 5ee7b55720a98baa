/* lmstate.h: test helper shared by the SmolLM2 tests (header only, static). */
#ifndef LLAMO_TESTS_LMSTATE_H
#define LLAMO_TESTS_LMSTATE_H
#include <math.h>
#include "model.h"
#include "tap.h"

/* The final hidden state [H] in out after prefilling ids[n] and then one position of embedding
 * e[i] = sin(i) through branch `modality` (LM_TEXT or LM_MOTION): the state of a motion position
 * after a prompt (docs/model-format.md 3.1). Errors are reported with diag(); out is then left
 * as it was. */
static void lm_state_after(const lm_model *m, const int32_t *ids, int n, int modality, float *out)
{
	lm_status st = {0};
	int H = m->cfg.hidden_size;
	lm_kv_cache kv = {0};
	float e[H];
	for (int i = 0; i < H; i++)
		e[i] = (float)sin(i);
	float *h = m->be->alloc(H);
	if (lm_kv_init(&kv, &m->bb, n + 2, &st) || lm_backbone_prefill(&m->bb, &kv, ids, n, h, &st) ||
	    lm_backbone_forward(&m->bb, &kv, e, 1, modality, out, &st))
		diag("  state: %s", st.msg);
	lm_kv_free(&kv, &m->bb);
	m->be->release(h);
}
#endif
